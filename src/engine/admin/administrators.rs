//! The installation keeps an administrator (reference §2.6, "Lock-out"). No change through the
//! admin API or the pages may leave authx without an active user who can administer roles and
//! users: disabling, deleting or narrowing a role (`root` included), adding a deny, making a role
//! default or not, disabling or deleting a user, removing a member. Such a change is answered with
//! a conflict saying why; the recovery from the database host is `bootstrap-admin --restore-root`.
//!
//! "Can administer roles and users" means holding, deny applied, every pattern of
//! [`administration`]: changing any role's scopes and members, and updating any user.
//!
//! A client's machine user acts only while its client is enabled (client_credentials is its one
//! way in), so it counts as an administrator only then.
//!
//! The check reads the roles and the candidates' memberships as they are, applies the change in
//! memory and looks for one administrator; it stops at the first. It is not serialised with other
//! changes: two concurrent changes by two administrators can each pass it. When the installation
//! has no administrator before the change either (a fresh database, a test set-up), it does not
//! refuse: the change does not cause the lock-out.

use crate::domain::Page;
use crate::domain::access::Access;
use crate::domain::role::{Role, UserAccess};
use crate::domain::user::{UserFilter, UserKind, UserStatus};
use crate::engine::Engine;
use crate::engine::error::CommandError;
use crate::scopes::ScopeSet;
use crate::store::StoreError;

/// A change that could remove the last administrator.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// The role will be as given (an update, or a new role).
    Role(&'a Role),
    /// The role is deleted.
    RoleDeleted(&'a str),
    /// The user stops being an explicit member of the role.
    MemberRemoved { role_id: &'a str, user_id: &'a str },
    /// The user is disabled or deleted.
    UserGone(&'a str),
}

/// The patterns an administrator holds: every role's scopes and members, and every user.
pub fn administration(realm: &str) -> ScopeSet {
    ScopeSet::parse([
        format!("{realm}:role.*:update.scopes"),
        format!("{realm}:role.*:update.assignments"),
        format!("{realm}:user:update"),
    ])
    .unwrap_or_default()
}

/// Succeeds unless `change` leaves no active administrator where there is one now.
pub async fn require_one_remains(engine: &Engine, change: Change<'_>) -> Result<(), CommandError> {
    let admin = administration(&engine.config.realm);
    let roles = all_roles(engine).await?;
    if any_administrator(engine, &admin, &applied(&roles, change), Some(change)).await?
        || !any_administrator(engine, &admin, &roles, None).await?
    {
        return Ok(());
    }
    Err(CommandError::conflict(
        "this change would leave no active user who can administer roles and users (holding \
         role.*:update.scopes, role.*:update.assignments and user:update); give that access to \
         another active user first"
            .to_owned(),
    ))
}

/// Every role, in id order.
async fn all_roles(engine: &Engine) -> Result<Vec<Role>, StoreError> {
    let mut roles: Vec<Role> = Vec::new();
    loop {
        let page = Page {
            limit: Page::MAX_LIMIT,
            after: roles.last().map(|r| r.id.clone()),
        };
        let batch = engine.store.list_roles(&page).await?;
        let more = batch.len() >= Page::MAX_LIMIT as usize;
        roles.extend(batch);
        if !more {
            return Ok(roles);
        }
    }
}

/// The roles as they will be after `change`.
fn applied(roles: &[Role], change: Change<'_>) -> Vec<Role> {
    let mut out: Vec<Role> = roles.to_vec();
    match change {
        Change::Role(new) => match out.iter_mut().find(|r| r.id == new.id) {
            Some(slot) => *slot = new.clone(),
            None => out.push(new.clone()),
        },
        Change::RoleDeleted(id) => out.retain(|r| r.id != id),
        Change::MemberRemoved { .. } | Change::UserGone(_) => {}
    }
    out
}

/// Whether some active user holds `admin` under `roles`, with `change` applied to memberships and
/// users. Only members of roles that bestow part of `admin` can hold it, so only they are read.
async fn any_administrator(
    engine: &Engine,
    admin: &ScopeSet,
    roles: &[Role],
    change: Option<Change<'_>>,
) -> Result<bool, StoreError> {
    for role in roles.iter().filter(|r| r.enabled && bestows_part(r, admin)) {
        let mut after: Option<String> = None;
        loop {
            let page = Page {
                limit: Page::MAX_LIMIT,
                after: after.clone(),
            };
            let candidates = if role.is_default {
                let filter = UserFilter {
                    status: Some(UserStatus::Active),
                    ..UserFilter::default()
                };
                let users = engine.store.list_users(&filter, &page).await?;
                users.into_iter().map(|u| u.id).collect::<Vec<_>>()
            } else {
                engine.store.list_role_members(&role.id, &page).await?
            };
            for user_id in &candidates {
                if holds(engine, admin, roles, change, user_id).await? {
                    return Ok(true);
                }
            }
            if candidates.len() < Page::MAX_LIMIT as usize {
                break;
            }
            after = candidates.last().cloned();
        }
    }
    Ok(false)
}

/// Whether `role` bestows something of `admin`.
fn bestows_part(role: &Role, admin: &ScopeSet) -> bool {
    ScopeSet::parse(role.scopes.iter().map(String::as_str))
        .unwrap_or_default()
        .has_intersection(admin)
}

/// Whether user `user_id` holds all of `admin` under `roles` after `change`.
async fn holds(
    engine: &Engine,
    admin: &ScopeSet,
    roles: &[Role],
    change: Option<Change<'_>>,
    user_id: &str,
) -> Result<bool, StoreError> {
    if matches!(change, Some(Change::UserGone(gone)) if gone == user_id) {
        return Ok(false);
    }
    let Some(user) = engine.store.get_user(user_id).await? else {
        return Ok(false);
    };
    if user.kind == UserKind::Machine && !acts_through_an_enabled_client(engine, user_id).await? {
        return Ok(false);
    }
    let explicit: Vec<String> = engine
        .store
        .roles_of_user(user_id)
        .await?
        .into_iter()
        .map(|r| r.id)
        .filter(|id| {
            !matches!(change, Some(Change::MemberRemoved { role_id, user_id: removed })
                if removed == user_id && role_id == id)
        })
        .collect();
    let mut raw = UserAccess {
        status: user.status,
        scopes: Vec::new(),
        deny: Vec::new(),
    };
    for role in roles
        .iter()
        .filter(|r| r.enabled && (r.is_default || explicit.contains(&r.id)))
    {
        raw.scopes.extend(role.scopes.iter().cloned());
        raw.deny.extend(role.deny.iter().cloned());
    }
    let access = Access::of_user(&raw);
    Ok(admin.iter().all(|s| access.allows(s)))
}

/// Whether machine user `user_id` belongs to a client that is enabled (and so can obtain tokens).
async fn acts_through_an_enabled_client(
    engine: &Engine,
    user_id: &str,
) -> Result<bool, StoreError> {
    let mut after: Option<String> = None;
    loop {
        let page = Page {
            limit: Page::MAX_LIMIT,
            after: after.clone(),
        };
        let clients = engine.store.list_clients(&page).await?;
        if clients
            .iter()
            .any(|c| c.enabled && c.machine_user_id.as_deref() == Some(user_id))
        {
            return Ok(true);
        }
        if clients.len() < Page::MAX_LIMIT as usize {
            return Ok(false);
        }
        after = clients.last().map(|c| c.id.clone());
    }
}
