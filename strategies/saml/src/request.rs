//! SP-initiated login: the AuthnRequest, sent with the HTTP-Redirect binding.
//!
//! [`authn_request`] writes the request (Issuer = our entity id, Destination = the IdP's SSO URL,
//! AssertionConsumerServiceURL = our ACS URL, ProtocolBinding = HTTP-POST, a NameIDPolicy with
//! the configured format) and encodes it for the redirect binding (raw DEFLATE, base64, URL
//! query, SAML bindings §3.4.4.1). Its id carries 128 random bits.
//!
//! The request is signed when the IdP's metadata says `WantAuthnRequestsSigned` or the authority
//! has `sign_requests`: on this binding the signature is not inside the XML but over the query
//! string itself, `SAMLRequest=…&RelayState=…&SigAlg=…` exactly as sent (bindings §3.4.4.1),
//! with RSA-SHA256 and the authority's SP key ([`crate::sp_key`]), and goes in `Signature`.
//!
//! The server must store the returned `request_id` **server-side, bound to the browser** that
//! started the login (e.g. in a pending-login row keyed by a random value in an HttpOnly cookie)
//! with a short expiry, and pass it to [`crate::verify_response`] as `expected_request_id` when
//! that same browser posts to the ACS; then delete it, so each request is answered at most once.
//! `relay_state` is sent back verbatim by the IdP: it must be an opaque value (at most 80 bytes,
//! as the binding requires), never a URL to redirect to unchecked.

use std::io::Write as _;

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use flate2::Compression;
use flate2::write::DeflateEncoder;

use crate::SamlError;
use crate::metadata::IdentityProvider;
use crate::sp::{HTTP_POST_BINDING, SpConfig};
use crate::sp_key::SIG_ALG_RSA_SHA256;
use crate::xml::{NS_ASSERTION, NS_PROTOCOL, escape};

/// The longest RelayState the HTTP-Redirect binding allows, in bytes.
pub const MAX_RELAY_STATE_BYTES: usize = 80;

/// Where to send the browser, and the request id to remember for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthnRedirect {
    /// The IdP's SSO URL with `SAMLRequest` (and `RelayState`) in the query.
    pub url: String,
    /// The AuthnRequest's ID; store it server-side, tied to the browser.
    pub request_id: String,
}

/// A fresh AuthnRequest for `sp` to `idp`, as an HTTP-Redirect URL (see the module documentation).
/// An empty `relay_state` sends none.
pub fn authn_request(
    sp: &SpConfig,
    idp: &IdentityProvider,
    relay_state: &str,
) -> Result<AuthnRedirect, SamlError> {
    if relay_state.len() > MAX_RELAY_STATE_BYTES {
        return Err(SamlError::Internal(format!(
            "RelayState longer than {MAX_RELAY_STATE_BYTES} bytes"
        )));
    }
    let request_id = new_request_id();
    let xml = request_xml(sp, idp, &request_id, Utc::now());
    let mut deflated = DeflateEncoder::new(Vec::new(), Compression::default());
    deflated
        .write_all(xml.as_bytes())
        .map_err(|e| SamlError::Internal(format!("deflating the AuthnRequest: {e}")))?;
    let deflated = deflated
        .finish()
        .map_err(|e| SamlError::Internal(format!("deflating the AuthnRequest: {e}")))?;
    let mut ours = form_urlencoded::Serializer::new(String::new());
    ours.append_pair(
        "SAMLRequest",
        &base64::engine::general_purpose::STANDARD.encode(deflated),
    );
    if !relay_state.is_empty() {
        ours.append_pair("RelayState", relay_state);
    }
    let mut ours = ours.finish();
    if sp.sign_requests || idp.wants_signed_requests() {
        let key = sp.signing_key.as_ref().ok_or_else(|| {
            SamlError::Internal(
                "AuthnRequests must be signed but the authority has no SP signing key yet; \
                 saving the authority generates one"
                    .into(),
            )
        })?;
        ours.push_str("&SigAlg=");
        ours.extend(form_urlencoded::byte_serialize(
            SIG_ALG_RSA_SHA256.as_bytes(),
        ));
        let signature = key.sign(ours.as_bytes())?;
        let signature = base64::engine::general_purpose::STANDARD.encode(signature);
        ours.push_str("&Signature=");
        ours.extend(form_urlencoded::byte_serialize(signature.as_bytes()));
    }
    let mut url = reqwest::Url::parse(idp.sso_redirect_url())
        .map_err(|e| SamlError::Internal(format!("the IdP's SSO URL: {e}")))?;
    // Parameters the IdP's own URL carries stay in front; the signature covers only ours.
    let query = match url.query() {
        Some(theirs) if !theirs.is_empty() => format!("{theirs}&{ours}"),
        _ => ours,
    };
    url.set_query(Some(&query));
    Ok(AuthnRedirect {
        url: url.to_string(),
        request_id,
    })
}

/// The AuthnRequest document (see the module documentation).
fn request_xml(
    sp: &SpConfig,
    idp: &IdentityProvider,
    request_id: &str,
    now: DateTime<Utc>,
) -> String {
    let name_id_policy = match &sp.name_id_format {
        Some(format) => format!(
            "<samlp:NameIDPolicy Format=\"{}\" AllowCreate=\"true\"/>",
            escape(format)
        ),
        None => "<samlp:NameIDPolicy AllowCreate=\"true\"/>".to_owned(),
    };
    format!(
        "<samlp:AuthnRequest xmlns:samlp=\"{NS_PROTOCOL}\" xmlns:saml=\"{NS_ASSERTION}\" \
         ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{instant}\" Destination=\"{destination}\" \
         AssertionConsumerServiceURL=\"{acs}\" ProtocolBinding=\"{HTTP_POST_BINDING}\">\
         <saml:Issuer>{issuer}</saml:Issuer>{name_id_policy}</samlp:AuthnRequest>",
        id = escape(request_id),
        instant = now.to_rfc3339_opts(SecondsFormat::Secs, true),
        destination = escape(idp.sso_redirect_url()),
        acs = escape(&sp.acs_url),
        issuer = escape(&sp.entity_id),
    )
}

