//! Token revocation (RFC 7009): `POST /oauth2/revoke`.
//!
//! The client authenticates as at the token endpoint (a public client names itself). A refresh
//! token revokes its whole family and the access tokens issued with it (RFC 7009 §2.1 allows it;
//! RFC 9700 §4.14 recommends it); an access token is listed as revoked until it expires, so
//! introspection and the admin API refuse it (offline verifiers cannot learn of it before its
//! expiry, 10 minutes by default). Only the client a token was issued to can revoke it.
//!
//! The answer is 200 with an empty body for every well-formed request (§2.2): for an unknown,
//! expired or already revoked token, and also for a token issued to another client, which is left
//! untouched — telling that client "not yours" would reveal that the token exists.

use poem::http::{StatusCode, header};
use poem::web::Data;
use poem::{Body, IntoResponse, Request, Response, handler};
use serde_json::json;

use super::bearer::verify_access_token;
use super::client_auth::{self, AuthenticatedClient, Public};
use super::error::OAuth2Error;
use super::read_form;
use super::token::client_event;
use crate::domain::now;
use crate::engine::Engine;
use crate::engine::audit;
use crate::secret;

/// `POST /oauth2/revoke`.
#[handler]
pub async fn revoke(req: &Request, body: Body, state: Data<&Engine>) -> Response {
    match run(req, body, &state).await {
        Ok(()) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CACHE_CONTROL, "no-store")
            .finish(),
        Err(error) => error.into_response(),
    }
}

async fn run(req: &Request, body: Body, state: &Engine) -> Result<(), OAuth2Error> {
    let form = read_form(req, body).await?;
    let client = client_auth::authenticate(state, req.headers(), &form, Public::Allow).await?;
    let token = form.require("token")?;
    // The hint only orders the lookups (§2.1); both kinds are tried.
    if form.get("token_type_hint") == Some("access_token") {
        if revoke_access_token(state, req, &client, token).await? {
            return Ok(());
        }
        revoke_refresh_token(state, req, &client, token).await?;
    } else if !revoke_refresh_token(state, req, &client, token).await? {
        revoke_access_token(state, req, &client, token).await?;
    }
    Ok(())
}

/// Revokes the family of a refresh token of `client`; whether `token` was one of its refresh
/// tokens.
async fn revoke_refresh_token(
    state: &Engine,
    req: &Request,
    client: &AuthenticatedClient,
    token: &str,
) -> Result<bool, OAuth2Error> {
    let Some(stored) = state.store.find_refresh_token(&secret::hash(token)).await? else {
        return Ok(false);
    };
    if stored.client_id != client.id() {
        return Ok(false);
    }
    let revoked = state
        .store
        .revoke_refresh_family(&stored.family_id, now())
        .await?;
    let mut event = client_event(req, client.id(), "oauth2.revoke").target("user", &stored.user_id);
    event.details = json!({
        "token_type": "refresh_token",
        "refresh_family": stored.family_id,
        "revoked_tokens": revoked,
    });
    audit::record(state, event).await;
    Ok(true)
}

/// Revokes an access token of `client`; whether `token` was one.
async fn revoke_access_token(
    state: &Engine,
    req: &Request,
    client: &AuthenticatedClient,
    token: &str,
) -> Result<bool, OAuth2Error> {
    let Some(active) = verify_access_token(state, token).await? else {
        return Ok(false);
    };
    if active.claims.client_id != client.id() {
        return Ok(false);
    }
    state
        .store
        .revoke_access_token(&active.claims.jti, now())
        .await?;
    let mut event =
        client_event(req, client.id(), "oauth2.revoke").target("user", &active.claims.sub);
    event.details = json!({ "token_type": "access_token", "jti": active.claims.jti });
    audit::record(state, event).await;
    Ok(true)
}
