//! `/api/v1/users/{user_id}/grants` and `/api/v1/grants/{id}`: users' consents to clients (reference §1,
//! §2.6).
//!
//! Scopes: `AuthX:grant.<client_id>.user:read|delete` for anyone's grants, or
//! `AuthX:grant.<client_id>.me:read|delete` for one's own. Deleting a grant revokes it: its
//! authorization codes and refresh tokens go with it.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::domain::audit::Outcome;
use crate::domain::grant::{Grant, GrantFilter};
use crate::engine::Engine;
use crate::engine::actor::Actor;
use crate::http::api::common::{Tag, page, timestamp};
use crate::http::api::error::ApiError;
use crate::http::api::security::BearerAuth;
use crate::store::StoreError;

/// A user's consent to a client.
#[derive(Object, Debug, Clone)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct GrantDto {
    /// Id (UUID).
    pub id: String,
    /// The user who consented.
    pub user_id: String,
    /// The client consented to.
    pub client_id: String,
    /// The consented scope patterns.
    pub scopes: Vec<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// A page of grants.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct GrantList {
    /// The grants of this page the caller may read.
    pub items: Vec<GrantDto>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
enum Deleted {
    /// The grant is revoked, with its codes and refresh tokens.
    #[oai(status = 204)]
    Deleted,
}

/// The grants resource.
pub struct GrantsApi;

/// The scopes allowing `action` on a grant to `client` of `user_id`.
fn grant_scopes(p: &Actor, client: &str, user_id: &str, action: &str) -> Vec<String> {
    let mut scopes = vec![p.scope(&format!("grant.{client}.user"), action)];
    if user_id == p.user_id {
        scopes.push(p.scope(&format!("grant.{client}.me"), action));
    }
    scopes
}

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Grants")]
impl GrantsApi {
    /// List a user's grants: those to clients the caller may read for that user
    /// (`grant.<client>.user:read`, or `.me:read` for oneself).
    #[oai(
        path = "/users/:user_id/grants",
        method = "get",
        operation_id = "listUserGrants"
    )]
    async fn list(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        user_id: Path<String>,
        /// Only the grant to this client.
        client_id: Query<Option<String>>,
        /// Page size, 1–100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<GrantList>, ApiError> {
        let p = &auth.0;
        let user_id = user_id.0;
        let patterns = grant_scopes(p, "*", &user_id, "read");
        if !patterns.iter().any(|s| p.may_some(s)) {
            p.refuse(&state, vec![patterns[0].clone()], "grant.list")
                .await?;
        }
        if state.store.get_user(&user_id).await?.is_none() {
            return Err(ApiError::not_found(format!("no user '{user_id}'")));
        }
        let page = page(limit.0, cursor.0);
        let engine: &Engine = &state;
        let filter = GrantFilter {
            user_id: Some(user_id.clone()),
            client_id: client_id.0,
        };
        let filter = &filter;
        let (grants, next) = crate::engine::listing::visible_page(
            &page,
            |page| async move { engine.store.list_grants(filter, &page).await },
            |g| {
                grant_scopes(p, &g.client_id, &user_id, "read")
                    .iter()
                    .any(|s| p.may(s))
            },
            |g| g.id.as_str(),
        )
        .await?;
        let items = grants.into_iter().map(grant_to_dto).collect();
        Ok(Json(GrantList {
            items,
            next_cursor: next,
        }))
    }

    /// Get a grant (`grant.<client>.user:read`, or `.me:read` for one's own).
    #[oai(path = "/grants/:id", method = "get", operation_id = "getGrant")]
    async fn get(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<GrantDto>, ApiError> {
        let grant = load(&state, &auth.0, &id.0, "read", "grant.read").await?;
        Ok(Json(grant_to_dto(grant)))
    }

    /// Revoke a grant with its authorization codes and refresh tokens
    /// (`grant.<client>.user:delete`, or `.me:delete` for one's own).
    #[oai(path = "/grants/:id", method = "delete", operation_id = "deleteGrant")]
    async fn delete(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Deleted, ApiError> {
        let p = &auth.0;
        let grant = load(&state, p, &id.0, "delete", "grant.delete").await?;
        state
            .store
            .delete_grant(&grant.id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => ApiError::not_found(format!("no grant '{}'", grant.id)),
                e => e.into(),
            })?;
        let mut event = p
            .audit_event("grant.delete", Outcome::Success)
            .target("grant", &grant.id);
        if let Some(details) = event.details.as_object_mut() {
            details.insert("client_id".to_owned(), grant.client_id.clone().into());
            details.insert("user_id".to_owned(), grant.user_id.clone().into());
        }
        crate::engine::audit::record(&state, event).await;
        Ok(Deleted::Deleted)
    }
}

/// Loads grant `id` and checks that the caller may do `action` on it.
async fn load(
    state: &Engine,
    p: &Actor,
    id: &str,
    action: &str,
    audit_action: &str,
) -> Result<Grant, ApiError> {
    let Some(grant) = state.store.get_grant(id).await? else {
        let pattern = p.scope("grant.*.user", action);
        return Err(p
            .missing(state, pattern, audit_action, format!("no grant '{id}'"))
            .await
            .into());
    };
    let scopes = grant_scopes(p, &grant.client_id, &grant.user_id, action);
    p.require_any(state, &scopes, audit_action).await?;
    Ok(grant)
}

/// A stored grant as the API shows it.
pub fn grant_to_dto(g: Grant) -> GrantDto {
    GrantDto {
        id: g.id,
        user_id: g.user_id,
        client_id: g.client_id,
        scopes: g.scopes,
        created_at: timestamp(g.created_at),
        updated_at: timestamp(g.updated_at),
    }
}
