//! The UserInfo endpoint (OIDC Core §5.3): `GET|POST /oauth2/userinfo` with an access token.
//!
//! The token comes as `Authorization: Bearer` or, on POST, as the `access_token` form field (RFC
//! 6750 §2.2), never both. It must be an active authx access token (see [`crate::engine::oauth2::bearer`]) that
//! carries `openid`; the claims released follow its `profile` and `email` scopes, read from the
//! user's current profile. Failures are RFC 6750 §3 answers: 401 with a `Bearer` challenge naming
//! `invalid_token` (or `invalid_request`), 403 `insufficient_scope`.

use poem::http::{Method, StatusCode, header};
use poem::web::Data;
use poem::{Body, Request, Response, handler};

use super::read_form;
use crate::engine::Engine;
use crate::engine::oauth2::claims::userinfo_of;
use crate::engine::oauth2::error::{ErrorCode, OAuth2Error};

/// `GET|POST /oauth2/userinfo`.
#[handler]
pub async fn userinfo(req: &Request, body: Body, state: Data<&Engine>) -> Response {
    match run(req, body, &state).await {
        Ok(claims) => Response::builder()
            .status(StatusCode::OK)
            .content_type("application/json")
            .header(header::CACHE_CONTROL, "no-store")
            .body(serde_json::Value::Object(claims).to_string()),
        Err(error) => bearer_error(&error),
    }
}

async fn run(
    req: &Request,
    body: Body,
    state: &Engine,
) -> Result<serde_json::Map<String, serde_json::Value>, OAuth2Error> {
    let header_token = bearer_token(req)?;
    let form_token = if req.method() == Method::POST {
        read_form(req, body)
            .await?
            .get("access_token")
            .map(str::to_owned)
    } else {
        None
    };
    let token = match (header_token, form_token) {
        (Some(_), Some(_)) => {
            return Err(OAuth2Error::invalid_request(
                "the access token was sent more than once",
            ));
        }
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => {
            return Err(OAuth2Error {
                code: ErrorCode::InvalidToken,
                description: None,
            });
        }
    };
    userinfo_of(state, &token).await
}

/// The token of an `Authorization: Bearer` header; `None` without one. Another scheme, or a
/// malformed header, is `invalid_request`.
pub fn bearer_token(req: &Request) -> Result<Option<String>, OAuth2Error> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| OAuth2Error::invalid_request("malformed Authorization header"))?;
    match value.trim().split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim().to_owned()))
        }
        _ => Err(OAuth2Error::invalid_request(
            "the Authorization header must use the Bearer scheme",
        )),
    }
}

/// An RFC 6750 §3 error: the status of the code, a `WWW-Authenticate: Bearer` challenge (with
/// `error` when there was a token or a malformed request), and a JSON body.
pub fn bearer_error(error: &OAuth2Error) -> Response {
    let status = match error.code {
        ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
        ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
        other => super::error::status(other),
    };
    let challenge = if error.description.is_none() && error.code == ErrorCode::InvalidToken {
        // No credentials at all: a bare challenge (RFC 6750 §3.1).
        "Bearer realm=\"authx\"".to_owned()
    } else {
        let mut challenge = format!("Bearer realm=\"authx\", error=\"{}\"", error.code.as_str());
        if let Some(description) = &error.description {
            let safe: String = description
                .chars()
                .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
                .collect();
            challenge.push_str(&format!(", error_description=\"{safe}\""));
        }
        challenge
    };
    let mut body = serde_json::json!({ "error": error.code.as_str() });
    if let Some(description) = &error.description {
        body["error_description"] = serde_json::json!(description);
    }
    Response::builder()
        .status(status)
        .content_type("application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::WWW_AUTHENTICATE, challenge)
        .body(body.to_string())
}
