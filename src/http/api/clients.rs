//! `/api/v1/clients`: downstream applications and their secrets (reference §1, §2.6, §4).
//!
//! The adapter parses the request and renders the answer; who may do what, the validation and
//! the secrets' rules are the commands' in [`crate::engine::admin::clients`].

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use crate::domain::client::{Client, ClientSecret, ClientType};
use crate::domain::now;
use crate::domain::signing_key::SigningAlg;
use crate::engine::Engine;
use crate::engine::admin::clients;
use crate::http::api::common::{Tag, page, timestamp, timestamp_opt};
use crate::http::api::error::ApiError;
use crate::http::api::keys::KeyAlgDto;
use crate::http::api::security::BearerAuth;

/// Whether a client can keep a secret.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum ClientTypeDto {
    /// A server-side application with secrets.
    Confidential,
    /// A SPA or native app: no secrets, PKCE required.
    Public,
}

/// A downstream application.
#[derive(Object, Debug, Clone)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct ClientDto {
    /// Id (slug).
    pub id: String,
    /// Display name (shown on the consent screen).
    pub name: String,
    /// Confidential or public.
    #[oai(rename = "type")]
    pub client_type: ClientTypeDto,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Exact URIs allowed after logout.
    pub post_logout_redirect_uris: Vec<String>,
    /// The ceiling of scopes the client may ever receive.
    pub scopes: Vec<String>,
    /// First-party: no consent screen.
    pub trusted: bool,
    /// Whether it may obtain tokens.
    pub enabled: bool,
    /// The client's own service account (client_credentials), for confidential clients.
    pub machine_user_id: Option<String>,
    /// The algorithm of its ID tokens (OpenID Connect `id_token_signed_response_alg`).
    pub id_token_signed_response_alg: KeyAlgDto,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// A client as created: the client, and for a confidential client its first secret, shown once.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct CreatedClientDto {
    /// The client.
    #[oai(flatten)]
    pub client: ClientDto,
    /// The first secret (confidential clients only). Shown only now; store it safely.
    pub secret: Option<String>,
    /// The id of that secret.
    pub secret_id: Option<String>,
}

/// A page of clients.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct ClientList {
    /// The clients of this page the caller may read.
    pub items: Vec<ClientDto>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A new client.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct CreateClientRequest {
    /// Id: `[a-z0-9][a-z0-9_-]{0,62}`.
    pub id: String,
    /// Display name.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
    /// Confidential (with secrets) or public.
    #[oai(rename = "type")]
    pub client_type: ClientTypeDto,
    /// Exact redirect URIs: absolute, https (http only for 127.0.0.1, [::1] or localhost), no
    /// fragment.
    #[oai(default, validator(max_items = 50))]
    pub redirect_uris: Vec<String>,
    /// Exact URIs allowed after logout (same rules).
    #[oai(default, validator(max_items = 50))]
    pub post_logout_redirect_uris: Vec<String>,
    /// Scope patterns: the ceiling of what the client may receive. The caller's access must
    /// cover them.
    #[oai(default, validator(max_items = 200))]
    pub scopes: Vec<String>,
    /// First-party: skip the consent screen (default false).
    #[oai(default)]
    pub trusted: bool,
    /// Enabled (default true).
    pub enabled: Option<bool>,
    /// The algorithm of its ID tokens (default RS256); one the server signs with (see
    /// `/.well-known/openid-configuration`, `id_token_signing_alg_values_supported`).
    pub id_token_signed_response_alg: Option<KeyAlgDto>,
}

/// Changes to a client; absent fields stay as they are, lists replace the stored ones.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct UpdateClientRequest {
    /// Display name.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Option<String>,
    /// Exact redirect URIs.
    #[oai(validator(max_items = 50))]
    pub redirect_uris: Option<Vec<String>>,
    /// Exact post-logout URIs.
    #[oai(validator(max_items = 50))]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Scope patterns (needs `client.<id>:update.scopes` and access covering them).
    #[oai(validator(max_items = 200))]
    pub scopes: Option<Vec<String>>,
    /// First-party: skip the consent screen.
    pub trusted: Option<bool>,
    /// Enabled.
    pub enabled: Option<bool>,
    /// The algorithm of its ID tokens, or null for the default (RS256).
    pub id_token_signed_response_alg: MaybeUndefined<KeyAlgDto>,
}

/// A client secret's metadata (never the secret or its hash).
#[derive(Object, Debug, Clone)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct ClientSecretDto {
    /// Id (UUID).
    pub id: String,
    /// The client.
    pub client_id: String,
    /// What it is for.
    pub description: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// When it stops working (RFC 3339); absent: never.
    pub expires_at: Option<String>,
    /// Last recorded use (RFC 3339).
    pub last_used_at: Option<String>,
}

