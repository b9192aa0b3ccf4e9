//! `/api/v1/users/{user_id}/credentials` and `/api/v1/credentials/{id}`: links between users and
//! authorities (SPEC §1, §2.6).
//!
//! Scopes: `AuthX:credential.<authority_id>.user:<action>` for anyone's credentials, or
//! `AuthX:credential.<authority_id>.me:<action>` for one's own. Answers never include a
//! credential's `details` (they hold a bcrypt hash or an upstream profile snapshot).

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::json;

use crate::domain::audit::Outcome;
use crate::domain::authority::Strategy;
use crate::domain::credential::{Credential, NewCredential};
use crate::engine::Engine;
use crate::http::api::common::{Tag, timestamp, timestamp_opt};
use crate::http::api::error::ApiError;
use crate::http::api::security::{BearerAuth, Principal};
use crate::store::StoreError;

/// A link between a user and an authority (its secret details are never shown).
#[derive(Object, Debug, Clone)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct CredentialDto {
    /// Id (UUID).
    pub id: String,
    /// The user it belongs to.
    pub user_id: String,
    /// The authority it is for.
    pub authority_id: String,
    /// The identity at the authority: an email address, an OIDC `sub`, a SAML NameID, or the
    /// user id for passwords.
    pub authority_user_id: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
    /// Last successful login with it (RFC 3339).
    pub last_used_at: Option<String>,
}

/// A user's credentials.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct CredentialList {
    /// The credentials the caller may read, ordered by id.
    pub items: Vec<CredentialDto>,
}

/// A new credential for a user.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct CreateCredentialRequest {
    /// The authority (must exist).
    #[oai(validator(min_length = 1, max_length = 63))]
    pub authority_id: String,
    /// The identity at the authority: for `password` the user id (the default), for `email` an
    /// address, for `google`/`saml` the upstream subject.
    #[oai(validator(max_length = 512))]
    pub authority_user_id: Option<String>,
    /// The password, for a `password` authority (required there, refused elsewhere).
    pub password: Option<String>,
}

#[derive(ApiResponse)]
enum Created {
    /// The credential was created.
    #[oai(status = 201)]
    Created(Json<CredentialDto>),
}

#[derive(ApiResponse)]
enum Deleted {
    /// The credential is gone.
    #[oai(status = 204)]
    Deleted,
}

/// The credentials resource.
pub struct CredentialsApi;

/// The scopes allowing `action` on a credential of `authority` belonging to `user_id`.
fn credential_scopes(p: &Principal, authority: &str, user_id: &str, action: &str) -> Vec<String> {
    let mut scopes = vec![p.scope(&format!("credential.{authority}.user"), action)];
    if user_id == p.user_id {
        scopes.push(p.scope(&format!("credential.{authority}.me"), action));
    }
    scopes
}

