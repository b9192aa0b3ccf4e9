//! Role commands (reference §2.4–2.6): list, create, read, update, delete, and members.
//!
//! The rules, each in one place below:
//! - **Scopes:** `role:create`; `role.<id>:read|update|delete`; changing what a role bestows or
//!   denies (scopes, deny, `default`, enabling or disabling) also needs `role.<id>:update.scopes`;
//!   members need `role.<id>:update.assignments`.
//! - **No self-escalation:** what the role bestows afterwards must be within the caller's access
//!   when the change widens it (new scopes or deny, `default`, re-enabling, a new member).
//! - **Lifting a deny** ([`lifted`]): disabling or deleting a role with deny patterns, making a
//!   default one non-default, shrinking its deny list or removing a member frees someone from
//!   those patterns, so the caller's own access, deny applied, must allow each pattern lifted. A
//!   user held back by the deny cannot free themself.
//! - **A deny on a default role** reaches everyone, so the caller must hold the patterns it adds.
//! - **Lock-out:** no change may leave the installation without an administrator
//!   ([`administrators`]).

use crate::domain::Page;
use crate::domain::audit::{NewAuditEvent, Outcome};
use crate::domain::role::{NewRole, Role, RolePatch};
use crate::engine::Engine;
use crate::engine::actor::Actor;
use crate::engine::admin::administrators::{self, Change};
use crate::engine::error::CommandError;
use crate::engine::listing;
use crate::scopes::ScopeSet;
use crate::store::StoreError;

/// Parses stored patterns (validated when written); one that no longer parses bestows and denies
/// nothing here, as in [`crate::domain::access::Access::of_user`].
fn patterns(stored: &[String]) -> ScopeSet {
    stored
        .iter()
        .filter_map(|p| crate::scopes::Scope::parse(p).ok())
        .collect()
}

/// The deny patterns of `before` that no longer hold back the same people once the role is
/// `after` (`None`: deleted). A disabled role denies nothing; a default one denies everyone.
pub fn lifted(before: &Role, after: Option<&Role>) -> ScopeSet {
    if !before.enabled {
        return ScopeSet::new();
    }
    let old = patterns(&before.deny);
    let Some(after) = after.filter(|a| a.enabled && (a.is_default || !before.is_default)) else {
        return old;
    };
    let new = patterns(&after.deny);
    old.into_iter().filter(|d| !new.covers(d)).collect()
}

/// The deny patterns `after` imposes on everyone that `before` (`None`: a new role) did not.
fn imposed_on_everyone(before: Option<&Role>, after: &Role) -> ScopeSet {
    if !(after.enabled && after.is_default) {
        return ScopeSet::new();
    }
    let new = patterns(&after.deny);
    match before.filter(|b| b.enabled && b.is_default) {
        Some(b) => {
            let old = patterns(&b.deny);
            new.into_iter().filter(|d| !old.covers(d)).collect()
        }
        None => new,
    }
}

/// The page of roles the caller may read, optionally only those `member` is an explicit member
/// of; cut after filtering, so hidden roles are never named.
pub async fn list(
    engine: &Engine,
    actor: &Actor,
    member: Option<&str>,
    page: &Page,
) -> Result<(Vec<Role>, Option<String>), CommandError> {
    let any = actor.scope("role.*", "read");
    if !actor.may_some(&any) {
        actor.refuse(engine, vec![any], "role.list").await?;
    }
    let readable = |r: &Role| actor.may(&actor.scope_on("role", &r.id, "read"));
    Ok(match member {
        None => {
            listing::visible_page(
                page,
                |p| async move { engine.store.list_roles(&p).await },
                readable,
                |r| r.id.as_str(),
            )
            .await?
        }
        // A user holds few roles: the page is cut from all of them, in id order.
        Some(user_id) => listing::visible_slice(
            engine.store.roles_of_user(user_id).await?,
            page,
            readable,
            |r| r.id.as_str(),
        ),
    })
}

/// Creates `role` (its patterns validated and simplified), audited as `role.create`.
pub async fn create(engine: &Engine, actor: &Actor, role: NewRole) -> Result<Role, CommandError> {
    const ACTION: &str = "role.create";
    actor
        .require(engine, &actor.scope("role", "create"), ACTION)
        .await?;
    actor
        .require_covers(engine, &patterns(&role.scopes), ACTION)
        .await?;
    let preview = Role {
        id: role.id.clone(),
        name: role.name.clone(),
        description: role.description.clone(),
        is_default: role.is_default,
        enabled: role.enabled,
        scopes: role.scopes.clone(),
        deny: role.deny.clone(),
        created_at: 0,
        updated_at: 0,
    };
    actor
        .require_covers(engine, &imposed_on_everyone(None, &preview), ACTION)
        .await?;
    // A new default role with deny patterns can lock everyone out.
    if role.is_default && !role.deny.is_empty() {
        administrators::require_one_remains(engine, Change::Role(&preview)).await?;
    }
    let role = engine.store.create_role(role).await?;
    actor.audit_success(engine, ACTION, "role", &role.id).await;
    Ok(role)
}

