//! Identity resolution (reference §3): turns a verified upstream identity into an authx user.
//!
//! Every strategy (password, email, OpenID Connect, SAML) ends with a [`VerifiedIdentity`] from
//! one authority; [`resolve_identity`] then applies, in order:
//! 1. an existing credential `(authority.id, authority_user_id)` → its user (disabled: refused);
//! 2. else, when a signed-in user is linking this authority on their account page → a new
//!    credential for that user;
//! 3. else, when the authority's `details.match_users_by_email` is true **and the upstream says the
//!    email is verified** and a credential of an `email`-strategy authority holds that address →
//!    a new credential for that user;
//! 4. else, when `details.creates_users` is true → a new user with the profile, this credential,
//!    an email credential when the address is verified and free, and the roles `details.role_ids`;
//! 5. else refused.
//!
//! An unverified email never links anything. Errors say nothing about whether an account exists.

use serde_json::{Value, json};

use crate::domain::audit::NewAuditEvent;
use crate::domain::authority::{Authority, Strategy};
use crate::domain::credential::{Credential, NewCredential, NewUserCredential, Verification};
use crate::domain::now;
use crate::domain::user::{NewUser, Profile, ProfileName, ProfileValue, User, UserStatus};
use crate::engine::Engine;
use crate::engine::audit;
use crate::store::StoreError;

/// What a strategy proved about the person signing in (the adapters convert the strategy crate's
/// `UpstreamIdentity` into this).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifiedIdentity {
    /// The subject at the authority: the email address, the OIDC `sub`, the SAML NameID, or the
    /// user id for passwords.
    pub authority_user_id: String,
    pub email: Option<String>,
    /// Whether the upstream vouches for `email`. Only a verified email links or creates anything.
    pub email_verified: bool,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// URL of a profile picture.
    pub picture: Option<String>,
}

/// Why a sign-in could not be resolved to a user. The messages are safe to show: they reveal
/// nothing about which accounts exist.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The identity belongs to a disabled user.
    #[error("this sign-in cannot be used; contact your administrator")]
    Disabled,
    /// No user for the identity, and the authority may neither match nor create one.
    #[error("this sign-in is not linked to an account")]
    NotLinked,
    /// The database failed.
    #[error("sign-in is unavailable at the moment; try again later")]
    Store(#[from] StoreError),
}

/// Resolves `identity`, verified by `authority`, to a user (reference §3 steps 1–5; see the module
/// documentation). `linking_user` is the signed-in user when the account page links a new
/// authority.
///
/// Step 1 comes first even when linking: if the identity is already linked to a *different* user,
/// that user is returned, and the linking caller must compare ids and refuse rather than switch
/// accounts.
pub async fn resolve_identity(
    state: &Engine,
    authority: &Authority,
    identity: &VerifiedIdentity,
    linking_user: Option<&str>,
) -> Result<User, LoginError> {
    match resolve_once(state, authority, identity, linking_user).await {
        // A concurrent sign-in with the same identity created the credential (or user) between our
        // lookup and our insert: the credential now exists, so step 1 answers.
        Err(LoginError::Store(StoreError::Conflict(_))) => {
            match existing(state, authority, identity).await? {
                Some(user) => Ok(user),
                None => Err(LoginError::NotLinked),
            }
        }
        other => other,
    }
}

async fn resolve_once(
    state: &Engine,
    authority: &Authority,
    identity: &VerifiedIdentity,
    linking_user: Option<&str>,
) -> Result<User, LoginError> {
    // 1. An existing credential.
    if let Some(user) = existing(state, authority, identity).await? {
        return Ok(user);
    }
    let store = &state.store;
    // 2. Linking on the account page.
    if let Some(user_id) = linking_user {
        let user = active_user(state, user_id)
            .await?
            .ok_or(LoginError::NotLinked)?;
        link(state, authority, identity, &user, "account").await?;
        return Ok(user);
    }
    let details = &authority.details;
    let verified_email = identity
        .email_verified
        .then(|| identity.email.as_deref().map(crate::address::fold))
        .flatten()
        .filter(|e| !e.is_empty());
    // 3. Match by a verified email address.
    if flag(details, "match_users_by_email")
        && let Some(email) = &verified_email
    {
        for email_authority in email_authorities(state).await? {
            if let Some(credential) = store.find_credential(&email_authority, email).await? {
                let user = active_user(state, &credential.user_id)
                    .await?
                    .ok_or(LoginError::Disabled)?;
                link(state, authority, identity, &user, "email").await?;
                return Ok(user);
            }
        }
    }
    // 4. Create the user.
    if flag(details, "creates_users") {
        return create_user(state, authority, identity, verified_email).await;
    }
    // 5. Refuse.
    Err(LoginError::NotLinked)
}

