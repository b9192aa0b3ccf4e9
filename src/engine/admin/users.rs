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

use crate::domain::Page;
use crate::domain::user::{NewUser, User, UserFilter, UserPatch, UserStatus};
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

/// Creates `user` (its address and username normalised here) with `user:create`, audited as
/// `user.create`.
pub async fn create(
    engine: &Engine,
    actor: &Actor,
    mut user: NewUser,
) -> Result<User, CommandError> {
    const ACTION: &str = "user.create";
    actor
        .require(engine, &actor.scope("user", "create"), ACTION)
        .await?;
    user.email = user.email.as_deref().map(normalize_email).transpose()?;
    user.username = user
        .username
        .as_deref()
        .map(normalize_username)
        .transpose()?;
    let user = engine.store.create_user(user).await?;
    actor.audit_success(engine, ACTION, "user", &user.id).await;
    Ok(user)
}

/// User `id` (`user:read`, or `me:read` for oneself).
pub async fn get(engine: &Engine, actor: &Actor, id: &str) -> Result<User, CommandError> {
    actor
        .require_any(engine, &scopes(actor, id, "read"), "user.read")
        .await?;
    engine
        .store
        .get_user(id)
        .await?
        .ok_or_else(|| CommandError::not_found(format!("no user '{id}'")))
}

/// The page of users `filter` selects: everyone for `user:read`, only oneself (if the filter
/// selects them) for `me:read`.
pub async fn list(
    engine: &Engine,
    actor: &Actor,
    mut filter: UserFilter,
    page: &Page,
) -> Result<(Vec<User>, Option<String>), CommandError> {
    if actor.may(&actor.scope("user", "read")) {
        let users = engine.store.list_users(&filter, page).await?;
        let next = crate::engine::listing::next_cursor(&users, page, |u| &u.id);
        return Ok((users, next));
    }
    actor
        .require(engine, &actor.scope("me", "read"), "user.list")
        .await?;
    // Only oneself: the one user the caller may see, if it passes the same filters.
    filter.id = Some(actor.user_id.clone());
    Ok((engine.store.list_users(&filter, page).await?, None))
}

/// Applies `patch` (its address and username normalised here) to user `id`, audited as
/// `user.update`.
pub async fn update(
    engine: &Engine,
    actor: &Actor,
    id: &str,
    mut patch: UserPatch,
) -> Result<User, CommandError> {
    const ACTION: &str = "user.update";
    actor
        .require_any(engine, &scopes(actor, id, "update"), ACTION)
        .await?;
    if let Some(Some(email)) = &mut patch.email {
        *email = normalize_email(email)?;
    }
    if let Some(Some(username)) = &mut patch.username {
        *username = normalize_username(username)?;
    }
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
    actor.audit_success(engine, ACTION, "user", id).await;
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
    actor.audit_success(engine, ACTION, "user", id).await;
    Ok(())
}

/// A store error on user `id` as the command's: a missing row is "no user".
fn no_user(id: &str, error: StoreError) -> CommandError {
    match error {
        StoreError::NotFound => CommandError::not_found(format!("no user '{id}'")),
        e => e.into(),
    }
}

/// An address as stored: normalised, or 400 naming `email`.
fn normalize_email(email: &str) -> Result<String, CommandError> {
    crate::address::normalize(email)
        .map_err(|e| CommandError::invalid_field("email", e.to_string()))
}

/// Usernames are compared exactly by the store, so they are normalised to lower case here.
fn normalize_username(username: &str) -> Result<String, CommandError> {
    let lower = username.to_lowercase();
    let valid = (1..=64).contains(&lower.len())
        && lower.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
        && !lower.contains('@');
    if valid {
        Ok(lower)
    } else {
        Err(CommandError::invalid_field(
            "username",
            "must be 1–64 characters of a-z, 0-9, '.', '_' or '-'",
        ))
    }
}
