//! Secrets at rest in the store (shared SQL, compiled into each backend): where each sealed value
//! lives, and the reseal that moves stored values to the current key (see `crate::sealing`).
//!
//! The sealed columns are `signing_keys.private_key`, the secret members of
//! `authorities.details` (`Strategy::secret_fields`) and `refresh_tokens.successor_sealed`. The
//! store seals them on every write and opens them on every read; each value's place is its
//! associated data, so a value copied to another row does not open. A refresh token's successor
//! is kept only for the reuse grace window, so the reseal leaves it be: one sealed under a key
//! dropped since cannot be opened, and its retry is refused like any late reuse.

use serde_json::Value;

use super::{Backend, map_err};
use crate::domain::authority::Strategy;
use crate::sealing::{Reseal, Sealer};
use crate::store::{StoreError, from_json, to_json};

/// The place of a signing key's private key.
pub(super) fn signing_key_context(kid: &str) -> String {
    format!("signing_key:{kid}")
}

/// The place of the successor kept on rotated refresh token `id`.
pub(super) fn refresh_successor_context(id: &str) -> String {
    format!("refresh_successor:{id}")
}

/// The place of a secret member of an authority's details.
fn authority_context(id: &str, field: &str) -> String {
    format!("authority:{id}:{field}")
}

/// `details` of authority `id` with its secret members sealed.
pub(super) fn seal_details(
    sealer: &Sealer,
    id: &str,
    strategy: Strategy,
    details: &Value,
) -> Result<Value, StoreError> {
    let mut sealed = details.clone();
    for field in strategy.secret_fields() {
        if let Some(Value::String(secret)) = sealed.get_mut(*field) {
            *secret = sealer.seal(secret, &authority_context(id, field))?;
        }
    }
    Ok(sealed)
}

/// `details` of authority `id` with its secret members opened.
pub(super) fn open_details(
    sealer: &Sealer,
    id: &str,
    strategy: Strategy,
    mut details: Value,
) -> Result<Value, StoreError> {
    for field in strategy.secret_fields() {
        if let Some(Value::String(secret)) = details.get_mut(*field) {
            *secret = sealer.open(secret, &authority_context(id, field))?;
        }
    }
    Ok(details)
}

/// Rewrites under the current key every stored secret `mode` names; returns how many values.
/// Each row is rewritten only if it still holds what was read, so a concurrent write wins.
pub(super) async fn reseal(store: &Backend, mode: Reseal) -> Result<usize, StoreError> {
    let sealer = store.sealer.as_ref();
    let mut rewritten = 0;
    let keys: Vec<(String, String)> = sqlx::query_as("SELECT kid, private_key FROM signing_keys")
        .fetch_all(&store.pool)
        .await
        .map_err(map_err)?;
    for (kid, stored) in keys {
        if !sealer.needs_reseal(&stored, mode) {
            continue;
        }
        let context = signing_key_context(&kid);
        let fresh = sealer.seal(&sealer.open(&stored, &context)?, &context)?;
        let done = sqlx::query(
            "UPDATE signing_keys SET private_key = $1 WHERE kid = $2 AND private_key = $3",
        )
        .bind(&fresh)
        .bind(&kid)
        .bind(&stored)
        .execute(&store.pool)
        .await
        .map_err(map_err)?;
        rewritten += usize::try_from(done.rows_affected()).unwrap_or(0);
    }
    let authorities: Vec<(String, String, String)> =
        sqlx::query_as("SELECT id, strategy, details FROM authorities")
            .fetch_all(&store.pool)
            .await
            .map_err(map_err)?;
    for (id, strategy, stored) in authorities {
        let Some(strategy) = Strategy::parse(&strategy) else {
            continue;
        };
        let details: Value = from_json(&stored, "authorities.details")?;
        let stale = strategy.secret_fields().iter().any(|field| {
            details
                .get(*field)
                .and_then(Value::as_str)
                .is_some_and(|secret| sealer.needs_reseal(secret, mode))
        });
        if !stale {
            continue;
        }
        let opened = open_details(sealer, &id, strategy, details)?;
        let fresh = to_json(&seal_details(sealer, &id, strategy, &opened)?)?;
        let done =
            sqlx::query("UPDATE authorities SET details = $1 WHERE id = $2 AND details = $3")
                .bind(&fresh)
                .bind(&id)
                .bind(&stored)
                .execute(&store.pool)
                .await
                .map_err(map_err)?;
        rewritten += usize::try_from(done.rows_affected()).unwrap_or(0);
    }
    Ok(rewritten)
}
