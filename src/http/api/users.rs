//! `/api/v1/users` and `/api/v1/me`: people and service accounts (reference §1, §2.6).
//!
//! Every operation on a user needs `AuthX:user:<action>`, or `AuthX:me:<action>` when the target is
//! the caller; lists show everyone to `user:read` and only the caller to `me:read`.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use crate::domain::user::{
    NewUser, Profile, ProfileName, ProfileValue, User, UserFilter, UserKind, UserPatch, UserStatus,
};
use crate::engine::Engine;
use crate::engine::actor::Actor;
use crate::engine::admin::users;
use crate::http::api::common::{Tag, page, timestamp};
use crate::http::api::error::ApiError;
use crate::http::api::security::BearerAuth;

/// Whether a user may log in and act.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum UserStatusDto {
    /// May log in and act.
    Active,
    /// Has no access at all.
    Disabled,
}

/// What a user is.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum UserKindDto {
    /// A person.
    Human,
    /// A client's service account.
    Machine,
}

/// A Portable Contacts profile. Not verified; never used for authentication.
#[derive(Object, Debug, Clone, Default)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct ProfileDto {
    /// How the user is shown.
    #[oai(skip_serializing_if_is_none, validator(max_length = 200))]
    pub display_name: Option<String>,
    /// Name parts.
    #[oai(skip_serializing_if_is_none)]
    pub name: Option<NameDto>,
    /// Email addresses (unverified; verified ones are email credentials).
    #[oai(default, validator(max_items = 20))]
    pub emails: Vec<ValueDto>,
    /// Photo URLs.
    #[oai(default, validator(max_items = 20))]
    pub photos: Vec<ValueDto>,
}

/// Portable Contacts `name`.
#[derive(Object, Debug, Clone, Default)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct NameDto {
    /// The full name.
    #[oai(skip_serializing_if_is_none, validator(max_length = 200))]
    pub formatted: Option<String>,
    /// Given name.
    #[oai(skip_serializing_if_is_none, validator(max_length = 100))]
    pub given_name: Option<String>,
    /// Family name.
    #[oai(skip_serializing_if_is_none, validator(max_length = 100))]
    pub family_name: Option<String>,
}

/// A Portable Contacts plural-field entry.
#[derive(Object, Debug, Clone, Default)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct ValueDto {
    /// The value (an address, a URL).
    #[oai(validator(max_length = 2000))]
    pub value: String,
    /// `work`, `home`, …
    #[oai(
        rename = "type",
        skip_serializing_if_is_none,
        validator(max_length = 50)
    )]
    pub kind: Option<String>,
    /// The preferred entry.
    #[oai(default)]
    pub primary: bool,
}

/// A user.
#[derive(Object, Debug, Clone)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct UserDto {
    /// Id (UUID).
    pub id: String,
    /// Person or service account.
    pub kind: UserKindDto,
    /// Active or disabled.
    pub status: UserStatusDto,
    /// Login name for the password authority, if any.
    pub username: Option<String>,
    /// Primary email address (lower-case).
    pub email: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// Profile.
    pub profile: ProfileDto,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// A page of users.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct UserList {
    /// The users of this page.
    pub items: Vec<UserDto>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A new user.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct CreateUserRequest {
    /// Person (default) or service account.
    pub kind: Option<UserKindDto>,
    /// Active (default) or disabled.
    pub status: Option<UserStatusDto>,
    /// Login name: 1–64 of `a-z 0-9 . _ -` (stored lower-case).
    pub username: Option<String>,
    /// Primary email address.
    pub email: Option<String>,
    /// Display name.
    #[oai(validator(max_length = 200))]
    pub display_name: Option<String>,
    /// Profile.
    pub profile: Option<ProfileDto>,
}

/// Changes to a user; absent fields stay as they are, `null` clears.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct UpdateUserRequest {
    /// Active or disabled.
    pub status: Option<UserStatusDto>,
    /// Login name, or null to remove it.
    pub username: MaybeUndefined<String>,
    /// Primary email address, or null.
    pub email: MaybeUndefined<String>,
    /// Display name, or null.
    #[oai(validator(max_length = 200))]
    pub display_name: MaybeUndefined<String>,
    /// The whole profile (replaces the stored one).
    pub profile: Option<ProfileDto>,
}

