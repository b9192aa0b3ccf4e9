//! Credential commands (reference §1, §2.6, §3): list, read, add and remove the links between a
//! user and the authorities they sign in with. The admin API and the account page both call
//! these, so each rule below exists once:
//!
//! - **Scopes.** `<realm>:credential.<authority>.user:<action>` for anyone's credentials, or
//!   `….me:<action>` for one's own.
//! - **Acting on someone else** needs the caller to cover that user's current access
//!   ([`Actor::require_covers_user`]): whoever adds a credential to an account can sign in as it.
//! - **Identity needs proof.** An email, google or saml credential of one's own comes only from
//!   completing that strategy's flow (the emailed link, an upstream login), never from posting an
//!   `authority_user_id`: otherwise anyone could claim a victim's address or upstream subject and
//!   inherit their later logins. An administrator may add one for another user; it is recorded as
//!   the administrator's assertion, which proves no address until the holder signs in with it.
//! - **Every credential records its proof** ([`Verification`]) under `details.verification`.
//! - **The last credential stays:** removing it would lock the user out for good.

use serde_json::json;

use crate::domain::audit::Outcome;
use crate::domain::authority::{Authority, Strategy};
use crate::domain::credential::{Credential, NewCredential, Verification};
use crate::domain::user::User;
use crate::engine::Engine;
use crate::engine::actor::Actor;
use crate::engine::error::CommandError;

/// A credential to add.
#[derive(Debug, Clone, Default)]
pub struct NewCredentialInput {
    /// The authority (must exist).
    pub authority_id: String,
    /// The identity at the authority (an address, an upstream subject; for passwords the user id
    /// or nothing).
    pub authority_user_id: Option<String>,
    /// The password, for a password authority.
    pub password: Option<String>,
}

/// The scopes allowing `action` on a credential of `authority` belonging to `user_id`.
pub fn scopes(actor: &Actor, authority: &str, user_id: &str, action: &str) -> Vec<String> {
    let mut scopes = vec![actor.scope(&format!("credential.{authority}.user"), action)];
    if user_id == actor.user_id {
        scopes.push(actor.scope(&format!("credential.{authority}.me"), action));
    }
    scopes
}

/// The credentials of `user_id` the actor may read.
pub async fn list(
    engine: &Engine,
    actor: &Actor,
    user_id: &str,
) -> Result<Vec<Credential>, CommandError> {
    let patterns = scopes(actor, "*", user_id, "read");
    if !patterns.iter().any(|s| actor.may_some(s)) {
        actor
            .refuse(engine, vec![patterns[0].clone()], "credential.list")
            .await?;
    }
    if engine.store.get_user(user_id).await?.is_none() {
        return Err(CommandError::not_found(format!("no user '{user_id}'")));
    }
    Ok(engine
        .store
        .list_credentials_of_user(user_id)
        .await?
        .into_iter()
        .filter(|c| {
            scopes(actor, &c.authority_id, user_id, "read")
                .iter()
                .any(|s| actor.may(s))
        })
        .collect())
}

/// Credential `id`, when the actor may `action` it. An id that does not exist answers 404 to a
/// caller who may act on anyone's credentials and otherwise the 403 an existing credential of
/// someone else would get, so nothing is revealed.
pub async fn get(
    engine: &Engine,
    actor: &Actor,
    id: &str,
    action: &str,
) -> Result<Credential, CommandError> {
    let audit_action = format!("credential.{action}");
    let Some(credential) = engine.store.get_credential(id).await? else {
        let pattern = actor.scope("credential.*.user", action);
        return Err(actor
            .missing(
                engine,
                pattern,
                &audit_action,
                format!("no credential '{id}'"),
            )
            .await);
    };
    let allowed = scopes(actor, &credential.authority_id, &credential.user_id, action);
    actor.require_any(engine, &allowed, &audit_action).await?;
    Ok(credential)
}

/// Adds a credential to `user_id` (see the module documentation for the rules), audited as
/// `credential.create`.
pub async fn create(
    engine: &Engine,
    actor: &Actor,
    user_id: &str,
    input: NewCredentialInput,
    now: i64,
) -> Result<Credential, CommandError> {
    const ACTION: &str = "credential.create";
    let allowed = scopes(actor, &input.authority_id, user_id, "create");
    actor.require_any(engine, &allowed, ACTION).await?;
    let user = engine
        .store
        .get_user(user_id)
        .await?
        .ok_or_else(|| CommandError::not_found(format!("no user '{user_id}'")))?;
    actor.require_covers_user(engine, &user.id, ACTION).await?;
    let authority = engine
        .store
        .get_authority(&input.authority_id)
        .await?
        .ok_or_else(|| {
            CommandError::invalid_field(
                "authority_id",
                format!("no authority '{}'", input.authority_id),
            )
        })?;
    if authority.strategy != Strategy::Password && input.password.is_some() {
        return Err(CommandError::invalid_field(
            "password",
            "only password authorities take a password",
        ));
    }
    let for_oneself = user.id == actor.user_id;
    let (authority_user_id, details) = match authority.strategy {
        Strategy::Password => {
            if input
                .authority_user_id
                .as_ref()
                .is_some_and(|a| *a != user.id)
            {
                return Err(CommandError::invalid_field(
                    "authority_user_id",
                    "must be the user id for a password authority",
                ));
            }
            let password = input
                .password
                .ok_or_else(|| CommandError::invalid_field("password", "is required"))?;
            let hash = new_password_hash(engine, &authority, &user, password).await?;
            let proof = if for_oneself {
                Verification::Holder { at: now }
            } else {
                Verification::Admin {
                    at: now,
                    by: actor.user_id.clone(),
                }
            };
            (user.id.clone(), proof.written_into(json!({ "hash": hash })))
        }
        strategy => {
            if for_oneself {
                return Err(CommandError::Refused(flow_hint(strategy, &authority)));
            }
            let subject = input
                .authority_user_id
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| CommandError::invalid_field("authority_user_id", "is required"))?;
            let subject = if strategy == Strategy::Email {
                crate::address::normalize(&subject)
                    .map_err(|e| CommandError::invalid_field("authority_user_id", e.to_string()))?
            } else {
                subject
            };
            let proof = Verification::Admin {
                at: now,
                by: actor.user_id.clone(),
            };
            (subject, proof.written_into(json!({})))
        }
    };
    let credential = engine
        .store
        .create_credential(NewCredential {
            user_id: user.id,
            authority_id: authority.id,
            authority_user_id,
            details,
        })
        .await?;
    actor
        .audit_success(engine, ACTION, "credential", &credential.id)
        .await;
    Ok(credential)
}

