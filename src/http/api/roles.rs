//! `/api/v1/roles`: roles, their scopes and deny patterns, and their members (reference §2.4–2.6).
//!
//! Guards: `role:create`; `role.<id>:read|update|delete`; changing what a role bestows (its scopes,
//! deny patterns, `default` flag, or re-enabling it) needs `role.<id>:update.scopes`; changing its
//! members needs `role.<id>:update.assignments`. The rules (no self-escalation, lifting a deny,
//! lock-out) live in the engine's role commands, which these handlers call.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::domain::id::is_valid_slug;
use crate::domain::role::{NewRole, Role, RolePatch};
use crate::engine::Engine;
use crate::engine::admin::roles;
use crate::engine::listing::next_cursor;
use crate::http::api::common::{Tag, page, timestamp};
use crate::http::api::error::ApiError;
use crate::http::api::security::BearerAuth;
use crate::scopes::ScopeSet;

/// A role.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct RoleDto {
    /// Id (a slug chosen at creation).
    pub id: String,
    /// Display name.
    pub name: String,
    /// What the role is for.
    pub description: Option<String>,
    /// A default role includes every user.
    pub default: bool,
    /// A disabled role bestows nothing.
    pub enabled: bool,
    /// Scope patterns the role bestows.
    pub scopes: Vec<String>,
    /// Deny patterns: a deny always wins over any role's scopes.
    pub deny: Vec<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// A page of roles.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct RoleList {
    /// The roles of this page that the caller may read.
    pub items: Vec<RoleDto>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A new role.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct CreateRoleRequest {
    /// Id: 1–63 of `a-z 0-9 _ -`, starting with a letter or digit.
    pub id: String,
    /// Display name.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
    /// What the role is for.
    #[oai(validator(max_length = 1000))]
    pub description: Option<String>,
    /// Include every user (default false).
    #[oai(default)]
    pub default: bool,
    /// Bestow anything at all (default true).
    pub enabled: Option<bool>,
    /// Scope patterns bestowed (`realm:resource:action`, `*` and `**` globs).
    #[oai(default, validator(max_items = 500))]
    pub scopes: Vec<String>,
    /// Deny patterns.
    #[oai(default, validator(max_items = 500))]
    pub deny: Vec<String>,
}

/// Changes to a role; absent fields stay as they are.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct UpdateRoleRequest {
    /// Display name.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Option<String>,
    /// Description, or null to remove it.
    #[oai(validator(max_length = 1000))]
    pub description: MaybeUndefined<String>,
    /// Include every user (needs `update.scopes`).
    pub default: Option<bool>,
    /// Enable or disable (enabling needs `update.scopes`).
    pub enabled: Option<bool>,
    /// Replace the scopes (needs `update.scopes`).
    #[oai(validator(max_items = 500))]
    pub scopes: Option<Vec<String>>,
    /// Replace the deny patterns (needs `update.scopes`).
    #[oai(validator(max_items = 500))]
    pub deny: Option<Vec<String>>,
}

/// Member user ids of a role.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct MemberList {
    /// User ids.
    pub items: Vec<String>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
enum Created {
    /// The role was created.
    #[oai(status = 201)]
    Created(Json<RoleDto>),
}

#[derive(ApiResponse)]
enum Done {
    /// Done.
    #[oai(status = 204)]
    Done,
}

/// The roles resource.
pub struct RolesApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Roles")]
impl RolesApi {
    /// List the roles the caller may read (`role.<id>:read`), ordered by id. A page and its
    /// `next_cursor` name only roles the caller may read.
    #[oai(path = "/roles", method = "get", operation_id = "listRoles")]
    async fn list(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        /// Only the roles this user is an explicit member of (a user id).
        member: Query<Option<String>>,
        /// Page size, 1–100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<RoleList>, ApiError> {
        let page = page(limit.0, cursor.0);
        let (roles, next) = roles::list(&state, &auth.0, member.0.as_deref(), &page).await?;
        Ok(Json(RoleList {
            items: roles.into_iter().map(role_to_dto).collect(),
            next_cursor: next,
        }))
    }

    /// Create a role (`role:create`; the caller must hold every scope it bestows, and for a
    /// default role every pattern it denies).
    #[oai(path = "/roles", method = "post", operation_id = "createRole")]
    async fn create(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        body: Json<CreateRoleRequest>,
    ) -> Result<Created, ApiError> {
        let p = &auth.0;
        p.require(&state, &p.scope("role", "create"), "role.create")
            .await?;
        let body = body.0;
        if !is_valid_slug(&body.id) {
            return Err(ApiError::invalid_field(
                "id",
                "must be 1–63 of a-z, 0-9, '_' or '-', starting with a letter or digit",
            ));
        }
        let scopes = parse_patterns("scopes", &body.scopes)?;
        let deny = parse_patterns("deny", &body.deny)?;
        let role = roles::create(
            &state,
            p,
            NewRole {
                id: body.id,
                name: body.name,
                description: body.description,
                is_default: body.default,
                enabled: body.enabled.unwrap_or(true),
                scopes: scopes.to_strings(),
                deny: deny.to_strings(),
            },
        )
        .await?;
        Ok(Created::Created(Json(role_to_dto(role))))
    }

