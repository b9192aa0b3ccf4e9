//! `/api/v1/users/{user_id}/credentials` and `/api/v1/credentials/{id}`: links between users and
//! authorities (reference §1, §2.6).
//!
//! Scopes: `AuthX:credential.<authority_id>.user:<action>` for anyone's credentials, or
//! `AuthX:credential.<authority_id>.me:<action>` for one's own; the rules are the engine's
//! ([`crate::engine::admin::credentials`]). Answers never include a credential's `details` (they
//! hold a bcrypt hash or an upstream profile snapshot), only its verification record.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::domain::credential::{Credential, Verification};
use crate::domain::now;
use crate::engine::Engine;
use crate::engine::admin::credentials::{self, NewCredentialInput};
use crate::http::api::common::{Tag, timestamp, timestamp_opt};
use crate::http::api::error::ApiError;
use crate::http::api::security::BearerAuth;

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
    /// How and when it was proven (absent for credentials older than such records).
    pub verification: Option<VerificationDto>,
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
        let items = credentials::list(&state, &auth.0, &user_id.0)
            .await?
            .into_iter()
            .map(credential_to_dto)
            .collect();
        Ok(Json(CredentialList { items }))
    }

    /// Add a credential to a user (`credential.<authority>.user:create`, or `.me:create` for
    /// oneself; for another user the caller must also hold everything that user holds). A
    /// `password` credential takes the password (checked against the policy, stored as a bcrypt
    /// hash). An `email`, `google` or `saml` credential takes the identity, and only for someone
    /// else: one's own comes from following the emailed link or signing in upstream (403 saying
    /// so). The credential records who asserted it (`verification`).
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
        let body = body.0;
        let input = NewCredentialInput {
            authority_id: body.authority_id,
            authority_user_id: body.authority_user_id,
            password: body.password,
        };
        let credential = credentials::create(&state, &auth.0, &user_id.0, input, now()).await?;
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
        let credential = credentials::get(&state, &auth.0, &id.0, "read").await?;
        Ok(Json(credential_to_dto(credential)))
    }

    /// Delete a credential (`credential.<authority>.user:delete`, or `.me:delete` for one's own;
    /// for another user the caller must also hold everything that user holds). A user's last
    /// credential cannot be deleted (409): they could never log in again.
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
        credentials::delete(&state, &auth.0, &id.0).await?;
        Ok(Deleted::Deleted)
    }
}

/// How a credential was proven.
#[derive(Object, Debug, Clone)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct VerificationDto {
    /// `email_link` (the holder followed a link sent to the address), `upstream` (an upstream
    /// login), `admin` (an administrator's assertion, which proves no address) or `holder` (set
    /// by the holder, e.g. a password).
    pub method: String,
    /// When (RFC 3339).
    pub at: String,
    /// For `upstream`: whether the upstream vouched for the email address it sent.
    pub email_verified: Option<bool>,
    /// For `admin`: the administrator's user id.
    pub by: Option<String>,
}

/// A stored credential as the API shows it (without its details).
pub fn credential_to_dto(c: Credential) -> CredentialDto {
    CredentialDto {
        created_at: timestamp(c.created_at),
        updated_at: timestamp(c.updated_at),
        last_used_at: timestamp_opt(c.last_used_at),
        verification: Verification::of(&c.details).map(|v| VerificationDto {
            method: v.method().to_owned(),
            at: timestamp(v.at()),
            email_verified: match &v {
                Verification::Upstream { email_verified, .. } => Some(*email_verified),
                _ => None,
            },
            by: match v {
                Verification::Admin { by, .. } => Some(by),
                _ => None,
            },
        }),
        authority_id: c.authority_id,
        authority_user_id: c.authority_user_id,
        id: c.id,
        user_id: c.user_id,
    }
}