/// A new secret: the secret itself, shown only now, and its metadata.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct IssuedSecretDto {
    /// The secret. Shown only now; store it safely.
    pub secret: String,
    /// Its metadata.
    #[oai(flatten)]
    pub metadata: ClientSecretDto,
}

/// A client's secrets.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct ClientSecretList {
    /// Metadata of every secret, expired ones included, oldest first.
    pub items: Vec<ClientSecretDto>,
}

/// A new secret for a client.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct AddClientSecretRequest {
    /// What it is for.
    #[oai(validator(max_length = 200))]
    pub description: Option<String>,
    /// Lifetime in seconds (60 s to 10 years); absent: no expiry.
    #[oai(validator(minimum(value = "60"), maximum(value = "315360000")))]
    pub expires_in_secs: Option<i64>,
}

/// Rotation: a new secret, and the others retire after a grace period.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct RotateClientSecretRequest {
    /// Seconds the other secrets keep working (0–604800, default 0: at once).
    #[oai(validator(minimum(value = "0"), maximum(value = "604800")))]
    pub grace_secs: Option<i64>,
    /// What the new secret is for.
    #[oai(validator(max_length = 200))]
    pub description: Option<String>,
    /// Lifetime of the new secret in seconds (60 s to 10 years); absent: no expiry.
    #[oai(validator(minimum(value = "60"), maximum(value = "315360000")))]
    pub expires_in_secs: Option<i64>,
}

#[derive(ApiResponse)]
enum ClientCreated {
    /// The client was created; a confidential client's secret is in the answer, once.
    #[oai(status = 201)]
    Created(Json<CreatedClientDto>),
}

#[derive(ApiResponse)]
enum SecretCreated {
    /// The secret was created; it is in the answer, once.
    #[oai(status = 201)]
    Created(Json<IssuedSecretDto>),
}

#[derive(ApiResponse)]
enum Deleted {
    /// It is gone.
    #[oai(status = 204)]
    Deleted,
}

/// The clients resource.
pub struct ClientsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Clients")]
impl ClientsApi {
    /// List the clients the caller may read (`client.<id>:read`), ordered by id. A page and its
    /// `next_cursor` name only clients the caller may read.
    #[oai(path = "/clients", method = "get", operation_id = "listClients")]
    async fn list(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        /// Page size, 1–100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<ClientList>, ApiError> {
        let (clients, next) = clients::list(&state, &auth.0, &page(limit.0, cursor.0)).await?;
        Ok(Json(ClientList {
            items: clients.into_iter().map(client_to_dto).collect(),
            next_cursor: next,
        }))
    }

    /// Create a client (`client:create`, and access covering its `scopes`). A confidential
    /// client gets a machine user and a first secret, returned once.
    #[oai(path = "/clients", method = "post", operation_id = "createClient")]
    async fn create(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        body: Json<CreateClientRequest>,
    ) -> Result<ClientCreated, ApiError> {
        let body = body.0;
        let input = clients::ClientInput {
            id: body.id,
            name: body.name,
            client_type: type_from_dto(body.client_type),
            redirect_uris: body.redirect_uris,
            post_logout_redirect_uris: body.post_logout_redirect_uris,
            scopes: body.scopes,
            trusted: body.trusted,
            enabled: body.enabled,
            id_token_alg: body.id_token_signed_response_alg.map(SigningAlg::from),
        };
        let created = clients::create(&state, &auth.0, input).await?;
        let (secret, secret_id) = match created.secret {
            Some(s) => (Some(s.secret), Some(s.metadata.id)),
            None => (None, None),
        };
        Ok(ClientCreated::Created(Json(CreatedClientDto {
            client: client_to_dto(created.client),
            secret,
            secret_id,
        })))
    }

