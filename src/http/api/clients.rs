//! `/api/v1/clients`: downstream applications and their secrets (reference §1, §2.6, §4).
//!
//! Scopes: `AuthX:client:create`, `AuthX:client.<id>:read|update|delete`, and
//! `AuthX:client.<id>:update.scopes` to change a client's scope ceiling. Setting scopes also needs
//! the caller's own access to cover them (no self-escalation). Secret management needs
//! `client.<id>:update`.
//!
//! A confidential client gets a `machine` user (its identity for client_credentials) and a first
//! secret. Secrets are 256-bit random strings (`axs_…`) shown once, when created; only their
//! SHA-256 hash is stored.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use crate::domain::audit::Outcome;
use crate::domain::client::{
    Client, ClientPatch, ClientSecret, ClientType, InitialClientSecret, NewClient, NewClientSecret,
};
use crate::domain::id::is_valid_slug;
use crate::domain::now;
use crate::domain::signing_key::SigningAlg;
use crate::domain::user::{NewUser, Profile, UserKind, UserPatch, UserStatus};
use crate::engine::Engine;
use crate::engine::admin::clients;
use crate::http::api::common::{Tag, page, timestamp, timestamp_opt};
use crate::http::api::error::ApiError;
use crate::http::api::keys::KeyAlgDto;
use crate::http::api::security::BearerAuth;
use crate::secret;
use crate::store::StoreError;

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
        let p = &auth.0;
        let any = p.scope("client.*", "read");
        if !p.may_some(&any) {
            p.refuse(&state, vec![any], "client.list").await?;
        }
        let page = page(limit.0, cursor.0);
        let engine: &Engine = &state;
        let (clients, next) = crate::engine::listing::visible_page(
            &page,
            |p| async move { engine.store.list_clients(&p).await },
            |c| p.may(&p.scope_on("client", &c.id, "read")),
            |c| c.id.as_str(),
        )
        .await?;
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
        let p = &auth.0;
        p.require(&state, &p.scope("client", "create"), "client.create")
            .await?;
        let body = body.0;
        if !is_valid_slug(&body.id) {
            return Err(ApiError::invalid_field(
                "id",
                "must be 1–63 characters of a-z, 0-9, '_' or '-', starting with a letter or digit",
            ));
        }
        let name = non_blank("name", body.name)?;
        validate_uris("redirect_uris", &body.redirect_uris)?;
        validate_uris("post_logout_redirect_uris", &body.post_logout_redirect_uris)?;
        crate::http::api::common::parse_scope_list("scopes", &body.scopes)?;
        clients::require_may_act_as(&state, p, &body.scopes, body.trusted, "client.create").await?;
        let id_token_alg = body
            .id_token_signed_response_alg
            .map(|a| id_token_alg(&state, a))
            .transpose()?;
        let client_type = type_from_dto(body.client_type);
        let confidential = client_type == ClientType::Confidential;

        let machine_user = if confidential {
            Some(
                state
                    .store
                    .create_user(NewUser {
                        kind: UserKind::Machine,
                        status: UserStatus::Active,
                        username: None,
                        email: None,
                        display_name: Some(name.clone()),
                        profile: Profile::default(),
                    })
                    .await?,
            )
        } else {
            None
        };
        let issued = confidential.then(|| secret::generate(secret::CLIENT_SECRET_PREFIX));
        let created = state
            .store
            .create_client(
                NewClient {
                    id: body.id,
                    name,
                    client_type,
                    redirect_uris: body.redirect_uris,
                    post_logout_redirect_uris: body.post_logout_redirect_uris,
                    scopes: body.scopes,
                    trusted: body.trusted,
                    enabled: body.enabled.unwrap_or(true),
                    machine_user_id: machine_user.as_ref().map(|u| u.id.clone()),
                    id_token_alg,
                },
                issued.as_ref().map(|s| InitialClientSecret {
                    secret_hash: secret::hash(s),
                    description: Some("initial secret".to_owned()),
                    expires_at: None,
                }),
            )
            .await;
        let (client, first_secret) = match created {
            Ok(created) => created,
            Err(error) => {
                if let Some(user) = machine_user
                    && let Err(cleanup) = state.store.delete_user(&user.id).await
                {
                    tracing::error!(user_id = %user.id, error = %cleanup,
                        "could not delete the machine user of a client that was not created");
                }
                return Err(error.into());
            }
        };
        crate::engine::audit::record(
            &state,
            p.audit_event("client.create", Outcome::Success)
                .target("client", &client.id),
        )
        .await;
        Ok(ClientCreated::Created(Json(CreatedClientDto {
            client: client_to_dto(client),
            secret: issued,
            secret_id: first_secret.map(|s| s.id),
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
        let p = &auth.0;
        p.require(&state, &p.scope_on("client", &id.0, "read"), "client.read")
            .await?;
        Ok(Json(client_to_dto(load(&state, &id.0).await?)))
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
        let p = &auth.0;
        let id = id.0;
        p.require(
            &state,
            &p.scope_on("client", &id, "update"),
            "client.update",
        )
        .await?;
        let body = body.0;
        if let Some(scopes) = &body.scopes {
            p.require(
                &state,
                &p.scope_on("client", &id, "update.scopes"),
                "client.update",
            )
            .await?;
            crate::http::api::common::parse_scope_list("scopes", scopes)?;
        }
        let current = load(&state, &id).await?;
        // Changes through which the caller could obtain the client's tokens (or a wider ceiling)
        // need the caller to cover what the client reaches once changed.
        let acts_as = body.scopes.is_some()
            || body.redirect_uris.is_some()
            || body.post_logout_redirect_uris.is_some()
            || body.trusted == Some(true)
            || (body.enabled == Some(true) && !current.enabled);
        if acts_as {
            let scopes = body.scopes.as_ref().unwrap_or(&current.scopes);
            let trusted = body.trusted.unwrap_or(current.trusted);
            clients::require_may_act_as(&state, p, scopes, trusted, "client.update").await?;
        }
        if body.enabled == Some(false) {
            clients::require_may_switch_off(&state, &current).await?;
        }
        let name = body.name.map(|n| non_blank("name", n)).transpose()?;
        if let Some(uris) = &body.redirect_uris {
            validate_uris("redirect_uris", uris)?;
        }
        if let Some(uris) = &body.post_logout_redirect_uris {
            validate_uris("post_logout_redirect_uris", uris)?;
        }
        let id_token_alg = match body.id_token_signed_response_alg {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(a) => Some(Some(id_token_alg(&state, a)?)),
        };
        let client = state
            .store
            .update_client(
                &id,
                ClientPatch {
                    name: name.clone(),
                    redirect_uris: body.redirect_uris,
                    post_logout_redirect_uris: body.post_logout_redirect_uris,
                    scopes: body.scopes,
                    trusted: body.trusted,
                    enabled: body.enabled,
                    id_token_alg,
                    ..ClientPatch::default()
                },
            )
            .await
            .map_err(|e| match e {
                StoreError::NotFound => ApiError::not_found(format!("no client '{id}'")),
                e => e.into(),
            })?;
        if let (Some(name), Some(user_id)) = (name, &client.machine_user_id) {
            // The machine user is shown under the client's name; keep it in step (best effort).
            let patch = UserPatch {
                display_name: Some(Some(name)),
                ..UserPatch::default()
            };
            if let Err(error) = state.store.update_user(user_id, patch).await {
                tracing::warn!(%user_id, %error, "could not rename a client's machine user");
            }
        }
        crate::engine::audit::record(
            &state,
            p.audit_event("client.update", Outcome::Success)
                .target("client", &id),
        )
        .await;
        Ok(Json(client_to_dto(client)))
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
        let p = &auth.0;
        let id = id.0;
        p.require(
            &state,
            &p.scope_on("client", &id, "delete"),
            "client.delete",
        )
        .await?;
        let client = load(&state, &id).await?;
        clients::require_may_switch_off(&state, &client).await?;
        state.store.delete_client(&id).await.map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found(format!("no client '{id}'")),
            e => e.into(),
        })?;
        if let Some(user_id) = &client.machine_user_id {
            match state.store.delete_user(user_id).await {
                Ok(()) | Err(StoreError::NotFound) => {}
                Err(error) => return Err(error.into()),
            }
        }
        crate::engine::audit::record(
            &state,
            p.audit_event("client.delete", Outcome::Success)
                .target("client", &id),
        )
        .await;
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
        let p = &auth.0;
        p.require(
            &state,
            &p.scope_on("client", &id.0, "update"),
            "client.secret.list",
        )
        .await?;
        load(&state, &id.0).await?;
        let items = state
            .store
            .list_client_secrets(&id.0)
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
        let p = &auth.0;
        let id = id.0;
        p.require(
            &state,
            &p.scope_on("client", &id, "update"),
            "client.secret.add",
        )
        .await?;
        let client = confidential(&state, &id).await?;
        // Whoever holds a secret can act as the client.
        clients::require_may_act_as(
            &state,
            p,
            &client.scopes,
            client.trusted,
            "client.secret.add",
        )
        .await?;
        let issued = secret::generate(secret::CLIENT_SECRET_PREFIX);
        let stored = state
            .store
            .add_client_secret(NewClientSecret {
                client_id: id.clone(),
                secret_hash: secret::hash(&issued),
                description: body.0.description,
                expires_at: body.0.expires_in_secs.map(|s| now() + s),
            })
            .await?;
        crate::engine::audit::record(
            &state,
            p.audit_event("client.secret.add", Outcome::Success)
                .target("client", &id),
        )
        .await;
        Ok(SecretCreated::Created(Json(IssuedSecretDto {
            secret: issued,
            metadata: secret_to_dto(stored),
        })))
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
        let p = &auth.0;
        let id = id.0;
        p.require(
            &state,
            &p.scope_on("client", &id, "update"),
            "client.secret.rotate",
        )
        .await?;
        let client = confidential(&state, &id).await?;
        clients::require_may_act_as(
            &state,
            p,
            &client.scopes,
            client.trusted,
            "client.secret.rotate",
        )
        .await?;
        let body = body.0;
        let at = now();
        let issued = secret::generate(secret::CLIENT_SECRET_PREFIX);
        let stored = state
            .store
            .rotate_client_secret(
                NewClientSecret {
                    client_id: id.clone(),
                    secret_hash: secret::hash(&issued),
                    description: body.description,
                    expires_at: body.expires_in_secs.map(|s| at + s),
                },
                at + body.grace_secs.unwrap_or(0),
            )
            .await?;
        crate::engine::audit::record(
            &state,
            p.audit_event("client.secret.rotate", Outcome::Success)
                .target("client", &id),
        )
        .await;
        Ok(SecretCreated::Created(Json(IssuedSecretDto {
            secret: issued,
            metadata: secret_to_dto(stored),
        })))
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
        let p = &auth.0;
        let (id, secret_id) = (id.0, secret_id.0);
        p.require(
            &state,
            &p.scope_on("client", &id, "update"),
            "client.secret.delete",
        )
        .await?;
        state
            .store
            .delete_client_secret(&id, &secret_id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => {
                    ApiError::not_found(format!("client '{id}' has no secret '{secret_id}'"))
                }
                e => e.into(),
            })?;
        let mut event = p
            .audit_event("client.secret.delete", Outcome::Success)
            .target("client", &id);
        if let Some(details) = event.details.as_object_mut() {
            details.insert("secret_id".to_owned(), secret_id.into());
        }
        crate::engine::audit::record(&state, event).await;
        Ok(Deleted::Deleted)
    }
}

