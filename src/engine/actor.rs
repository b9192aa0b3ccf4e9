//! Who acts, and what they may do: the [`Actor`] every admin command receives. Obtaining one *is*
//! the authentication; its `require…` methods are the authorization checks, each refusal audited.
//!
//! The admin API's callers present an API key (`axk_…`) or one of authx's own JWT access tokens
//! (`Authorization: Bearer`, see [`authenticate_bearer`]); the pages act for the signed-in user
//! ([`Actor::for_session`]). Access is computed from live data on every request — the owner's
//! current roles narrowed to the key's or token's scopes — so a revoked key or token, a removed role
//! or a disabled user takes effect on the next call, on every node.

use serde_json::json;

use crate::domain::access::Access;
use crate::domain::audit::{NewAuditEvent, Outcome};
use crate::engine::Engine;
use crate::engine::audit::Context;
use crate::engine::error::CommandError;
use crate::scopes::ScopeSet;
use crate::secret;
use crate::store::StoreError;

/// How the caller authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// An API key, by id.
    ApiKey(String),
    /// An OAuth 2.0 access token (JWT), by `jti`, issued to `client_id`.
    AccessToken { jti: String, client_id: String },
    /// A browser session at authx's own pages.
    Session,
}

/// Who acts: a user, through a credential, with the access that credential carries now. Holding
/// an actor is having authenticated; its `require…` methods are the authorization checks of every
/// command.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The user the credential belongs to.
    pub user_id: String,
    /// The credential used.
    pub via: Via,
    /// What the caller may do now (the owner's access narrowed to the credential's scopes).
    pub access: Access,
    /// Where the request came from, for audit events.
    pub ctx: Context,
    realm: String,
}

/// The actor a bearer credential (an API key or an access token) stands for at `now`, or `None`
/// for anything invalid, expired, revoked or belonging to a disabled user.
pub async fn authenticate_bearer(
    state: &Engine,
    token: &str,
    ctx: &Context,
    now: i64,
) -> Result<Option<Actor>, StoreError> {
    if token.starts_with(secret::API_KEY_PREFIX) {
        from_api_key(state, token, ctx, now).await
    } else {
        from_access_token(state, token, ctx).await
    }
}

async fn from_api_key(
    state: &Engine,
    token: &str,
    ctx: &Context,
    now: i64,
) -> Result<Option<Actor>, StoreError> {
    let Some(key) = state
        .store
        .find_api_key_by_hash(&secret::hash(token))
        .await?
    else {
        return Ok(None);
    };
    // A key limited to some clients is meant for those services, not for administering authx.
    if !key.is_active(now) || !key.clients.is_empty() {
        return Ok(None);
    }
    let Some(owner) = state.store.access_of_user(&key.user_id).await? else {
        return Ok(None);
    };
    let owner_access = Access::of_user(&owner);
    if owner_access.scopes.is_empty() {
        // A disabled owner (or one with no access at all) cannot use any key.
        return Ok(None);
    }
    let key_scopes = ScopeSet::parse(key.scopes.iter().map(String::as_str)).unwrap_or_default();
    Ok(Some(Actor {
        user_id: key.user_id,
        via: Via::ApiKey(key.id),
        access: owner_access.narrowed_to(&key_scopes),
        ctx: ctx.clone(),
        realm: state.config.realm.clone(),
    }))
}

async fn from_access_token(
    state: &Engine,
    token: &str,
    ctx: &Context,
) -> Result<Option<Actor>, StoreError> {
    let Some(active) = crate::engine::oauth2::bearer::verify_access_token(state, token).await?
    else {
        return Ok(None);
    };
    Ok(Some(Actor {
        user_id: active.claims.sub,
        via: Via::AccessToken {
            jti: active.claims.jti,
            client_id: active.claims.client_id,
        },
        access: active.access,
        ctx: ctx.clone(),
        realm: state.config.realm.clone(),
    }))
}

/// What user `user_id` may do now: their roles' scopes and deny patterns (none when they hold no
/// role, are disabled or are gone).
pub async fn access_now(state: &Engine, user_id: &str) -> Result<Access, StoreError> {
    Ok(state
        .store
        .access_of_user(user_id)
        .await?
        .map(|a| Access::of_user(&a))
        .unwrap_or_else(Access::none))
}

impl Actor {
    /// The signed-in user `user_id` acting at the pages, with their whole access now.
    pub async fn for_session(
        state: &Engine,
        user_id: &str,
        ctx: &Context,
    ) -> Result<Self, StoreError> {
        let access = access_now(state, user_id).await?;
        Ok(Self {
            user_id: user_id.to_owned(),
            via: Via::Session,
            access,
            ctx: ctx.clone(),
            realm: state.config.realm.clone(),
        })
    }
}

impl Actor {
    /// The realm-qualified scope `<realm>:<resource>:<action>`.
    pub fn scope(&self, resource: &str, action: &str) -> String {
        format!("{}:{resource}:{action}", self.realm)
    }

    /// The scope for `action` on one resource: `<realm>:<kind>.<id>:<action>`. Ids of these
    /// resources are slugs, hence valid scope segments; anything else (a malformed path parameter)
    /// yields a scope nobody holds rather than an invalid pattern.
    pub fn scope_on(&self, kind: &str, id: &str, action: &str) -> String {
        if crate::domain::id::is_valid_slug(id) {
            self.scope(&format!("{kind}.{id}"), action)
        } else {
            self.scope(&format!("{kind}.invalid-id"), action)
        }
    }

    /// Whether the caller may act under `scope`.
    pub fn may(&self, scope: &str) -> bool {
        self.access.allows_str(scope)
    }