/// `_` + 32 hex digits (128 random bits, drawn as the other strategies draw theirs): an NCName,
/// as SAML IDs must be.
fn new_request_id() -> String {
    let bytes: [u8; 16] = rand::random();
    let mut id = String::with_capacity(33);
    id.push('_');
    for byte in bytes {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sp_key::SpKey;
    use crate::test_support::sp_config as sp;

    #[test]
    fn the_request_names_us_the_idp_and_the_format() {
        let idp =
            IdentityProvider::from_metadata_xml(&crate::test_support::valid_metadata()).unwrap();
        let sp = SpConfig {
            entity_id: "https://sp.example/<&>".into(),
            name_id_format: Some("urn:x".into()),
            ..sp(false, None)
        };
        let xml = request_xml(&sp, &idp, "_r1", DateTime::from_timestamp(0, 0).unwrap());
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert!(crate::xml::is(root, NS_PROTOCOL, "AuthnRequest"));
        assert_eq!(root.attribute("ID"), Some("_r1"));
        assert_eq!(root.attribute("IssueInstant"), Some("1970-01-01T00:00:00Z"));
        assert_eq!(root.attribute("Destination"), Some(idp.sso_redirect_url()));
        assert_eq!(
            root.attribute("AssertionConsumerServiceURL"),
            Some("https://sp.example/acs")
        );
        let issuer = root.first_element_child().unwrap();
        assert_eq!(issuer.text(), Some("https://sp.example/<&>"));
        let policy = issuer.next_sibling_element().unwrap();
        assert_eq!(policy.attribute("Format"), Some("urn:x"));
    }

    /// The IdP of the test metadata, its SSO URL carrying a query of its own, and whether it
    /// wants signed requests.
    fn idp(wants_signed: bool) -> IdentityProvider {
        let xml = crate::test_support::valid_metadata()
            .replace("/sso/redirect", "/sso/redirect?tenant=a%20b")
            .replace(
                "WantAuthnRequestsSigned=\"false\"",
                &format!("WantAuthnRequestsSigned=\"{wants_signed}\""),
            );
        IdentityProvider::from_metadata_xml(&xml).unwrap()
    }

    /// The query parameters of `url`, in order and still encoded.
    fn raw_query(url: &str) -> Vec<(String, String)> {
        let query = reqwest::Url::parse(url)
            .unwrap()
            .query()
            .unwrap()
            .to_owned();
        query
            .split('&')
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect()
    }

    #[test]
    fn unsigned_unless_the_idp_or_the_authority_asks() {
        let key = SpKey::generate().unwrap();
        let redirect = authn_request(&sp(false, Some(key)), &idp(false), "rs").unwrap();
        let names: Vec<String> = raw_query(&redirect.url)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(names, ["tenant", "SAMLRequest", "RelayState"]);
    }

    #[test]
    fn signed_requests_sign_the_query_as_sent() {
        use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
        use rcgen::PublicKeyData as _;

        let key = SpKey::generate().unwrap();
        let pair = rcgen::KeyPair::try_from(
            base64::engine::general_purpose::STANDARD
                .decode(key.as_base64())
                .unwrap()
                .as_slice(),
        )
        .unwrap();
        let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pair.der_bytes().to_vec());
        for (sign_requests, wants_signed) in [(true, false), (false, true)] {
            let redirect = authn_request(
                &sp(sign_requests, Some(key.clone())),
                &idp(wants_signed),
                "axrs_a-b_c",
            )
            .unwrap();
            let query = raw_query(&redirect.url);
            let names: Vec<&str> = query.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(
                names,
                ["tenant", "SAMLRequest", "RelayState", "SigAlg", "Signature"]
            );
            assert_eq!(
                query[3].1,
                "http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256"
            );
            // Signed: our three parameters exactly as encoded in the URL, the IdP's own not.
            let signed = format!(
                "SAMLRequest={}&RelayState={}&SigAlg={}",
                query[1].1, query[2].1, query[3].1
            );
            let signature: String = form_urlencoded::parse(format!("s={}", query[4].1).as_bytes())
                .next()
                .unwrap()
                .1
                .into_owned();
            let signature = base64::engine::general_purpose::STANDARD
                .decode(signature)
                .unwrap();
            public.verify(signed.as_bytes(), &signature).unwrap();
            // Anything else changed, and the signature no longer holds.
            let tampered = signed.replace("RelayState=axrs_a", "RelayState=axrs_b");
            assert!(public.verify(tampered.as_bytes(), &signature).is_err());
        }
    }

    #[test]
    fn a_wanted_signature_without_a_key_is_an_error_not_an_unsigned_request() {
        let e = authn_request(&sp(false, None), &idp(true), "").unwrap_err();
        assert!(matches!(e, SamlError::Internal(_)), "{e:?}");
    }

    #[test]
    fn request_ids_are_random_ncnames() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 33);
        assert!(a.starts_with('_'));
        assert!(a[1..].bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
