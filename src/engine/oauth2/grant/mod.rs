//! The grants of the token endpoint (RFC 6749 §3.2), one module each: `authorization_code`
//! ([`code`]), `refresh_token` ([`refresh`]) and `client_credentials` ([`client_credentials`]).
//! Each takes the authenticated client, its typed request and the time, and returns what was
//! issued or the RFC 6749 §5.2 error.
//!
//! Whatever a token carries is computed at issuance from live data: the stored request narrowed by
//! the client's ceiling, the grant and the user's access now (reference §2.4).

pub mod client_credentials;
pub mod code;
pub mod refresh;

/// A token request, by grant type.
#[derive(Debug, Clone, Copy)]
pub enum GrantRequest<'a> {
    /// `authorization_code`.
    AuthorizationCode(code::CodeRequest<'a>),
    /// `refresh_token`.
    RefreshToken(refresh::RefreshRequest<'a>),
    /// `client_credentials`, with the `scope` asked for.
    ClientCredentials { scope: Option<&'a str> },
}

/// Runs `request` for the authenticated `client` at `now`.
pub async fn exchange(
    state: &Engine,
    ctx: &Context,
    client: &AuthenticatedClient,
    request: GrantRequest<'_>,
    now: i64,
) -> Result<Issued, OAuth2Error> {
    match request {
        GrantRequest::AuthorizationCode(r) => code::exchange(state, ctx, client, &r, now).await,
        GrantRequest::RefreshToken(r) => refresh::exchange(state, ctx, client, &r, now).await,
        GrantRequest::ClientCredentials { scope } => {
            client_credentials::exchange(state, ctx, client, scope, now).await
        }
    }
}

use serde_json::{Value, json};

use super::claims::user_claims;
use super::error::{ErrorCode, OAuth2Error};
use super::jwt::{IdTokenInput, sign_id_token};
use super::scope::RequestedScope;
use crate::domain::client::Client;
use crate::domain::user::User;
use crate::engine::Engine;
use crate::engine::audit::Context;
use crate::engine::oauth2::client_auth::AuthenticatedClient;

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
    /// The RFC 6749 §5.1 answer.
    pub fn to_json(&self) -> Value {
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

/// The `oauth2.token.issue` event of an access token issued to `client_id` for `user_id` (the
/// user, or a client's machine user). It travels with the token's record
/// (`NewAccessToken::issued`) and is written in the same transaction.
pub fn issue_event(
    ctx: &Context,
    client_id: &str,
    user_id: &str,
    details: Value,
) -> crate::domain::audit::NewAuditEvent {
    let mut event = ctx
        .client_event(client_id, "oauth2.token.issue")
        .target("user", user_id);
    event.details = details;
    event
}

/// `invalid_grant` (§5.2): the code or refresh token is invalid, expired, revoked, or was issued
/// to another client or redirect URI.
pub fn invalid_grant(description: &str) -> OAuth2Error {
    OAuth2Error::new(ErrorCode::InvalidGrant, description)
}

/// What an ID token is issued for, beside an access token.
pub struct IdTokenFor<'a> {
    pub client: &'a Client,
    pub user: &'a User,
    pub scope: &'a RequestedScope,
    pub auth_time: Option<i64>,
    pub nonce: Option<&'a str>,
    pub access_token: &'a str,
}

/// The ID token to return beside the access token when the scope includes `openid` (OIDC Core
/// §3.1.3.3; on refresh, §12.2: same `auth_time`, no `nonce`), issued at `now`.
pub async fn id_token_for(
    state: &Engine,
    now: i64,
    what: IdTokenFor<'_>,
) -> Result<Option<String>, OAuth2Error> {
    let IdTokenFor {
        client,
        user,
        scope,
        auth_time,
        nonce,
        access_token,
    } = what;
    if !scope.has("openid") {
        return Ok(None);
    }
    let user_claims = user_claims(state, user, scope).await?;
    sign_id_token(
        state,
        IdTokenInput {
            iat: now,
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