/// The answer for an id that does not exist: 404 to a caller who may act on such resources of
/// anyone (`pattern`, e.g. `credential.*.user:read`), otherwise the same 403 an existing resource
/// of someone else would get, so nothing is revealed.
pub(crate) async fn missing(
    state: &Engine,
    p: &Principal,
    pattern: String,
    audit_action: &str,
    what: String,
) -> ApiError {
    if p.may_some(&pattern) {
        return ApiError::not_found(what);
    }
    match p.refuse(state, vec![pattern], audit_action).await {
        Err(e) => e,
        Ok(()) => ApiError::forbidden(Vec::new()),
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Credentials")]
impl CredentialsApi {
    /// List a user's credentials: those at authorities the caller may read for that user
    /// (`credential.<authority>.user:read`, or `.me:read` for oneself).
    #[oai(
        path = "/users/:user_id/credentials",
        method = "get",
        operation_id = "listUserCredentials"
    )]
    async fn list(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        user_id: Path<String>,
    ) -> Result<Json<CredentialList>, ApiError> {
        let p = &auth.0;
        let user_id = user_id.0;
        let patterns = credential_scopes(p, "*", &user_id, "read");
        if !patterns.iter().any(|s| p.may_some(s)) {
            p.refuse(&state, vec![patterns[0].clone()], "credential.list")
                .await?;
        }
        if state.store.get_user(&user_id).await?.is_none() {
            return Err(ApiError::not_found(format!("no user '{user_id}'")));
        }
        let items = state
            .store
            .list_credentials_of_user(&user_id)
            .await?
            .into_iter()
            .filter(|c| {
                credential_scopes(p, &c.authority_id, &user_id, "read")
                    .iter()
                    .any(|s| p.may(s))
            })
            .map(credential_to_dto)
            .collect();
        Ok(Json(CredentialList { items }))
    }

    /// Add a credential to a user (`credential.<authority>.user:create`, or `.me:create` for
    /// oneself). A `password` credential takes the password (checked against the policy, stored
    /// as a bcrypt hash); an `email` credential takes the address.
    #[oai(
        path = "/users/:user_id/credentials",
        method = "post",
        operation_id = "createCredential"
    )]
    async fn create(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        user_id: Path<String>,
        body: Json<CreateCredentialRequest>,
    ) -> Result<Created, ApiError> {
        let p = &auth.0;
        let user_id = user_id.0;
        let body = body.0;
        let scopes = credential_scopes(p, &body.authority_id, &user_id, "create");
        p.require_any(&state, &scopes, "credential.create").await?;
        let user = state
            .store
            .get_user(&user_id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no user '{user_id}'")))?;
        let authority = state
            .store
            .get_authority(&body.authority_id)
            .await?
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "authority_id",
                    format!("no authority '{}'", body.authority_id),
                )
            })?;
        if authority.strategy != Strategy::Password && body.password.is_some() {
            return Err(ApiError::invalid_field(
                "password",
                "only password authorities take a password",
            ));
        }
        let (authority_user_id, details) = match authority.strategy {
            Strategy::Password => {
                if body
                    .authority_user_id
                    .as_ref()
                    .is_some_and(|a| *a != user.id)
                {
                    return Err(ApiError::invalid_field(
                        "authority_user_id",
                        "must be the user id for a password authority",
                    ));
                }
                let password = body
                    .password
                    .ok_or_else(|| ApiError::invalid_field("password", "is required"))?;
                crate::password::check_policy(
                    &password,
                    state.config.password.min_length,
                    user.email.as_deref(),
                )
                .map_err(|e| ApiError::invalid_field("password", e.to_string()))?;
                let hash = crate::password::hash(password, state.config.password.bcrypt_cost)
                    .await
                    .map_err(|e| ApiError::internal(&e))?;
                (user.id.clone(), json!({ "hash": hash }))
            }
            Strategy::Email => {
                let address = body
                    .authority_user_id
                    .ok_or_else(|| ApiError::invalid_field("authority_user_id", "is required"))?;
                let address = crate::address::normalize(&address)
                    .map_err(|e| ApiError::invalid_field("authority_user_id", e.to_string()))?;
                (address, json!({}))
            }
            Strategy::Google | Strategy::Saml => {
                let subject = body
                    .authority_user_id
                    .filter(|s| !s.trim().is_empty())
                    .ok_or_else(|| ApiError::invalid_field("authority_user_id", "is required"))?;
                (subject, json!({}))
            }
        };
        let credential = state
            .store
            .create_credential(NewCredential {
                user_id: user.id,
                authority_id: authority.id,
                authority_user_id,
                details,
            })
            .await?;
        crate::engine::audit::record(
            &state,
            p.audit_event("credential.create", Outcome::Success)
                .target("credential", &credential.id),
        )
        .await;
        Ok(Created::Created(Json(credential_to_dto(credential))))
    }

    /// Get a credential (`credential.<authority>.user:read`, or `.me:read` for one's own).
    #[oai(
        path = "/credentials/:id",
        method = "get",
        operation_id = "getCredential"
    )]
    async fn get(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<CredentialDto>, ApiError> {
        let p = &auth.0;
        let credential = load(&state, p, &id.0, "read", "credential.read").await?;
        Ok(Json(credential_to_dto(credential)))
    }

    /// Delete a credential (`credential.<authority>.user:delete`, or `.me:delete` for one's own).
    /// A user's last credential cannot be deleted (409): they could never log in again.
    #[oai(
        path = "/credentials/:id",
        method = "delete",
        operation_id = "deleteCredential"
    )]
    async fn delete(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Deleted, ApiError> {
        let p = &auth.0;
        let credential = load(&state, p, &id.0, "delete", "credential.delete").await?;
        let all = state
            .store
            .list_credentials_of_user(&credential.user_id)
            .await?;
        if all.iter().all(|c| c.id == credential.id) {
            return Err(ApiError::conflict(
                "this is the user's last credential; they could not log in without it",
            ));
        }
        state
            .store
            .delete_credential(&credential.id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => {
                    ApiError::not_found(format!("no credential '{}'", credential.id))
                }
                e => e.into(),
            })?;
        crate::engine::audit::record(
            &state,
            p.audit_event("credential.delete", Outcome::Success)
                .target("credential", &credential.id),
        )
        .await;
        Ok(Deleted::Deleted)
    }
}

/// Loads credential `id` and checks that the caller may do `action` on it.
async fn load(
    state: &Engine,
    p: &Principal,
    id: &str,
    action: &str,
    audit_action: &str,
) -> Result<Credential, ApiError> {
    let Some(credential) = state.store.get_credential(id).await? else {
        let pattern = p.scope("credential.*.user", action);
        return Err(missing(
            state,
            p,
            pattern,
            audit_action,
            format!("no credential '{id}'"),
        )
        .await);
    };
    let scopes = credential_scopes(p, &credential.authority_id, &credential.user_id, action);
    p.require_any(state, &scopes, audit_action).await?;
    Ok(credential)
}

/// A stored credential as the API shows it (without its details).
pub fn credential_to_dto(c: Credential) -> CredentialDto {
    CredentialDto {
        id: c.id,
        user_id: c.user_id,
        authority_id: c.authority_id,
        authority_user_id: c.authority_user_id,
        created_at: timestamp(c.created_at),
        updated_at: timestamp(c.updated_at),
        last_used_at: timestamp_opt(c.last_used_at),
    }
}
