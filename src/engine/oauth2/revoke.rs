//! Token revocation (RFC 7009).
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

use serde_json::json;

use super::bearer::verify_access_token;
use super::client_auth::AuthenticatedClient;
use super::error::OAuth2Error;
use crate::engine::Engine;
use crate::engine::audit::{self, Context};
use crate::secret;

/// Revokes `token` for `client` (`hint`: `token_type_hint`, which only orders the lookups, §2.1;
/// both kinds are tried). Unknown tokens and tokens of other clients are left alone without a word.
pub async fn revoke(
    state: &Engine,
    ctx: &Context,
    client: &AuthenticatedClient,
    token: &str,
    hint: Option<&str>,
    now: i64,
) -> Result<(), OAuth2Error> {
    if hint == Some("access_token") {
        if revoke_access_token(state, ctx, client, token, now).await? {
            return Ok(());
        }
        revoke_refresh_token(state, ctx, client, token, now).await?;
    } else if !revoke_refresh_token(state, ctx, client, token, now).await? {
        revoke_access_token(state, ctx, client, token, now).await?;
    }
    Ok(())
}

/// Revokes the family of a refresh token of `client`; whether `token` was one of its refresh
/// tokens.
async fn revoke_refresh_token(
    state: &Engine,
    ctx: &Context,
    client: &AuthenticatedClient,
    token: &str,
    now: i64,
) -> Result<bool, OAuth2Error> {
    let Some(stored) = state.store.find_refresh_token(&secret::hash(token)).await? else {
        return Ok(false);
    };
    if stored.client_id != client.id() {
        return Ok(false);
    }
    let revoked = state
        .store
        .revoke_refresh_family(&stored.family_id, now)
        .await?;
    let mut event = ctx
        .client_event(client.id(), "oauth2.revoke")
        .target("user", &stored.user_id);
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
    ctx: &Context,
    client: &AuthenticatedClient,
    token: &str,
    now: i64,
) -> Result<bool, OAuth2Error> {
    let Some(active) = verify_access_token(state, token).await? else {
        return Ok(false);
    };
    if active.claims.client_id != client.id() {
        return Ok(false);
    }
    state
        .store
        .revoke_access_token(&active.claims.jti, now)
        .await?;
    let mut event = ctx
        .client_event(client.id(), "oauth2.revoke")
        .target("user", &active.claims.sub);
    event.details = json!({ "token_type": "access_token", "jti": active.claims.jti });
    audit::record(state, event).await;
    Ok(true)
}
