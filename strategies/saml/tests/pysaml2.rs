//! `verify_response`, `authn_request` and the metadata reader against an independent SAML
//! implementation: pysaml2, signing with the `xmlsec1` binary (see `support` for how it runs and
//! when these tests are skipped). Every negative case starts from real pysaml2-signed XML.
//!
//! Replay protection is not tested here: it is the server's job (a database of
//! `(authority, assertion id)` until `replay_until`); this crate accepts the same response twice
//! by design and says so.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::ErrorKind;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use authx_strategy_core::{DetailsRules, StrategyError};
use authx_strategy_saml::{
    IdentityProvider, MetadataError, SamlError, SamlStrategy, SpConfig, VerifiedAssertion,
    XmlError, authn_request, unverified_in_response_to, verify_response,
};
use serde_json::json;
use support::*;

/// Verifies with the shared SP config, SP-initiated with pending request `expected`.
fn verify(b64: &str, expected: Option<&str>) -> Result<VerifiedAssertion, SamlError> {
    verify_as(&sp(), b64, expected, false)
}

fn verify_as(
    sp: &SpConfig,
    b64: &str,
    expected: Option<&str>,
    allow_idp_initiated: bool,
) -> Result<VerifiedAssertion, SamlError> {
    let idp = idp().unwrap();
    verify_response(
        sp,
        &idp.provider,
        b64,
        expected,
        allow_idp_initiated,
        now(),
        SKEW,
    )
}

/// Mints with `in_response_to: "_req1"` plus `options`, and verifies expecting `_req1`.
fn mint_and_verify(options: serde_json::Value) -> Result<VerifiedAssertion, SamlError> {
    let idp = idp().unwrap();
    let mut options = options;
    if options.get("in_response_to").is_none() {
        options["in_response_to"] = json!("_req1");
    }
    let (b64, _) = idp.mint(options);
    verify(&b64, Some("_req1"))
}

/// Expands to an early return when the IdP is unavailable (outside CI).
macro_rules! require_idp {
    () => {
        if idp().is_none() {
            return;
        }
    };
}

/// What a message is, for the cross-check with Debian's xmlsec1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Signed by the IdP and untouched: both verifiers accept the signatures.
    Genuine,
    /// Altered after signing, or signed by a key the metadata does not list: both refuse.
    Tampered,
    /// Signed content moved or duplicated around: authx refuses whatever xmlsec1 says.
    Wrapped,
}