    /// Whether the caller's access reaches anything under `pattern` at all (for lists: "may read
    /// at least some item", else 403).
    pub fn may_some(&self, pattern: &str) -> bool {
        let Ok(wanted) = crate::scopes::Scope::parse(pattern) else {
            return false;
        };
        self.access.scopes.iter().any(|granted| {
            granted.intersects(&wanted) && !self.access.deny.iter().any(|d| d.covers(granted))
        })
    }

    /// Succeeds when the caller may act under `scope`; otherwise records a refused-call audit event
    /// and answers 403 naming the scope.
    pub async fn require(
        &self,
        state: &Engine,
        scope: &str,
        action: &str,
    ) -> Result<(), CommandError> {
        if self.may(scope) {
            return Ok(());
        }
        self.refuse(state, vec![scope.to_owned()], action).await
    }

    /// Succeeds when the caller may act under any of `scopes` (e.g. `user:read` or, for oneself,
    /// `me:read`); otherwise 403 naming the first (the general one).
    pub async fn require_any(
        &self,
        state: &Engine,
        scopes: &[String],
        action: &str,
    ) -> Result<(), CommandError> {
        if scopes.iter().any(|s| self.may(s)) {
            return Ok(());
        }
        self.refuse(state, scopes.iter().take(1).cloned().collect(), action)
            .await
    }

    /// Succeeds when the caller's own access allows every pattern of `bestowed` (no self-escalation,
    /// reference §2.6); otherwise 403 naming the patterns the caller does not hold.
    pub async fn require_covers(
        &self,
        state: &Engine,
        bestowed: &ScopeSet,
        action: &str,
    ) -> Result<(), CommandError> {
        let missing = self.access.not_allowed(bestowed);
        if missing.is_empty() {
            return Ok(());
        }
        self.refuse(state, missing, action).await
    }

    /// Succeeds when the caller's access allows everything user `user_id` holds now: whoever
    /// changes another user's credentials, profile or status could become them, so they must
    /// already hold at least as much (reference §2.6). The target's `me`-relative scopes
    /// (`<realm>:me:*`, `<realm>:credential.*.me:*`, …) reach only the target's own resources and
    /// are left out. Acting on oneself is governed by the `me` scopes instead.
    pub async fn require_covers_user(
        &self,
        state: &Engine,
        user_id: &str,
        action: &str,
    ) -> Result<(), CommandError> {
        if user_id == self.user_id {
            return Ok(());
        }
        let Some(target) = state.store.access_of_user(user_id).await? else {
            return Ok(());
        };
        let target = Access::of_user(&target);
        self.require_covers_reach(state, &target.scopes, action)
            .await
    }

    /// Succeeds when the caller's access allows everything of `held` (what some users hold),
    /// leaving out the own realm's `me`-relative scopes: those reach only each holder's own
    /// resources. Otherwise 403 naming what is missing.
    pub async fn require_covers_reach(
        &self,
        state: &Engine,
        held: &ScopeSet,
        action: &str,
    ) -> Result<(), CommandError> {
        let own_realm = format!("{}:", self.realm);
        let reach: ScopeSet = held
            .iter()
            .filter(|s| !is_me_relative(s.as_str(), &own_realm))
            .cloned()
            .collect();
        self.require_covers(state, &reach, action).await
    }

    /// The answer for a resource that does not exist: 404 to a caller who may act on such
    /// resources of anyone (`pattern`, e.g. `<realm>:credential.*.user:read`), otherwise the 403
    /// someone else's existing resource would get, so nothing is revealed.
    pub async fn missing(
        &self,
        state: &Engine,
        pattern: String,
        audit_action: &str,
        what: String,
    ) -> CommandError {
        if self.may_some(&pattern) {
            return CommandError::not_found(what);
        }
        match self.refuse(state, vec![pattern], audit_action).await {
            Err(e) => e,
            Ok(()) => CommandError::Forbidden(Vec::new()),
        }
    }

    /// Records a refused call and returns the 403 for it.
    pub async fn refuse(
        &self,
        state: &Engine,
        missing: Vec<String>,
        action: &str,
    ) -> Result<(), CommandError> {
        let mut event = self.audit_event(action, Outcome::Denied);
        event.details = json!({ "missing_scopes": missing });
        crate::engine::audit::record(state, event).await;
        Err(CommandError::Forbidden(missing))
    }

    /// Records this caller's successful `action` on the `target_type` resource `target_id`.
    pub async fn audit_success(
        &self,
        engine: &Engine,
        action: &str,
        target_type: &str,
        target_id: &str,
    ) {
        let event = self
            .audit_event(action, Outcome::Success)
            .target(target_type, target_id);
        crate::engine::audit::record(engine, event).await;
    }

    /// An audit event with this caller as the actor.
    pub fn audit_event(&self, action: &str, outcome: Outcome) -> NewAuditEvent {
        let mut event = self.ctx.event("user", Some(&self.user_id), action);
        event.outcome = outcome;
        event.details = match &self.via {
            Via::ApiKey(key_id) => json!({ "via": "api_key", "api_key_id": key_id }),
            Via::AccessToken { jti, client_id } => {
                json!({ "via": "access_token", "jti": jti, "client_id": client_id })
            }
            Via::Session => json!({ "via": "session" }),
        };
        event
    }
}

/// Whether `scope` is one of the own realm's `me`-relative scopes (resource `me` or `….me`).
fn is_me_relative(scope: &str, own_realm_prefix: &str) -> bool {
    scope
        .strip_prefix(own_realm_prefix)
        .and_then(|rest| rest.split(':').next())
        .is_some_and(|resource| resource == "me" || resource.ends_with(".me"))
}