/// Step 1: the user of the existing credential, if any; disabled users are refused.
async fn existing(
    state: &Engine,
    authority: &Authority,
    identity: &VerifiedIdentity,
) -> Result<Option<User>, LoginError> {
    let Some(credential) = state
        .store
        .find_credential(&authority.id, &identity.authority_user_id)
        .await?
    else {
        return Ok(None);
    };
    let user = state
        .store
        .get_user(&credential.user_id)
        .await?
        .ok_or(LoginError::NotLinked)?;
    if user.status != UserStatus::Active {
        return Err(LoginError::Disabled);
    }
    match state.store.touch_credential(&credential.id, now()).await {
        // Deleted a moment ago: the sign-in stands, there is just nothing to record.
        Ok(()) | Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    record_proof(state, authority, identity, &credential).await?;
    Ok(Some(user))
}

/// What a completed sign-in at `authority` proves about its credential: the emailed link proves
/// the address; an upstream login proves the subject, and the address only when the upstream
/// vouched for it. Passwords prove no identity claim.
fn proof(authority: &Authority, identity: &VerifiedIdentity, at: i64) -> Option<Verification> {
    match authority.strategy {
        Strategy::Email => Some(Verification::EmailLink { at }),
        Strategy::Google | Strategy::Saml => Some(Verification::Upstream {
            at,
            email_verified: identity.email_verified,
        }),
        Strategy::Password => None,
    }
}

/// Brings an existing credential's verification record up to what this sign-in proved. It writes
/// only when the proof changes (an administrator's credential signed in for the first time, an
/// upstream that now vouches or no longer does), so an ordinary sign-in adds no write. An
/// upstream credential's profile snapshot is refreshed with it, so the address the record speaks
/// of is the one just sent.
async fn record_proof(
    state: &Engine,
    authority: &Authority,
    identity: &VerifiedIdentity,
    credential: &Credential,
) -> Result<(), LoginError> {
    let Some(proof) = proof(authority, identity, now()) else {
        return Ok(());
    };
    let snapshot_email = credential
        .details
        .pointer("/profile/email")
        .and_then(Value::as_str);
    let unchanged = Verification::of(&credential.details)
        .is_some_and(|held| held.same_proof(&proof))
        && (authority.strategy == Strategy::Email || snapshot_email == identity.email.as_deref());
    if unchanged {
        return Ok(());
    }
    let details = match authority.strategy {
        Strategy::Email => credential.details.clone(),
        _ => snapshot(identity),
    };
    match state
        .store
        .update_credential_details(&credential.id, proof.written_into(details))
        .await
    {
        Ok(_) | Err(StoreError::NotFound) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The user if it exists and is active; `Disabled` if it is disabled.
async fn active_user(state: &Engine, user_id: &str) -> Result<Option<User>, LoginError> {
    match state.store.get_user(user_id).await? {
        Some(user) if user.status == UserStatus::Active => Ok(Some(user)),
        Some(_) => Err(LoginError::Disabled),
        None => Ok(None),
    }
}

/// Steps 2 and 3: a new credential of `authority` for `user`, audited as `login.link`.
async fn link(
    state: &Engine,
    authority: &Authority,
    identity: &VerifiedIdentity,
    user: &User,
    via: &str,
) -> Result<(), LoginError> {
    let credential = state
        .store
        .create_credential(NewCredential {
            user_id: user.id.clone(),
            authority_id: authority.id.clone(),
            authority_user_id: identity.authority_user_id.clone(),
            details: proven_snapshot(authority, identity),
        })
        .await?;
    if let Err(e) = state.store.touch_credential(&credential.id, now()).await {
        tracing::warn!(error = %e, "could not record the credential's first use");
    }
    let mut event = NewAuditEvent::new("user", Some(&user.id), "login.link")
        .target("credential", &credential.id);
    event.details = json!({ "authority_id": authority.id, "via": via });
    audit::record_unchanged(state, event).await;
    Ok(())
}

/// Step 4: a new user with this credential, a verified email credential, and the authority's
/// roles, in one transaction; audited as `user.create`.
async fn create_user(
    state: &Engine,
    authority: &Authority,
    identity: &VerifiedIdentity,
    verified_email: Option<String>,
) -> Result<User, LoginError> {
    let store = &state.store;
    let mut credentials = vec![NewUserCredential {
        authority_id: authority.id.clone(),
        authority_user_id: identity.authority_user_id.clone(),
        details: proven_snapshot(authority, identity),
    }];
    if let Some(email) = &verified_email
        && let Some(email_authority) = email_authorities(state).await?.into_iter().next()
        && !(email_authority == authority.id && email == &identity.authority_user_id)
        && store
            .find_credential(&email_authority, email)
            .await?
            .is_none()
    {
        // The address is here because the upstream vouched for it.
        let proof = Verification::Upstream {
            at: now(),
            email_verified: true,
        };
        credentials.push(NewUserCredential {
            authority_id: email_authority,
            authority_user_id: email.clone(),
            details: proof.written_into(json!({})),
        });
    }
    // Roles that no longer exist are skipped: a deleted role must not stop every sign-up.
    let mut role_ids = Vec::new();
    for role_id in strings(&authority.details, "role_ids") {
        if store.get_role(&role_id).await?.is_some() {
            role_ids.push(role_id);
        } else {
            tracing::warn!(authority = %authority.id, role = %role_id, "authority names a missing role");
        }
    }
    let display_name = identity.display_name.clone().or_else(|| {
        let joined = [
            identity.given_name.as_deref(),
            identity.family_name.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        (!joined.is_empty()).then_some(joined)
    });
    let name =
        (identity.given_name.is_some() || identity.family_name.is_some()).then(|| ProfileName {
            formatted: display_name.clone(),
            given_name: identity.given_name.clone(),
            family_name: identity.family_name.clone(),
        });
    let profile = Profile {
        display_name: display_name.clone(),
        name,
        emails: verified_email
            .iter()
            .map(|e| ProfileValue {
                value: e.clone(),
                kind: None,
                primary: true,
            })
            .collect(),
        // Only web URLs are kept: the picture is shown by relying parties (OIDC `picture`).
        photos: identity
            .picture
            .iter()
            .filter(|p| p.starts_with("https://") || p.starts_with("http://"))
            .map(|p| ProfileValue {
                value: p.clone(),
                kind: None,
                primary: true,
            })
            .collect(),
    };
    let user = store
        .create_user_with_credentials(
            NewUser {
                email: verified_email,
                display_name,
                profile,
                ..NewUser::human()
            },
            credentials,
            role_ids.clone(),
        )
        .await?;
    let mut event =
        NewAuditEvent::new("user", Some(&user.id), "user.create").target("user", &user.id);
    event.details = json!({ "authority_id": authority.id, "role_ids": role_ids, "via": "login" });
    audit::record(state, event).await;
    Ok(user)
}

/// The addresses `user_id` has proven control of (reference §3), folded: those of email
/// credentials whose record says the emailed link was followed or an upstream vouched for the
/// address, and those an upstream sent with its vouching at the user's last sign-in there. An
/// administrator's say-so or the profile's `email` field proves nothing.
pub async fn proven_addresses(state: &Engine, user_id: &str) -> Result<Vec<String>, StoreError> {
    let authorities = state.store.list_authorities().await?;
    let strategy_of = |id: &str| authorities.iter().find(|a| a.id == id).map(|a| a.strategy);
    let mut proven = Vec::new();
    for credential in state.store.list_credentials_of_user(user_id).await? {
        if !Verification::of(&credential.details).is_some_and(|v| v.proves_email()) {
            continue;
        }
        let address = match strategy_of(&credential.authority_id) {
            Some(Strategy::Email) => Some(credential.authority_user_id.as_str()),
            Some(Strategy::Google | Strategy::Saml) => credential
                .details
                .pointer("/profile/email")
                .and_then(Value::as_str),
            Some(Strategy::Password) | None => None,
        };
        if let Some(address) = address {
            proven.push(crate::address::fold(address));
        }
    }
    Ok(proven)
}

/// Ids of the authorities of the `email` strategy; one called `email` first.
pub async fn email_authorities(state: &Engine) -> Result<Vec<String>, StoreError> {
    let mut ids: Vec<String> = state
        .store
        .list_authorities()
        .await?
        .into_iter()
        .filter(|a| a.strategy == Strategy::Email)
        .map(|a| a.id)
        .collect();
    ids.sort_by_key(|id| id != "email");
    Ok(ids)
}

/// A new credential's details: the profile snapshot with this sign-in's proof.
fn proven_snapshot(authority: &Authority, identity: &VerifiedIdentity) -> Value {
    let details = snapshot(identity);
    match proof(authority, identity, now()) {
        Some(proof) => proof.written_into(details),
        None => details,
    }
}

/// What the credential keeps of the upstream profile (never used for authentication).
fn snapshot(identity: &VerifiedIdentity) -> Value {
    json!({
        "profile": {
            "email": identity.email,
            "email_verified": identity.email_verified,
            "display_name": identity.display_name,
            "given_name": identity.given_name,
            "family_name": identity.family_name,
            "picture": identity.picture,
        }
    })
}

fn flag(details: &Value, key: &str) -> bool {
    details.get(key).and_then(Value::as_bool) == Some(true)
}

fn strings(details: &Value, key: &str) -> Vec<String> {
    details
        .get(key)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