/// Compares authx's verdict on `xml` (`result`) with xmlsec1's, both against `provider`'s
/// metadata certificates only (see the [`Kind`] rules).
fn cross_check(
    provider: &IdentityProvider,
    xml: &str,
    kind: Kind,
    result: &Result<VerifiedAssertion, SamlError>,
) {
    let xmlsec1 = xmlsec1_verifies(xml, provider);
    match kind {
        Kind::Genuine => {
            assert!(xmlsec1, "xmlsec1 refused a genuine message");
            assert!(
                result.is_ok(),
                "authx refused a genuine message: {result:?}"
            );
        }
        Kind::Tampered => {
            assert!(!xmlsec1, "xmlsec1 accepted a tampered message");
            assert!(result.is_err(), "authx accepted a tampered message");
        }
        Kind::Wrapped => {
            assert!(result.is_err(), "authx accepted a wrapped message");
            eprintln!("xmlsec1 on a wrapped message: verified = {xmlsec1}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Accepted
// ---------------------------------------------------------------------------------------------

#[test]
fn metadata_from_pysaml2_yields_entity_sso_and_certificate() {
    require_idp!();
    let idp = idp().unwrap();
    assert_eq!(
        idp.provider.entity_id(),
        format!("{}/metadata", idp.base_url)
    );
    assert_eq!(
        idp.provider.sso_redirect_url(),
        format!("{}/sso/redirect", idp.base_url)
    );
    assert_eq!(idp.provider.signing_certificates().len(), 1);
}

#[test]
fn sp_initiated_login_through_the_redirect_binding() {
    require_idp!();
    let idp = idp().unwrap();
    let mut sp = sp();
    sp.name_id_format = Some(PERSISTENT.into());
    let redirect = authn_request(&sp, &idp.provider, "rs-42").unwrap();
    assert!(
        redirect
            .url
            .starts_with(&format!("{}/sso/redirect?SAMLRequest=", idp.base_url))
    );
    assert!(redirect.url.ends_with("&RelayState=rs-42"));

    // The browser follows the redirect; pysaml2 parses our request and answers with a form.
    let (status, page) = http("GET", &redirect.url, None);
    assert_eq!(status, 200, "{page}");
    let (_, requests) = http("GET", &format!("{}/requests", idp.base_url), None);
    let requests: serde_json::Value = serde_json::from_str(&requests).unwrap();
    let seen = requests
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == redirect.request_id.as_str())
        .expect("pysaml2 saw our AuthnRequest");
    assert_eq!(seen["issuer"], SP_ENTITY_ID);
    assert_eq!(seen["acs_url"], ACS_URL);
    assert_eq!(seen["name_id_format"], PERSISTENT);
    assert_eq!(
        seen["protocol_binding"],
        "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    );
    assert_eq!(seen["relay_state"], "rs-42");

    assert!(page.contains(&format!("action=\"{ACS_URL}\"")), "{page}");
    assert!(
        page.contains("name=\"RelayState\" value=\"rs-42\""),
        "{page}"
    );
    let saml_response = form_value(&page, "SAMLResponse");

    let verified = verify_as(&sp, &saml_response, Some(&redirect.request_id), false).unwrap();
    assert_eq!(verified.identity.authority_id, AUTHORITY);
    assert_eq!(verified.identity.authority_user_id, "ada-1001");
    assert_eq!(verified.identity.email.as_deref(), Some("ada@example.com"));
    assert!(verified.identity.email_verified);
    assert_eq!(verified.identity.profile.given_name.as_deref(), Some("Ada"));
    assert_eq!(
        verified.identity.profile.family_name.as_deref(),
        Some("Lovelace")
    );
    assert_eq!(
        verified.identity.profile.display_name.as_deref(),
        Some("Ada Lovelace")
    );
    assert_eq!(verified.issuer, idp.provider.entity_id());
    assert_eq!(
        verified.in_response_to.as_deref(),
        Some(&*redirect.request_id)
    );
    assert!(verified.assertion_id.starts_with("id-"));
    let now = now();
    assert!(verified.not_on_or_after > now && verified.not_on_or_after <= now + 300);
    assert!(verified.replay_until >= verified.not_on_or_after);
    assert!(verified.replay_until <= now + 300 + SKEW as i64 + 5);

    // Another pending request id: refused.
    assert!(matches!(
        verify_as(&sp, &saml_response, Some("_another"), false),
        Err(SamlError::InResponseTo { .. })
    ));
}

fn form_value(page: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let start = page.find(&key).unwrap() + key.len();
    let end = start + page[start..].find('"').unwrap();
    page[start..end].to_owned()
}

#[test]
fn accepts_a_signed_response_a_signed_assertion_or_both() {
    require_idp!();
    let idp = idp().unwrap();
    for (sign_response, sign_assertion) in [(true, false), (false, true), (true, true)] {
        let xml = idp.mint_xml(json!({
            "in_response_to": "_req1",
            "sign_response": sign_response,
            "sign_assertion": sign_assertion,
        }));
        let result = verify(&b64(&xml), Some("_req1"));
        cross_check(&idp.provider, &xml, Kind::Genuine, &result);
        let verified = result.unwrap_or_else(|e| panic!("{sign_response}/{sign_assertion}: {e}"));
        assert_eq!(verified.identity.authority_user_id, "ada-1001");
        assert_eq!(verified.identity.email.as_deref(), Some("ada@example.com"));
    }
}

#[test]
fn email_from_an_email_name_id_and_names_by_friendly_name() {
    require_idp!();
    let idp = idp().unwrap();
    let mut sp = sp();
    sp.email_attribute = None;
    sp.given_name_attribute = Some("givenName".into());
    sp.family_name_attribute = Some("urn:oid:2.5.4.4".into());
    let (b64, _) = idp.mint(json!({
        "in_response_to": "_r",
        "name_id": "Grace@Example.org",
        "name_id_format": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
        "attributes": {"urn:oid:2.5.4.42": ["Grace"], "urn:oid:2.5.4.4": ["", "Hopper"]},
        "friendly_names": {"urn:oid:2.5.4.42": "givenName"},
    }));
    let verified = verify_as(&sp, &b64, Some("_r"), false).unwrap();
    assert_eq!(verified.identity.authority_user_id, "Grace@Example.org");
    assert_eq!(
        verified.identity.email.as_deref(),
        Some("grace@example.org")
    );
    assert!(verified.identity.email_verified);
    assert_eq!(
        verified.identity.profile.given_name.as_deref(),
        Some("Grace")
    );
    // The first non-empty value.
    assert_eq!(
        verified.identity.profile.family_name.as_deref(),
        Some("Hopper")
    );
}

#[test]
fn an_idp_not_trusted_for_email_sends_an_unverified_address() {
    require_idp!();
    let mut sp = sp();
    sp.trust_email = false;
    let (b64, _) = idp().unwrap().mint(json!({"in_response_to": "_r"}));
    let verified = verify_as(&sp, &b64, Some("_r"), false).unwrap();
    assert_eq!(verified.identity.email.as_deref(), Some("ada@example.com"));
    assert!(!verified.identity.email_verified);
}

#[test]
fn no_email_without_a_configured_source() {
    require_idp!();
    let mut sp = sp();
    sp.email_attribute = None;
    let (b64, _) = idp().unwrap().mint(json!({"in_response_to": "_r"}));
    let verified = verify_as(&sp, &b64, Some("_r"), false).unwrap();
    assert_eq!(verified.identity.email, None);
    assert!(!verified.identity.email_verified);
}

#[test]
fn idp_initiated_when_allowed() {
    require_idp!();
    let (b64, _) = idp().unwrap().mint(json!({}));
    let verified = verify_as(&sp(), &b64, None, true).unwrap();
    assert_eq!(verified.in_response_to, None);
    assert_eq!(verified.identity.authority_user_id, "ada-1001");
}

#[test]
fn the_same_response_verifies_twice_replay_is_the_servers_job() {
    require_idp!();
    let (b64, _) = idp().unwrap().mint(json!({"in_response_to": "_r"}));
    let first = verify(&b64, Some("_r")).unwrap();
    let second = verify(&b64, Some("_r")).unwrap();
    assert_eq!(first.assertion_id, second.assertion_id);
}

// ---------------------------------------------------------------------------------------------
// Signatures
// ---------------------------------------------------------------------------------------------

#[test]
fn refuses_an_unsigned_response() {
    require_idp!();
    let result = mint_and_verify(json!({"sign_response": false, "sign_assertion": false}));
    assert_eq!(result.unwrap_err(), SamlError::Unsigned);
}

#[test]
fn refuses_a_signature_by_another_key() {
    require_idp!();
    let idp = idp().unwrap();
    for (sign_response, sign_assertion) in [(true, false), (false, true), (true, true)] {
        let xml = idp.mint_xml(json!({
            "in_response_to": "_req1",
            "key": "other",
            "sign_response": sign_response,
            "sign_assertion": sign_assertion,
        }));
        let result = verify(&b64(&xml), Some("_req1"));
        cross_check(&idp.provider, &xml, Kind::Tampered, &result);
        assert!(
            matches!(result, Err(SamlError::SignatureInvalid(_))),
            "{result:?}"
        );
    }
}

#[test]
fn refuses_an_assertion_modified_after_signing() {
    require_idp!();
    let idp = idp().unwrap();
    for (sign_response, sign_assertion) in [(true, false), (false, true)] {
        let xml = idp.mint_xml(json!({
            "in_response_to": "_r",
            "sign_response": sign_response,
            "sign_assertion": sign_assertion,
        }));
        cross_check(
            &idp.provider,
            &xml,
            Kind::Genuine,
            &verify(&b64(&xml), Some("_r")),
        );
        let tampered = replace_once(&xml, ">ada-1001<", ">admin<");
        let result = verify(&b64(&tampered), Some("_r"));
        cross_check(&idp.provider, &tampered, Kind::Tampered, &result);
        assert!(
            matches!(result, Err(SamlError::SignatureInvalid(_))),
            "{sign_response}/{sign_assertion}: {result:?}"
        );
        let tampered = replace_once(&xml, "Ada@Example.COM", "boss@example.com");
        let result = verify(&b64(&tampered), Some("_r"));
        cross_check(&idp.provider, &tampered, Kind::Tampered, &result);
        assert!(matches!(result, Err(SamlError::SignatureInvalid(_))));
    }
}

#[test]
fn refuses_signature_wrapping() {
    require_idp!();
    let idp = idp().unwrap();
    let xml = idp.mint_xml(json!({"in_response_to": "_r"}));
    let (start, end) = element_span(&xml, "Assertion");
    let signed = &xml[start..end];
    let assertion_id = attribute(&xml, "Assertion", "ID");
    let evil = signed
        .replace(">ada-1001<", ">admin<")
        .replace(&format!("ID=\"{assertion_id}\""), "ID=\"evil-1\"");

    // (A copy of a signed element repeats its signature's Id, which alone refuses it too.)
    // (1) A second, unsigned assertion next to the signed one.
    let two = format!("{}{}{}", &xml[..end], evil, &xml[end..]);
    cross_check(
        &idp.provider,
        &two,
        Kind::Wrapped,
        &verify(&b64(&two), Some("_r")),
    );
    assert!(matches!(
        verify(&b64(&two), Some("_r")),
        Err(SamlError::Structure(_) | SamlError::Ids(_))
    ));
    let two_before = format!("{}{}{}", &xml[..start], evil, &xml[start..]);
    cross_check(
        &idp.provider,
        &two_before,
        Kind::Wrapped,
        &verify(&b64(&two_before), Some("_r")),
    );
    assert!(matches!(
        verify(&b64(&two_before), Some("_r")),
        Err(SamlError::Structure(_) | SamlError::Ids(_))
    ));

    // (2) The signed assertion moved into a wrapper (Extensions), the evil one in its place.
    let (status_start, _) = element_span(&xml, "Status");
    let prefix = &xml[status_start + 1..xml[status_start..].find(':').unwrap() + status_start];
    let mut wrapped = format!("{}{}{}", &xml[..start], evil, &xml[end..]);
    wrapped = replace_once(
        &wrapped,
        &format!("<{prefix}:Status>"),
        &format!("<{prefix}:Extensions>{signed}</{prefix}:Extensions><{prefix}:Status>"),
    );
    cross_check(
        &idp.provider,
        &wrapped,
        Kind::Wrapped,
        &verify(&b64(&wrapped), Some("_r")),
    );
    assert!(matches!(
        verify(&b64(&wrapped), Some("_r")),
        Err(SamlError::Structure(_) | SamlError::Ids(_))
    ));
    // … or into the evil assertion's signature (an Object), or into the evil assertion itself.
    let in_object = replace_once(
        &evil,
        "</ns2:Signature>",
        &format!("<ns2:Object>{signed}</ns2:Object></ns2:Signature>"),
    );
    let in_signature = format!("{}{}{}", &xml[..start], in_object, &xml[end..]);
    cross_check(
        &idp.provider,
        &in_signature,
        Kind::Wrapped,
        &verify(&b64(&in_signature), Some("_r")),
    );
    assert!(matches!(
        verify(&b64(&in_signature), Some("_r")),
        Err(SamlError::Structure(_) | SamlError::Ids(_))
    ));
    let in_assertion = replace_once(&evil, "<ns1:Subject>", &format!("{signed}<ns1:Subject>"));
    let nested = format!("{}{}{}", &xml[..start], in_assertion, &xml[end..]);
    cross_check(
        &idp.provider,
        &nested,
        Kind::Wrapped,
        &verify(&b64(&nested), Some("_r")),
    );
    assert!(matches!(
        verify(&b64(&nested), Some("_r")),
        Err(SamlError::Structure(_) | SamlError::Ids(_))
    ));

    // (3) A signed Response with an evil assertion swapped in for the signed one.
    let response_signed = idp.mint_xml(json!({
        "in_response_to": "_r", "sign_response": true, "sign_assertion": false,
    }));
    let (start, end) = element_span(&response_signed, "Assertion");
    let swapped_in = response_signed[start..end].replace(">ada-1001<", ">admin<");
    let swapped = format!(
        "{}{}{}",
        &response_signed[..start],
        swapped_in,
        &response_signed[end..]
    );
    cross_check(
        &idp.provider,
        &swapped,
        Kind::Tampered,
        &verify(&b64(&swapped), Some("_r")),
    );
    assert!(matches!(
        verify(&b64(&swapped), Some("_r")),
        Err(SamlError::SignatureInvalid(_))
    ));
    // … or the whole assertion of another (validly signed) response swapped in.
    let other = idp.mint_xml(json!({
        "in_response_to": "_r", "name_id": "admin", "sign_assertion": false,
    }));
    let (other_start, other_end) = element_span(&other, "Assertion");
    let transplanted = format!(
        "{}{}{}",
        &response_signed[..start],
        &other[other_start..other_end],
        &response_signed[end..]
    );
    cross_check(
        &idp.provider,
        &transplanted,
        Kind::Tampered,
        &verify(&b64(&transplanted), Some("_r")),
    );
    assert!(matches!(
        verify(&b64(&transplanted), Some("_r")),
        Err(SamlError::SignatureInvalid(_))
    ));
}

#[test]
fn accepts_ecdsa_signatures_from_an_idp_with_an_ec_key() {
    require_idp!();
    let idp = idp().unwrap();
    let (status, metadata) = http("GET", &format!("{}/metadata?key=ec", idp.base_url), None);
    assert_eq!(status, 200);
    let ec_idp = IdentityProvider::from_metadata_xml(&metadata).unwrap();
    for (sign_response, sign_assertion) in [(true, false), (false, true), (true, true)] {
        let xml = idp.mint_xml(json!({
            "in_response_to": "_r",
            "key": "ec",
            "sign_response": sign_response,
            "sign_assertion": sign_assertion,
        }));
        assert!(xml.contains("xmldsig-more#ecdsa-sha256"));
        let check =
            |xml: &str| verify_response(&sp(), &ec_idp, &b64(xml), Some("_r"), false, now(), SKEW);
        let result = check(&xml);
        cross_check(&ec_idp, &xml, Kind::Genuine, &result);
        assert_eq!(result.unwrap().identity.authority_user_id, "ada-1001");

        let tampered = replace_once(&xml, ">ada-1001<", ">admin<");
        let result = check(&tampered);
        cross_check(&ec_idp, &tampered, Kind::Tampered, &result);
        assert!(matches!(result, Err(SamlError::SignatureInvalid(_))));

        // The EC-signed message against the RSA metadata: the key is not the IdP's.
        let result = verify(&b64(&xml), Some("_r"));
        cross_check(&idp.provider, &xml, Kind::Tampered, &result);
        assert!(matches!(result, Err(SamlError::SignatureInvalid(_))));
    }
}

#[test]
fn refuses_sha1() {
    require_idp!();
    let result = mint_and_verify(json!({"algorithm": "sha1"}));
    assert!(
        matches!(result, Err(SamlError::SignatureAlgorithm(_))),
        "{result:?}"
    );
    // A SHA-1 digest under an RSA-SHA256 signature: refused by the pre-check, before any
    // signature is checked.
    let xml = idp().unwrap().mint_xml(json!({"in_response_to": "_r"}));
    let sha1_digest = replace_once(
        &xml,
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2000/09/xmldsig#sha1",
    );
    assert!(matches!(
        verify(&b64(&sha1_digest), Some("_r")),
        Err(SamlError::DigestAlgorithm(_))
    ));
}

/// A loopback listener that must never see a connection.
struct Canary(TcpListener);

impl Canary {
    fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Self(listener)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/x", self.0.local_addr().unwrap().port())
    }

    fn assert_untouched(&self) {
        // Any fetch would have happened synchronously inside verify_response.
        match self.0.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Ok((_, peer)) => panic!("the verifier connected to the canary from {peer}"),
            Err(e) => panic!("canary: {e}"),
        }
    }
}

#[test]
fn never_dereferences_external_reference_uris() {
    require_idp!();
    let canary = Canary::new();
    let idp = idp().unwrap();
    let xml = idp.mint_xml(json!({"in_response_to": "_r"}));
    let id = attribute(&xml, "Assertion", "ID");
    let started = Instant::now();
    for uri in [canary.url(), "file:///dev/zero".to_owned(), String::new()] {
        let evil = replace_once(&xml, &format!("URI=\"#{id}\""), &format!("URI=\"{uri}\""));
        let result = verify(&b64(&evil), Some("_r"));
        assert!(
            matches!(result, Err(SamlError::ReferenceUri(_))),
            "{uri}: {result:?}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    canary.assert_untouched();
}

/// The control for the audience rule: a signed assertion without an audience has good
/// signatures (xmlsec1 agrees), so it is our own rule that refuses it.
#[test]
fn control_a_well_signed_assertion_without_an_audience_is_still_refused() {
    require_idp!();
    let idp = idp().unwrap();
    let xml = idp.mint_xml(json!({"in_response_to": "_r", "audiences": []}));
    assert!(xmlsec1_verifies(&xml, &idp.provider));
    assert_eq!(
        verify(&b64(&xml), Some("_r")),
        Err(SamlError::AudienceMissing)
    );
}

#[test]
fn never_runs_xslt() {
    require_idp!();
    let canary = Canary::new();
    let xml = idp().unwrap().mint_xml(json!({"in_response_to": "_r"}));
    let xslt = format!(
        "<ns2:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xslt-19991116\">\
         <xsl:stylesheet xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\" version=\"1.0\">\
         <xsl:template match=\"/\"><xsl:value-of select=\"document('{}')\"/></xsl:template>\
         </xsl:stylesheet></ns2:Transform>",
        canary.url()
    );
    let evil = replace_once(
        &xml,
        "<ns2:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
        &xslt,
    );
    let result = verify(&b64(&evil), Some("_r"));
    assert!(matches!(result, Err(SamlError::Transform(_))), "{result:?}");
    canary.assert_untouched();
}

#[test]
fn refuses_doctype_and_entities() {
    require_idp!();
    let canary = Canary::new();
    let xml = idp().unwrap().mint_xml(json!({"in_response_to": "_r"}));
    let body = xml
        .trim_start_matches("<?xml version=\"1.0\"?>")
        .trim_start();
    let doctype = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY e SYSTEM \"{}\">]>\n{}",
        canary.url(),
        replace_once(body, ">ada-1001<", ">&e;<")
    );
    assert_eq!(
        verify(&b64(&doctype), Some("_r")),
        Err(SamlError::Xml(XmlError::Doctype))
    );
    let entity = replace_once(&xml, ">ada-1001<", ">&e;<");
    assert_eq!(
        verify(&b64(&entity), Some("_r")),
        Err(SamlError::Xml(XmlError::Entity))
    );
    let comment = replace_once(&xml, ">ada-1001<", ">ada-1001<!---->.evil<");
    assert_eq!(
        verify(&b64(&comment), Some("_r")),
        Err(SamlError::Xml(XmlError::Comment))
    );
    canary.assert_untouched();
}

#[test]
fn refuses_oversize_bad_base64_and_bad_utf8() {
    require_idp!();
    let big = "A".repeat(256 * 1024 + 4);
    assert!(matches!(
        verify(&big, Some("_r")),
        Err(SamlError::TooLarge { .. })
    ));
    assert_eq!(verify("not base64!", Some("_r")), Err(SamlError::Base64));
    // "<saml/>": decodes, but is no Response.
    assert!(matches!(
        verify("PHNhbWwvPg==", Some("_r")),
        Err(SamlError::Structure(_))
    ));
    assert_eq!(verify("PHNhbWw", Some("_r")), Err(SamlError::Base64));
    let latin1 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b"<a>\xe9</a>");
    assert_eq!(verify(&latin1, Some("_r")), Err(SamlError::Utf8));
    // Line-wrapped base64 of a valid response is fine.
    let (b64, _) = idp().unwrap().mint(json!({"in_response_to": "_r"}));
    let wrapped: String = b64
        .as_bytes()
        .chunks(76)
        .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
        .collect();
    assert!(verify(&wrapped, Some("_r")).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Conditions, recipients, times and request binding (validly signed by the IdP)
// ---------------------------------------------------------------------------------------------

#[test]
fn refuses_wrong_or_missing_audiences() {
    require_idp!();
    let result = mint_and_verify(json!({"audiences": [["https://other.example/sp"]]}));
    assert!(
        matches!(result, Err(SamlError::Audience { .. })),
        "{result:?}"
    );
    // Several restrictions must each name us (a lax reader would accept any one).
    let result = mint_and_verify(json!({
        "audiences": [[SP_ENTITY_ID], ["https://other.example/sp"]],
        "sign_response": true,
    }));
    assert!(
        matches!(result, Err(SamlError::Audience { .. })),
        "{result:?}"
    );
    // One restriction listing us among others is fine.
    mint_and_verify(json!({"audiences": [["https://other.example/sp", SP_ENTITY_ID]]})).unwrap();
    assert_eq!(
        mint_and_verify(json!({"audiences": []})),
        Err(SamlError::AudienceMissing)
    );
    assert_eq!(
        mint_and_verify(json!({"conditions": false})),
        Err(SamlError::AudienceMissing)
    );
}

#[test]
fn refuses_wrong_recipient_and_destination() {
    require_idp!();
    let result = mint_and_verify(json!({"recipient": "https://evil.example/acs"}));
    assert!(
        matches!(result, Err(SamlError::Recipient { .. })),
        "{result:?}"
    );
    for sign_response in [true, false] {
        let result = mint_and_verify(json!({
            "destination": "https://evil.example/acs",
            "sign_response": sign_response,
        }));
        assert!(
            matches!(result, Err(SamlError::Destination { .. })),
            "{sign_response}: {result:?}"
        );
    }
    // A signed Response must carry a Destination; an unsigned one may omit it.
    let result = mint_and_verify(json!({"destination": null, "sign_response": true}));
    assert!(
        matches!(result, Err(SamlError::Destination { .. })),
        "{result:?}"
    );
    mint_and_verify(json!({"destination": null, "sign_response": false})).unwrap();
}

#[test]
fn refuses_expired_and_not_yet_valid() {
    require_idp!();
    let result = mint_and_verify(json!({"not_on_or_after": -(SKEW as i64) - 30}));
    assert!(
        matches!(result, Err(SamlError::Expired { .. })),
        "{result:?}"
    );
    let result = mint_and_verify(json!({"not_before": SKEW as i64 + 60}));
    assert!(
        matches!(result, Err(SamlError::NotYetValid { .. })),
        "{result:?}"
    );
    // Within the skew is fine.
    mint_and_verify(json!({"not_before": 30, "not_on_or_after": 300})).unwrap();
}

#[test]
fn refuses_issue_instants_in_the_future_or_too_old() {
    require_idp!();
    let result = mint_and_verify(json!({"issue_instant": SKEW as i64 + 60}));
    assert!(
        matches!(result, Err(SamlError::IssuedInFuture { .. })),
        "{result:?}"
    );
    let result = mint_and_verify(json!({"issue_instant": -(300 + SKEW as i64) - 60}));
    assert!(
        matches!(result, Err(SamlError::IssuedTooLongAgo { .. })),
        "{result:?}"
    );
}

#[test]
fn refuses_in_response_to_mismatches() {
    require_idp!();
    let idp = idp().unwrap();
    for sign_response in [true, false] {
        let (b64, _) =
            idp.mint(json!({"in_response_to": "_other", "sign_response": sign_response}));
        assert!(matches!(
            verify(&b64, Some("_req1")),
            Err(SamlError::InResponseTo { .. })
        ));
    }
    // We sent a request, the answer claims none.
    let (b64, _) = idp.mint(json!({}));
    assert!(matches!(
        verify(&b64, Some("_req1")),
        Err(SamlError::InResponseTo { .. })
    ));
}

#[test]
fn refuses_unsolicited_unless_allowed_and_truly_unsolicited() {
    require_idp!();
    let idp = idp().unwrap();
    let (unsolicited, _) = idp.mint(json!({}));
    assert_eq!(
        verify_as(&sp(), &unsolicited, None, false),
        Err(SamlError::UnsolicitedNotAllowed)
    );
    // Allowed, but it answers a request we did not issue (or no longer hold).
    let (answer, _) = idp.mint(json!({"in_response_to": "_stolen"}));
    assert_eq!(
        verify_as(&sp(), &answer, None, true),
        Err(SamlError::UnsolicitedWithInResponseTo("_stolen".into()))
    );
}

#[test]
fn reads_the_lookup_key_only_from_a_prechecked_message() {
    require_idp!();
    let idp = idp().unwrap();
    let (answer, _) = idp.mint(json!({"in_response_to": "_req9"}));
    assert_eq!(unverified_in_response_to(&answer), Ok(Some("_req9".into())));
    let (unsolicited, _) = idp.mint(json!({}));
    assert_eq!(unverified_in_response_to(&unsolicited), Ok(None));
    // What the pre-check refuses yields no key at all.
    let (unsigned, _) = idp.mint(json!({"in_response_to": "_req9", "sign_assertion": false}));
    assert_eq!(
        unverified_in_response_to(&unsigned),
        Err(SamlError::Unsigned)
    );
    assert_eq!(unverified_in_response_to("%%%"), Err(SamlError::Base64));
}

#[test]
fn refuses_wrong_issuer_status_and_subjects() {
    require_idp!();
    let result = mint_and_verify(json!({"issuer": "https://evil.example/idp"}));
    assert!(
        matches!(result, Err(SamlError::Issuer { .. })),
        "{result:?}"
    );
    let result = mint_and_verify(json!({"status": "urn:oasis:names:tc:SAML:2.0:status:Requester"}));
    assert!(matches!(result, Err(SamlError::Status(_))), "{result:?}");
    assert_eq!(
        mint_and_verify(json!({"name_id": null})),
        Err(SamlError::NameIdMissing)
    );
    // Any NameID format is accepted unless the authority names one, transient ones too.
    let transient = mint_and_verify(json!({
        "name_id_format": "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
        "name_id": "_t-81f3",
    }));
    assert_eq!(transient.unwrap().identity.authority_user_id, "_t-81f3");

    // A required format that the IdP does not use.
    let idp = idp().unwrap();
    let mut sp = sp();
    sp.name_id_format = Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into());
    let (b64, _) = idp.mint(json!({"in_response_to": "_r"}));
    assert!(matches!(
        verify_as(&sp, &b64, Some("_r"), false),
        Err(SamlError::NameIdFormat { .. })
    ));
}

#[test]
fn refuses_a_response_for_another_idp_or_sp() {
    require_idp!();
    let idp = idp().unwrap();
    let (b64, _) = idp.mint(json!({"in_response_to": "_r"}));
    // The same XML checked for another SP (other entity id and ACS).
    let mut other = sp();
    other.entity_id = "https://authx.test/saml/other".into();
    assert!(matches!(
        verify_as(&other, &b64, Some("_r"), false),
        Err(SamlError::Audience { .. })
    ));
    let mut other = sp();
    other.acs_url = "https://authx.test/login/other/acs".into();
    assert!(matches!(
        verify_as(&other, &b64, Some("_r"), false),
        Err(SamlError::Recipient { .. }) | Err(SamlError::Destination { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Metadata and details
// ---------------------------------------------------------------------------------------------

#[test]
fn refuses_metadata_without_a_signing_certificate() {
    require_idp!();
    let idp = idp().unwrap();
    let (start, end) = element_span(&idp.metadata_xml, "KeyDescriptor");
    let stripped = format!("{}{}", &idp.metadata_xml[..start], &idp.metadata_xml[end..]);
    assert_eq!(
        IdentityProvider::from_metadata_xml(&stripped),
        Err(MetadataError::NoSigningCertificate)
    );
    // An encryption-only key does not count either.
    let encryption_only = replace_once(&idp.metadata_xml, "use=\"signing\"", "use=\"encryption\"");
    assert_eq!(
        IdentityProvider::from_metadata_xml(&encryption_only),
        Err(MetadataError::NoSigningCertificate)
    );

    let details = json!({"idp_metadata_xml": stripped, "sp_entity_id": SP_ENTITY_ID});
    match SamlStrategy.validate_details(&details) {
        Err(StrategyError::InvalidDetails { field, .. }) => {
            assert_eq!(field, "details.idp_metadata_xml");
        }
        other => panic!("expected an error on details.idp_metadata_xml, got {other:?}"),
    }
    let details = json!({"idp_metadata_xml": idp.metadata_xml, "sp_entity_id": SP_ENTITY_ID});
    let normalised = SamlStrategy.validate_details(&details).unwrap();
    assert_eq!(normalised["allowed_clock_skew_secs"], 120);
    assert_eq!(normalised["allow_idp_initiated"], false);
}

#[test]
fn fetches_metadata_over_http_on_loopback() {
    require_idp!();
    let idp = idp().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let fetched = runtime
        .block_on(authx_strategy_saml::fetch_identity_provider(
            &client,
            &format!("{}/metadata", idp.base_url),
        ))
        .unwrap();
    assert_eq!(fetched, idp.provider);
    let missing = runtime.block_on(authx_strategy_saml::fetch_metadata(
        &client,
        &format!("{}/nothing", idp.base_url),
    ));
    assert!(
        matches!(missing, Err(MetadataError::Fetch(_))),
        "{missing:?}"
    );
    // Plain http elsewhere than loopback is refused before any connection.
    let remote = runtime.block_on(authx_strategy_saml::fetch_metadata(
        &client,
        "http://idp.example/metadata",
    ));
    assert_eq!(remote, Err(MetadataError::Url));
}