    /// Get a client (`client.<id>:read`).
    #[oai(path = "/clients/:id", method = "get", operation_id = "getClient")]
    async fn get(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<ClientDto>, ApiError> {
        Ok(Json(client_to_dto(
            clients::get(&state, &auth.0, &id.0).await?,
        )))
    }

    /// Change a client (`client.<id>:update`; changing `scopes` also needs
    /// `client.<id>:update.scopes` and access covering them).
    #[oai(path = "/clients/:id", method = "patch", operation_id = "updateClient")]
    async fn update(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
        body: Json<UpdateClientRequest>,
    ) -> Result<Json<ClientDto>, ApiError> {
        let body = body.0;
        let change = clients::ClientChange {
            name: body.name,
            redirect_uris: body.redirect_uris,
            post_logout_redirect_uris: body.post_logout_redirect_uris,
            scopes: body.scopes,
            trusted: body.trusted,
            enabled: body.enabled,
            id_token_alg: match body.id_token_signed_response_alg {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(a) => Some(Some(SigningAlg::from(a))),
            },
        };
        Ok(Json(client_to_dto(
            clients::update(&state, &auth.0, &id.0, change).await?,
        )))
    }

    /// Delete a client with its secrets, grants, tokens and machine user (`client.<id>:delete`).
    #[oai(
        path = "/clients/:id",
        method = "delete",
        operation_id = "deleteClient"
    )]
    async fn delete(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Deleted, ApiError> {
        clients::delete(&state, &auth.0, &id.0).await?;
        Ok(Deleted::Deleted)
    }

    /// List a client's secrets: metadata only (`client.<id>:update`).
    #[oai(
        path = "/clients/:id/secrets",
        method = "get",
        operation_id = "listClientSecrets"
    )]
    async fn list_secrets(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<ClientSecretList>, ApiError> {
        let items = clients::secrets(&state, &auth.0, &id.0)
            .await?
            .into_iter()
            .map(secret_to_dto)
            .collect();
        Ok(Json(ClientSecretList { items }))
    }

    /// Add a secret to a confidential client (`client.<id>:update`); the secret is returned once.
    #[oai(
        path = "/clients/:id/secrets",
        method = "post",
        operation_id = "addClientSecret"
    )]
    async fn add_secret(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
        body: Json<AddClientSecretRequest>,
    ) -> Result<SecretCreated, ApiError> {
        let input = clients::SecretInput {
            description: body.0.description,
            expires_in_secs: body.0.expires_in_secs,
        };
        let issued = clients::add_secret(&state, &auth.0, &id.0, input, now()).await?;
        Ok(SecretCreated::Created(Json(issued_to_dto(issued))))
    }

    /// Rotate: add a new secret (returned once) and retire every other one after `grace_secs`
    /// (`client.<id>:update`).
    #[oai(
        path = "/clients/:id/secrets/rotate",
        method = "post",
        operation_id = "rotateClientSecret"
    )]
    async fn rotate_secret(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
        body: Json<RotateClientSecretRequest>,
    ) -> Result<SecretCreated, ApiError> {
        let body = body.0;
        let input = clients::SecretInput {
            description: body.description,
            expires_in_secs: body.expires_in_secs,
        };
        let grace = body.grace_secs.unwrap_or(0);
        let issued = clients::rotate_secret(&state, &auth.0, &id.0, input, grace, now()).await?;
        Ok(SecretCreated::Created(Json(issued_to_dto(issued))))
    }

    /// Delete one secret of a client (`client.<id>:update`).
    #[oai(
        path = "/clients/:id/secrets/:secret_id",
        method = "delete",
        operation_id = "deleteClientSecret"
    )]
    async fn delete_secret(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
        secret_id: Path<String>,
    ) -> Result<Deleted, ApiError> {
        clients::delete_secret(&state, &auth.0, &id.0, &secret_id.0).await?;
        Ok(Deleted::Deleted)
    }
}

fn type_from_dto(t: ClientTypeDto) -> ClientType {
    match t {
        ClientTypeDto::Confidential => ClientType::Confidential,
        ClientTypeDto::Public => ClientType::Public,
    }
}

/// A stored client as the API shows it.
pub fn client_to_dto(c: Client) -> ClientDto {
    let id_token_alg = c.id_token_alg();
    ClientDto {
        id: c.id,
        name: c.name,
        client_type: match c.client_type {
            ClientType::Confidential => ClientTypeDto::Confidential,
            ClientType::Public => ClientTypeDto::Public,
        },
        redirect_uris: c.redirect_uris,
        post_logout_redirect_uris: c.post_logout_redirect_uris,
        scopes: c.scopes,
        trusted: c.trusted,
        enabled: c.enabled,
        id_token_signed_response_alg: id_token_alg.into(),
        machine_user_id: c.machine_user_id,
        created_at: timestamp(c.created_at),
        updated_at: timestamp(c.updated_at),
    }
}

/// A stored secret's metadata as the API shows it.
pub fn secret_to_dto(s: ClientSecret) -> ClientSecretDto {
    ClientSecretDto {
        id: s.id,
        client_id: s.client_id,
        description: s.description,
        created_at: timestamp(s.created_at),
        expires_at: timestamp_opt(s.expires_at),
        last_used_at: timestamp_opt(s.last_used_at),
    }
}

fn issued_to_dto(issued: clients::IssuedSecret) -> IssuedSecretDto {
    IssuedSecretDto {
        secret: issued.secret,
        metadata: secret_to_dto(issued.metadata),
    }
}
