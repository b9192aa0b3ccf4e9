//! Signing in with a password (reference §3, password strategy): the decision and what it
//! records, with no HTTP in it. The page parses the form and renders what this returns.
//!
//! - **One answer for every failure.** An unknown identifier, a wrong password and a disabled
//!   account all come back as [`PasswordOutcome::Failed`], after the same bcrypt work (an unknown
//!   account is checked against a dummy hash). The reason is recorded only in the audit log
//!   (`login.failure`).
//! - **Attempt limits.** Attempts count against the typed identifier and the client IP
//!   ([`rate_limit::begin_attempt`]) before the password is checked, so parallel guesses get no
//!   more tries than serial ones; a blocked key, or an attempt beyond a limit, is
//!   [`PasswordOutcome::Throttled`] unchecked. A success clears the identifier's count and takes
//!   the attempt back from the IP's.
//! - **A new session per login** ([`crate::engine::session::start`]: the one presented is ended
//!   first, so no session fixation).

use authx_strategy_password::verify_password;
use serde_json::{Value, json};

use crate::domain::audit::Outcome;
use crate::domain::authority::{Authority, Strategy};
use crate::domain::user::{User, UserStatus};
use crate::engine::Engine;
use crate::engine::audit::{self, Context};
use crate::engine::rate_limit::{self, Limit, RetryAfter};
use crate::store::StoreError;

/// A password sign-in attempt, as the form gave it.
#[derive(Debug)]
pub struct PasswordAttempt<'a> {
    /// Where the request came from (audited with every outcome).
    pub ctx: &'a Context,
    /// The client's IP address, the key of the per-IP attempt limit.
    pub ip: &'a str,
    /// A username or an email address, as typed.
    pub identifier: &'a str,
    pub password: String,
    /// The id of the session the browser presented, ended by a successful sign-in.
    pub previous_session: Option<&'a str>,
}

/// What came of a password sign-in.
#[derive(Debug)]
pub enum PasswordOutcome {
    /// No password authority is enabled.
    NoAuthority,
    /// Too many failures: try again after this many seconds.
    Throttled(u64),
    /// The one answer for every failure.
    Failed,
    /// Signed in: the user's id and the new session's id (for the cookie).
    SignedIn { user_id: String, session_id: String },
}

/// Decides `attempt` at `now` under the rules above.
pub async fn password(
    engine: &Engine,
    attempt: PasswordAttempt<'_>,
    now: i64,
) -> Result<PasswordOutcome, StoreError> {
    let Some(authority) = password_authority(engine).await? else {
        return Ok(PasswordOutcome::NoAuthority);
    };
    let ctx = attempt.ctx;
    let identifier = crate::address::fold(attempt.identifier);
    let limits = [
        Limit::LoginAccount(identifier.clone()),
        Limit::LoginIp(attempt.ip.to_owned()),
    ];
    let counted = match rate_limit::begin_attempt(engine, &limits).await {
        Ok(counted) => counted,
        Err(RetryAfter(secs)) => {
            let mut event = ctx.event("anonymous", None, "login.failure");
            event.outcome = Outcome::Denied;
            event.details = json!({ "authority": authority.id, "reason": "throttled" });
            audit::record(engine, event).await;
            return Ok(PasswordOutcome::Throttled(secs));
        }
    };
    let user = if identifier.is_empty() {
        None
    } else {
        find_user(engine, &identifier).await?
    };
    let credential = match &user {
        Some(user) => {
            engine
                .store
                .find_credential(&authority.id, &user.id)
                .await?
        }
        None => None,
    };
    let stored_hash = credential
        .as_ref()
        .and_then(|c| c.details.get("hash"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    // Always one bcrypt verification: against the dummy hash when there is no stored one.
    let matches = verify_password(attempt.password, stored_hash).await;
    let failure = match &user {
        None => Some("unknown_user"),
        Some(_) if !matches => Some("bad_password"),
        Some(user) if user.status != UserStatus::Active => Some("disabled"),
        Some(_) => None,
    };
    // The attempt was counted as a failure before the hash was checked (`begin_attempt`).
    let (Some(user), Some(credential), None) = (user.clone(), &credential, failure) else {
        let mut event = ctx.event("anonymous", None, "login.failure");
        if let Some(user) = &user {
            event = event.target("user", &user.id);
        }
        event.outcome = Outcome::Failure;
        event.details = json!({
            "authority": authority.id,
            "reason": failure.unwrap_or("bad_password"),
        });
        audit::record(engine, event).await;
        return Ok(PasswordOutcome::Failed);
    };
    // The account's count is forgotten; the IP's keeps its other failures.
    counted.succeeded(engine, 1).await;
    let session_id = crate::engine::session::sign_in(
        engine,
        ctx,
        attempt.previous_session,
        &user.id,
        &authority,
        now,
    )
    .await?;
    match engine.store.touch_credential(&credential.id, now).await {
        Ok(()) | Err(StoreError::NotFound) => {}
        Err(error) => tracing::warn!(%error, "could not record a credential's use"),
    }
    Ok(PasswordOutcome::SignedIn {
        user_id: user.id,
        session_id,
    })
}

/// The authorities people may sign in through now (the login page offers them).
pub async fn enabled_authorities(engine: &Engine) -> Result<Vec<Authority>, StoreError> {
    let mut all = engine.store.list_authorities().await?;
    all.retain(|a| a.enabled);
    Ok(all)
}

/// The password authority logins use: the enabled one called `password`, else the first enabled
/// one of the password strategy.
pub async fn password_authority(engine: &Engine) -> Result<Option<Authority>, StoreError> {
    let mut candidates: Vec<Authority> = engine
        .store
        .list_authorities()
        .await?
        .into_iter()
        .filter(|a| a.enabled && a.strategy == Strategy::Password)
        .collect();
    candidates.sort_by_key(|a| a.id != "password");
    Ok(candidates.into_iter().next())
}

/// The user a typed identifier names: a username, else the address of an email credential (of any
/// email authority; the one called `email` first).
async fn find_user(engine: &Engine, identifier: &str) -> Result<Option<User>, StoreError> {
    if let Some(user) = engine.store.find_user_by_username(identifier).await? {
        return Ok(Some(user));
    }
    let Ok(address) = crate::address::normalize(identifier) else {
        return Ok(None);
    };
    for authority_id in crate::engine::identity::email_authorities(engine).await? {
        if let Some(credential) = engine
            .store
            .find_credential(&authority_id, &address)
            .await?
        {
            return engine.store.get_user(&credential.user_id).await;
        }
    }
    Ok(None)
}
