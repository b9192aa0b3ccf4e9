//! Signing-key commands (reference §4, §7): listing needs `key:read` and shows public material and
//! lifecycle times only; rotating needs `key:rotate` and is audited as `key.rotate`, one event per
//! key it creates, with what it retired and until when that stays published.

use serde_json::Value;

use crate::domain::audit::Outcome;
use crate::domain::signing_key::{SigningAlg, SigningKey};
use crate::engine::Engine;
use crate::engine::actor::Actor;
use crate::engine::error::CommandError;
use crate::engine::oauth2::keys::{KeyError, Pace, Rotation};

/// Every signing key, active ones first (`key:read`).
pub async fn list(engine: &Engine, actor: &Actor) -> Result<Vec<SigningKey>, CommandError> {
    actor
        .require(engine, &actor.scope("key", "read"), "key.list")
        .await?;
    Ok(engine.store.list_signing_keys().await?)
}

/// Retires the active keys (of `alg` only, when given) and creates their successors at `pace`
/// (`key:rotate`).
pub async fn rotate(
    engine: &Engine,
    actor: &Actor,
    alg: Option<SigningAlg>,
    pace: Pace,
) -> Result<Vec<Rotation>, CommandError> {
    const ACTION: &str = "key.rotate";
    actor
        .require(engine, &actor.scope("key", "rotate"), ACTION)
        .await?;
    let rotations = engine.keys.rotate(alg, pace).await.map_err(|e| match e {
        KeyError::Store(e) => CommandError::from(e),
        e @ KeyError::Unpublished(_) => CommandError::invalid_field("alg", e.to_string()),
        e => CommandError::Internal(Box::new(e)),
    })?;
    for rotation in &rotations {
        let mut event = actor
            .audit_event(ACTION, Outcome::Success)
            .target("signing_key", &rotation.key.kid);
        if let (Value::Object(details), Value::Object(more)) =
            (&mut event.details, rotation.audit_details())
        {
            details.extend(more);
        }
        crate::engine::audit::record(engine, event).await;
    }
    Ok(rotations)
}