/// Role `id` (`role.<id>:read`).
pub async fn get(engine: &Engine, actor: &Actor, id: &str) -> Result<Role, CommandError> {
    actor
        .require(engine, &actor.scope_on("role", id, "read"), "role.read")
        .await?;
    load(engine, id).await
}

/// Applies `patch` (its patterns validated and simplified) to role `id`, audited as
/// `role.update`.
pub async fn update(
    engine: &Engine,
    actor: &Actor,
    id: &str,
    patch: RolePatch,
) -> Result<Role, CommandError> {
    const ACTION: &str = "role.update";
    actor
        .require(engine, &actor.scope_on("role", id, "update"), ACTION)
        .await?;
    let current = load(engine, id).await?;
    let after = Role {
        name: patch.name.clone().unwrap_or_else(|| current.name.clone()),
        description: patch
            .description
            .clone()
            .unwrap_or_else(|| current.description.clone()),
        is_default: patch.is_default.unwrap_or(current.is_default),
        enabled: patch.enabled.unwrap_or(current.enabled),
        scopes: patch
            .scopes
            .clone()
            .unwrap_or_else(|| current.scopes.clone()),
        deny: patch.deny.clone().unwrap_or_else(|| current.deny.clone()),
        ..current.clone()
    };
    // Any new scope or deny list, a `default` flip or re-enabling changes what the role bestows.
    let widens = patch.scopes.is_some()
        || patch.deny.is_some()
        || after.is_default != current.is_default
        || (after.enabled && !current.enabled);
    let lifts = lifted(&current, Some(&after));
    if widens || !lifts.is_empty() {
        actor
            .require(engine, &actor.scope_on("role", id, "update.scopes"), ACTION)
            .await?;
    }
    if widens {
        // What the role will bestow afterwards must be within the caller's own access.
        actor
            .require_covers(engine, &patterns(&after.scopes), ACTION)
            .await?;
    }
    actor.require_covers(engine, &lifts, ACTION).await?;
    actor
        .require_covers(engine, &imposed_on_everyone(Some(&current), &after), ACTION)
        .await?;
    if widens || after.enabled != current.enabled {
        administrators::require_one_remains(engine, Change::Role(&after)).await?;
    }
    let role = engine
        .store
        .update_role(id, patch)
        .await
        .map_err(|e| no_role(id, e))?;
    actor.audit_success(engine, ACTION, "role", id).await;
    Ok(role)
}

/// Deletes role `id`; its members lose what it bestowed (and denied) at once. Audited as
/// `role.delete`.
pub async fn delete(engine: &Engine, actor: &Actor, id: &str) -> Result<(), CommandError> {
    const ACTION: &str = "role.delete";
    actor
        .require(engine, &actor.scope_on("role", id, "delete"), ACTION)
        .await?;
    let current = load(engine, id).await?;
    actor
        .require_covers(engine, &lifted(&current, None), ACTION)
        .await?;
    administrators::require_one_remains(engine, Change::RoleDeleted(id)).await?;
    engine
        .store
        .delete_role(id)
        .await
        .map_err(|e| no_role(id, e))?;
    actor.audit_success(engine, ACTION, "role", id).await;
    Ok(())
}

/// A page of the explicit members of role `id` (`role.<id>:read`).
pub async fn members(
    engine: &Engine,
    actor: &Actor,
    id: &str,
    page: &Page,
) -> Result<Vec<String>, CommandError> {
    actor
        .require(engine, &actor.scope_on("role", id, "read"), "role.read")
        .await?;
    load(engine, id).await?;
    Ok(engine.store.list_role_members(id, page).await?)
}

