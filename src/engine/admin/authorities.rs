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

use authx_strategy_saml::{IdentityProvider, MetadataSource, SamlDetails, SamlStrategy};

use crate::domain::Page;
use crate::domain::access::Access;
use crate::domain::authority::{Authority, AuthorityPatch, NewAuthority, Strategy};
use crate::domain::id::is_valid_slug;
use crate::engine::Engine;
use crate::engine::actor::Actor;
use crate::engine::error::CommandError;
use crate::engine::saml_metadata::MetadataCache;
use crate::scopes::{Scope, ScopeSet};
use crate::store::{Store, StoreError};

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

/// Ids an upstream (google, saml) authority may not take: its sign-in starts at `/login/<id>`,
/// where these name the password and email forms' own routes.
const RESERVED_LOGIN_IDS: &[&str] = &["password", "email"];

/// An authority to create, as the caller gave it.
#[derive(Debug, Clone)]
pub struct AuthorityInput {
    pub id: String,
    pub strategy: Strategy,
    pub name: String,
    /// `None`: enabled.
    pub enabled: Option<bool>,
    /// The strategy's settings; `None`: `{}`.
    pub details: Option<Value>,
}

/// A change to an authority: `None` leaves a field as it is. `details` is a JSON merge patch
/// (RFC 7396) on the stored settings: keys it leaves out are kept, and a `null` removes one.
#[derive(Debug, Clone, Default)]
pub struct AuthorityChange {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub details: Option<Value>,
}

/// The page of authorities the caller may read (`authority.<id>:read`), in id order.
pub async fn list(
    engine: &Engine,
    actor: &Actor,
    page: &Page,
) -> Result<(Vec<Authority>, Option<String>), CommandError> {
    let any = actor.scope("authority.*", "read");
    if !actor.may_some(&any) {
        actor.refuse(engine, vec![any], "authority.list").await?;
    }
    // There are few authorities: the page is cut from all of them, one more than asked for
    // telling whether there is a next page.
    let limit = page.clamped_limit() as usize;
    let mut items: Vec<Authority> = engine
        .store
        .list_authorities()
        .await?
        .into_iter()
        .filter(|a| page.after.as_ref().is_none_or(|after| a.id > *after))
        .filter(|a| actor.may(&actor.scope_on("authority", &a.id, "read")))
        .take(limit + 1)
        .collect();
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|a| a.id.clone())
    } else {
        None
    };
    Ok((items, next))
}

/// Creates an authority (`authority:create`, and access covering what its settings reach),
/// audited as `authority.create`. Its settings are validated by the strategy, and an enabled
/// one's upstream is checked now ([`check_upstream`]).
pub async fn create(
    engine: &Engine,
    actor: &Actor,
    input: AuthorityInput,
) -> Result<Authority, CommandError> {
    const ACTION: &str = "authority.create";
    actor
        .require(engine, &actor.scope("authority", "create"), ACTION)
        .await?;
    if !is_valid_slug(&input.id) {
        return Err(CommandError::invalid_field(
            "id",
            "must be 1–63 characters of a-z, 0-9, '_' or '-', starting with a letter or digit",
        ));
    }
    let strategy = input.strategy;
    if matches!(strategy, Strategy::Google | Strategy::Saml)
        && RESERVED_LOGIN_IDS.contains(&input.id.as_str())
    {
        return Err(CommandError::invalid_field(
            "id",
            "is reserved: /login/<id> is the sign-in page's own route for this id",
        ));
    }
    let details = input
        .details
        .unwrap_or_else(|| Value::Object(serde_json::Map::new()));
    let details = settle_details(strategy, &details, &details).await?;
    require_may_configure(
        engine,
        actor,
        Configure {
            id: &input.id,
            strategy,
            before: None,
            after: &details,
        },
        ACTION,
    )
    .await?;
    let enabled = input.enabled.unwrap_or(true);
    let fetched = if enabled {
        check_upstream(engine, strategy, &details).await?
    } else {
        None
    };
    let authority = engine
        .store
        .create_authority(NewAuthority {
            id: input.id,
            strategy,
            name: input.name,
            enabled,
            details,
        })
        .await?;
    engine.saml_metadata.forget(&authority.id);
    if let Some((source, idp)) = fetched {
        engine.saml_metadata.remember(&authority.id, &source, idp);
    }
    actor
        .audit_success(engine, ACTION, "authority", &authority.id)
        .await;
    Ok(authority)
}

