//! `/api/v1/users/{user_id}/grants` and `/api/v1/grants/{id}`: users' consents to clients (reference §1,
//! §2.6).
//!
//! The rules (scopes, what withdrawing revokes) are the commands' in
//! [`crate::engine::admin::grants`].

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::domain::grant::Grant;
use crate::engine::Engine;
use crate::engine::admin::grants;
use crate::http::api::common::{Tag, page, timestamp};
use crate::http::api::error::ApiError;
use crate::http::api::security::BearerAuth;

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
        let page = page(limit.0, cursor.0);
        let (grants, next) = grants::list(&state, &auth.0, &user_id.0, client_id.0, &page).await?;
        Ok(Json(GrantList {
            items: grants.into_iter().map(grant_to_dto).collect(),
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
        Ok(Json(grant_to_dto(
            grants::get(&state, &auth.0, &id.0).await?,
        )))
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
        grants::delete(&state, &auth.0, &id.0).await?;
        Ok(Deleted::Deleted)
    }
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
