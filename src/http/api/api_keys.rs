//! `/api/v1/me/api-keys` and `/api/v1/api-keys`: personal API keys (reference §5, Ego's "API keys").
//!
//! A user issues themself a key for some of their scopes (`AuthX:apikey.me:create`); every scope
//! asked for must be allowed by the caller's current access — a caller authenticated by a key acts
//! with that key's narrowed access, so a key can only mint keys within itself. The secret (`axk_…`,
//! 256 random bits) is returned once, by the create call, and stored as its SHA-256; lists and
//! gets show metadata only. Owners list and revoke their keys (`apikey.me:read|delete`);
//! administrators list and revoke anyone's (`apikey.user:read|delete`).

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::domain::api_key::{ApiKey, ApiKeyFilter};
use crate::domain::audit::Outcome;
use crate::domain::now;
use crate::engine::Engine;
use crate::engine::admin::api_keys::{self, IssueError, IssueRequest};
use crate::http::api::common::{Tag, page, timestamp, timestamp_opt};
use crate::http::api::error::ApiError;
use crate::http::api::security::BearerAuth;

/// An API key's metadata (never its secret).
#[derive(Object, Debug, Clone)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct ApiKeyDto {
    /// Id (UUID).
    pub id: String,
    /// The owner.
    pub user_id: String,
    /// The first characters of the secret, to recognise it.
    pub hint: String,
    /// What the key is for.
    pub description: Option<String>,
    /// The scope patterns of the key; what it allows at any moment is these ∩ the owner's
    /// access at that moment.
    pub scopes: Vec<String>,
    /// Client ids the key is limited to; empty: any client.
    pub clients: Vec<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Expiry (RFC 3339).
    pub expires_at: String,
    /// Revocation time (RFC 3339), if revoked.
    pub revoked_at: Option<String>,
}

/// A newly issued key: the only answer that carries the secret.
#[derive(Object, Debug, Clone)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct IssuedApiKeyDto {
    /// Id (UUID).
    pub id: String,
    /// The key itself (`axk_…`). Shown only this once: store it now.
    pub secret: String,
    /// The first characters of the secret, as lists show them.
    pub hint: String,
    /// The owner.
    pub user_id: String,
    /// The scope patterns of the key (normalised and simplified).
    pub scopes: Vec<String>,
    /// Client ids the key is limited to; empty: any client.
    pub clients: Vec<String>,
    /// What the key is for.
    pub description: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Expiry (RFC 3339).
    pub expires_at: String,
}

/// A page of API keys.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct ApiKeyList {
    /// The keys of this page.
    pub items: Vec<ApiKeyDto>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A key to issue.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct CreateApiKeyRequest {
    /// Scope patterns (`realm:resource:action`), each allowed by the caller's current access.
    pub scopes: Vec<String>,
    /// What the key is for.
    #[oai(validator(max_length = 200))]
    pub description: Option<String>,
    /// Limit the key to these clients (ids of existing clients); absent or empty: any client.
    pub clients: Option<Vec<String>>,
    /// Life in seconds, from 1 to the configured maximum (`api_keys.max_ttl_secs`, 30 days by
    /// default); absent: `api_keys.default_ttl_secs` (24 hours by default).
    pub expires_in: Option<i64>,
}

#[derive(ApiResponse)]
enum Issued {
    /// The key was issued; `secret` is shown only this once.
    #[oai(status = 201)]
    Created(Json<IssuedApiKeyDto>),
}

#[derive(ApiResponse)]
enum Revoked {
    /// The key is revoked (or already was); it stops working at once.
    #[oai(status = 204)]
    Revoked,
}

