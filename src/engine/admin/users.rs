//! User commands that change or remove an account (reference §1, §2.6). The rules:
//!
//! - **Scopes:** `<realm>:user:<action>`, or `<realm>:me:<action>` for oneself.
//! - **Acting on someone else** (updating, disabling, deleting) needs the caller to cover that
//!   user's current access ([`Actor::require_covers_user`]): you cannot take over, or switch off,
//!   someone who holds more than you.
//! - **Lock-out:** disabling or deleting a user must leave an administrator
//!   ([`administrators`]).
//! - **The primary email is a claim.** A user may make an address their own primary email only
//!   once they have proven it ([`crate::engine::identity::proven_addresses`]); the refusal says how
//!   to prove it and nothing about other accounts. An administrator may set another user's
//!   address, which relying parties then see with `email_verified: false` until it is proven.

use crate::domain::audit::Outcome;
use crate::domain::user::{User, UserPatch, UserStatus};
use crate::engine::Engine;
use crate::engine::actor::Actor;
use crate::engine::admin::administrators::{self, Change};
use crate::engine::error::CommandError;
use crate::store::StoreError;

/// The scopes allowing `action` on user `id`: `user:<action>`, plus `me:<action>` for oneself.
pub fn scopes(actor: &Actor, id: &str, action: &str) -> Vec<String> {
    let mut scopes = vec![actor.scope("user", action)];
    if id == actor.user_id {
        scopes.push(actor.scope("me", action));
    }
    scopes
}

/// Applies `patch` (already syntactically valid: the address normalised, the username checked)
/// to user `id`, audited as `user.update`.
pub async fn update(
    engine: &Engine,
    actor: &Actor,
    id: &str,
    patch: UserPatch,
) -> Result<User, CommandError> {
    const ACTION: &str = "user.update";
    actor
        .require_any(engine, &scopes(actor, id, "update"), ACTION)
        .await?;
    actor.require_covers_user(engine, id, ACTION).await?;
    if patch.status.is_some_and(|s| s != UserStatus::Active) {
        administrators::require_one_remains(engine, Change::UserGone(id)).await?;
    }
    if id == actor.user_id
        && let Some(Some(email)) = &patch.email
    {
        let proven = crate::engine::identity::proven_addresses(engine, id).await?;
        if !proven.contains(&crate::address::fold(email)) {
            return Err(CommandError::Refused(
                "an address becomes your primary email once you have proven it: add it on the \
                 account page (/account) and follow the link sent to it"
                    .to_owned(),
            ));
        }
    }
    let user = engine
        .store
        .update_user(id, patch)
        .await
        .map_err(|e| no_user(id, e))?;
    audit(engine, actor, ACTION, id).await;
    Ok(user)
}

/// Deletes user `id` with everything of theirs, audited as `user.delete`.
pub async fn delete(engine: &Engine, actor: &Actor, id: &str) -> Result<(), CommandError> {
    const ACTION: &str = "user.delete";
    actor
        .require_any(engine, &scopes(actor, id, "delete"), ACTION)
        .await?;
    actor.require_covers_user(engine, id, ACTION).await?;
    administrators::require_one_remains(engine, Change::UserGone(id)).await?;
    engine
        .store
        .delete_user(id)
        .await
        .map_err(|e| no_user(id, e))?;
    audit(engine, actor, ACTION, id).await;
    Ok(())
}

/// A store error on user `id` as the command's: a missing row is "no user".
fn no_user(id: &str, error: StoreError) -> CommandError {
    match error {
        StoreError::NotFound => CommandError::not_found(format!("no user '{id}'")),
        e => e.into(),
    }
}

/// Records the successful `action` on user `id`.
async fn audit(engine: &Engine, actor: &Actor, action: &str, id: &str) {
    crate::engine::audit::record(
        engine,
        actor
            .audit_event(action, Outcome::Success)
            .target("user", id),
    )
    .await;
}
