//! Ego compatibility: `POST /o/check_api_key`, the check Ego's applications call with the user's
//! API key in the `apiKey` query parameter or form field, authenticating themselves with
//! `Authorization: Basic base64(client_id:client_secret)` (the form fields of `client_secret_post`
//! work too).
//!
//! Answers as Ego does: **207** with `{"user_id", "exp" (seconds left), "scope": [...]}` (plus
//! `"deny"` when deny patterns partly overlap the scopes) for an active key; 401 `{"error": "invalid
//! or expired API key"}` for anything else (the key is never echoed); 400 when `apiKey` is missing;
//! 401 `{"error": "invalid client credentials"}` with a `Basic` challenge when the caller is not an
//! authenticated client. Same rules and same live data as introspection.

use poem::http::{StatusCode, header};
use poem::web::Data;
use poem::{Body, Request, Response, handler};
use serde_json::{Value, json};

use super::client_auth::authenticate;
use super::error::BASIC_CHALLENGE;
use super::introspect::answer_json;
use super::read_form;
use crate::domain::now;
use crate::engine::Engine;
use crate::engine::oauth2::client_auth::Public;
use crate::engine::oauth2::error::{ErrorCode, OAuth2Error};
use crate::engine::oauth2::introspect::check_api_key;
use crate::engine::oauth2::params::Params;

/// `POST /o/check_api_key`.
#[handler]
pub async fn check_api_key_endpoint(req: &Request, body: Body, state: Data<&Engine>) -> Response {
    match run(req, body, &state).await {
        Ok(response) => response,
        Err(error) => ego_error(&error),
    }
}

async fn run(req: &Request, body: Body, state: &Engine) -> Result<Response, OAuth2Error> {
    let query = Params::parse(req.uri().query().unwrap_or_default())?;
    let form = read_form(req, body).await?;
    let client = authenticate(state, req, &form, Public::Refuse).await?;
    let key = match (query.get("apiKey"), form.get("apiKey")) {
        (Some(q), Some(f)) if q != f => {
            return Err(OAuth2Error::invalid_request(
                "apiKey was given twice with different values",
            ));
        }
        (Some(key), _) | (None, Some(key)) => key,
        (None, None) => return Err(OAuth2Error::invalid_request("apiKey is required")),
    };
    let Some(active) = check_api_key(state, client.id(), key).await? else {
        return Ok(answer_json(
            StatusCode::UNAUTHORIZED,
            &json!({ "error": "invalid or expired API key" }),
        ));
    };
    let mut answer = json!({
        "user_id": active.user_id,
        "exp": (active.expires_at - now()).max(0),
        "scope": active.scopes,
    });
    if !active.deny.is_empty() {
        answer["deny"] = json!(active.deny);
    }
    if !active.clients.is_empty() {
        answer["client_id"] = json!(client.id());
    }
    Ok(answer_json(StatusCode::MULTI_STATUS, &answer))
}

/// Ego-style error bodies: `{"error": "<message>"}`.
fn ego_error(error: &OAuth2Error) -> Response {
    let (status, message): (StatusCode, Value) = match error.code {
        ErrorCode::InvalidClient => (
            StatusCode::UNAUTHORIZED,
            json!({ "error": "invalid client credentials" }),
        ),
        ErrorCode::InvalidRequest => (
            StatusCode::BAD_REQUEST,
            json!({ "error": error.description.as_deref().unwrap_or("invalid request") }),
        ),
        code => (
            super::error::status(code),
            json!({ "error": error.description }),
        ),
    };
    let mut response = answer_json(status, &message);
    if error.code == ErrorCode::InvalidClient
        && let Ok(value) = header::HeaderValue::from_str(BASIC_CHALLENGE)
    {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}
