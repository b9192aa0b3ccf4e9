//! The metadata reader on metadata made at test time.

use super::*;
use crate::test_support::{
    ec_certificate, ed25519_certificate, key_descriptor, metadata, rsa_certificate, valid_metadata,
};

const REDIRECT: &str = "https://idp.example/sso/redirect";

#[test]
fn reads_entity_id_redirect_location_and_certificate() {
    let certificate = rsa_certificate();
    let xml = metadata(&key_descriptor(Some("signing"), &certificate), REDIRECT);
    let idp = IdentityProvider::from_metadata_xml(&xml).unwrap();
    assert_eq!(idp.entity_id(), "https://idp.example/metadata");
    assert_eq!(idp.sso_redirect_url(), REDIRECT);
    assert_eq!(
        idp.signing_certificates(),
        [base64::engine::general_purpose::STANDARD
            .decode(&certificate)
            .unwrap()]
    );
    // With a byte order mark, too.
    assert_eq!(
        IdentityProvider::from_metadata_xml(&format!("\u{feff}{xml}")).unwrap(),
        idp
    );
    assert!(!idp.wants_signed_requests());
}

#[test]
fn reads_whether_the_idp_wants_signed_requests() {
    for (value, wanted) in [
        ("true", true),
        ("1", true),
        ("false", false),
        ("yes", false),
    ] {
        let xml = valid_metadata().replace(
            "WantAuthnRequestsSigned=\"false\"",
            &format!("WantAuthnRequestsSigned=\"{value}\""),
        );
        let idp = IdentityProvider::from_metadata_xml(&xml).unwrap();
        assert_eq!(idp.wants_signed_requests(), wanted, "{value}");
    }
    let without = valid_metadata().replace("WantAuthnRequestsSigned=\"false\"", "");
    assert!(
        !IdentityProvider::from_metadata_xml(&without)
            .unwrap()
            .wants_signed_requests()
    );
}

#[test]
fn key_use_decides_what_signs() {
    let rsa = rsa_certificate();
    let unspecified = metadata(&key_descriptor(None, &rsa), REDIRECT);
    assert_eq!(
        IdentityProvider::from_metadata_xml(&unspecified)
            .unwrap()
            .signing_certificates()
            .len(),
        1
    );
    let encryption_only = metadata(&key_descriptor(Some("encryption"), &rsa), REDIRECT);
    assert_eq!(
        IdentityProvider::from_metadata_xml(&encryption_only),
        Err(MetadataError::NoSigningCertificate)
    );
    // The same certificate twice counts once.
    let twice = metadata(
        &format!(
            "{}{}",
            key_descriptor(Some("signing"), &rsa),
            key_descriptor(None, &rsa)
        ),
        REDIRECT,
    );
    assert_eq!(
        IdentityProvider::from_metadata_xml(&twice)
            .unwrap()
            .signing_certificates()
            .len(),
        1
    );
}

#[test]
fn refuses_metadata_without_a_usable_signing_certificate() {
    assert_eq!(
        IdentityProvider::from_metadata_xml(&metadata("", REDIRECT)),
        Err(MetadataError::NoSigningCertificate)
    );
    // Ed25519 keys are skipped (we accept RSA-SHA256 and ECDSA-SHA256); an RSA or EC key next
    // to one is used.
    let ed25519 = key_descriptor(Some("signing"), &ed25519_certificate());
    assert_eq!(
        IdentityProvider::from_metadata_xml(&metadata(&ed25519, REDIRECT)),
        Err(MetadataError::NoSigningCertificate)
    );
    for usable in [rsa_certificate(), ec_certificate()] {
        let both = format!("{ed25519}{}", key_descriptor(Some("signing"), &usable));
        assert_eq!(
            IdentityProvider::from_metadata_xml(&metadata(&both, REDIRECT))
                .unwrap()
                .signing_certificates()
                .len(),
            1
        );
    }
    // An X509Certificate outside ds:KeyInfo/ds:X509Data does not count.
    let misplaced = format!(
        "<md:KeyDescriptor use=\"signing\"><ds:X509Certificate>{}</ds:X509Certificate></md:KeyDescriptor>",
        rsa_certificate()
    );
    assert_eq!(
        IdentityProvider::from_metadata_xml(&metadata(&misplaced, REDIRECT)),
        Err(MetadataError::NoSigningCertificate)
    );
}

#[test]
fn refuses_broken_certificates() {
    let not_base64 = key_descriptor(Some("signing"), "not*base64");
    assert!(matches!(
        IdentityProvider::from_metadata_xml(&metadata(&not_base64, REDIRECT)),
        Err(MetadataError::Certificate(_))
    ));
    let not_der = key_descriptor(Some("signing"), "AAAA");
    assert!(matches!(
        IdentityProvider::from_metadata_xml(&metadata(&not_der, REDIRECT)),
        Err(MetadataError::Certificate(_))
    ));
}

