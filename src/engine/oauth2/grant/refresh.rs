//! `grant_type=refresh_token` (RFC 6749 §6, RFC 9700 §4.14.2: rotation with reuse detection).
//!
//! Every use rotates: the presented token is marked used and a successor of the same family is
//! issued, in one transaction, so of N concurrent refreshes exactly one rotates. Presenting a
//! rotated token again is either a retry — within `tokens.refresh_reuse_grace_secs` of the
//! rotation, by the same client: a lost answer or a concurrent refresh, which gets the same
//! successor again (kept sealed on the rotated token for that window) while it is unused, with a
//! fresh access token (once the successor was used, the retry is refused and the family kept) —
//! or theft: after the window, the whole family and the access tokens issued with it are revoked
//! (audited as `oauth2.refresh.reuse`).
//!
//! A narrower `scope` may be asked for (it must be within the token's scope, else
//! `invalid_scope`); the successor keeps the original scope (§6). The access token carries that
//! scope ∩ the client's ceiling ∩ the grant ∩ the user's access now.

use serde_json::json;

use super::{
    IdTokenFor, Issued, REFRESH_TOKEN_PREFIX, id_token_for, invalid_grant, issue_event, secs,
};
use crate::domain::access::Access;
use crate::domain::audit::Outcome;
use crate::domain::token::{NewAccessToken, NewRefreshToken, RefreshToken};
use crate::domain::user::{User, UserStatus};
use crate::engine::Engine;
use crate::engine::audit::{self, Context};
use crate::engine::oauth2::client_auth::AuthenticatedClient;
use crate::engine::oauth2::error::{ErrorCode, OAuth2Error};
use crate::engine::oauth2::jwt::AccessClaims;
use crate::engine::oauth2::scope::{RequestedScope, effective, realm_set, to_parameter};
use crate::scopes::ScopeSet;
use crate::secret;
use crate::store::StoreError;
use crate::telemetry::ErrorChain;

/// What the client sends with `grant_type=refresh_token`.
#[derive(Debug, Clone, Copy)]
pub struct RefreshRequest<'a> {
    /// `refresh_token`.
    pub refresh_token: &'a str,
    /// `scope`: a narrower scope than the token's, if any.
    pub scope: Option<&'a str>,
}

/// The one description for a refresh token that is unknown, used, revoked, expired or someone
/// else's.
const BAD_TOKEN: &str =
    "the refresh token is invalid, expired, revoked or was issued to another client";

/// What refresh token `stored` yields now for `asked` (within its own scope): its scope ∩ the
/// client's ceiling ∩ the grant ∩ the user's access now, deny applied. `None` when the grant is
/// gone. The token endpoint issues this; introspection reports it.
pub async fn yields_now(
    state: &Engine,
    stored: &RefreshToken,
    client_ceiling: &[String],
    asked: &ScopeSet,
) -> Result<Option<Access>, StoreError> {
    let Some(grant) = state.store.get_grant(&stored.grant_id).await? else {
        return Ok(None);
    };
    let access = crate::engine::actor::access_now(state, &stored.user_id).await?;
    let original_realm = realm_set(&stored.scopes);
    let ceiling = realm_set(client_ceiling);
    let granted = realm_set(&grant.scopes);
    Ok(Some(effective(
        &access,
        asked,
        &[&original_realm, &ceiling, &granted],
    )))
}

