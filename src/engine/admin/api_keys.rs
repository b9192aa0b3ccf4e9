//! The rules for issuing personal API keys (reference §5), shared by the admin API
//! (`POST /api/v1/me/api-keys`) and the account page.
//!
//! A key is issued only when: at least one and at most 100 valid scope patterns are asked for,
//! every one of them is allowed by the caller's current access (no self-escalation: otherwise
//! [`IssueError::Uncovered`] lists the ones that are not, and nothing is issued), the description
//! has at most 200 characters, at most 50 clients are named and each exists, and the life is within
//! 1 s..=`api_keys.max_ttl_secs` (absent: `api_keys.default_ttl_secs`). The secret (`axk_…`, 256
//! random bits) is returned once, in [`IssuedKey::secret`]; only its SHA-256 is stored. Every
//! issue is audited as `apikey.issue` (a refusal for uncovered scopes as `denied`).

use serde_json::json;

use crate::domain::Page;
use crate::domain::access::Access;
use crate::domain::api_key::{ApiKey, ApiKeyFilter, NewApiKey};
use crate::domain::audit::{NewAuditEvent, Outcome};
use crate::domain::now;
use crate::engine::Engine;
use crate::engine::actor::Actor;
use crate::engine::error::CommandError;
use crate::scopes::{Scope, ScopeSet};
use crate::secret;
use crate::store::StoreError;

/// Most scope patterns one key may carry.
pub const MAX_SCOPES: usize = 100;
/// Most clients one key may be limited to.
pub const MAX_CLIENTS: usize = 50;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 200;

/// What to issue.
#[derive(Debug, Clone, Default)]
pub struct IssueRequest {
    /// Scope patterns (`realm:resource:action`).
    pub scopes: Vec<String>,
    /// What the key is for.
    pub description: Option<String>,
    /// Client ids the key is limited to; empty: any client.
    pub clients: Vec<String>,
    /// Life in seconds; `None`: the configured default.
    pub expires_in: Option<i64>,
    /// The audit event to record on success, with the caller's context (ip, request id, how they
    /// authenticated); its action, target and outcome are filled in here. `None`: a plain event
    /// with the owner as actor.
    pub audit: Option<NewAuditEvent>,
}

/// A newly issued key with its secret (the only time the secret exists outside the caller).
#[derive(Debug, Clone)]
pub struct IssuedKey {
    /// The stored key (metadata).
    pub key: ApiKey,
    /// The key itself, `axk_…`.
    pub secret: String,
}