#[test]
fn requires_an_acceptable_redirect_location() {
    let keys = key_descriptor(Some("signing"), &rsa_certificate());
    for location in [
        "http://idp.example/sso",
        "javascript:alert(1)",
        "https://user:pw@idp.example/sso",
        "https://idp.example/sso#x",
        "",
    ] {
        assert!(
            matches!(
                IdentityProvider::from_metadata_xml(&metadata(&keys, location)),
                Err(MetadataError::SsoService(_))
            ),
            "{location}"
        );
    }
    for location in [
        "http://127.0.0.1:8080/sso",
        "http://localhost/sso",
        "http://[::1]:9/sso",
    ] {
        assert!(
            IdentityProvider::from_metadata_xml(&metadata(&keys, location)).is_ok(),
            "{location}"
        );
    }
    let post_only =
        metadata(&keys, REDIRECT).replace("bindings:HTTP-Redirect", "bindings:HTTP-Artifact");
    assert!(matches!(
        IdentityProvider::from_metadata_xml(&post_only),
        Err(MetadataError::SsoService(_))
    ));
}

#[test]
fn refuses_unsafe_xml_and_other_documents() {
    let xml = valid_metadata();
    let doctype = xml.replacen(
        "<md:EntityDescriptor",
        "<!DOCTYPE md [<!ENTITY x SYSTEM \"http://127.0.0.1:9/\">]><md:EntityDescriptor",
        1,
    );
    assert_eq!(
        IdentityProvider::from_metadata_xml(&doctype),
        Err(MetadataError::Xml(XmlError::Doctype))
    );
    let pi = xml.replacen("<md:EntityDescriptor", "<?evil?><md:EntityDescriptor", 1);
    assert_eq!(
        IdentityProvider::from_metadata_xml(&pi),
        Err(MetadataError::Xml(XmlError::ProcessingInstruction))
    );
    assert!(matches!(
        IdentityProvider::from_metadata_xml("<md:EntityDescriptor"),
        Err(MetadataError::Xml(XmlError::Malformed(_)))
    ));
    assert!(matches!(
        IdentityProvider::from_metadata_xml("<html/>"),
        Err(MetadataError::NotAnIdp(_))
    ));
    let sp_only = xml.replace("IDPSSODescriptor", "SPSSODescriptor");
    assert!(matches!(
        IdentityProvider::from_metadata_xml(&sp_only),
        Err(MetadataError::NotAnIdp(_))
    ));
    let saml1 = xml.replace(
        "protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\"",
        "protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:1.1:protocol\"",
    );
    assert!(matches!(
        IdentityProvider::from_metadata_xml(&saml1),
        Err(MetadataError::NotAnIdp(_))
    ));
    let no_entity_id = xml.replace(
        "entityID=\"https://idp.example/metadata\"",
        "entityID=\" \"",
    );
    assert_eq!(
        IdentityProvider::from_metadata_xml(&no_entity_id),
        Err(MetadataError::EntityId)
    );
    let huge = format!("{xml}{}", " ".repeat(MAX_METADATA_BYTES));
    assert_eq!(
        IdentityProvider::from_metadata_xml(&huge),
        Err(MetadataError::TooLarge)
    );
}

#[test]
fn aggregates_must_hold_exactly_one_idp() {
    let entity = valid_metadata()
        .replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "")
        .replace("<!-- a comment, as real metadata files have -->", "");
    let sp = r#"<md:EntityDescriptor entityID="https://sp.example"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></md:EntityDescriptor>"#;
    let aggregate = |inner: &str| {
        format!(
            "<md:EntitiesDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\">{inner}</md:EntitiesDescriptor>"
        )
    };
    let one = aggregate(&format!("{sp}{entity}"));
    assert_eq!(
        IdentityProvider::from_metadata_xml(&one)
            .unwrap()
            .entity_id(),
        "https://idp.example/metadata"
    );
    let two = aggregate(&format!(
        "{entity}{}",
        entity.replace("https://idp.example/metadata", "https://idp2.example")
    ));
    assert!(matches!(
        IdentityProvider::from_metadata_xml(&two),
        Err(MetadataError::NotAnIdp(_))
    ));
}

#[test]
fn acceptable_urls() {
    for url in [
        "https://idp.example/metadata",
        "https://idp.example:8443/x?y=1",
        "http://127.0.0.1:8080/m",
        "http://localhost/m",
        "http://[::1]/m",
    ] {
        assert!(is_acceptable_url(url), "{url}");
    }
    for url in [
        "http://idp.example/metadata",
        "http://127.0.0.2/m",
        "http://localhost.evil.example/m",
        "ftp://idp.example/m",
        "file:///etc/passwd",
        "https://user@idp.example/m",
        "https://idp.example/m#f",
        "https://idp.example/a b",
        "https://",
        "metadata",
    ] {
        assert!(!is_acceptable_url(url), "{url}");
    }
}