/// The caller's own API keys.
pub struct MyApiKeysApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::ApiKeys")]
impl MyApiKeysApi {
    /// Issue oneself an API key (`apikey.me:create`) for scopes one's current access allows.
    #[oai(
        path = "/me/api-keys",
        method = "post",
        operation_id = "createMyApiKey"
    )]
    async fn create(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        body: Json<CreateApiKeyRequest>,
    ) -> Result<Issued, ApiError> {
        let p = &auth.0;
        p.require(&state, &p.scope("apikey.me", "create"), "apikey.create")
            .await?;
        let body = body.0;
        // The rules (valid scopes, covered by the caller's current access, known clients, bounded
        // life) are shared with the account page.
        let request = IssueRequest {
            scopes: body.scopes,
            description: body.description,
            clients: body.clients.unwrap_or_default(),
            expires_in: body.expires_in,
            audit: Some(p.audit_event("apikey.issue", Outcome::Success)),
        };
        let issued = api_keys::issue(&state, &p.user_id, &p.access, request)
            .await
            .map_err(|e| match e {
                IssueError::Invalid { field, message } => ApiError::invalid_field(field, message),
                IssueError::Uncovered(missing) => ApiError::forbidden(missing),
                IssueError::Store(e) => e.into(),
            })?;
        let (stored, key) = (issued.key, issued.secret);
        Ok(Issued::Created(Json(IssuedApiKeyDto {
            id: stored.id,
            secret: key,
            hint: stored.hint,
            user_id: stored.user_id,
            scopes: stored.scopes,
            clients: stored.clients,
            description: stored.description,
            created_at: timestamp(stored.created_at),
            expires_at: timestamp(stored.expires_at),
        })))
    }

    /// List one's own API keys (`apikey.me:read`), metadata only; revoked ones on request.
    #[oai(path = "/me/api-keys", method = "get", operation_id = "listMyApiKeys")]
    async fn list(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        /// Also list revoked keys.
        include_revoked: Query<Option<bool>>,
        /// Page size, 1–100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<ApiKeyList>, ApiError> {
        let page = page(limit.0, cursor.0);
        let own = api_keys::list_own(&state, &auth.0, include_revoked.0.unwrap_or(false), &page);
        Ok(key_list(own.await?))
    }

    /// Get one of one's own API keys (`apikey.me:read`), metadata only.
    #[oai(
        path = "/me/api-keys/:id",
        method = "get",
        operation_id = "getMyApiKey"
    )]
    async fn get(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<ApiKeyDto>, ApiError> {
        Ok(Json(key_to_dto(
            api_keys::get_own(&state, &auth.0, &id.0).await?,
        )))
    }

    /// Revoke one of one's own API keys (`apikey.me:delete`); it stops working at once.
    #[oai(
        path = "/me/api-keys/:id",
        method = "delete",
        operation_id = "revokeMyApiKey"
    )]
    async fn revoke(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Revoked, ApiError> {
        api_keys::revoke_own(&state, &auth.0, &id.0, now()).await?;
        Ok(Revoked::Revoked)
    }
}

/// Everyone's API keys, for administrators.
pub struct ApiKeysApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::ApiKeys")]
impl ApiKeysApi {
    /// List API keys of every user or of one (`apikey.user:read`), metadata only.
    ///
    /// A caller with only `apikey.me:read` sees their own keys.
    #[oai(path = "/api-keys", method = "get", operation_id = "listApiKeys")]
    async fn list(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        /// Only this user's keys.
        user_id: Query<Option<String>>,
        /// Also list revoked keys.
        include_revoked: Query<Option<bool>>,
        /// Page size, 1–100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<ApiKeyList>, ApiError> {
        let filter = ApiKeyFilter {
            user_id: user_id.0.filter(|u| !u.is_empty()),
            include_revoked: include_revoked.0.unwrap_or(false),
        };
        let page = page(limit.0, cursor.0);
        Ok(key_list(
            api_keys::list(&state, &auth.0, filter, &page).await?,
        ))
    }

    /// Get any user's API key (`apikey.user:read`), metadata only.
    ///
    /// `apikey.me:read` is enough for one's own key.
    #[oai(path = "/api-keys/:id", method = "get", operation_id = "getApiKey")]
    async fn get(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<ApiKeyDto>, ApiError> {
        Ok(Json(key_to_dto(
            api_keys::get(&state, &auth.0, &id.0).await?,
        )))
    }

    /// Revoke any user's API key (`apikey.user:delete`); it stops working at once.
    ///
    /// `apikey.me:delete` is enough for one's own key.
    #[oai(
        path = "/api-keys/:id",
        method = "delete",
        operation_id = "revokeApiKey"
    )]
    async fn revoke(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Revoked, ApiError> {
        api_keys::revoke(&state, &auth.0, &id.0, now()).await?;
        Ok(Revoked::Revoked)
    }
}

fn key_list((keys, next): (Vec<ApiKey>, Option<String>)) -> Json<ApiKeyList> {
    Json(ApiKeyList {
        items: keys.into_iter().map(key_to_dto).collect(),
        next_cursor: next,
    })
}

/// A stored key as the API shows it.
pub fn key_to_dto(k: ApiKey) -> ApiKeyDto {
    ApiKeyDto {
        id: k.id,
        user_id: k.user_id,
        hint: k.hint,
        description: k.description,
        scopes: k.scopes,
        clients: k.clients,
        created_at: timestamp(k.created_at),
        expires_at: timestamp(k.expires_at),
        revoked_at: timestamp_opt(k.revoked_at),
    }
}
