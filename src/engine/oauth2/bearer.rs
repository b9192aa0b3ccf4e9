//! Checking an authx access token presented as a Bearer credential (RFC 6750) — by the userinfo
//! endpoint, introspection and the admin API.
//!
//! A token is active when its signature verifies with one of our published keys under that key's
//! algorithm, `typ` is `at+jwt`, `iss` and `aud` are ours, it has not expired (and `iat`/`nbf` are
//! not in the future beyond the clock skew), its `jti` is recorded and not revoked, its client
//! still exists and is enabled, and its user exists and is active. What it allows is decided from
//! live data (reference §2.4): the token's realm patterns narrowed to the user's *current* access, deny
//! applied. The signature verification and the database part of that decision are each reused for
//! at most `api_keys.check_cache_ms` (≤ 1 s) per node, like the API-key check (a key retired
//! through another node shows within that second, through this one at once); expiry is checked
//! on every use.

use super::jwt::{ACCESS_TOKEN_TYP, AccessClaims};
use super::keys::KeyError;
use super::scope::{RequestedScope, realm_set};
use crate::domain::access::Access;
use crate::domain::now;
use crate::domain::user::UserStatus;
use crate::engine::Engine;
use crate::engine::check_cache::ResolvedAccessToken;
use crate::store::StoreError;
use crate::telemetry::ErrorChain;

/// An access token found active.
#[derive(Debug, Clone)]
pub struct ActiveAccessToken {
    /// The verified claims.
    pub claims: AccessClaims,
    /// The OIDC scopes it carries.
    pub oidc: RequestedScope,
    /// What it allows now: its realm patterns ∩ the user's current access, deny applied.
    pub access: Access,
}

/// Verifies `token`; `Ok(None)` for anything that is not an active authx access token.
pub async fn verify_access_token(
    state: &Engine,
    token: &str,
) -> Result<Option<ActiveAccessToken>, StoreError> {
    // JWTs have three dot-separated parts; anything else is not ours to verify.
    if token.len() > 16 * 1024 || token.split('.').count() != 3 {
        return Ok(None);
    }
    let Some(claims) = verified_claims(state, token).await? else {
        return Ok(None);
    };
    let resolved = match state.checks.access_tokens.get(&claims.jti) {
        Some(resolved) => resolved,
        None => {
            let resolved = resolve(state, &claims).await?;
            state
                .checks
                .access_tokens
                .insert(claims.jti.clone(), resolved.clone());
            resolved
        }
    };
    Ok(resolved.map(|r| ActiveAccessToken {
        oidc: RequestedScope::from_stored(
            &claims
                .scope
                .split(' ')
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        ),
        access: r.access,
        claims,
    }))
}

/// The claims of `token` once its signature and claims verify (`None` when they do not), the
/// verification reused for at most `api_keys.check_cache_ms`; expiry is checked every time.
async fn verified_claims(state: &Engine, token: &str) -> Result<Option<AccessClaims>, StoreError> {
    let hash = crate::secret::hash(token);
    if let Some(claims) = state.checks.verified_access_tokens.get(&hash) {
        // As the verification does (no leeway): valid until the second `exp` has passed.
        return Ok((claims.exp >= now()).then_some(claims));
    }
    let issuer = state.config.issuer_url();
    let audience = state.config.access_token_audience();
    match state
        .keys
        .verify::<AccessClaims>(token, ACCESS_TOKEN_TYP, &issuer, Some(&audience))
        .await
    {
        Ok(claims) => {
            state
                .checks
                .verified_access_tokens
                .insert(hash, claims.clone());
            Ok(Some(claims))
        }
        Err(KeyError::Rejected(_)) => Ok(None),
        Err(KeyError::Store(e)) => Err(e),
        Err(other) => {
            tracing::warn!(error = %ErrorChain(&other), "cannot verify an access token");
            Ok(None)
        }
    }
}

/// The database half of the check: the record, the client and the user, now.
async fn resolve(
    state: &Engine,
    claims: &AccessClaims,
) -> Result<Option<ResolvedAccessToken>, StoreError> {
    let Some(record) = state.store.get_access_token(&claims.jti).await? else {
        return Ok(None);
    };
    if record.revoked_at.is_some()
        || record.expires_at <= now()
        || record.client_id != claims.client_id
        || record.user_id != claims.sub
    {
        return Ok(None);
    }
    match state.store.get_client(&claims.client_id).await? {
        Some(client) if client.enabled => {}
        _ => return Ok(None),
    }
    let Some(user) = state.store.access_of_user(&claims.sub).await? else {
        return Ok(None);
    };
    if user.status != UserStatus::Active {
        return Ok(None);
    }
    let token_scopes = realm_set(
        &claims
            .scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>(),
    );
    Ok(Some(ResolvedAccessToken {
        access: Access::of_user(&user).narrowed_to(&token_scopes),
    }))
}
