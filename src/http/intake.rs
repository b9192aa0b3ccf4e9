//! What a request may bring in, checked at the door before any handler sees it: a body no
//! larger than its route class takes, and text without NUL characters.
//!
//! **Bounded bodies.** Every body is read against the limit of its route class ([`body_limit`];
//! the SAML ACS bounds its own):
//! a `Content-Length` above it is refused before a byte is read, and a body without one is
//! refused as soon as it passes the limit, so no request costs more memory than that, whoever
//! sends it. The answer is a 413 in the adapter's language.
//!
//! **Credentials before bodies.** A request that can only be refused for what its head lacks is
//! refused before its body is read: a write to the admin API without an `Authorization` header
//! (every one of them needs a bearer), and a form post to a page without the CSRF cookie (every
//! page form checks it; the posts other sites make — a SAML ACS, the OAuth 2.0 endpoints'
//! form posts — are not pages of this kind). An anonymous sender cannot make the server read
//! anything.
//!
//! **Bodies arrive in time.** A body must be complete within `server.body_read_timeout_secs` (30 s)
//! of the handler's starting to read it; a client trickling it in is answered 408 and the
//! connection closed, so it holds a connection and a buffer no longer than that (the server loop
//! bounds the head the same way).
//!
//! **Text PostgreSQL refuses.** A NUL character anywhere in a request's text — its path, its
//! query string, a form field, a JSON string or key — is a 400 naming where it was. No value of
//! ours may hold a NUL, and PostgreSQL cannot store or even compare one (SQLite can), so without
//! this the same request would be a 400 on one backend and a 500 on the other. One check at the
//! door, rather than one per field, keeps both backends answering alike.
//!
//! Answers speak each adapter's language: a problem document under `/api/`, an RFC 6749 error
//! body under `/oauth2/`, a page elsewhere.

use std::time::Duration;

use hyper::body::Bytes;
use poem::http::{Method, StatusCode, header};
use poem::{IntoResponse, Request, Response};
use serde_json::{Value, json};

use crate::engine::oauth2::error::OAuth2Error;
use crate::engine::oauth2::params::form_decode;
use crate::http::api::error::ApiError;
use crate::http::web::pages::errors::PageError;

/// The body limit of browser forms and the OAuth 2.0 endpoints (tokens, codes and credentials
/// are short; the OAuth 2.0 handlers apply their own, smaller bound inside it).
pub const MAX_FORM_BODY: usize = 64 * 1024;

/// The largest body a request to `path` may carry: the admin API's JSON bound under `/api/`, the
/// form bound everywhere else. `None` for a SAML Assertion Consumer Service, which reads its
/// body against its own bound (`upstream_saml::MAX_ACS_BODY_BYTES`) so that an oversized or
/// malformed post is an audited login failure with the sign-in failure page.
pub fn body_limit(path: &str) -> Option<usize> {
    if path.starts_with("/api/") {
        Some(crate::http::api::problem::MAX_JSON_BODY)
    } else if path.starts_with("/login/") && path.ends_with("/acs") {
        None
    } else {
        Some(MAX_FORM_BODY)
    }
}

/// Where a NUL character was found, as the answer names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// In the path.
    Path,
    /// In the query parameter of this name.
    Query(String),
    /// In the form field of this name.
    Form(String),
    /// In the JSON body, at this field (`profile/given_name`, `scopes/2`).
    Json(String),
}

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unread {
    /// It passed its limit.
    TooLarge,
    /// It broke off before its end.
    BrokenOff,
    /// It did not arrive within the deadline.
    TooSlow,
}

/// The whole of `body`, at most `limit` bytes, arrived within `deadline`.
pub async fn read_body(
    body: poem::Body,
    limit: usize,
    deadline: Duration,
) -> Result<Bytes, Unread> {
    match tokio::time::timeout(deadline, body.into_bytes_limit(limit)).await {
        Err(_) => Err(Unread::TooSlow),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(poem::error::ReadBodyError::PayloadTooLarge)) => Err(Unread::TooLarge),
        Ok(Err(_)) => Err(Unread::BrokenOff),
    }
}

/// The body deadline of `req`'s server (`server.body_read_timeout_secs`).
pub fn body_deadline(req: &Request) -> Duration {
    let secs = req
        .data::<crate::engine::Engine>()
        .map_or(30, |engine| engine.config.server.body_read_timeout_secs);
    Duration::from_secs(secs)
}

