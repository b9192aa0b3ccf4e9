//! The token endpoint (RFC 6749 §3.2): `POST /oauth2/token`.
//!
//! The client authenticates first (`client_secret_basic`, `client_secret_post`, or — public
//! clients only — `client_id` alone), then `grant_type` picks the engine's grant, which gets the
//! typed request and the time. Every answer is JSON with `Cache-Control: no-store` (§5.1); errors
//! are the §5.2 codes.

use poem::http::{StatusCode, header};
use poem::web::Data;
use poem::{Body, IntoResponse, Request, Response, handler};

use super::client_auth::authenticate;
use super::read_form;
use crate::domain::now;
use crate::engine::Engine;
use crate::engine::oauth2::client_auth::Public;
use crate::engine::oauth2::error::{ErrorCode, OAuth2Error};
use crate::engine::oauth2::grant::code::CodeRequest;
use crate::engine::oauth2::grant::refresh::RefreshRequest;
use crate::engine::oauth2::grant::{GrantRequest, Issued, exchange};

/// `POST /oauth2/token`.
#[handler]
pub async fn token(req: &Request, body: Body, state: Data<&Engine>) -> Response {
    match run(req, body, &state).await {
        Ok(issued) => Response::builder()
            .status(StatusCode::OK)
            .content_type("application/json")
            .header(header::CACHE_CONTROL, "no-store")
            .header(header::PRAGMA, "no-cache")
            .body(issued.to_json().to_string()),
        Err(error) => error.into_response(),
    }
}

async fn run(req: &Request, body: Body, state: &Engine) -> Result<Issued, OAuth2Error> {
    let form = read_form(req, body).await?;
    let client = authenticate(state, req, &form, Public::Allow).await?;
    let request = match form.get("grant_type") {
        None => return Err(OAuth2Error::invalid_request("grant_type is required")),
        Some("authorization_code") => GrantRequest::AuthorizationCode(CodeRequest {
            code: form.require("code")?,
            redirect_uri: form.require("redirect_uri")?,
            code_verifier: form.get("code_verifier"),
        }),
        Some("refresh_token") => GrantRequest::RefreshToken(RefreshRequest {
            refresh_token: form.require("refresh_token")?,
            scope: form.get("scope"),
        }),
        Some("client_credentials") => GrantRequest::ClientCredentials {
            scope: form.get("scope"),
        },
        Some(_) => {
            return Err(OAuth2Error::new(
                ErrorCode::UnsupportedGrantType,
                "grant_type must be authorization_code, refresh_token or client_credentials",
            ));
        }
    };
    exchange(state, &crate::http::context(req), &client, request, now()).await
}