/// Authority `id` (`authority.<id>:read`).
pub async fn get(engine: &Engine, actor: &Actor, id: &str) -> Result<Authority, CommandError> {
    actor
        .require(
            engine,
            &actor.scope_on("authority", id, "read"),
            "authority.read",
        )
        .await?;
    load(engine, id).await
}

/// Applies `change` to authority `id` (`authority.<id>:update`, and access covering what new
/// settings, or switching it back on, reach), audited as `authority.update`.
pub async fn update(
    engine: &Engine,
    actor: &Actor,
    id: &str,
    change: AuthorityChange,
) -> Result<Authority, CommandError> {
    const ACTION: &str = "authority.update";
    actor
        .require(engine, &actor.scope_on("authority", id, "update"), ACTION)
        .await?;
    let current = load(engine, id).await?;
    // `details` is a JSON merge patch (RFC 7396) on the stored details: what it leaves out is
    // kept, so a partial update cannot silently drop a restriction such as `hosted_domains`.
    let details = match change.details {
        Some(patch) => {
            let merged = if current.strategy == Strategy::Google {
                authx_strategy_google::merge_details(&current.details, &patch)
            } else {
                authx_strategy_core::details::merge_patch(&current.details, &patch)
            };
            Some(settle_details(current.strategy, &patch, &merged).await?)
        }
        None => None,
    };
    // New settings, or switching it back on, put them in force (again).
    let switching_on = change.enabled == Some(true) && !current.enabled;
    if details.is_some() || switching_on {
        require_may_configure(
            engine,
            actor,
            Configure {
                id,
                strategy: current.strategy,
                before: (!switching_on).then_some(&current.details),
                after: details.as_ref().unwrap_or(&current.details),
            },
            ACTION,
        )
        .await?;
    }
    // An authority left enabled is checked when its settings change or it is switched on; a
    // rename or a switch-off does not depend on the IdP being reachable.
    let enabled = change.enabled.unwrap_or(current.enabled);
    let fetched = if enabled && (details.is_some() || change.enabled == Some(true)) {
        let in_force = details.as_ref().unwrap_or(&current.details);
        check_upstream(engine, current.strategy, in_force).await?
    } else {
        None
    };
    let authority = engine
        .store
        .update_authority(
            id,
            AuthorityPatch {
                name: change.name,
                enabled: change.enabled,
                details,
            },
        )
        .await
        .map_err(|e| match e {
            StoreError::NotFound => CommandError::not_found(format!("no authority '{id}'")),
            e => e.into(),
        })?;
    engine.saml_metadata.forget(id);
    if let Some((source, idp)) = fetched {
        engine.saml_metadata.remember(id, &source, idp);
    }
    actor.audit_success(engine, ACTION, "authority", id).await;
    Ok(authority)
}

/// Deletes authority `id` (`authority.<id>:delete`); refused (409) while credentials use it.
/// Audited as `authority.delete`.
pub async fn delete(engine: &Engine, actor: &Actor, id: &str) -> Result<(), CommandError> {
    const ACTION: &str = "authority.delete";
    actor
        .require(engine, &actor.scope_on("authority", id, "delete"), ACTION)
        .await?;
    engine
        .store
        .delete_authority(id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => CommandError::not_found(format!("no authority '{id}'")),
            StoreError::Reference(_) => CommandError::conflict("authority has credentials"),
            e => e.into(),
        })?;
    engine.saml_metadata.forget(id);
    actor.audit_success(engine, ACTION, "authority", id).await;
    Ok(())
}

async fn load(engine: &Engine, id: &str) -> Result<Authority, CommandError> {
    engine
        .store
        .get_authority(id)
        .await?
        .ok_or_else(|| CommandError::not_found(format!("no authority '{id}'")))
}

/// Validates the `details` of an authority of `strategy` with the strategy's crate and returns
/// their normal form (defaults filled in). Errors name the bad field as `details.<key>`; unknown
/// keys are refused.
pub fn validate_details(strategy: Strategy, details: &Value) -> Result<Value, CommandError> {
    crate::engine::strategies::strategy(strategy)
        .validate_details(details)
        .map_err(details_error)
}

/// The details to store for an authority of `strategy`: `submitted` by an administrator (the
/// whole object, or a merge patch) and `merged` into what is stored, validated into their normal
/// form. A `saml` authority's SP signing key is never taken from the administrator (anyone who
/// knew it could sign requests as our SP), and is generated here when none is stored yet.
async fn settle_details(
    strategy: Strategy,
    submitted: &Value,
    merged: &Value,
) -> Result<Value, CommandError> {
    if strategy != Strategy::Saml {
        return validate_details(strategy, merged);
    }
    SamlStrategy::refuse_submitted_key(submitted).map_err(details_error)?;
    with_signing_key(validate_details(strategy, merged)?)
        .await
        .map_err(details_error)
}