/// Looks at `req` and gives it back (its body read and restored) when it keeps to the rules,
/// else the 4xx to answer with.
pub async fn inspect(mut req: Request) -> Result<Request, Response> {
    let path = req.uri().path().to_owned();
    if let Some(found) = nul_in_head(&req) {
        return Err(refusal(&path, &found));
    }
    let Some(limit) = body_limit(&path) else {
        return Ok(req);
    };
    if content_length(&req).is_some_and(|n| n > limit as u64) {
        return Err(too_large(&path, limit));
    }
    if has_body(&req)
        && let Some(refusal) = missing_credentials(&req, &path)
    {
        return Err(refusal);
    }
    if !has_body(&req) {
        return Ok(req);
    }
    let kind = body_kind(&req);
    let deadline = body_deadline(&req);
    let bytes = match read_body(req.take_body(), limit, deadline).await {
        Ok(bytes) => bytes,
        Err(Unread::TooLarge) => return Err(too_large(&path, limit)),
        // A body that breaks off: nothing to check, and nothing the handler could read either.
        Err(Unread::BrokenOff) => return Err(unreadable(&path)),
        Err(Unread::TooSlow) => return Err(too_slow(&path, deadline)),
    };
    let found = match kind {
        Some(BodyKind::Form) => std::str::from_utf8(&bytes)
            .ok()
            .and_then(nul_in_form)
            .map(Found::Form),
        Some(BodyKind::Json) => serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| nul_in_json(&v))
            .map(Found::Json),
        None => None,
    };
    req.set_body(bytes);
    match found {
        Some(found) => Err(refusal(&path, &found)),
        None => Ok(req),
    }
}

/// The refusal of a request whose head already fails: an admin API write without a bearer, a
/// page form without the CSRF cookie.
fn missing_credentials(req: &Request, path: &str) -> Option<Response> {
    if path.starts_with("/api/") {
        return (!req.headers().contains_key(header::AUTHORIZATION)).then(|| {
            ApiError::unauthenticated("an Authorization: Bearer header is required").into_response()
        });
    }
    let page_form = *req.method() == Method::POST
        && !path.starts_with("/oauth2/")
        && !path.starts_with("/o/")
        && body_limit(path).is_some();
    (page_form && !crate::http::web::csrf::has_token(req))
        .then(|| PageError::csrf().into_response())
}

/// The declared body length, if any.
fn content_length(req: &Request) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether the request says it carries a body (a length above zero, or chunked).
fn has_body(req: &Request) -> bool {
    content_length(req).is_some_and(|n| n > 0)
        || req.headers().contains_key(header::TRANSFER_ENCODING)
        || (content_length(req).is_none()
            && !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS))
}

/// The path or the query string's NUL, if any.
fn nul_in_head(req: &Request) -> Option<Found> {
    let path = req.uri().path();
    if path.contains("%00") || path.contains('\0') {
        return Some(Found::Path);
    }
    req.uri().query().and_then(nul_in_form).map(Found::Query)
}

/// The kinds of body whose text is inspected.
enum BodyKind {
    Form,
    Json,
}

fn body_kind(req: &Request) -> Option<BodyKind> {
    let media = req
        .headers()
        .get(header::CONTENT_TYPE)?
        .to_str()
        .ok()?
        .split(';')
        .next()?
        .trim()
        .to_ascii_lowercase();
    if media == "application/x-www-form-urlencoded" {
        Some(BodyKind::Form)
    } else if media == "application/json" || media.ends_with("+json") {
        Some(BodyKind::Json)
    } else {
        None
    }
}

/// The name of the first form field (of `input`, form-encoded) whose name or value holds a NUL.
/// A component that does not decode is left to the endpoint, which refuses it in its own words.
pub fn nul_in_form(input: &str) -> Option<String> {
    input
        .split('&')
        .filter(|pair| pair.contains("%00") || pair.contains('\0'))
        .find_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = form_decode(name)?;
            let value = form_decode(value)?;
            (name.contains('\0') || value.contains('\0')).then(|| printable(&name))
        })
}

/// The path of the first string or key of `value` that holds a NUL (`""` for the whole body).
pub fn nul_in_json(value: &Value) -> Option<String> {
    fn walk(value: &Value, at: &str) -> Option<String> {
        let join = |key: &str| {
            if at.is_empty() {
                key.to_owned()
            } else {
                format!("{at}/{key}")
            }
        };
        match value {
            Value::String(s) => s.contains('\0').then(|| at.to_owned()),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| walk(item, &join(&i.to_string()))),
            Value::Object(fields) => fields.iter().find_map(|(key, item)| {
                if key.contains('\0') {
                    return Some(join(&printable(key)));
                }
                walk(item, &join(key))
            }),
            _ => None,
        }
    }
    walk(value, "")
}

