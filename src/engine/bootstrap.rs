//! `authx bootstrap-admin`: makes a fresh installation usable (reference §2.6).
//!
//! Creates, only where missing: the `root` role (`**:**:**`: every realm, so the first
//! administrator can create application roles and clients), the `default` role every user holds
//! (their own profile, credentials, grants and API keys), the `email` and `password` authorities,
//! and the administrator (an email credential, optionally a password credential) holding `root`.
//! Running it again changes nothing except, when a password is given, the administrator's
//! password. Every step is idempotent on its own, so a run interrupted halfway is completed by
//! running it again; creations that race with another node are treated as "exists".
//!
//! `--restore-root` is the recovery from the machine that holds the database, for an installation
//! whose administrators locked themselves out or that predates the every-realm `root`: it makes
//! `root` bestow `**:**:**` again (enabled, not default, no deny), re-activates the named
//! administrator and puts them in `root`, and lifts every deny pattern that would still keep them
//! from administering authx (it leaves the roles that carry one, or strips the pattern from a
//! default role). Each change is listed and audited as `bootstrap.restore_root`.

use serde_json::json;

use crate::config::Config;
use crate::domain::Page;
use crate::domain::api_key::NewApiKey;
use crate::domain::audit::NewAuditEvent;
use crate::domain::authority::{NewAuthority, Strategy};
use crate::domain::credential::{NewCredential, NewUserCredential};
use crate::domain::role::{NewRole, RolePatch};
use crate::domain::user::{NewUser, UserPatch, UserStatus};
use crate::scopes::Scope;
use crate::store::{Store, StoreError};
use crate::{address, password, secret};

/// The role holding every scope of the realm.
pub const ROOT_ROLE: &str = "root";
/// The role every user holds.
pub const DEFAULT_ROLE: &str = "default";
/// What `root` bestows: every scope of every realm.
pub const ROOT_SCOPE: &str = "**:**:**";

/// What the administrator is given.
#[derive(Debug)]
pub struct BootstrapRequest {
    /// Their email address (their login with the `email` authority).
    pub email: String,
    /// A password for the `password` authority, if wanted.
    pub password: Option<String>,
    /// Restore `root` and the administrator's hold on it (see the module documentation).
    pub restore_root: bool,
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
            description: Some(
                "Every scope of every realm: full administration of authx and its applications."
                    .to_owned(),
            ),
            is_default: false,
            enabled: true,
            scopes: vec![ROOT_SCOPE.to_owned()],
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
    if request.restore_root {
        restore_root(store, realm, &user_id, &mut report).await?;
    }
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

    let action = if request.restore_root {
        "bootstrap.restore_root"
    } else {
        "bootstrap.admin"
    };
    let mut event = NewAuditEvent::new("cli", None, action);
    event.target_type = Some("user".to_owned());
    event.target_id = Some(user_id.clone());
    event.details = json!({ "steps": report.steps });
    store.append_audit(event).await?;
    report.user_id = user_id;
    Ok(report)
}

/// The `--restore-root` steps for the administrator `user_id`.
async fn restore_root(
    store: &dyn Store,
    realm: &str,
    user_id: &str,
    report: &mut BootstrapReport,
) -> Result<(), BootstrapError> {
    store
        .update_role(
            ROOT_ROLE,
            RolePatch {
                is_default: Some(false),
                enabled: Some(true),
                scopes: Some(vec![ROOT_SCOPE.to_owned()]),
                deny: Some(Vec::new()),
                ..RolePatch::default()
            },
        )
        .await?;
    report.steps.push(format!(
        "restored role '{ROOT_ROLE}': enabled, bestows {ROOT_SCOPE}, no deny"
    ));
    let user = store.get_user(user_id).await?.ok_or(StoreError::NotFound)?;
    if user.status != UserStatus::Active {
        store
            .update_user(
                user_id,
                UserPatch {
                    status: Some(UserStatus::Active),
                    ..UserPatch::default()
                },
            )
            .await?;
        report.steps.push(format!("re-activated user {user_id}"));
    }
    // A deny that touches authx's own realm could still keep the administrator out.
    let own_realm = Scope::parse(&format!("{realm}:**:**"))
        .map_err(|e| StoreError::InvalidValue(format!("realm: {e}")))?;
    let blocks = |pattern: &String| Scope::parse(pattern).is_ok_and(|p| p.intersects(&own_realm));
    for role in store.roles_of_user(user_id).await? {
        if role.id != ROOT_ROLE && !role.is_default && role.deny.iter().any(blocks) {
            store.remove_role_member(&role.id, user_id).await?;
            report.steps.push(format!(
                "removed user {user_id} from role '{}', whose deny ({}) covered administration",
                role.id,
                role.deny.join(" ")
            ));
        }
    }
    let mut page = Page::first(Page::MAX_LIMIT);
    loop {
        let roles = store.list_roles(&page).await?;
        let last = roles.last().map(|r| r.id.clone());
        for role in &roles {
            if role.is_default && role.deny.iter().any(blocks) {
                let (lifted, kept): (Vec<String>, Vec<String>) =
                    role.deny.iter().cloned().partition(blocks);
                store
                    .update_role(
                        &role.id,
                        RolePatch {
                            deny: Some(kept),
                            ..RolePatch::default()
                        },
                    )
                    .await?;
                report.steps.push(format!(
                    "lifted deny {} from default role '{}' (it applied to every user)",
                    lifted.join(" "),
                    role.id
                ));
            }
        }
        match last {
            Some(id) if roles.len() as u32 >= page.clamped_limit() => {
                page = Page::after(Page::MAX_LIMIT, id);
            }
            _ => break,
        }
    }
    Ok(())
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

/// Issues `user_id` an API key for every scope (`**:**:**`, what `root` bestows), living
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
            scopes: vec![ROOT_SCOPE.to_owned()],
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

/// The scopes of the `default` role (reference §2.6).
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