#[derive(ApiResponse)]
enum Created {
    /// The user was created.
    #[oai(status = 201)]
    Created(Json<UserDto>),
}

#[derive(ApiResponse)]
enum Deleted {
    /// The user and everything that belonged to them are gone.
    #[oai(status = 204)]
    Deleted,
}

/// The users resource.
pub struct UsersApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Users")]
impl UsersApi {
    /// List users, filtered and paginated. `user:read` sees everyone; `me:read` only oneself.
    #[oai(path = "/users", method = "get", operation_id = "listUsers")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        /// The address the user signs in with (an email credential) or their primary email.
        email: Query<Option<String>>,
        /// Exact username.
        username: Query<Option<String>>,
        /// Case-insensitive part of the display name or username.
        name: Query<Option<String>>,
        /// Only users with this status.
        status: Query<Option<UserStatusDto>>,
        /// Only explicit members of this role.
        role: Query<Option<String>>,
        /// Page size, 1–100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<UserList>, ApiError> {
        let filter = UserFilter {
            id: None,
            email: email.0.map(|e| crate::address::fold(&e)),
            username: username.0,
            name: name.0,
            status: status.0.map(status_from_dto),
            role_id: role.0,
        };
        let page = page(limit.0, cursor.0);
        let (users, next) = users::list(&state, &auth.0, filter, &page).await?;
        Ok(Json(UserList {
            items: users.into_iter().map(user_to_dto).collect(),
            next_cursor: next,
        }))
    }

    /// Create a user (`user:create`).
    #[oai(path = "/users", method = "post", operation_id = "createUser")]
    async fn create(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        body: Json<CreateUserRequest>,
    ) -> Result<Created, ApiError> {
        let body = body.0;
        let user = NewUser {
            kind: body.kind.map(kind_from_dto).unwrap_or(UserKind::Human),
            status: body
                .status
                .map(status_from_dto)
                .unwrap_or(UserStatus::Active),
            username: body.username,
            email: body.email,
            display_name: body.display_name,
            profile: body.profile.map(profile_from_dto).unwrap_or_default(),
        };
        let user = users::create(&state, &auth.0, user).await?;
        Ok(Created::Created(Json(user_to_dto(user))))
    }

    /// Get a user (`user:read`, or `me:read` for oneself).
    #[oai(path = "/users/:id", method = "get", operation_id = "getUser")]
    async fn get(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<UserDto>, ApiError> {
        get_user(&state, &auth.0, &id.0).await
    }

    /// Change a user (`user:update`, or `me:update` for oneself).
    #[oai(path = "/users/:id", method = "patch", operation_id = "updateUser")]
    async fn update(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
        body: Json<UpdateUserRequest>,
    ) -> Result<Json<UserDto>, ApiError> {
        update_user(&state, &auth.0, &id.0, body.0).await
    }

    /// Delete a user with their credentials, grants, tokens and keys (`user:delete`, or
    /// `me:delete` for oneself).
    #[oai(path = "/users/:id", method = "delete", operation_id = "deleteUser")]
    async fn delete(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Deleted, ApiError> {
        delete_user(&state, &auth.0, &id.0).await
    }
}

/// The `me` resource: the calling user.
pub struct MeApi;

/// The caller and what they may do.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct MeDto {
    /// The user.
    pub user: UserDto,
    /// The caller's effective scopes now (narrowed to the credential used).
    pub scopes: Vec<String>,
    /// Deny patterns that apply to them.
    pub deny: Vec<String>,
}

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Me")]
impl MeApi {
    /// The calling user and their effective access (`me:read`).
    #[oai(path = "/me", method = "get", operation_id = "getMe")]
    async fn get(&self, state: Data<&Engine>, auth: BearerAuth) -> Result<Json<MeDto>, ApiError> {
        let p = &auth.0;
        let user = get_user(&state, p, &p.user_id).await?.0;
        Ok(Json(MeDto {
            user,
            scopes: p.access.scopes.to_strings(),
            deny: p.access.deny.to_strings(),
        }))
    }