/// Exchanges a refresh token for new tokens.
pub async fn exchange(
    state: &Engine,
    ctx: &Context,
    client: &AuthenticatedClient,
    request: &RefreshRequest<'_>,
    now: i64,
) -> Result<Issued, OAuth2Error> {
    let stored_hash = secret::hash(request.refresh_token);
    let Some(stored) = state.store.find_refresh_token(&stored_hash).await? else {
        return Err(invalid_grant(BAD_TOKEN));
    };
    if stored.client_id != client.id() || stored.revoked_at.is_some() {
        return Err(invalid_grant(BAD_TOKEN));
    }
    if let Some(used_at) = stored.used_at {
        return retry_or_reuse(state, ctx, client, request, &stored, used_at, now).await;
    }
    if stored.expires_at <= now {
        return Err(invalid_grant(BAD_TOKEN));
    }
    let plan = Plan::of(state, client, request, &stored, now).await?;
    let successor = secret::generate(REFRESH_TOKEN_PREFIX);
    let new = NewRefreshToken {
        token_hash: secret::hash(&successor),
        family_id: stored.family_id.clone(),
        grant_id: stored.grant_id.clone(),
        client_id: stored.client_id.clone(),
        user_id: stored.user_id.clone(),
        scopes: stored.scopes.clone(),
        parent_id: Some(stored.id.clone()),
        code_hash: stored.code_hash.clone(),
        auth_time: stored.auth_time,
        expires_at: now.saturating_add(secs(state.config.tokens.refresh_token_ttl_secs)),
    };
    if !state
        .store
        .rotate_refresh_token(
            &stored.id,
            now,
            new,
            plan.record(ctx, &stored, false),
            &successor,
        )
        .await?
    {
        // Another request rotated (or revoked) it a moment ago: this one lost the race, which is
        // a retry like any other (within the grace window unless that is 0).
        if let Some(current) = state.store.find_refresh_token(&stored_hash).await?
            && let Some(used_at) = current.used_at
            && current.revoked_at.is_none()
        {
            return retry_or_reuse(state, ctx, client, request, &current, used_at, now).await;
        }
        return Err(invalid_grant(BAD_TOKEN));
    }
    plan.issue(state, client, &stored, successor).await
}

/// What a refresh yields, checked before anything is written: the scope asked for, the user
/// (still active), and the access token's claims.
struct Plan {
    asked: RequestedScope,
    user: User,
    claims: AccessClaims,
}

impl Plan {
    /// Checks `request` against the family's token `stored` now: the scope asked for is within
    /// the token's, the user is active, the grant is there; the claims carry what that yields.
    async fn of(
        state: &Engine,
        client: &AuthenticatedClient,
        request: &RefreshRequest<'_>,
        stored: &RefreshToken,
        now: i64,
    ) -> Result<Self, OAuth2Error> {
        let original = RequestedScope::from_stored(&stored.scopes);
        let original_realm = realm_set(&stored.scopes);
        let asked = match request.scope {
            None => original.clone(),
            Some(scope) => {
                let asked = RequestedScope::parse(Some(scope))?;
                let within = asked
                    .realm
                    .as_ref()
                    .is_none_or(|r| original_realm.is_superset(r))
                    && asked.oidc.iter().all(|s| original.has(s));
                if !within {
                    return Err(OAuth2Error::new(
                        ErrorCode::InvalidScope,
                        "the requested scope exceeds the scope of the refresh token",
                    ));
                }
                asked
            }
        };
        let Some(user) = state.store.get_user(&stored.user_id).await? else {
            return Err(invalid_grant(BAD_TOKEN));
        };
        if user.status != UserStatus::Active {
            return Err(invalid_grant("the user's account is disabled"));
        }
        let Some(realm) = yields_now(
            state,
            stored,
            &client.client.scopes,
            asked.realm_or(&original_realm),
        )
        .await?
        else {
            return Err(invalid_grant(BAD_TOKEN));
        };
        let claims = AccessClaims::new(
            state,
            now,
            &user.id,
            client.id(),
            to_parameter(&asked.oidc, &realm.scopes),
            realm.relevant_deny(),
            stored.auth_time,
        );
        Ok(Self {
            asked,
            user,
            claims,
        })
    }

    /// The record of the access token, in `stored`'s family (revoked with it), with its
    /// issuance event; `retry` when it answers a retry with a successor issued before.
    fn record(&self, ctx: &Context, stored: &RefreshToken, retry: bool) -> NewAccessToken {
        NewAccessToken {
            jti: self.claims.jti.clone(),
            grant_id: Some(stored.grant_id.clone()),
            client_id: stored.client_id.clone(),
            user_id: self.user.id.clone(),
            family_id: Some(stored.family_id.clone()),
            code_hash: stored.code_hash.clone(),
            expires_at: self.claims.exp,
            issued: Some(issue_event(
                ctx,
                &stored.client_id,
                &self.user.id,
                json!({
                    "grant_type": "refresh_token",
                    "jti": self.claims.jti,
                    "grant_id": stored.grant_id,
                    "refresh_family": stored.family_id,
                    "scope": self.claims.scope,
                    "retry": retry,
                }),
            )),
        }
    }

