//! Client commands (reference §1, §2.6, §4): list, create, read, update, delete, and secrets.
//!
//! - **Scopes:** `client:create`; `client.<id>:read|update|delete`; changing a client's scope
//!   ceiling also needs `client.<id>:update.scopes`; secrets need `client.<id>:update`.
//! - **Acting as the client.** Some changes let the caller act as the client: a new or rotated
//!   secret (the caller then holds it), redirect and post-logout URIs (codes and tokens then
//!   reach the caller), `trusted` (no consent asked) and re-enabling. Each needs the caller to
//!   cover the client's **reach** ([`reach`]): its scope ceiling, which bounds every token the
//!   client can obtain. A trusted client obtains scopes for other people without their consent,
//!   so for it a `me`-relative scope counts as its `user` form (`AuthX:me:read` reaches every
//!   user's profile, as `AuthX:user:read` would).
//! - **Lock-out.** Switching a client off or deleting it ends its machine user's access, which
//!   must not remove the last administrator ([`require_may_switch_off`]).
//! - **Secrets** are 256-bit random strings (`axs_…`) returned once, when created; only their
//!   SHA-256 hash is stored. A confidential client gets a `machine` user (its identity for
//!   client_credentials) and a first secret.

use crate::domain::Page;
use crate::domain::audit::Outcome;
use crate::domain::client::{
    Client, ClientPatch, ClientSecret, ClientType, InitialClientSecret, NewClient, NewClientSecret,
};
use crate::domain::id::is_valid_slug;
use crate::domain::signing_key::SigningAlg;
use crate::domain::user::{NewUser, Profile, UserKind, UserPatch, UserStatus};
use crate::engine::Engine;
use crate::engine::actor::Actor;
use crate::engine::admin::administrators::{self, Change};
use crate::engine::admin::parse_scope_list;
use crate::engine::error::CommandError;
use crate::scopes::ScopeSet;
use crate::secret;
use crate::store::StoreError;

/// The scopes a client with ceiling `scopes` reaches; `trusted` turns the own realm's
/// `me`-relative scopes into their `user` form.
pub fn reach(scopes: &[String], trusted: bool, realm: &str) -> ScopeSet {
    let prefix = format!("{realm}:");
    let widened = scopes.iter().map(|scope| {
        if !trusted {
            return scope.clone();
        }
        let Some(rest) = scope.strip_prefix(&prefix) else {
            return scope.clone();
        };
        let (resource, action) = rest.split_once(':').unwrap_or((rest, ""));
        let resource = if resource == "me" {
            "user".to_owned()
        } else if let Some(kind) = resource.strip_suffix(".me") {
            format!("{kind}.user")
        } else {
            return scope.clone();
        };
        format!("{prefix}{resource}:{action}")
    });
    ScopeSet::parse(widened).unwrap_or_default()
}

/// Succeeds unless switching off or deleting `client` would take the last administrator with
/// it: its machine user acts only while the client is enabled, so for the lock-out rule
/// (`administrators`) the machine user is then gone.
pub async fn require_may_switch_off(engine: &Engine, client: &Client) -> Result<(), CommandError> {
    match &client.machine_user_id {
        Some(user_id) if client.enabled => {
            administrators::require_one_remains(engine, Change::UserGone(user_id)).await
        }
        _ => Ok(()),
    }
}

/// Succeeds when the caller covers the reach of a client with ceiling `scopes` and trust
/// `trusted` (the values the change leaves in force); otherwise 403 naming what is missing.
pub async fn require_may_act_as(
    engine: &Engine,
    actor: &Actor,
    scopes: &[String],
    trusted: bool,
    action: &str,
) -> Result<(), CommandError> {
    let reach = reach(scopes, trusted, &engine.config.realm);
    actor.require_covers(engine, &reach, action).await
}

/// A client to create, as the caller gave it.
#[derive(Debug, Clone)]
pub struct ClientInput {
    pub id: String,
    pub name: String,
    pub client_type: ClientType,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub trusted: bool,
    /// `None`: enabled.
    pub enabled: Option<bool>,
    pub id_token_alg: Option<SigningAlg>,
}

/// A client as created, with its first secret (confidential clients only), shown once.
#[derive(Debug)]
pub struct CreatedClient {
    pub client: Client,
    pub secret: Option<IssuedSecret>,
}

/// A secret as issued: the plain value (returned once) and its stored metadata.
#[derive(Debug)]
pub struct IssuedSecret {
    pub secret: String,
    pub metadata: ClientSecret,
}