async fn load(state: &Engine, id: &str) -> Result<Client, ApiError> {
    state
        .store
        .get_client(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no client '{id}'")))
}

/// The client, if it exists and may have secrets (a public client cannot: 400).
async fn confidential(state: &Engine, id: &str) -> Result<Client, ApiError> {
    let client = load(state, id).await?;
    if client.client_type != ClientType::Confidential {
        return Err(ApiError::invalid_field(
            "type",
            "a public client cannot have secrets",
        ));
    }
    Ok(client)
}

fn non_blank(field: &str, value: String) -> Result<String, ApiError> {
    if value.trim().is_empty() {
        Err(ApiError::invalid_field(field, "must not be blank"))
    } else {
        Ok(value)
    }
}

/// Checks every URI of `field`, naming the first bad one as `<field>/<index>`.
fn validate_uris(field: &str, uris: &[String]) -> Result<(), ApiError> {
    for (i, uri) in uris.iter().enumerate() {
        if let Err(message) = check_redirect_uri(uri) {
            return Err(ApiError::invalid_field(format!("{field}/{i}"), message));
        }
    }
    Ok(())
}

/// A redirect URI must be absolute, `https` (or `http` on a loopback host), without a fragment,
/// userinfo, whitespace or non-ASCII characters.
pub fn check_redirect_uri(uri: &str) -> Result<(), &'static str> {
    if uri.len() > 2000 {
        return Err("must be at most 2000 characters");
    }
    if !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must not contain whitespace, control or non-ASCII characters");
    }
    if uri.contains('#') {
        return Err("must not contain a fragment");
    }
    let (scheme, rest) = uri
        .split_once("://")
        .ok_or("must be an absolute URL (https://…)")?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err("must name a host");
    }
    if authority.contains('@') {
        return Err("must not contain user information");
    }
    let host = if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => &authority[..=end],
            None => return Err("has an invalid host"),
        }
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    let port = &authority[host.len()..];
    if !(port.is_empty()
        || (port.len() > 1
            && port.starts_with(':')
            && port[1..].bytes().all(|b| b.is_ascii_digit())))
    {
        return Err("has an invalid port");
    }
    if host.is_empty() {
        return Err("must name a host");
    }
    match scheme {
        "https" => {}
        "http" => {
            let loopback =
                matches!(host, "127.0.0.1" | "[::1]") || host.eq_ignore_ascii_case("localhost");
            if !loopback {
                return Err("must use https (http only for 127.0.0.1, [::1] or localhost)");
            }
        }
        _ => return Err("must use https (http only for 127.0.0.1, [::1] or localhost)"),
    }
    if uri.parse::<poem::http::Uri>().is_err() {
        return Err("is not a valid URL");
    }
    Ok(())
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

