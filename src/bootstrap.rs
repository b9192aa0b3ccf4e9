//! `authx bootstrap-admin`: makes a fresh installation usable (SPEC §2.6).
//!
//! Creates, only where missing: the `root` role (`<realm>:**:**`), the `default` role every user
//! holds (their own profile, credentials, grants and API keys), the `email` and `password`
//! authorities, and the administrator (an email credential, optionally a password credential)
//! holding `root`. Running it again changes nothing except, when a password is given, the
//! administrator's password. Every step is idempotent on its own, so a run interrupted halfway is
//! completed by running it again; creations that race with another node are treated as "exists".

use serde_json::json;

use crate::config::Config;
use crate::domain::api_key::NewApiKey;
use crate::domain::audit::NewAuditEvent;
use crate::domain::authority::{NewAuthority, Strategy};
use crate::domain::credential::{NewCredential, NewUserCredential};
use crate::domain::role::NewRole;
use crate::domain::user::NewUser;
use crate::store::{Store, StoreError};
use crate::{address, password, secret};

/// The role holding every scope of the realm.
pub const ROOT_ROLE: &str = "root";
/// The role every user holds.
pub const DEFAULT_ROLE: &str = "default";

/// What the administrator is given.
#[derive(Debug)]
pub struct BootstrapRequest {
    /// Their email address (their login with the `email` authority).
    pub email: String,
    /// A password for the `password` authority, if wanted.
    pub password: Option<String>,
}

/// What a run did, step by step, for the operator to read.
#[derive(Debug, Default)]
pub struct BootstrapReport {
    /// The administrator's user id.
    pub user_id: String,
    /// One line per step: "created …", "kept existing …", "set password …".
    pub steps: Vec<String>,
}