/// The page of clients the caller may read; cut after filtering, so hidden clients are never
/// named.
pub async fn list(
    engine: &Engine,
    actor: &Actor,
    page: &Page,
) -> Result<(Vec<Client>, Option<String>), CommandError> {
    let any = actor.scope("client.*", "read");
    if !actor.may_some(&any) {
        actor.refuse(engine, vec![any], "client.list").await?;
    }
    Ok(crate::engine::listing::visible_page(
        page,
        |p| async move { engine.store.list_clients(&p).await },
        |c| actor.may(&actor.scope_on("client", &c.id, "read")),
        |c| c.id.as_str(),
    )
    .await?)
}

/// Creates a client (`client:create`, and access covering its reach), audited as
/// `client.create`. A confidential client gets a machine user and a first secret.
pub async fn create(
    engine: &Engine,
    actor: &Actor,
    input: ClientInput,
) -> Result<CreatedClient, CommandError> {
    const ACTION: &str = "client.create";
    actor
        .require(engine, &actor.scope("client", "create"), ACTION)
        .await?;
    if !is_valid_slug(&input.id) {
        return Err(CommandError::invalid_field(
            "id",
            "must be 1–63 characters of a-z, 0-9, '_' or '-', starting with a letter or digit",
        ));
    }
    let name = non_blank("name", input.name)?;
    validate_uris("redirect_uris", &input.redirect_uris)?;
    validate_uris(
        "post_logout_redirect_uris",
        &input.post_logout_redirect_uris,
    )?;
    parse_scope_list("scopes", &input.scopes)?;
    require_may_act_as(engine, actor, &input.scopes, input.trusted, ACTION).await?;
    let id_token_alg = input
        .id_token_alg
        .map(|a| published_alg(engine, a))
        .transpose()?;
    let confidential = input.client_type == ClientType::Confidential;

    let machine_user = if confidential {
        Some(
            engine
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
    let created = engine
        .store
        .create_client(
            NewClient {
                id: input.id,
                name,
                client_type: input.client_type,
                redirect_uris: input.redirect_uris,
                post_logout_redirect_uris: input.post_logout_redirect_uris,
                scopes: input.scopes,
                trusted: input.trusted,
                enabled: input.enabled.unwrap_or(true),
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
                && let Err(cleanup) = engine.store.delete_user(&user.id).await
            {
                tracing::error!(user_id = %user.id, error = %cleanup,
                    "could not delete the machine user of a client that was not created");
            }
            return Err(error.into());
        }
    };
    actor
        .audit_success(engine, ACTION, "client", &client.id)
        .await;
    let secret = match (issued, first_secret) {
        (Some(secret), Some(metadata)) => Some(IssuedSecret { secret, metadata }),
        _ => None,
    };
    Ok(CreatedClient { client, secret })
}

/// Client `id` (`client.<id>:read`).
pub async fn get(engine: &Engine, actor: &Actor, id: &str) -> Result<Client, CommandError> {
    actor
        .require(engine, &actor.scope_on("client", id, "read"), "client.read")
        .await?;
    load(engine, id).await
}

/// A change to a client: `None` leaves a field as it is; `id_token_alg: Some(None)` returns to
/// the default.
#[derive(Debug, Clone, Default)]
pub struct ClientChange {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub trusted: Option<bool>,
    pub enabled: Option<bool>,
    pub id_token_alg: Option<Option<SigningAlg>>,
}

/// Applies `change` to client `id` (`client.<id>:update`; a new ceiling also needs
/// `client.<id>:update.scopes`), audited as `client.update`.
pub async fn update(
    engine: &Engine,
    actor: &Actor,
    id: &str,
    change: ClientChange,
) -> Result<Client, CommandError> {
    const ACTION: &str = "client.update";
    actor
        .require(engine, &actor.scope_on("client", id, "update"), ACTION)
        .await?;
    if let Some(scopes) = &change.scopes {
        actor
            .require(
                engine,
                &actor.scope_on("client", id, "update.scopes"),
                ACTION,
            )
            .await?;
        parse_scope_list("scopes", scopes)?;
    }
    let current = load(engine, id).await?;
    // Changes through which the caller could obtain the client's tokens (or a wider ceiling)
    // need the caller to cover what the client reaches once changed.
    let acts_as = change.scopes.is_some()
        || change.redirect_uris.is_some()
        || change.post_logout_redirect_uris.is_some()
        || change.trusted == Some(true)
        || (change.enabled == Some(true) && !current.enabled);
    if acts_as {
        let scopes = change.scopes.as_ref().unwrap_or(&current.scopes);
        let trusted = change.trusted.unwrap_or(current.trusted);
        require_may_act_as(engine, actor, scopes, trusted, ACTION).await?;
    }
    if change.enabled == Some(false) {
        require_may_switch_off(engine, &current).await?;
    }
    let name = change.name.map(|n| non_blank("name", n)).transpose()?;
    if let Some(uris) = &change.redirect_uris {
        validate_uris("redirect_uris", uris)?;
    }
    if let Some(uris) = &change.post_logout_redirect_uris {
        validate_uris("post_logout_redirect_uris", uris)?;
    }
    let id_token_alg = match change.id_token_alg {
        None => None,
        Some(None) => Some(None),
        Some(Some(a)) => Some(Some(published_alg(engine, a)?)),
    };
    let client = engine
        .store
        .update_client(
            id,
            ClientPatch {
                name: name.clone(),
                redirect_uris: change.redirect_uris,
                post_logout_redirect_uris: change.post_logout_redirect_uris,
                scopes: change.scopes,
                trusted: change.trusted,
                enabled: change.enabled,
                id_token_alg,
                ..ClientPatch::default()
            },
        )
        .await
        .map_err(|e| no_client(id, e))?;
    if let (Some(name), Some(user_id)) = (name, &client.machine_user_id) {
        // The machine user is shown under the client's name; keep it in step (best effort).
        let patch = UserPatch {
            display_name: Some(Some(name)),
            ..UserPatch::default()
        };
        if let Err(error) = engine.store.update_user(user_id, patch).await {
            tracing::warn!(%user_id, %error, "could not rename a client's machine user");
        }
    }
    actor.audit_success(engine, ACTION, "client", id).await;
    Ok(client)
}

/// Deletes client `id` with its secrets, grants, tokens and machine user
/// (`client.<id>:delete`), audited as `client.delete`.
pub async fn delete(engine: &Engine, actor: &Actor, id: &str) -> Result<(), CommandError> {
    const ACTION: &str = "client.delete";
    actor
        .require(engine, &actor.scope_on("client", id, "delete"), ACTION)
        .await?;
    let client = load(engine, id).await?;
    require_may_switch_off(engine, &client).await?;
    engine
        .store
        .delete_client(id)
        .await
        .map_err(|e| no_client(id, e))?;
    if let Some(user_id) = &client.machine_user_id {
        match engine.store.delete_user(user_id).await {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(error) => return Err(error.into()),
        }
    }
    actor.audit_success(engine, ACTION, "client", id).await;
    Ok(())
}

/// The metadata of client `id`'s secrets (`client.<id>:update`).
pub async fn secrets(
    engine: &Engine,
    actor: &Actor,
    id: &str,
) -> Result<Vec<ClientSecret>, CommandError> {
    actor
        .require(
            engine,
            &actor.scope_on("client", id, "update"),
            "client.secret.list",
        )
        .await?;
    load(engine, id).await?;
    Ok(engine.store.list_client_secrets(id).await?)
}

/// What a new secret is: a description and a lifetime from `now` (`None`: no expiry).
#[derive(Debug, Clone, Default)]
pub struct SecretInput {
    pub description: Option<String>,
    pub expires_in_secs: Option<i64>,
}

/// Adds a secret to confidential client `id` (`client.<id>:update`, and access covering its
/// reach: whoever holds a secret can act as the client), audited as `client.secret.add`.
pub async fn add_secret(
    engine: &Engine,
    actor: &Actor,
    id: &str,
    input: SecretInput,
    now: i64,
) -> Result<IssuedSecret, CommandError> {
    const ACTION: &str = "client.secret.add";
    let client = may_hold_secret(engine, actor, id, ACTION).await?;
    let (secret, new) = fresh_secret(&client.id, input, now);
    let metadata = engine.store.add_client_secret(new).await?;
    actor.audit_success(engine, ACTION, "client", id).await;
    Ok(IssuedSecret { secret, metadata })
}

/// Adds a secret to client `id` and retires every other one `grace_secs` after `now`, as
/// [`add_secret`] authorizes it; audited as `client.secret.rotate`.
pub async fn rotate_secret(
    engine: &Engine,
    actor: &Actor,
    id: &str,
    input: SecretInput,
    grace_secs: i64,
    now: i64,
) -> Result<IssuedSecret, CommandError> {
    const ACTION: &str = "client.secret.rotate";
    let client = may_hold_secret(engine, actor, id, ACTION).await?;
    let (secret, new) = fresh_secret(&client.id, input, now);
    let metadata = engine
        .store
        .rotate_client_secret(new, now + grace_secs)
        .await?;
    actor.audit_success(engine, ACTION, "client", id).await;
    Ok(IssuedSecret { secret, metadata })
}

/// Deletes secret `secret_id` of client `id` (`client.<id>:update`), audited as
/// `client.secret.delete`.
pub async fn delete_secret(
    engine: &Engine,
    actor: &Actor,
    id: &str,
    secret_id: &str,
) -> Result<(), CommandError> {
    const ACTION: &str = "client.secret.delete";
    actor
        .require(engine, &actor.scope_on("client", id, "update"), ACTION)
        .await?;
    engine
        .store
        .delete_client_secret(id, secret_id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => {
                CommandError::not_found(format!("client '{id}' has no secret '{secret_id}'"))
            }
            e => e.into(),
        })?;
    let mut event = actor
        .audit_event(ACTION, Outcome::Success)
        .target("client", id);
    if let Some(details) = event.details.as_object_mut() {
        details.insert("secret_id".to_owned(), secret_id.into());
    }
    crate::engine::audit::record(engine, event).await;
    Ok(())
}

/// Client `id` for a new secret: the caller needs `client.<id>:update` and to cover the client's
/// reach, and the client must be confidential (a public client cannot have secrets: 400).
async fn may_hold_secret(
    engine: &Engine,
    actor: &Actor,
    id: &str,
    action: &str,
) -> Result<Client, CommandError> {
    actor
        .require(engine, &actor.scope_on("client", id, "update"), action)
        .await?;
    let client = load(engine, id).await?;
    if client.client_type != ClientType::Confidential {
        return Err(CommandError::invalid_field(
            "type",
            "a public client cannot have secrets",
        ));
    }
    require_may_act_as(engine, actor, &client.scopes, client.trusted, action).await?;
    Ok(client)
}

/// A new secret for client `client_id`, living from `now` as `input` says: the value to show once,
/// and what is stored (its hash).
fn fresh_secret(client_id: &str, input: SecretInput, now: i64) -> (String, NewClientSecret) {
    let secret = secret::generate(secret::CLIENT_SECRET_PREFIX);
    let stored = NewClientSecret {
        client_id: client_id.to_owned(),
        secret_hash: secret::hash(&secret),
        description: input.description,
        expires_at: input.expires_in_secs.map(|s| now + s),
    };
    (secret, stored)
}

async fn load(engine: &Engine, id: &str) -> Result<Client, CommandError> {
    engine
        .store
        .get_client(id)
        .await?
        .ok_or_else(|| CommandError::not_found(format!("no client '{id}'")))
}

fn no_client(id: &str, error: StoreError) -> CommandError {
    match error {
        StoreError::NotFound => CommandError::not_found(format!("no client '{id}'")),
        e => e.into(),
    }
}

fn non_blank(field: &str, value: String) -> Result<String, CommandError> {
    if value.trim().is_empty() {
        Err(CommandError::invalid_field(field, "must not be blank"))
    } else {
        Ok(value)
    }
}

/// Checks every URI of `field`, naming the first bad one as `<field>/<index>`.
fn validate_uris(field: &str, uris: &[String]) -> Result<(), CommandError> {
    for (i, uri) in uris.iter().enumerate() {
        if let Err(message) = crate::engine::oauth2::redirect::check_registrable(uri) {
            return Err(CommandError::invalid_field(format!("{field}/{i}"), message));
        }
    }
    Ok(())
}

/// A requested ID-token algorithm, if the server signs with it.
fn published_alg(engine: &Engine, alg: SigningAlg) -> Result<SigningAlg, CommandError> {
    let published = engine.config.tokens.published_algs();
    if published.contains(&alg) {
        return Ok(alg);
    }
    let names: Vec<&str> = published.iter().map(|a| a.as_str()).collect();
    Err(CommandError::invalid_field(
        "id_token_signed_response_alg",
        format!(
            "this server signs ID tokens with {} (tokens.id_token_signing_algs)",
            names.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::reach;

    fn strings(set: crate::scopes::ScopeSet) -> Vec<String> {
        set.to_strings()
    }

    #[test]
    fn a_trusted_client_reaches_everyone_its_me_scopes_name() {
        let ceiling = [
            "AuthX:me:read".to_owned(),
            "AuthX:credential.*.me:*".to_owned(),
            "AuthX:apikey.me:create".to_owned(),
            "Shop:me:read".to_owned(),
            "Shop:orders:read".to_owned(),
        ];
        let trusted = strings(reach(&ceiling, true, "AuthX"));
        for expected in [
            "AuthX:user:read",
            "AuthX:credential.*.user:*",
            "AuthX:apikey.user:create",
            "Shop:me:read",
            "Shop:orders:read",
        ] {
            assert!(
                trusted.iter().any(|s| s == expected),
                "{expected}: {trusted:?}"
            );
        }
        assert!(!trusted.iter().any(|s| s == "AuthX:me:read"));
        let untrusted = strings(reach(&ceiling, false, "AuthX"));
        assert!(
            untrusted.iter().any(|s| s == "AuthX:me:read"),
            "{untrusted:?}"
        );
    }
}