/// A requested ID-token algorithm, if the server signs with it.
fn id_token_alg(state: &Engine, alg: KeyAlgDto) -> Result<SigningAlg, ApiError> {
    let alg = SigningAlg::from(alg);
    let published = state.config.tokens.published_algs();
    if published.contains(&alg) {
        return Ok(alg);
    }
    let names: Vec<&str> = published.iter().map(|a| a.as_str()).collect();
    Err(ApiError::invalid_field(
        "id_token_signed_response_alg",
        format!(
            "this server signs ID tokens with {} (tokens.id_token_signing_algs)",
            names.join(", ")
        ),
    ))
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

#[cfg(test)]
mod tests {
    use super::check_redirect_uri;

    #[test]
    fn redirect_uris() {
        for ok in [
            "https://app.example/cb",
            "https://app.example:8443/cb?x=1",
            "http://127.0.0.1:9000/cb",
            "http://[::1]/cb",
            "http://localhost:3000/callback",
            "https://[2001:db8::1]/cb",
        ] {
            assert!(check_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://app.example/cb",
            "https://app.example/cb#frag",
            "/relative",
            "app.example/cb",
            "https://",
            "https://user@app.example/cb",
            "javascript://x",
            "https://app.example/ cb",
            "http://localhost.evil.example/cb",
            "https://app.example:/cb",
            "https://app.example:x/cb",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }
}
