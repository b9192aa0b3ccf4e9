//! SP-initiated login: the AuthnRequest, sent with the HTTP-Redirect binding.
//!
//! [`authn_request`] builds the request with samael (Issuer = our entity id,
//! AssertionConsumerServiceURL = our ACS URL, ProtocolBinding = HTTP-POST, the configured NameID
//! format) and encodes it for the redirect binding (raw DEFLATE, base64, URL query). samael's own
//! request id has only 32 random bits, so it is replaced by 128 bits from OpenSSL's CSPRNG.
//!
//! The server must store the returned `request_id` **server-side, bound to the browser** that
//! started the login (e.g. in a pending-login row keyed by a random value in an HttpOnly cookie)
//! with a short expiry, and pass it to [`crate::verify_response`] as `expected_request_id` when
//! that same browser posts to the ACS; then delete it, so each request is answered at most once.
//! `relay_state` is sent back verbatim by the IdP: it must be an opaque value (at most 80 bytes,
//! as the binding requires), never a URL to redirect to unchecked.

use chrono::Utc;

use crate::SamlError;
use crate::metadata::IdentityProvider;
use crate::sp::SpConfig;

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
    let provider = samael::service_provider::ServiceProvider {
        entity_id: Some(sp.entity_id.clone()),
        acs_url: Some(sp.acs_url.clone()),
        metadata_url: sp.metadata_url.clone(),
        slo_url: None,
        authn_name_id_format: sp.name_id_format.clone(),
        idp_metadata: idp.to_samael(),
        ..samael::service_provider::ServiceProvider::default()
    };
    let mut request = provider
        .make_authentication_request(idp.sso_redirect_url())
        .map_err(|e| SamlError::Internal(format!("building the AuthnRequest: {e}")))?;
    request.id = new_request_id()?;
    request.issue_instant = Utc::now();
    let url = request
        .redirect(relay_state)
        .map_err(|e| SamlError::Internal(format!("encoding the AuthnRequest: {e}")))?
        .ok_or_else(|| SamlError::Internal("the AuthnRequest has no destination".into()))?;
    Ok(AuthnRedirect {
        url: url.to_string(),
        request_id: request.id,
    })
}

/// `_` + 32 hex digits (128 random bits): an NCName, as SAML IDs must be.
fn new_request_id() -> Result<String, SamlError> {
    let mut bytes = [0u8; 16];
    openssl::rand::rand_bytes(&mut bytes)
        .map_err(|e| SamlError::Internal(format!("random request id: {e}")))?;
    let mut id = String::with_capacity(33);
    id.push('_');
    for byte in bytes {
        id.push_str(&format!("{byte:02x}"));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_random_ncnames() {
        let a = new_request_id().unwrap();
        let b = new_request_id().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 33);
        assert!(a.starts_with('_'));
        assert!(a[1..].bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