    /// Change one's own profile (`me:update`).
    #[oai(path = "/me", method = "patch", operation_id = "updateMe")]
    async fn update(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        body: Json<UpdateUserRequest>,
    ) -> Result<Json<UserDto>, ApiError> {
        let id = auth.0.user_id.clone();
        update_user(&state, &auth.0, &id, body.0).await
    }

    /// Delete one's own account (`me:delete`).
    #[oai(path = "/me", method = "delete", operation_id = "deleteMe")]
    async fn delete(&self, state: Data<&Engine>, auth: BearerAuth) -> Result<Deleted, ApiError> {
        let id = auth.0.user_id.clone();
        delete_user(&state, &auth.0, &id).await
    }
}

/// `MaybeUndefined` as a patch field: absent keeps, `null` clears, a value sets.
fn patch_field<T>(field: MaybeUndefined<T>) -> Option<Option<T>> {
    match field {
        MaybeUndefined::Value(v) => Some(Some(v)),
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Undefined => None,
    }
}

async fn get_user(state: &Engine, p: &Actor, id: &str) -> Result<Json<UserDto>, ApiError> {
    Ok(Json(user_to_dto(users::get(state, p, id).await?)))
}

async fn update_user(
    state: &Engine,
    p: &Actor,
    id: &str,
    body: UpdateUserRequest,
) -> Result<Json<UserDto>, ApiError> {
    let patch = UserPatch {
        status: body.status.map(status_from_dto),
        username: patch_field(body.username),
        email: patch_field(body.email),
        display_name: patch_field(body.display_name),
        profile: body.profile.map(profile_from_dto),
    };
    let user = users::update(state, p, id, patch).await?;
    Ok(Json(user_to_dto(user)))
}

async fn delete_user(state: &Engine, p: &Actor, id: &str) -> Result<Deleted, ApiError> {
    users::delete(state, p, id).await?;
    Ok(Deleted::Deleted)
}

fn status_from_dto(s: UserStatusDto) -> UserStatus {
    match s {
        UserStatusDto::Active => UserStatus::Active,
        UserStatusDto::Disabled => UserStatus::Disabled,
    }
}

fn kind_from_dto(k: UserKindDto) -> UserKind {
    match k {
        UserKindDto::Human => UserKind::Human,
        UserKindDto::Machine => UserKind::Machine,
    }
}

/// A stored user as the API shows it.
pub fn user_to_dto(u: User) -> UserDto {
    UserDto {
        id: u.id,
        kind: match u.kind {
            UserKind::Human => UserKindDto::Human,
            UserKind::Machine => UserKindDto::Machine,
        },
        status: match u.status {
            UserStatus::Active => UserStatusDto::Active,
            UserStatus::Disabled => UserStatusDto::Disabled,
        },
        username: u.username,
        email: u.email,
        display_name: u.display_name,
        profile: profile_to_dto(u.profile),
        created_at: timestamp(u.created_at),
        updated_at: timestamp(u.updated_at),
    }
}

fn profile_to_dto(p: Profile) -> ProfileDto {
    let value = |v: ProfileValue| ValueDto {
        value: v.value,
        kind: v.kind,
        primary: v.primary,
    };
    ProfileDto {
        display_name: p.display_name,
        name: p.name.map(|n| NameDto {
            formatted: n.formatted,
            given_name: n.given_name,
            family_name: n.family_name,
        }),
        emails: p.emails.into_iter().map(value).collect(),
        photos: p.photos.into_iter().map(value).collect(),
    }
}

fn profile_from_dto(p: ProfileDto) -> Profile {
    let value = |v: ValueDto| ProfileValue {
        value: v.value,
        kind: v.kind,
        primary: v.primary,
    };
    Profile {
        display_name: p.display_name,
        name: p.name.map(|n| ProfileName {
            formatted: n.formatted,
            given_name: n.given_name,
            family_name: n.family_name,
        }),
        emails: p.emails.into_iter().map(value).collect(),
        photos: p.photos.into_iter().map(value).collect(),
    }
}
