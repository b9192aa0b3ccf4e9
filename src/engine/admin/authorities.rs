//! Authority rules (reference §2.6, §3): an authority is a path into accounts, so whoever
//! configures it must already hold what that path can reach. Each setting below is checked when
//! it comes into force (on creation, when it is turned on, and when a disabled authority is
//! switched back on):
//!
//! - **`role_ids`** (given to every user it creates): the caller covers those roles' scopes;
//!   otherwise anyone allowed to edit one authority could create an account holding `root`.
//! - **`match_users_by_email`** and **`trust_email`**: the upstream then signs in as, or vouches
//!   for the address of, anyone whose email it asserts. The caller covers everyone's reach: the
//!   scopes of every enabled role that includes someone (default roles, roles with members).
//! - **`allow_idp_initiated`**, a changed **upstream identity** (google `issuer` or `client_id`,
//!   SAML IdP metadata, whose entity id and certificates say who may assert identities) and
//!   switching it back on: whoever controls the upstream then signs in as the users who already
//!   hold a credential at this authority, so the caller covers their reach.
//!
//! A user's reach leaves out their `me`-relative scopes ([`Actor::require_covers_reach`]). The
//! refusal names what the caller is missing.

use serde_json::Value;

use crate::domain::Page;
use crate::domain::access::Access;
use crate::domain::authority::Strategy;
use crate::engine::Engine;
use crate::engine::actor::Actor;
use crate::engine::error::CommandError;
use crate::scopes::{Scope, ScopeSet};
use crate::store::StoreError;

/// Settings that let the upstream sign in as anyone whose email it asserts.
const EVERYONE_FLAGS: [&str; 2] = ["match_users_by_email", "trust_email"];

/// An authority's settings about to be in force.
#[derive(Debug, Clone, Copy)]
pub struct Configure<'a> {
    /// The authority's id (its credentials are looked up by it).
    pub id: &'a str,
    pub strategy: Strategy,
    /// The settings in force until now; `None` for a new authority or one being switched back on,
    /// whose every setting takes effect anew.
    pub before: Option<&'a Value>,
    /// The validated settings about to be in force.
    pub after: &'a Value,
}

/// Succeeds when the caller covers what the settings of `c` newly reach (see the module
/// documentation); otherwise 403 naming what is missing.
pub async fn require_may_configure(
    engine: &Engine,
    actor: &Actor,
    c: Configure<'_>,
    action: &str,
) -> Result<(), CommandError> {
    let role_ids = strings(c.after, "role_ids");
    let mut bestowed = Vec::new();
    for role_id in role_ids {
        // Roles that do not exist bestow nothing (sign-up skips them).
        if let Some(role) = engine.store.get_role(&role_id).await? {
            bestowed.extend(role.scopes);
        }
    }
    actor
        .require_covers(engine, &parse(&bestowed), action)
        .await?;

    let newly_on = |key: &str| flag(c.after, key) && !c.before.is_some_and(|b| flag(b, key));
    if EVERYONE_FLAGS.iter().any(|key| newly_on(key)) {
        actor
            .require_covers_reach(engine, &everyones_access(engine).await?, action)
            .await?;
    }
    let identity_changes = c
        .before
        .is_none_or(|b| upstream_identity(c.strategy, b) != upstream_identity(c.strategy, c.after));
    if newly_on("allow_idp_initiated") || identity_changes {
        let held = access_of_credential_holders(engine, c.id).await?;
        actor.require_covers_reach(engine, &held, action).await?;
    }
    Ok(())
}

/// The settings that say which upstream asserts identities.
fn upstream_identity(strategy: Strategy, details: &Value) -> Vec<Option<&Value>> {
    let keys: &[&str] = match strategy {
        Strategy::Google => &["issuer", "client_id"],
        Strategy::Saml => &["idp_metadata_xml", "idp_metadata_url"],
        _ => &[],
    };
    keys.iter().map(|k| details.get(*k)).collect()
}

/// The scopes anyone may hold: those of every enabled role that includes someone.
async fn everyones_access(engine: &Engine) -> Result<ScopeSet, StoreError> {
    let mut held = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = Page {
            limit: Page::MAX_LIMIT,
            after: after.clone(),
        };
        let roles = engine.store.list_roles(&page).await?;
        for role in &roles {
            if !role.enabled {
                continue;
            }
            let has_member = role.is_default
                || !engine
                    .store
                    .list_role_members(&role.id, &Page::first(1))
                    .await?
                    .is_empty();
            if has_member {
                held.extend(role.scopes.iter().cloned());
            }
        }
        if roles.len() < Page::MAX_LIMIT as usize {
            return Ok(parse(&held).simplify());
        }
        after = roles.last().map(|r| r.id.clone());
    }
}

/// The scopes the users with a credential at authority `id` hold now, together.
async fn access_of_credential_holders(engine: &Engine, id: &str) -> Result<ScopeSet, StoreError> {
    let mut held: Vec<Scope> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = Page {
            limit: Page::MAX_LIMIT,
            after: after.clone(),
        };
        let users = engine.store.users_with_credential_at(id, &page).await?;
        for user_id in &users {
            if let Some(raw) = engine.store.access_of_user(user_id).await? {
                held.extend(Access::of_user(&raw).scopes.into_vec());
            }
        }
        if users.len() < Page::MAX_LIMIT as usize {
            return Ok(held.into_iter().collect::<ScopeSet>().simplify());
        }
        after = users.last().cloned();
    }
}

fn parse(patterns: &[String]) -> ScopeSet {
    patterns
        .iter()
        .filter_map(|p| Scope::parse(p).ok())
        .collect()
}

fn flag(details: &Value, key: &str) -> bool {
    details.get(key).and_then(Value::as_bool) == Some(true)
}

fn strings(details: &Value, key: &str) -> Vec<String> {
    details
        .get(key)
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
