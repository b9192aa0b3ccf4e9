//! The OAuth 2.0 / OpenID Connect endpoints (reference §4) in their RFC wire formats, rather than part
//! of the admin OpenAPI document — authorization (with consent), token, introspection (RFC 7662),
//! revocation (RFC 7009), userinfo, discovery, JWKS and RP-initiated logout — plus Ego's API-key
//! check, and what they share: form parsing, reading client credentials, error answers (§5.2) and
//! CORS. The rules are the engine's (`engine::oauth2`).

pub mod authorize;
pub mod client_auth;
pub mod cors;
pub mod discovery;
pub mod ego;
pub mod error;
pub mod introspect;
pub mod jwks;
pub mod logout;
pub mod revoke;
pub mod token;
pub mod userinfo;

use poem::http::header;
use poem::{Body, Request};

use crate::engine::oauth2::error::OAuth2Error;
use crate::engine::oauth2::params::Params;

/// The largest form body read from a client (tokens and credentials are short).
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// Reads the request body as a form. A body of another media type is refused; an empty body (a
/// check with every parameter in the query, or none at all) is an empty form.
pub async fn read_form(req: &Request, body: Body) -> Result<Params, OAuth2Error> {
    let bytes = body
        .into_bytes_limit(MAX_FORM_BYTES)
        .await
        .map_err(|_| OAuth2Error::invalid_request("the request body is too large or unreadable"))?;
    if bytes.is_empty() {
        return Ok(Params::default());
    }
    if !has_form_content_type(req) {
        return Err(OAuth2Error::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| OAuth2Error::invalid_request("the body is not UTF-8"))?;
    Params::parse(text)
}

/// Whether the request says its body is `application/x-www-form-urlencoded` (parameters such as
/// `charset` aside).
pub fn has_form_content_type(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}
