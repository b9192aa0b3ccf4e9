//! What introspection (RFC 7662) and Ego's key check learn of a token: whether it is active and
//! what it carries now.
//!
//! Tokens are told apart by their form: API keys (`axk_…`), refresh tokens (`axr_…`, answered only
//! to the client they were issued to), and anything else is tried as a JWT access token (answered
//! to any authenticated client: resource servers introspect tokens issued to others). Whatever is
//! not recognised, or is unknown, expired, revoked, owned by a disabled user, or limited to other
//! clients, is exactly `{"active": false}`: nothing else is revealed and the token is never echoed.
//! An access token's `scope` is what it allows *now*: its patterns narrowed to the user's current
//! access (reference §2.4).
//! The answer is computed from live data, reused for at most `api_keys.check_cache_ms` (≤ 1 s) by
//! the node, so a revocation or a role change shows within a second everywhere and at once on the
//! node through which it was made.

use super::bearer::{ActiveAccessToken, verify_access_token};
use super::client_auth::AuthenticatedClient;
use super::grant::REFRESH_TOKEN_PREFIX;
use super::grant::refresh::yields_now;
use super::scope::{RequestedScope, realm_set, to_stored};
use crate::domain::access::Access;
use crate::domain::now;
use crate::domain::token::RefreshToken;
use crate::domain::user::UserStatus;
use crate::engine::Engine;
use crate::engine::check_cache::ActiveApiKey;
use crate::scopes::ScopeSet;
use crate::secret;
use crate::store::StoreError;

/// A token found active.
#[derive(Debug, Clone)]
pub enum ActiveToken {
    /// A personal API key.
    ApiKey(ActiveApiKey),
    /// A JWT access token.
    AccessToken(Box<ActiveAccessToken>),
    /// A refresh token of the calling client.
    RefreshToken(RefreshToken),
}

/// Looks `token` up for `client`: `Ok(None)` for anything not active. `_hint` (`token_type_hint`)
/// is not needed: every kind of token has a form of its own.
pub async fn inspect(
    state: &Engine,
    client: &AuthenticatedClient,
    token: &str,
    _hint: Option<&str>,
) -> Result<Option<ActiveToken>, StoreError> {
    if token.starts_with(secret::API_KEY_PREFIX) {
        return Ok(check_api_key(state, client.id(), token)
            .await?
            .map(ActiveToken::ApiKey));
    }
    if token.starts_with(REFRESH_TOKEN_PREFIX) {
        return check_refresh_token(state, client, token).await;
    }
    Ok(verify_access_token(state, token)
        .await?
        .map(|t| ActiveToken::AccessToken(Box::new(t))))
}

/// A refresh token is active for the client it was issued to while it is unused, unrevoked and
/// unexpired, its client enabled and its user active.
async fn check_refresh_token(
    state: &Engine,
    client: &AuthenticatedClient,
    token: &str,
) -> Result<Option<ActiveToken>, StoreError> {
    let Some(stored) = state.store.find_refresh_token(&secret::hash(token)).await? else {
        return Ok(None);
    };
    if stored.client_id != client.id() || !stored.is_usable(now()) {
        return Ok(None);
    }
    match state.store.get_user(&stored.user_id).await? {
        Some(user) if user.status == UserStatus::Active => {}
        _ => return Ok(None),
    }
    // Report what the token would yield now, not what it once asked for: a role removed since
    // then, or a deny added, narrows it (reference §2.4).
    let original = realm_set(&stored.scopes);
    let Some(now_access) = yields_now(state, &stored, &client.client.scopes, &original).await?
    else {
        return Ok(None);
    };
    let mut stored = stored;
    stored.scopes = to_stored(
        &RequestedScope::from_stored(&stored.scopes).oidc,
        &now_access.scopes,
    );
    Ok(Some(ActiveToken::RefreshToken(stored)))
}

/// The check of an API key presented to `client_id`: active only when the key exists, is neither
/// revoked nor expired, its owner exists and is active, and the key is not limited to other
/// clients. Reads only; the key's resolution is reused for up to `api_keys.check_cache_ms`.
pub async fn check_api_key(
    state: &Engine,
    client_id: &str,
    token: &str,
) -> Result<Option<ActiveApiKey>, StoreError> {
    let hash = secret::hash(token);
    let resolved = match state.checks.api_keys.get(&hash) {
        Some(resolved) => resolved,
        None => {
            let resolved = resolve_api_key(state, &hash).await?;
            state.checks.api_keys.insert(hash, resolved.clone());
            resolved
        }
    };
    // Expiry and the client limit depend on the moment and the caller, so they are checked on
    // every request, cached resolution or not.
    Ok(resolved.filter(|key| {
        key.expires_at > now()
            && (key.clients.is_empty() || key.clients.iter().any(|c| c == client_id))
    }))
}

/// What the key with this hash carries now, from the database: `None` when it is unknown,
/// revoked, expired, or its owner is gone or disabled.
async fn resolve_api_key(state: &Engine, hash: &str) -> Result<Option<ActiveApiKey>, StoreError> {
    let Some(key) = state.store.find_api_key_by_hash(hash).await? else {
        return Ok(None);
    };
    if !key.is_active(now()) {
        return Ok(None);
    }
    let Some(owner) = state.store.access_of_user(&key.user_id).await? else {
        return Ok(None);
    };
    let owner_access = Access::of_user(&owner);
    if owner_access.scopes.is_empty() {
        // A disabled owner (or one without any access): the key is dead with them.
        return Ok(None);
    }
    let key_scopes = match ScopeSet::parse(&key.scopes) {
        Ok(scopes) => scopes,
        Err(error) => {
            tracing::warn!(key_id = %key.id, %error, "API key with an invalid stored scope");
            return Ok(None);
        }
    };
    let effective = owner_access.narrowed_to(&key_scopes);
    Ok(Some(ActiveApiKey {
        key_id: key.id,
        user_id: key.user_id,
        scopes: effective.scopes.to_strings(),
        deny: effective.relevant_deny(),
        clients: key.clients,
        issued_at: key.created_at,
        expires_at: key.expires_at,
    }))
}
