//! Test fixtures shared by the unit tests: certificates made at test time (no key is committed)
//! and IdP metadata around them.

use base64::Engine as _;
use rcgen::{CertificateParams, KeyPair, SignatureAlgorithm};

/// A fresh self-signed certificate for a new key of `algorithm`, base64 DER.
fn self_signed(algorithm: &'static SignatureAlgorithm) -> String {
    let key = KeyPair::generate_for(algorithm).unwrap();
    let params = CertificateParams::new(vec!["authx-test-idp.example".to_owned()]).unwrap();
    let certificate = params.self_signed(&key).unwrap();
    base64::engine::general_purpose::STANDARD.encode(certificate.der())
}

/// A fresh self-signed certificate with an RSA-2048 key, base64 DER.
pub(crate) fn rsa_certificate() -> String {
    self_signed(&rcgen::PKCS_RSA_SHA256)
}

/// A fresh self-signed certificate with a P-256 key, base64 DER.
pub(crate) fn ec_certificate() -> String {
    self_signed(&rcgen::PKCS_ECDSA_P256_SHA256)
}

/// A fresh self-signed certificate with an Ed25519 key (which SAML IdPs do not sign with),
/// base64 DER.
pub(crate) fn ed25519_certificate() -> String {
    self_signed(&rcgen::PKCS_ED25519)
}

/// One `md:KeyDescriptor` (`use` omitted when `None`) holding `certificate`, line-wrapped the way
/// metadata files usually are.
pub(crate) fn key_descriptor(key_use: Option<&str>, certificate: &str) -> String {
    let key_use = key_use.map(|u| format!(" use=\"{u}\"")).unwrap_or_default();
    let wrapped: Vec<&str> = certificate
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "<md:KeyDescriptor{key_use}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>\n{}\n\
         </ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>",
        wrapped.join("\n")
    )
}

/// IdP metadata with the given key descriptors and redirect SSO location.
pub(crate) fn metadata(key_descriptors: &str, sso_location: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment, as real metadata files have -->
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example/metadata">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAuthnRequestsSigned="false">
    {key_descriptors}
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example/sso/post"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{sso_location}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
    )
}

/// Valid IdP metadata with one fresh RSA signing certificate.
pub(crate) fn valid_metadata() -> String {
    metadata(
        &key_descriptor(Some("signing"), &rsa_certificate()),
        "https://idp.example/sso/redirect",
    )
}

/// An SP at `https://sp.example` with nothing optional set except signing.
pub(crate) fn sp_config(
    sign_requests: bool,
    signing_key: Option<crate::sp_key::SpKey>,
) -> crate::sp::SpConfig {
    crate::sp::SpConfig {
        authority_id: "a".into(),
        entity_id: "https://sp.example".into(),
        acs_url: "https://sp.example/acs".into(),
        metadata_url: None,
        name_id_format: None,
        email_attribute: None,
        given_name_attribute: None,
        family_name_attribute: None,
        trust_email: false,
        sign_requests,
        signing_key,
    }
}