    /// Signs the tokens (the access token is recorded, and audited, already) and answers with
    /// `refresh_token`.
    async fn issue(
        self,
        state: &Engine,
        client: &AuthenticatedClient,
        stored: &RefreshToken,
        refresh_token: String,
    ) -> Result<Issued, OAuth2Error> {
        let Self {
            asked,
            user,
            claims,
        } = self;
        let access_token = claims
            .sign(&state.keys)
            .await
            .map_err(|e| OAuth2Error::server_error(&e))?;
        // OIDC Core §12.2: an ID token on refresh repeats the original auth_time and has no nonce.
        let id_token = id_token_for(
            state,
            claims.iat,
            IdTokenFor {
                client: &client.client,
                user: &user,
                scope: &asked,
                auth_time: stored.auth_time,
                nonce: None,
                access_token: &access_token,
            },
        )
        .await?;
        Ok(Issued {
            expires_in: claims.expires_in(),
            scope: claims.scope,
            access_token,
            refresh_token: Some(refresh_token),
            id_token,
        })
    }
}

/// A rotated token came back: within the grace window, by the client it was issued to, it is a
/// retry of a refresh whose answer was lost (or of a concurrent one), and it gets the same
/// successor again while that is unused, with a new access token. Otherwise it is reuse.
async fn retry_or_reuse(
    state: &Engine,
    ctx: &Context,
    client: &AuthenticatedClient,
    request: &RefreshRequest<'_>,
    stored: &RefreshToken,
    used_at: i64,
    now: i64,
) -> Result<Issued, OAuth2Error> {
    let since = now - used_at;
    if since < secs(state.config.tokens.refresh_reuse_grace_secs)
        && let Some(successor) = kept_successor(state, stored, now).await?
    {
        let plan = Plan::of(state, client, request, stored, now).await?;
        state
            .store
            .record_access_token(plan.record(ctx, stored, true))
            .await?;
        return plan.issue(state, client, stored, successor).await;
    }
    reused(state, ctx, client, stored, since, now).await?;
    Err(invalid_grant(BAD_TOKEN))
}

/// The successor `stored` was rotated into, if it is kept and still unused.
async fn kept_successor(
    state: &Engine,
    stored: &RefreshToken,
    now: i64,
) -> Result<Option<String>, OAuth2Error> {
    let successor = match state.store.refresh_successor(&stored.id).await {
        Ok(Some(successor)) => successor,
        Ok(None) => return Ok(None),
        // Sealed under a key this node no longer has: refused like a late reuse.
        Err(StoreError::Sealed(error)) => {
            tracing::warn!(error = %ErrorChain(&error), "cannot open a kept refresh successor");
            return Ok(None);
        }
        Err(error) => return Err(error.into()),
    };
    let next = state
        .store
        .find_refresh_token(&secret::hash(&successor))
        .await?;
    Ok(next
        .filter(|next| next.parent_id.as_deref() == Some(stored.id.as_str()) && next.is_usable(now))
        .map(|_| successor))
}

/// A rotated token came back `since` seconds after its rotation: a concurrent retry within the
/// grace window, theft after it (the family is revoked).
async fn reused(
    state: &Engine,
    ctx: &Context,
    client: &AuthenticatedClient,
    stored: &RefreshToken,
    since: i64,
    now: i64,
) -> Result<(), OAuth2Error> {
    let grace = secs(state.config.tokens.refresh_reuse_grace_secs);
    let mut event = ctx
        .client_event(client.id(), "oauth2.refresh.reuse")
        .target("user", &stored.user_id);
    event.outcome = Outcome::Denied;
    if since < grace {
        event.details = json!({
            "refresh_family": stored.family_id,
            "seconds_since_rotation": since,
            "family_revoked": false,
        });
        audit::record(state, event).await;
        return Ok(());
    }
    let revoked = state
        .store
        .revoke_refresh_family(&stored.family_id, now)
        .await?;
    state.checks.clear();
    event.details = json!({
        "refresh_family": stored.family_id,
        "seconds_since_rotation": since,
        "family_revoked": true,
        "revoked_tokens": revoked,
    });
    audit::record(state, event).await;
    tracing::warn!(client = %client.id(), family = %stored.family_id, revoked, "refresh token reused; family revoked");
    Ok(())
}
