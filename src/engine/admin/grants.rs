//! Grant commands (reference §1, §2.6): a user's consents to clients, listed, read and withdrawn.
//!
//! - **Scopes:** `grant.<client_id>.user:read|delete` for anyone's grants, or
//!   `grant.<client_id>.me:read|delete` for one's own.
//! - **Withdrawing a grant revokes it:** its authorization codes and refresh tokens go with it
//!   (the store deletes them in the same transaction).
//! - **Nothing hidden is named:** a grant to a client the caller may not read for that user is
//!   left out of lists, and a missing grant is refused like one the caller may not read.

use serde_json::json;

use crate::domain::Page;
use crate::domain::audit::Outcome;
use crate::domain::grant::{Grant, GrantFilter};
use crate::engine::Engine;
use crate::engine::actor::Actor;
use crate::engine::error::CommandError;
use crate::store::StoreError;

/// The scopes allowing `action` on a grant to `client` of `user_id`.
pub fn scopes(actor: &Actor, client: &str, user_id: &str, action: &str) -> Vec<String> {
    let mut scopes = vec![actor.scope(&format!("grant.{client}.user"), action)];
    if user_id == actor.user_id {
        scopes.push(actor.scope(&format!("grant.{client}.me"), action));
    }
    scopes
}

/// The page of `user_id`'s grants (to `client_id` only, when given) the caller may read.
pub async fn list(
    engine: &Engine,
    actor: &Actor,
    user_id: &str,
    client_id: Option<String>,
    page: &Page,
) -> Result<(Vec<Grant>, Option<String>), CommandError> {
    let patterns = scopes(actor, "*", user_id, "read");
    if !patterns.iter().any(|s| actor.may_some(s)) {
        actor
            .refuse(engine, vec![patterns[0].clone()], "grant.list")
            .await?;
    }
    if engine.store.get_user(user_id).await?.is_none() {
        return Err(CommandError::not_found(format!("no user '{user_id}'")));
    }
    let filter = GrantFilter {
        user_id: Some(user_id.to_owned()),
        client_id,
    };
    let filter = &filter;
    Ok(crate::engine::listing::visible_page(
        page,
        |page| async move { engine.store.list_grants(filter, &page).await },
        |g| {
            scopes(actor, &g.client_id, user_id, "read")
                .iter()
                .any(|s| actor.may(s))
        },
        |g| g.id.as_str(),
    )
    .await?)
}

/// Grant `id` (`grant.<client>.user:read`, or `.me:read` for one's own).
pub async fn get(engine: &Engine, actor: &Actor, id: &str) -> Result<Grant, CommandError> {
    authorized(engine, actor, id, "read", "grant.read").await
}

/// Withdraws grant `id` (`grant.<client>.user:delete`, or `.me:delete` for one's own), audited as
/// `grant.delete`.
pub async fn delete(engine: &Engine, actor: &Actor, id: &str) -> Result<Grant, CommandError> {
    const ACTION: &str = "grant.delete";
    let grant = authorized(engine, actor, id, "delete", ACTION).await?;
    withdraw(engine, actor, grant, ACTION).await
}

/// Withdraws the caller's own grant `id` (`grant.<client>.me:delete`; the account page), audited
/// as `grant.revoke`; anyone else's grant is "not found", like a missing one.
pub async fn delete_own(engine: &Engine, actor: &Actor, id: &str) -> Result<Grant, CommandError> {
    const ACTION: &str = "grant.revoke";
    let grant = match engine.store.get_grant(id).await? {
        Some(grant) if grant.user_id == actor.user_id => grant,
        _ => return Err(CommandError::not_found(format!("no grant '{id}'"))),
    };
    let scope = actor.scope(&format!("grant.{}.me", grant.client_id), "delete");
    actor.require(engine, &scope, ACTION).await?;
    withdraw(engine, actor, grant, ACTION).await
}

async fn withdraw(
    engine: &Engine,
    actor: &Actor,
    grant: Grant,
    action: &str,
) -> Result<Grant, CommandError> {
    engine
        .store
        .delete_grant(&grant.id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => CommandError::not_found(format!("no grant '{}'", grant.id)),
            e => e.into(),
        })?;
    let mut event = actor
        .audit_event(action, Outcome::Success)
        .target("grant", &grant.id);
    if let Some(details) = event.details.as_object_mut() {
        details.insert("client_id".to_owned(), json!(grant.client_id));
        details.insert("user_id".to_owned(), json!(grant.user_id));
    }
    crate::engine::audit::record(engine, event).await;
    Ok(grant)
}

/// Loads grant `id` and checks that the caller may do `action` on it; a missing grant is refused
/// as one the caller may not act on would be, unless they may act on every user's grants.
async fn authorized(
    engine: &Engine,
    actor: &Actor,
    id: &str,
    action: &str,
    audit_action: &str,
) -> Result<Grant, CommandError> {
    let Some(grant) = engine.store.get_grant(id).await? else {
        let pattern = actor.scope("grant.*.user", action);
        return Err(actor
            .missing(engine, pattern, audit_action, format!("no grant '{id}'"))
            .await);
    };
    let scopes = scopes(actor, &grant.client_id, &grant.user_id, action);
    actor.require_any(engine, &scopes, audit_action).await?;
    Ok(grant)
}