/// Makes `user_id` an explicit member of role `id`: the caller must hold everything the role
/// bestows. Audited as `role.assign`.
pub async fn add_member(
    engine: &Engine,
    actor: &Actor,
    id: &str,
    user_id: &str,
) -> Result<(), CommandError> {
    const ACTION: &str = "role.assign";
    actor
        .require(
            engine,
            &actor.scope_on("role", id, "update.assignments"),
            ACTION,
        )
        .await?;
    let role = load(engine, id).await?;
    actor
        .require_covers(engine, &patterns(&role.scopes), ACTION)
        .await?;
    engine
        .store
        .add_role_member(id, user_id)
        .await
        .map_err(|e| match e {
            StoreError::Reference(_) => CommandError::not_found(format!("no user '{user_id}'")),
            e => e.into(),
        })?;
    let event = actor
        .audit_event(ACTION, Outcome::Success)
        .target("user", user_id);
    crate::engine::audit::record(engine, with_role(event, id)).await;
    Ok(())
}

/// Removes `user_id` from role `id`: when the role denies something, the caller must hold what
/// the removal lifts for that user. Audited as `role.unassign`.
pub async fn remove_member(
    engine: &Engine,
    actor: &Actor,
    id: &str,
    user_id: &str,
) -> Result<(), CommandError> {
    const ACTION: &str = "role.unassign";
    actor
        .require(
            engine,
            &actor.scope_on("role", id, "update.assignments"),
            ACTION,
        )
        .await?;
    if let Some(role) = engine.store.get_role(id).await? {
        // A default role still includes the user after the explicit membership goes.
        if !role.is_default {
            actor
                .require_covers(engine, &lifted(&role, None), ACTION)
                .await?;
        }
        administrators::require_one_remains(
            engine,
            Change::MemberRemoved {
                role_id: id,
                user_id,
            },
        )
        .await?;
    }
    engine
        .store
        .remove_role_member(id, user_id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => {
                CommandError::not_found(format!("user '{user_id}' is not a member of role '{id}'"))
            }
            e => e.into(),
        })?;
    let event = actor
        .audit_event(ACTION, Outcome::Success)
        .target("user", user_id);
    crate::engine::audit::record(engine, with_role(event, id)).await;
    Ok(())
}

fn with_role(mut event: NewAuditEvent, role_id: &str) -> NewAuditEvent {
    if let Some(details) = event.details.as_object_mut() {
        details.insert("role_id".to_owned(), role_id.into());
    }
    event
}

async fn load(engine: &Engine, id: &str) -> Result<Role, CommandError> {
    engine
        .store
        .get_role(id)
        .await?
        .ok_or_else(|| CommandError::not_found(format!("no role '{id}'")))
}

fn no_role(id: &str, error: StoreError) -> CommandError {
    match error {
        StoreError::NotFound => CommandError::not_found(format!("no role '{id}'")),
        e => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(default: bool, enabled: bool, deny: &[&str]) -> Role {
        Role {
            id: "r".into(),
            name: "r".into(),
            description: None,
            is_default: default,
            enabled,
            scopes: vec![],
            deny: deny.iter().map(|s| s.to_string()).collect(),
            created_at: 0,
            updated_at: 0,
        }
    }

    fn strings(set: ScopeSet) -> Vec<String> {
        set.to_strings()
    }

    #[test]
    fn what_a_change_lifts() {
        let before = role(false, true, &["a:b:c", "a:x:*"]);
        assert_eq!(strings(lifted(&before, None)), ["a:b:c", "a:x:*"]);
        assert_eq!(
            strings(lifted(
                &before,
                Some(&role(false, false, &["a:b:c", "a:x:*"]))
            )),
            ["a:b:c", "a:x:*"]
        );
        // Shrinking: only what the new list no longer covers.
        assert_eq!(
            strings(lifted(&before, Some(&role(false, true, &["a:x:*"])))),
            ["a:b:c"]
        );
        // Widening a deny lifts nothing.
        assert!(lifted(&before, Some(&role(false, true, &["a:**:*"]))).is_empty());
        // A disabled role denied nothing, so nothing is lifted.
        assert!(lifted(&role(false, false, &["a:b:c"]), None).is_empty());
        // A default role made explicit-only frees everyone else.
        assert_eq!(
            strings(lifted(
                &role(true, true, &["a:b:c"]),
                Some(&role(false, true, &["a:b:c"]))
            )),
            ["a:b:c"]
        );
    }

    #[test]
    fn what_a_default_role_imposes_on_everyone() {
        let after = role(true, true, &["a:b:c", "a:x:*"]);
        assert_eq!(
            strings(imposed_on_everyone(None, &after)),
            ["a:b:c", "a:x:*"]
        );
        assert_eq!(
            strings(imposed_on_everyone(
                Some(&role(true, true, &["a:x:*"])),
                &after
            )),
            ["a:b:c"]
        );
        assert!(imposed_on_everyone(None, &role(false, true, &["a:b:c"])).is_empty());
    }
}
