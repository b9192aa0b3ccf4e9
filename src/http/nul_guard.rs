//! Text PostgreSQL refuses: a NUL character anywhere in a request's text — its path, its query
//! string, a form field, a JSON string or key — is a 400 naming where it was, on every endpoint,
//! before any handler sees it.
//!
//! No value of ours may hold a NUL, and PostgreSQL cannot store or even compare one (SQLite
//! can), so without this the same request would be a 400 on one backend and a 500 on the other.
//! One check at the door, rather than one per field, keeps both backends answering alike. The
//! answer speaks each adapter's language: a problem document naming the field under `/api/`,
//! RFC 6749 `invalid_request` under `/oauth2/`, a page elsewhere.

use poem::http::{StatusCode, header};
use poem::{IntoResponse, Request, Response};
use serde_json::Value;

use crate::engine::oauth2::error::OAuth2Error;
use crate::engine::oauth2::params::form_decode;
use crate::http::api::error::ApiError;
use crate::http::web::pages::errors::PageError;

/// The largest body inspected: the largest any endpoint accepts (the admin API's JSON bound).
const MAX_INSPECTED_BODY: usize = crate::http::api::problem::MAX_JSON_BODY;

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

/// Looks at `req` and gives it back (its body restored) when it holds no NUL character, else the
/// 400 to answer with.
pub async fn inspect(mut req: Request) -> Result<Request, Response> {
    let found = match nul_in_head(&req) {
        Some(found) => Some(found),
        None => match body_kind(&req) {
            Some(kind) => {
                let body = req.take_body();
                let bytes = match body.into_bytes_limit(MAX_INSPECTED_BODY).await {
                    Ok(bytes) => bytes,
                    // No endpoint takes a body this large; each would refuse it the same way.
                    Err(_) => return Err(too_large(req.uri().path())),
                };
                let found = match kind {
                    BodyKind::Form => std::str::from_utf8(&bytes)
                        .ok()
                        .and_then(nul_in_form)
                        .map(Found::Form),
                    BodyKind::Json => serde_json::from_slice::<Value>(&bytes)
                        .ok()
                        .and_then(|v| nul_in_json(&v))
                        .map(Found::Json),
                };
                req.set_body(bytes);
                found
            }
            None => None,
        },
    };
    match found {
        Some(found) => Err(refusal(req.uri().path(), &found)),
        None => Ok(req),
    }
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

/// The 413 for a body larger than any endpoint takes.
fn too_large(path: &str) -> Response {
    let message = format!("the body may be at most {MAX_INSPECTED_BODY} bytes");
    if path.starts_with("/api/") {
        crate::http::api::problem::body_too_large()
    } else {
        Response::builder()
            .status(StatusCode::PAYLOAD_TOO_LARGE)
            .content_type("text/plain; charset=utf-8")
            .body(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