/// Why bootstrapping failed. Nothing is half-done: each step either happened whole or not at all.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The email address is not valid.
    #[error(transparent)]
    Address(#[from] address::InvalidAddress),
    /// The password does not meet the policy.
    #[error("password refused: {0}")]
    Policy(#[from] password::PolicyError),
    /// An existing authority with a reserved id uses another strategy.
    #[error("authority '{id}' exists but uses the {found} strategy, not {wanted}; rename it first")]
    AuthorityClash {
        /// The authority id.
        id: String,
        /// Its strategy.
        found: &'static str,
        /// The strategy bootstrap needs.
        wanted: &'static str,
    },
    /// Hashing the password failed.
    #[error(transparent)]
    Hash(#[from] password::HashError),
    /// The requested API key life is outside `1..=api_keys.max_ttl_secs`.
    #[error("--expires-in must be between 1 and {max} seconds (api_keys.max_ttl_secs)")]
    KeyLifetime {
        /// The configured maximum.
        max: u64,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs the bootstrap against `store`.
pub async fn bootstrap_admin(
    store: &dyn Store,
    config: &Config,
    request: BootstrapRequest,
) -> Result<BootstrapReport, BootstrapError> {
    let email = address::normalize(&request.email)?;
    if let Some(pw) = &request.password {
        password::check_policy(pw, config.password.min_length, Some(&email))?;
    }
    let realm = &config.realm;
    let mut report = BootstrapReport::default();

    ensure_role(
        store,
        &mut report,
        NewRole {
            id: ROOT_ROLE.to_owned(),
            name: "Root".to_owned(),
            description: Some("Every scope of authx itself: full administration.".to_owned()),
            is_default: false,
            enabled: true,
            scopes: vec![format!("{realm}:**:**")],
            deny: Vec::new(),
        },
    )
    .await?;
    ensure_role(
        store,
        &mut report,
        NewRole {
            id: DEFAULT_ROLE.to_owned(),
            name: "Default".to_owned(),
            description: Some(
                "Held by every user: manage one's own profile, credentials, grants and API keys."
                    .to_owned(),
            ),
            is_default: true,
            enabled: true,
            scopes: default_role_scopes(realm),
            deny: Vec::new(),
        },
    )
    .await?;
    ensure_authority(store, &mut report, "email", Strategy::Email, "Email").await?;
    ensure_authority(
        store,
        &mut report,
        "password",
        Strategy::Password,
        "Password",
    )
    .await?;

    let user_id = match store.find_credential("email", &email).await? {
        Some(credential) => {
            report.steps.push(format!(
                "kept existing user {} ({email})",
                credential.user_id
            ));
            credential.user_id
        }
        None => {
            let mut user = NewUser::human();
            user.email = Some(email.clone());
            user.display_name = Some(email.clone());
            let credential = NewUserCredential {
                authority_id: "email".to_owned(),
                authority_user_id: email.clone(),
                details: json!({ "verified": true }),
            };
            let user = store
                .create_user_with_credentials(user, vec![credential], vec![ROOT_ROLE.to_owned()])
                .await?;
            report.steps.push(format!(
                "created user {} ({email}) with an email credential",
                user.id
            ));
            user.id
        }
    };
    store.add_role_member(ROOT_ROLE, &user_id).await?;
    report
        .steps
        .push(format!("user {user_id} holds role '{ROOT_ROLE}'"));

    if let Some(pw) = request.password {
        let hash = password::hash(pw, config.password.bcrypt_cost).await?;
        let details = json!({ "hash": hash });
        match store.find_credential("password", &user_id).await? {
            Some(existing) => {
                store
                    .update_credential_details(&existing.id, details)
                    .await?;
                report.steps.push("replaced the password".to_owned());
            }
            None => {
                store
                    .create_credential(NewCredential {
                        user_id: user_id.clone(),
                        authority_id: "password".to_owned(),
                        authority_user_id: user_id.clone(),
                        details,
                    })
                    .await?;
                report
                    .steps
                    .push("created a password credential".to_owned());
            }
        }
    }

    let mut event = NewAuditEvent::new("cli", None, "bootstrap.admin");
    event.target_type = Some("user".to_owned());
    event.target_id = Some(user_id.clone());
    event.details = json!({ "steps": report.steps });
    store.append_audit(event).await?;
    report.user_id = user_id;
    Ok(report)
}

/// An API key issued by [`issue_admin_api_key`].
#[derive(Debug)]
pub struct IssuedKey {
    /// The key's id.
    pub id: String,
    /// The secret (`axk_…`): print it once, never log it.
    pub secret: String,
    /// Expiry (unix seconds).
    pub expires_at: i64,
}

/// Issues `user_id` an API key for every scope of the realm (`<realm>:**:**`), living
/// `expires_in` seconds (default `api_keys.default_ttl_secs`, at most `api_keys.max_ttl_secs`).
/// What it allows at any moment is still bounded by the user's access at that moment.
pub async fn issue_admin_api_key(
    store: &dyn Store,
    config: &Config,
    user_id: &str,
    expires_in: Option<u64>,
) -> Result<IssuedKey, BootstrapError> {
    let max = config.api_keys.max_ttl_secs;
    let ttl = expires_in.unwrap_or(config.api_keys.default_ttl_secs);
    if !(1..=max).contains(&ttl) {
        return Err(BootstrapError::KeyLifetime { max });
    }
    let ttl = i64::try_from(ttl).map_err(|_| BootstrapError::KeyLifetime { max })?;
    let key = secret::generate(secret::API_KEY_PREFIX);
    let stored = store
        .create_api_key(NewApiKey {
            user_id: user_id.to_owned(),
            key_hash: secret::hash(&key),
            hint: secret::hint(&key),
            description: Some("issued by authx bootstrap-admin".to_owned()),
            scopes: vec![format!("{}:**:**", config.realm)],
            clients: Vec::new(),
            expires_at: crate::domain::now().saturating_add(ttl),
        })
        .await?;
    let mut event = NewAuditEvent::new("cli", None, "apikey.issue");
    event.target_type = Some("api_key".to_owned());
    event.target_id = Some(stored.id.clone());
    event.details = json!({ "user_id": user_id, "via": "bootstrap-admin" });
    store.append_audit(event).await?;
    Ok(IssuedKey {
        id: stored.id,
        secret: key,
        expires_at: stored.expires_at,
    })
}

/// The scopes of the `default` role (SPEC §2.6).
pub fn default_role_scopes(realm: &str) -> Vec<String> {
    vec![
        format!("{realm}:apikey.me:*"),
        format!("{realm}:credential.*.me:*"),
        format!("{realm}:grant.*.me:*"),
        format!("{realm}:me:*"),
    ]
}

async fn ensure_role(
    store: &dyn Store,
    report: &mut BootstrapReport,
    role: NewRole,
) -> Result<(), BootstrapError> {
    if store.get_role(&role.id).await?.is_some() {
        report
            .steps
            .push(format!("kept existing role '{}'", role.id));
        return Ok(());
    }
    let id = role.id.clone();
    let scopes = role.scopes.join(" ");
    match store.create_role(role).await {
        Ok(_) => report.steps.push(format!("created role '{id}' ({scopes})")),
        // Another node created it between our read and write: that is the state we wanted.
        Err(StoreError::Conflict(_)) => report.steps.push(format!("kept existing role '{id}'")),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

async fn ensure_authority(
    store: &dyn Store,
    report: &mut BootstrapReport,
    id: &str,
    strategy: Strategy,
    name: &str,
) -> Result<(), BootstrapError> {
    if let Some(existing) = store.get_authority(id).await? {
        if existing.strategy != strategy {
            return Err(BootstrapError::AuthorityClash {
                id: id.to_owned(),
                found: existing.strategy.as_str(),
                wanted: strategy.as_str(),
            });
        }
        report.steps.push(format!("kept existing authority '{id}'"));
        return Ok(());
    }
    let created = store
        .create_authority(NewAuthority {
            id: id.to_owned(),
            strategy,
            name: name.to_owned(),
            enabled: true,
            details: json!({}),
        })
        .await;
    match created {
        Ok(_) => report
            .steps
            .push(format!("created authority '{id}' ({})", strategy.as_str())),
        Err(StoreError::Conflict(_)) => {
            report.steps.push(format!("kept existing authority '{id}'"))
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}
