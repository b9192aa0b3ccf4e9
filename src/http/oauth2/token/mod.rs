//! The token endpoint (RFC 6749 §3.2): `POST /oauth2/token`.
//!
//! The client authenticates first (`client_secret_basic`, `client_secret_post`, or — public
//! clients only — `client_id` alone), then the `grant_type` decides: `authorization_code`
//! ([`code`]), `refresh_token` ([`refresh`]) or `client_credentials` ([`client_credentials`]).
//! Every answer is JSON with `Cache-Control: no-store` (§5.1); errors are the §5.2 codes.
//!
//! Whatever a token carries is computed at issuance from live data: the stored request narrowed by
//! the client's ceiling, the grant and the user's access now (SPEC §2.4).

pub mod client_credentials;
pub mod code;
pub mod refresh;

use poem::http::{StatusCode, header};
use poem::web::Data;
use poem::{Body, IntoResponse, Request, Response, handler};
use serde_json::{Value, json};

use super::claims::user_claims;
use super::client_auth::{self, Public};
use super::error::{ErrorCode, OAuth2Error};
use super::jwt::{IdTokenInput, sign_id_token};
use super::read_form;
use super::scope::RequestedScope;
use crate::domain::audit::NewAuditEvent;
use crate::domain::client::Client;
use crate::domain::user::User;
use crate::engine::Engine;
use crate::http::web::session::client_ip;

/// Prefix of refresh tokens (recognisable for secret scanners).
pub const REFRESH_TOKEN_PREFIX: &str = "axr_";

/// What a successful token request returns (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub access_token: String,
    pub expires_in: i64,
    pub scope: String,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
}

impl Issued {
    fn to_json(&self) -> Value {
        let mut body = json!({
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        });
        if let Some(refresh) = &self.refresh_token {
            body["refresh_token"] = json!(refresh);
        }
        if let Some(id_token) = &self.id_token {
            body["id_token"] = json!(id_token);
        }
        body
    }
}

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
    let client = client_auth::authenticate(state, req.headers(), &form, Public::Allow).await?;
    match form.get("grant_type") {
        None => Err(OAuth2Error::invalid_request("grant_type is required")),
        Some("authorization_code") => code::exchange(state, req, &client, &form).await,
        Some("refresh_token") => refresh::exchange(state, req, &client, &form).await,
        Some("client_credentials") => {
            client_credentials::exchange(state, req, &client, &form).await
        }
        Some(_) => Err(OAuth2Error::new(
            ErrorCode::UnsupportedGrantType,
            "grant_type must be authorization_code, refresh_token or client_credentials",
        )),
    }
}

/// `invalid_grant` (§5.2): the code or refresh token is invalid, expired, revoked, or was issued
/// to another client or redirect URI.
pub fn invalid_grant(description: &str) -> OAuth2Error {
    OAuth2Error::new(ErrorCode::InvalidGrant, description)
}

/// An audit event with the calling client as the actor.
pub fn client_event(req: &Request, client_id: &str, action: &str) -> NewAuditEvent {
    let mut event = NewAuditEvent::new("client", Some(client_id), action);
    event.ip = client_ip(req);
    event.request_id = req
        .data::<crate::http::request_id::RequestId>()
        .map(|r| r.0.clone());
    event
}

/// The ID token to return beside `access_token` when `scope` includes `openid` (OIDC Core
/// §3.1.3.3; on refresh, §12.2: same `auth_time`, no `nonce`).
pub async fn id_token_for(
    state: &Engine,
    client: &Client,
    user: &User,
    scope: &RequestedScope,
    auth_time: Option<i64>,
    nonce: Option<&str>,
    access_token: &str,
) -> Result<Option<String>, OAuth2Error> {
    if !scope.has("openid") {
        return Ok(None);
    }
    let user_claims = user_claims(state, user, scope).await?;
    sign_id_token(
        state,
        IdTokenInput {
            client_id: &client.id,
            alg: client.id_token_alg(),
            auth_time,
            nonce,
            access_token: Some(access_token),
            user_claims,
        },
    )
    .await
    .map(Some)
    .map_err(|e| OAuth2Error::server_error(&e))
}

/// Seconds as the `i64` the store and JWTs use.
pub fn secs(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