/// Where a credential of one's own at `authority` comes from.
fn flow_hint(strategy: Strategy, authority: &Authority) -> String {
    match strategy {
        Strategy::Email => {
            "an email address of your own is added by following the link sent to it: \
                            use \"Add an email address\" on the account page (/account)"
                .to_owned()
        }
        _ => format!(
            "a credential of your own at '{}' is added by signing in there: use \"Link\" on the \
             account page (/account)",
            authority.id
        ),
    }
}

/// Removes credential `id`, audited as `credential.delete`. A user's last credential is refused
/// (409): they could never sign in again.
pub async fn delete(engine: &Engine, actor: &Actor, id: &str) -> Result<Credential, CommandError> {
    const ACTION: &str = "credential.delete";
    let credential = get(engine, actor, id, "delete").await?;
    actor
        .require_covers_user(engine, &credential.user_id, ACTION)
        .await?;
    let all = engine
        .store
        .list_credentials_of_user(&credential.user_id)
        .await?;
    if all.iter().all(|c| c.id == credential.id) {
        return Err(CommandError::conflict(
            "this is the user's last credential; they could not sign in without it".to_owned(),
        ));
    }
    engine
        .store
        .delete_credential(&credential.id)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => {
                CommandError::not_found(format!("no credential '{}'", credential.id))
            }
            e => e.into(),
        })?;
    let mut event = actor
        .audit_event(ACTION, Outcome::Success)
        .target("credential", &credential.id);
    if let Some(details) = event.details.as_object_mut() {
        details.insert("authority_id".to_owned(), json!(credential.authority_id));
    }
    crate::engine::audit::record(engine, event).await;
    Ok(credential)
}

/// Removes the caller's own credential `id` as [`delete`] does; anyone else's is "not found",
/// like a missing one (the account page lists only one's own).
pub async fn delete_own(
    engine: &Engine,
    actor: &Actor,
    id: &str,
) -> Result<Credential, CommandError> {
    match engine.store.get_credential(id).await? {
        Some(credential) if credential.user_id == actor.user_id => delete(engine, actor, id).await,
        _ => Err(CommandError::not_found(format!("no credential '{id}'"))),
    }
}

/// Stores `hash` (from [`new_password_hash`]) as the password of `credential`, keeping its other
/// details.
pub async fn replace_password_hash(
    engine: &Engine,
    credential: &Credential,
    hash: String,
) -> Result<Credential, crate::store::StoreError> {
    let mut details = match credential.details.clone() {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    details.insert("hash".to_owned(), serde_json::Value::String(hash));
    engine
        .store
        .update_credential_details(&credential.id, serde_json::Value::Object(details))
        .await
}

/// The bcrypt hash of `password` as a new password of `user` at `authority`, after the policy:
/// the authority's minimum length (else the configured one), at most 72 bytes, and none of the
/// user's addresses (the profile's and every email credential's).
pub async fn new_password_hash(
    engine: &Engine,
    authority: &Authority,
    user: &User,
    password: String,
) -> Result<String, CommandError> {
    let min = authx_strategy_password::PasswordStrategy::min_length(
        &authority.details,
        engine.config.password.min_length,
    );
    let authorities = engine.store.list_authorities().await?;
    let credentials = engine.store.list_credentials_of_user(&user.id).await?;
    let addresses = user.email.iter().cloned().chain(
        credentials
            .into_iter()
            .filter(|c| {
                authorities
                    .iter()
                    .any(|a| a.id == c.authority_id && a.strategy == Strategy::Email)
            })
            .map(|c| c.authority_user_id),
    );
    crate::password::check_policy(&password, min, None)
        .map_err(|e| CommandError::invalid_field("password", e.to_string()))?;
    for address in addresses {
        crate::password::check_policy(&password, min, Some(&address))
            .map_err(|e| CommandError::invalid_field("password", e.to_string()))?;
    }
    crate::password::hash(password, engine.config.password.bcrypt_cost)
        .await
        .map_err(|e| CommandError::Internal(Box::new(e)))
}