/// A name shown in an answer: short, without control characters.
fn printable(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(40).collect()
}

/// The 400 for `found`, in the language of the adapter that owns `path`.
fn refusal(path: &str, found: &Found) -> Response {
    let (field, described) = match found {
        Found::Path => (
            String::new(),
            "the path contains a NUL character".to_owned(),
        ),
        Found::Query(name) => (
            name.clone(),
            format!("query parameter '{name}' contains a NUL character"),
        ),
        Found::Form(name) => (
            name.clone(),
            format!("parameter '{name}' contains a NUL character"),
        ),
        Found::Json(at) if at.is_empty() => (
            String::new(),
            "the body contains a NUL character".to_owned(),
        ),
        Found::Json(at) => (at.clone(), format!("'{at}' contains a NUL character")),
    };
    if path.starts_with("/api/") {
        if field.is_empty() {
            ApiError::invalid(described).into_response()
        } else {
            ApiError::invalid_field(field, "contains a NUL character, which is not accepted")
                .into_response()
        }
    } else if path.starts_with("/oauth2/") {
        OAuth2Error::invalid_request(described).into_response()
    } else {
        PageError::new(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "The form contained a character that is not accepted (a NUL). Go back and try again.",
        )
        .into_response()
    }
}

/// The 413 for a body above `limit`, in the language of the adapter that owns `path`.
fn too_large(path: &str, limit: usize) -> Response {
    let message = format!("the request body may be at most {limit} bytes");
    if path.starts_with("/api/") {
        crate::http::api::problem::body_too_large()
    } else if path.starts_with("/oauth2/") {
        oauth2_invalid_request(StatusCode::PAYLOAD_TOO_LARGE, &message)
    } else {
        PageError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too much data",
            "The form sent more data than this page takes. Go back and try again.",
        )
        .into_response()
    }
}

/// The 408 for a body that did not arrive within `deadline`; the connection is closed after it
/// (the rest of the body is not worth waiting for).
fn too_slow(path: &str, deadline: Duration) -> Response {
    let message = format!(
        "the request body did not arrive within {} seconds",
        deadline.as_secs()
    );
    let mut response = if path.starts_with("/api/") {
        crate::http::api::problem::body_too_slow(message)
    } else if path.starts_with("/oauth2/") {
        oauth2_invalid_request(StatusCode::REQUEST_TIMEOUT, &message)
    } else {
        PageError::new(
            StatusCode::REQUEST_TIMEOUT,
            "Too slow",
            "The form took too long to arrive. Go back and try again.",
        )
        .into_response()
    };
    response.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    response
}

/// An RFC 6749 `invalid_request` body with `status` (413 or 408: the body, not its content, is
/// what is wrong).
fn oauth2_invalid_request(status: StatusCode, message: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(json!({"error": "invalid_request", "error_description": message}).to_string())
}

/// The 400 for a body that broke off before its end.
fn unreadable(path: &str) -> Response {
    let message = "the request body could not be read";
    if path.starts_with("/api/") {
        ApiError::invalid(message).into_response()
    } else if path.starts_with("/oauth2/") {
        OAuth2Error::invalid_request(message).into_response()
    } else {
        PageError::new(StatusCode::BAD_REQUEST, "Bad request", message).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn limits_follow_the_route_class() {
        assert_eq!(body_limit("/api/v1/roles"), Some(1024 * 1024));
        assert_eq!(body_limit("/login/corp/acs"), None);
        assert_eq!(body_limit("/login/password"), Some(MAX_FORM_BODY));
        assert_eq!(body_limit("/oauth2/token"), Some(MAX_FORM_BODY));
    }

    #[test]
    fn forms_name_the_field() {
        assert_eq!(nul_in_form("a=1&client_id=x%00y"), Some("client_id".into()));
        assert_eq!(nul_in_form("a%00b=1"), Some("ab".into()));
        assert_eq!(nul_in_form("a=1&b=%2500"), None);
        assert_eq!(nul_in_form("a=%C3%A9"), None);
    }

    #[test]
    fn json_names_the_field() {
        let body = json!({"name": "ok", "profile": {"given_name": "a\u{0}"}});
        assert_eq!(nul_in_json(&body), Some("profile/given_name".into()));
        assert_eq!(
            nul_in_json(&json!({"scopes": ["a", "b\u{0}"]})),
            Some("scopes/1".into())
        );
        assert_eq!(nul_in_json(&json!({"k\u{0}": 1})), Some("k".into()));
        assert_eq!(nul_in_json(&json!("\u{0}")), Some(String::new()));
        assert_eq!(nul_in_json(&json!({"a": [1, true, null]})), None);
    }
}