/// [`SamlStrategy::with_signing_key`] on a blocking thread: generating an RSA key takes long
/// enough to stall the other requests of an async worker.
async fn with_signing_key(details: Value) -> Result<Value, authx_strategy_core::StrategyError> {
    tokio::task::spawn_blocking(move || SamlStrategy::with_signing_key(details))
        .await
        .map_err(|e| authx_strategy_core::StrategyError::Internal(format!("key generation: {e}")))?
}

/// Gives every `saml` authority stored without an SP signing key (saved by a version before
/// they existed) its key, so that its metadata publishes a certificate and requests an IdP wants
/// signed are signed, without an administrator saving it again. Run at start-up. Nodes starting
/// at once may each write a key; the last write stands, and every node reads it from the store.
/// Returns how many authorities got one.
pub async fn give_saml_authorities_keys(store: &dyn Store) -> Result<usize, StoreError> {
    let mut given = 0;
    for authority in store.list_authorities().await? {
        if authority.strategy != Strategy::Saml
            || authority
                .details
                .get(authx_strategy_saml::details::SP_SIGNING_KEY)
                .is_some()
        {
            continue;
        }
        let details = match with_signing_key(authority.details.clone()).await {
            Ok(details) => details,
            Err(error) => {
                tracing::warn!(%error, authority = %authority.id, "no SP signing key made");
                continue;
            }
        };
        // An administrator's save through another node meanwhile wins (it made a key of its
        // own): write only over what was read, as far as a read just before can tell.
        match store.get_authority(&authority.id).await? {
            Some(current)
                if current.details == authority.details
                    && current.updated_at == authority.updated_at => {}
            _ => continue,
        }
        let patch = AuthorityPatch {
            name: None,
            enabled: None,
            details: Some(details),
        };
        match store.update_authority(&authority.id, patch).await {
            Ok(_) => given += 1,
            // Deleted meanwhile: nothing to give a key to.
            Err(StoreError::NotFound) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(given)
}

/// A strategy's refusal of details, as the command's error.
fn details_error(error: authx_strategy_core::StrategyError) -> CommandError {
    match error {
        authx_strategy_core::StrategyError::InvalidDetails { field, message } => {
            CommandError::invalid_field(field, message)
        }
        authx_strategy_core::StrategyError::Internal(why) => CommandError::Internal(why.into()),
        other => CommandError::invalid_field("details", other.to_string()),
    }
}

/// Checks the upstream an enabled authority with validated `details` will talk to. A `google`
/// issuer must be an address the outbound policy permits and (unless it is Google's own) serve a
/// discovery document that names it exactly (a 400 naming `details.issuer`). For a
/// `saml` authority whose metadata comes by URL, the metadata is fetched and checked now
/// (permitted, reachable, an IdP, a signing certificate), refusing with a 400 naming
/// `details.idp_metadata_url`; what was fetched is returned for the metadata cache once the
/// authority is saved. `None` for everything else (validation checked pasted metadata).
async fn check_upstream(
    engine: &Engine,
    strategy: Strategy,
    details: &Value,
) -> Result<Option<(MetadataSource, IdentityProvider)>, CommandError> {
    if strategy == Strategy::Google {
        let issuer = details
            .get("issuer")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Ok(url) = reqwest::Url::parse(issuer) {
            engine.config.outbound.check_url(&url).map_err(|refused| {
                CommandError::invalid_field("details.issuer", refused.to_string())
            })?;
        }
        // A typo in a custom issuer (a trailing slash, a wrong path) would make every login
        // fail; its discovery document says so now. Google's own issuer is known to be right.
        if issuer != authx_strategy_google::GOOGLE_ISSUER {
            engine.oidc.discover(issuer).await.map_err(|error| {
                CommandError::invalid_field(
                    "details.issuer",
                    format!("the issuer's discovery document cannot be used: {error}"),
                )
            })?;
        }
        return Ok(None);
    }
    if strategy != Strategy::Saml {
        return Ok(None);
    }
    let cache: &MetadataCache = &engine.saml_metadata;
    let saml = SamlDetails::from_details(details)
        .map_err(|e| CommandError::invalid_field("details", e.to_string()))?;
    let MetadataSource::Url(url) = &saml.metadata else {
        return Ok(None);
    };
    match cache.fetch(url).await {
        Ok(idp) => Ok(Some((saml.metadata, idp))),
        Err(error) => Err(CommandError::invalid_field(
            "details.idp_metadata_url",
            error.to_string(),
        )),
    }
}