/// Why no key was issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// A field is invalid; `field` names it (`scopes/2`, `expires_in`, …).
    #[error("{field}: {message}")]
    Invalid {
        /// The field (JSON-pointer-like, as the admin API names fields).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The caller's current access does not allow these patterns.
    #[error("not allowed by your current access: {}", .0.join(", "))]
    Uncovered(Vec<String>),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> IssueError {
    IssueError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Issues `user_id` a key under the rules above; `access` is the caller's current access (for a
/// caller authenticated by a key: that key's narrowed access).
pub async fn issue(
    state: &Engine,
    user_id: &str,
    access: &Access,
    req: IssueRequest,
) -> Result<IssuedKey, IssueError> {
    let requested = parse_scopes(&req.scopes)?;
    let description = req
        .description
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty());
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS)
    {
        return Err(invalid(
            "description",
            format!("at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    let clients = dedup(req.clients);
    if clients.len() > MAX_CLIENTS {
        return Err(invalid("clients", format!("at most {MAX_CLIENTS} clients")));
    }
    let ttl = ttl(state, req.expires_in)?;
    // No self-escalation: list what the caller does not hold, and issue nothing.
    let missing = access.not_allowed(&requested);
    if !missing.is_empty() {
        let mut event = base_event(req.audit.clone(), user_id);
        event.outcome = Outcome::Denied;
        merge_details(&mut event, json!({ "missing_scopes": missing }));
        crate::engine::audit::record(state, event).await;
        return Err(IssueError::Uncovered(missing));
    }
    for (i, client) in clients.iter().enumerate() {
        if state.store.get_client(client).await?.is_none() {
            return Err(invalid(
                format!("clients/{i}"),
                format!("no client '{client}'"),
            ));
        }
    }
    let secret = secret::generate(secret::API_KEY_PREFIX);
    let key = state
        .store
        .create_api_key(NewApiKey {
            user_id: user_id.to_owned(),
            key_hash: secret::hash(&secret),
            hint: secret::hint(&secret),
            description,
            scopes: requested.to_strings(),
            clients,
            expires_at: now().saturating_add(ttl),
        })
        .await?;
    let event = base_event(req.audit, user_id).target("api_key", &key.id);
    crate::engine::audit::record(state, event).await;
    Ok(IssuedKey { key, secret })
}

/// The `apikey.issue` event: the caller's template, or a plain one with the owner as actor.
fn base_event(template: Option<NewAuditEvent>, user_id: &str) -> NewAuditEvent {
    let mut event =
        template.unwrap_or_else(|| NewAuditEvent::new("user", Some(user_id), "apikey.issue"));
    event.action = "apikey.issue".to_owned();
    event.outcome = Outcome::Success;
    event
}

fn merge_details(event: &mut NewAuditEvent, extra: serde_json::Value) {
    match (&mut event.details, extra) {
        (serde_json::Value::Object(map), serde_json::Value::Object(more)) => map.extend(more),
        (details, extra) => *details = extra,
    }
}

/// Validates and normalises the requested patterns, naming the first invalid one (`scopes/2`).
pub fn parse_scopes(scopes: &[String]) -> Result<ScopeSet, IssueError> {
    if scopes.is_empty() {
        return Err(invalid("scopes", "at least one scope pattern is required"));
    }
    if scopes.len() > MAX_SCOPES {
        return Err(invalid(
            "scopes",
            format!("at most {MAX_SCOPES} scope patterns"),
        ));
    }
    let mut parsed = Vec::with_capacity(scopes.len());
    for (i, s) in scopes.iter().enumerate() {
        parsed.push(Scope::parse(s).map_err(|e| invalid(format!("scopes/{i}"), e.to_string()))?);
    }
    Ok(parsed.into_iter().collect::<ScopeSet>().simplify())
}

/// The longest life a key may be given, in seconds.
pub fn max_ttl(state: &Engine) -> i64 {
    i64::try_from(state.config.api_keys.max_ttl_secs).unwrap_or(i64::MAX)
}

/// The key's life in seconds: `expires_in` within 1..=max, or the default (capped by the max).
pub fn ttl(state: &Engine, expires_in: Option<i64>) -> Result<i64, IssueError> {
    let max = max_ttl(state);
    match expires_in {
        None => Ok(i64::try_from(state.config.api_keys.default_ttl_secs)
            .unwrap_or(max)
            .min(max)),
        Some(secs) if (1..=max).contains(&secs) => Ok(secs),
        Some(_) => Err(invalid(
            "expires_in",
            format!("must be between 1 and {max} seconds"),
        )),
    }
}

fn dedup(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// Revokes every unrevoked API key of the actor at `at` (the account page's "revoke all", after a
/// suspected leak); needs `apikey.me:delete`. Returns how many were revoked; audited as
/// `apikey.revoke_all` with the count.
pub async fn revoke_all_own(engine: &Engine, actor: &Actor, at: i64) -> Result<u64, CommandError> {
    const ACTION: &str = "apikey.revoke_all";
    actor
        .require(engine, &actor.scope("apikey.me", "delete"), ACTION)
        .await?;
    let filter = ApiKeyFilter {
        user_id: Some(actor.user_id.clone()),
        include_revoked: false,
    };
    // Collect first: revoking removes keys from the listing the cursor walks.
    let mut ids: Vec<String> = Vec::new();
    loop {
        let page = crate::domain::Page {
            limit: crate::domain::Page::MAX_LIMIT,
            after: ids.last().cloned(),
        };
        let batch = engine.store.list_api_keys(&filter, &page).await?;
        let more = batch.len() >= crate::domain::Page::MAX_LIMIT as usize;
        ids.extend(batch.into_iter().map(|k| k.id));
        if !more {
            break;
        }
    }
    let mut revoked = 0;
    for id in &ids {
        match engine.store.revoke_api_key(id, at).await {
            Ok(_) => revoked += 1,
            // Revoked concurrently: nothing left to do for it.
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut event = actor.audit_event(ACTION, Outcome::Success);
    if let Some(details) = event.details.as_object_mut() {
        details.insert("revoked".to_owned(), revoked.into());
    }
    crate::engine::audit::record(engine, event).await;
    Ok(revoked)
}

/// The page of keys `filter` selects, for a caller with `apikey.user:read`; a caller with only
/// `apikey.me:read` gets their own keys (none when the filter names someone else), and one with
/// neither 403.
pub async fn list(
    engine: &Engine,
    actor: &Actor,
    mut filter: ApiKeyFilter,
    page: &Page,
) -> Result<(Vec<ApiKey>, Option<String>), CommandError> {
    if !actor.may(&actor.scope("apikey.user", "read")) {
        actor
            .require_any(
                engine,
                &[
                    actor.scope("apikey.user", "read"),
                    actor.scope("apikey.me", "read"),
                ],
                "apikey.list",
            )
            .await?;
        if filter.user_id.as_ref().is_some_and(|u| *u != actor.user_id) {
            return Ok((Vec::new(), None));
        }
        filter.user_id = Some(actor.user_id.clone());
    }
    page_of(engine, &filter, page).await
}

/// The page of the caller's own keys (`apikey.me:read`), revoked ones when `include_revoked`.
pub async fn list_own(
    engine: &Engine,
    actor: &Actor,
    include_revoked: bool,
    page: &Page,
) -> Result<(Vec<ApiKey>, Option<String>), CommandError> {
    actor
        .require(engine, &actor.scope("apikey.me", "read"), "apikey.list")
        .await?;
    let filter = ApiKeyFilter {
        user_id: Some(actor.user_id.clone()),
        include_revoked,
    };
    page_of(engine, &filter, page).await
}

async fn page_of(
    engine: &Engine,
    filter: &ApiKeyFilter,
    page: &Page,
) -> Result<(Vec<ApiKey>, Option<String>), CommandError> {
    let keys = engine.store.list_api_keys(filter, page).await?;
    let next = crate::engine::listing::next_cursor(&keys, page, |k| &k.id);
    Ok((keys, next))
}

/// Key `id`, anyone's (`apikey.user:read`, or `apikey.me:read` for one's own).
pub async fn get(engine: &Engine, actor: &Actor, id: &str) -> Result<ApiKey, CommandError> {
    authorized(engine, actor, id, "read").await
}

/// The caller's own key `id` (`apikey.me:read`); another user's key is 404 like a missing one.
pub async fn get_own(engine: &Engine, actor: &Actor, id: &str) -> Result<ApiKey, CommandError> {
    actor
        .require(engine, &actor.scope("apikey.me", "read"), "apikey.read")
        .await?;
    own(engine, actor, id).await
}

/// Revokes key `id`, anyone's (`apikey.user:delete`, or `apikey.me:delete` for one's own), at
/// `now`; it stops working at once. Audited as `apikey.revoke`.
pub async fn revoke(
    engine: &Engine,
    actor: &Actor,
    id: &str,
    now: i64,
) -> Result<(), CommandError> {
    authorized(engine, actor, id, "delete").await?;
    revoke_at(engine, actor, id, now).await
}

/// Revokes the caller's own key `id` (`apikey.me:delete`) at `now`; another user's key is 404
/// like a missing one. Audited as `apikey.revoke`.
pub async fn revoke_own(
    engine: &Engine,
    actor: &Actor,
    id: &str,
    now: i64,
) -> Result<(), CommandError> {
    actor
        .require(engine, &actor.scope("apikey.me", "delete"), "apikey.revoke")
        .await?;
    own(engine, actor, id).await?;
    revoke_at(engine, actor, id, now).await
}

/// Key `id` if the caller may `action` it: `apikey.user:<action>` for anyone's, also
/// `apikey.me:<action>` for their own. The scope is checked before existence is revealed: a caller
/// without `apikey.user:<action>` gets 403 for a missing key as for another user's.
async fn authorized(
    engine: &Engine,
    actor: &Actor,
    id: &str,
    action: &str,
) -> Result<ApiKey, CommandError> {
    let key = engine.store.get_api_key(id).await?;
    let mut scopes = vec![actor.scope("apikey.user", action)];
    if key.as_ref().is_some_and(|k| k.user_id == actor.user_id) {
        scopes.push(actor.scope("apikey.me", action));
    }
    let audit_action = if action == "delete" {
        "apikey.revoke"
    } else {
        "apikey.read"
    };
    actor.require_any(engine, &scopes, audit_action).await?;
    key.ok_or_else(|| no_key(id))
}

async fn own(engine: &Engine, actor: &Actor, id: &str) -> Result<ApiKey, CommandError> {
    match engine.store.get_api_key(id).await? {
        Some(key) if key.user_id == actor.user_id => Ok(key),
        _ => Err(no_key(id)),
    }
}

fn no_key(id: &str) -> CommandError {
    CommandError::not_found(format!("no API key '{id}'"))
}

async fn revoke_at(engine: &Engine, actor: &Actor, id: &str, now: i64) -> Result<(), CommandError> {
    engine
        .store
        .revoke_api_key(id, now)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => no_key(id),
            e => e.into(),
        })?;
    actor
        .audit_success(engine, "apikey.revoke", "api_key", id)
        .await;
    Ok(())
}
