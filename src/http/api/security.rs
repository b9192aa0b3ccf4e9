//! Who is calling the admin API, and what they may do: obtaining the [`Principal`] *is* the
//! authentication, and [`Principal::require`] is the authorization check every handler makes.
//!
//! Callers present `Authorization: Bearer <credential>`: an API key (`axk_…`) or one of authx's
//! own JWT access tokens (the scheme is the same; the token format tells them apart). Access is
//! computed from live data on every request — the owner's current roles narrowed to the key's or
//! token's scopes — so a revoked key or token, a removed role or a disabled user takes effect on
//! the next call, on every node.

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;
use serde_json::json;

use crate::domain::access::Access;
use crate::domain::audit::{NewAuditEvent, Outcome};
use crate::domain::now;
use crate::engine::Engine;
use crate::http::api::error::ApiError;
use crate::scopes::ScopeSet;
use crate::secret;

/// How the caller authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// An API key, by id.
    ApiKey(String),
    /// An OAuth 2.0 access token (JWT), by `jti`, issued to `client_id`.
    AccessToken { jti: String, client_id: String },
}

/// An authenticated caller of the admin API.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user the credential belongs to.
    pub user_id: String,
    /// The credential used.
    pub via: Via,
    /// What the caller may do now (the owner's access narrowed to the credential's scopes).
    pub access: Access,
    /// Where the request came from, for audit events.
    pub ip: Option<String>,
    /// The request id, for audit events.
    pub request_id: Option<String>,
    realm: String,
}

/// Bearer authentication with an API key (`axk_…`) or an authx access token.
#[derive(SecurityScheme)]
#[oai(
    ty = "bearer",
    bearer_format = "API key (axk_…) or JWT access token",
    checker = "authenticate"
)]
pub struct BearerAuth(pub Principal);

/// One message for every failed authentication, so a caller learns nothing about which part failed.
const INVALID: &str = "the bearer credential is invalid, expired or revoked";

async fn authenticate(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    let state = req
        .data::<Engine>()
        .ok_or_else(|| poem::Error::from(ApiError::unauthenticated(INVALID)))?;
    let token = bearer.token;
    let principal = if token.starts_with(secret::API_KEY_PREFIX) {
        from_api_key(state, &token).await?
    } else {
        from_access_token(state, &token).await?
    };
    let mut principal =
        principal.ok_or_else(|| poem::Error::from(ApiError::unauthenticated(INVALID)))?;
    principal.ip = req
        .remote_addr()
        .as_socket_addr()
        .map(|a| a.ip().to_string());
    principal.request_id = req
        .data::<crate::http::request_id::RequestId>()
        .map(|r| r.0.clone());
    Ok(principal)
}

async fn from_api_key(state: &Engine, token: &str) -> Result<Option<Principal>, ApiError> {
    let Some(key) = state
        .store
        .find_api_key_by_hash(&secret::hash(token))
        .await?
    else {
        return Ok(None);
    };
    // A key limited to some clients is meant for those services, not for administering authx.
    if !key.is_active(now()) || !key.clients.is_empty() {
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
    Ok(Some(Principal {
        user_id: key.user_id,
        via: Via::ApiKey(key.id),
        access: owner_access.narrowed_to(&key_scopes),
        ip: None,
        request_id: None,
        realm: state.config.realm.clone(),
    }))
}

async fn from_access_token(state: &Engine, token: &str) -> Result<Option<Principal>, ApiError> {
    let Some(active) = crate::engine::oauth2::bearer::verify_access_token(state, token).await?
    else {
        return Ok(None);
    };
    Ok(Some(Principal {
        user_id: active.claims.sub,
        via: Via::AccessToken {
            jti: active.claims.jti,
            client_id: active.claims.client_id,
        },
        access: active.access,
        ip: None,
        request_id: None,
        realm: state.config.realm.clone(),
    }))
}

impl Principal {
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
    pub async fn require(&self, state: &Engine, scope: &str, action: &str) -> Result<(), ApiError> {
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
    ) -> Result<(), ApiError> {
        if scopes.iter().any(|s| self.may(s)) {
            return Ok(());
        }
        self.refuse(state, scopes.iter().take(1).cloned().collect(), action)
            .await
    }

    /// Succeeds when the caller's own access allows every pattern of `bestowed` (no self-escalation,
    /// SPEC §2.6); otherwise 403 naming the patterns the caller does not hold.
    pub async fn require_covers(
        &self,
        state: &Engine,
        bestowed: &ScopeSet,
        action: &str,
    ) -> Result<(), ApiError> {
        let missing = self.access.not_allowed(bestowed);
        if missing.is_empty() {
            return Ok(());
        }
        self.refuse(state, missing, action).await
    }

    /// Records a refused call and returns the 403 for it.
    pub async fn refuse(
        &self,
        state: &Engine,
        missing: Vec<String>,
        action: &str,
    ) -> Result<(), ApiError> {
        let mut event = self.audit_event(action, Outcome::Denied);
        event.details = json!({ "missing_scopes": missing });
        crate::engine::audit::record(state, event).await;
        Err(ApiError::forbidden(missing))
    }

    /// An audit event with this caller as the actor.
    pub fn audit_event(&self, action: &str, outcome: Outcome) -> NewAuditEvent {
        let mut event = NewAuditEvent::new("user", Some(&self.user_id), action);
        event.outcome = outcome;
        event.ip = self.ip.clone();
        event.request_id = self.request_id.clone();
        event.details = match &self.via {
            Via::ApiKey(key_id) => json!({ "via": "api_key", "api_key_id": key_id }),
            Via::AccessToken { jti, client_id } => {
                json!({ "via": "access_token", "jti": jti, "client_id": client_id })
            }
        };
        event
    }
}
