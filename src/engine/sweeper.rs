//! The sweeper (reference §8): deletes what has expired — sessions, email tokens, authorization codes,
//! refresh tokens, access-token records, API keys, retired signing keys, idle rate-limit
//! counters, pending upstream logins and remembered SAML assertions — so tables do not grow without bound.
//!
//! Every node runs it every `server.sweep_interval_secs` (10 min by default; 0 turns it off).
//! Each sweep is a handful of indexed `DELETE … WHERE expires_at < …` statements, idempotent, so
//! nodes sweeping at the same time only repeat each other's work. Some rows are kept past their
//! expiry on purpose: used authorization codes for a day (a late replay is still recognised and
//! revokes what the code issued), API keys for 30 days (their owners still see them listed as
//! expired), rate-limit counters until their window is over. The successor a rotated refresh
//! token keeps for a retry is cleared once no reuse grace window can still be open.

use std::time::Duration;

use crate::config::TokensConfig;
use crate::domain::now;
use crate::store::{Store, StoreError};
use crate::telemetry::ErrorChain;

/// How long used or expired authorization codes are kept for replay detection.
const CODE_RETENTION_SECS: i64 = 86_400;

/// How long expired API keys stay listed.
const API_KEY_RETENTION_SECS: i64 = 30 * 86_400;

/// How long a rate-limit counter is kept after its window started (longer than any window).
const RATE_LIMIT_RETENTION_SECS: i64 = 86_400;

/// Runs one sweep; returns how many rows were deleted.
pub async fn sweep(store: &dyn Store) -> Result<u64, StoreError> {
    let at = now();
    let mut deleted = 0;
    deleted += store.delete_expired_sessions(at).await?;
    deleted += store.delete_expired_email_tokens(at).await?;
    deleted += store
        .delete_expired_tokens(at - CODE_RETENTION_SECS, at)
        .await?;
    deleted += store
        .delete_expired_api_keys(at - API_KEY_RETENTION_SECS)
        .await?;
    deleted += store.delete_expired_signing_keys(at).await?;
    // Cleared, not deleted: a rotated token's successor is kept for a retry only.
    let grace = i64::try_from(TokensConfig::MAX_REFRESH_REUSE_GRACE_SECS).unwrap_or(i64::MAX);
    store.forget_refresh_successors(at - grace).await?;
    deleted += store.delete_expired_upstream_logins(at).await?;
    deleted += store
        .delete_stale_rate_limits(at - RATE_LIMIT_RETENTION_SECS, at)
        .await?;
    Ok(deleted)
}

/// Sweeps every `interval` until the task is dropped (the server aborts it at shutdown).
pub async fn run(store: std::sync::Arc<dyn Store>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick completes at once; skip it so start-up does not also sweep.
    ticker.tick().await;
    loop {
        ticker.tick().await;
        match sweep(store.as_ref()).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "swept expired rows"),
            Err(error) => {
                tracing::warn!(error = %ErrorChain(&error), "sweeping expired rows failed")
            }
        }
    }
}