    /// Get a role (`role.<id>:read`).
    #[oai(path = "/roles/:id", method = "get", operation_id = "getRole")]
    async fn get(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<RoleDto>, ApiError> {
        Ok(Json(role_to_dto(roles::get(&state, &auth.0, &id.0).await?)))
    }

    /// Change a role (`role.<id>:update`). Scopes, deny, `default`, re-enabling, and disabling a
    /// role that denies something also need `role.<id>:update.scopes`, that the caller holds the
    /// scopes bestowed and the deny patterns lifted, and that an administrator remains.
    #[oai(path = "/roles/:id", method = "patch", operation_id = "updateRole")]
    async fn update(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
        body: Json<UpdateRoleRequest>,
    ) -> Result<Json<RoleDto>, ApiError> {
        let p = &auth.0;
        let id = id.0;
        p.require(&state, &p.scope_on("role", &id, "update"), "role.update")
            .await?;
        let body = body.0;
        let scopes = body
            .scopes
            .as_deref()
            .map(|s| parse_patterns("scopes", s))
            .transpose()?;
        let deny = body
            .deny
            .as_deref()
            .map(|d| parse_patterns("deny", d))
            .transpose()?;
        let patch = RolePatch {
            name: body.name,
            description: match body.description {
                MaybeUndefined::Value(d) => Some(Some(d)),
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Undefined => None,
            },
            is_default: body.default,
            enabled: body.enabled,
            scopes: scopes.map(|s| s.to_strings()),
            deny: deny.map(|d| d.to_strings()),
        };
        Ok(Json(role_to_dto(
            roles::update(&state, p, &id, patch).await?,
        )))
    }

    /// Delete a role (`role.<id>:delete`; the caller must hold the patterns it denies, and an
    /// administrator must remain); its members lose what it bestowed at once.
    #[oai(path = "/roles/:id", method = "delete", operation_id = "deleteRole")]
    async fn delete(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Done, ApiError> {
        roles::delete(&state, &auth.0, &id.0).await?;
        Ok(Done::Done)
    }

    /// List a role's explicit members (`role.<id>:read`).
    #[oai(
        path = "/roles/:id/members",
        method = "get",
        operation_id = "listRoleMembers"
    )]
    async fn members(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
        /// Page size, 1–100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<MemberList>, ApiError> {
        let page = page(limit.0, cursor.0);
        let items = roles::members(&state, &auth.0, &id.0, &page).await?;
        let next = next_cursor(&items, &page, |m| m.as_str());
        Ok(Json(MemberList {
            items,
            next_cursor: next,
        }))
    }

    /// Add a user to a role (`role.<id>:update.assignments`; the caller must hold every scope the
    /// role bestows).
    #[oai(
        path = "/roles/:id/members/:user_id",
        method = "put",
        operation_id = "addRoleMember"
    )]
    async fn add_member(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
        user_id: Path<String>,
    ) -> Result<Done, ApiError> {
        roles::add_member(&state, &auth.0, &id.0, &user_id.0).await?;
        Ok(Done::Done)
    }

    /// Remove a user from a role (`role.<id>:update.assignments`; the caller must hold the
    /// patterns the role denies, and an administrator must remain).
    #[oai(
        path = "/roles/:id/members/:user_id",
        method = "delete",
        operation_id = "removeRoleMember"
    )]
    async fn remove_member(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
        user_id: Path<String>,
    ) -> Result<Done, ApiError> {
        roles::remove_member(&state, &auth.0, &id.0, &user_id.0).await?;
        Ok(Done::Done)
    }
}

/// Validates scope patterns (naming the first invalid one by its index) and simplifies them, the
/// form in which a role stores what it bestows.
pub fn parse_patterns(field: &str, patterns: &[String]) -> Result<ScopeSet, ApiError> {
    Ok(crate::engine::admin::parse_scope_list(field, patterns)?.simplify())
}

fn role_to_dto(r: Role) -> RoleDto {
    RoleDto {
        id: r.id,
        name: r.name,
        description: r.description,
        default: r.is_default,
        enabled: r.enabled,
        scopes: r.scopes,
        deny: r.deny,
        created_at: timestamp(r.created_at),
        updated_at: timestamp(r.updated_at),
    }
}
