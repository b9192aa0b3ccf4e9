//! Self-service: a signed-in user's own account (the account page), what it shows and the password
//! change. Everything else the page does goes through the admin commands with the user as the actor
//! (`me`-relative scopes), so each rule has one place.
//!
//! - **Changing the password** needs the current one. Wrong guesses count against the account
//!   ([`rate_limit`]), so a stolen session cannot guess at leisure. The new password follows the
//!   policy of [`crate::engine::admin::credentials::new_password_hash`]. Every other session of
//!   the user ends, and this browser continues with a fresh session id. Audited as
//!   `password.change`.

use authx_strategy_password::verify_password;
use serde_json::{Value, json};

use crate::domain::Page;
use crate::domain::api_key::{ApiKey, ApiKeyFilter};
use crate::domain::audit::Outcome;
use crate::domain::authority::Authority;
use crate::domain::credential::Credential;
use crate::domain::grant::{Grant, GrantFilter};
use crate::domain::user::User;
use crate::engine::Engine;
use crate::engine::audit::{self, Context};
use crate::engine::error::CommandError;
use crate::engine::rate_limit::{self, Limit, RetryAfter};
use crate::store::StoreError;

/// What the account page lists.
#[derive(Debug)]
pub struct Overview {
    /// Every authority (the page names credentials by them and offers the enabled ones).
    pub authorities: Vec<Authority>,
    /// The user's credentials.
    pub credentials: Vec<Credential>,
    /// The user's unrevoked API keys (the first 100), when they may read them.
    pub keys: Vec<ApiKey>,
}

/// The account page's lists for `user_id`; `with_keys` when they may read their keys.
pub async fn overview(
    engine: &Engine,
    user_id: &str,
    with_keys: bool,
) -> Result<Overview, StoreError> {
    let authorities = engine.store.list_authorities().await?;
    let credentials = engine.store.list_credentials_of_user(user_id).await?;
    let keys = if with_keys {
        let filter = ApiKeyFilter {
            user_id: Some(user_id.to_owned()),
            include_revoked: false,
        };
        engine
            .store
            .list_api_keys(&filter, &Page::first(100))
            .await?
    } else {
        Vec::new()
    };
    Ok(Overview {
        authorities,
        credentials,
        keys,
    })
}

/// The user's grants (the first 100) with the name of each client (its id when it is gone).
pub async fn grants(engine: &Engine, user_id: &str) -> Result<Vec<(Grant, String)>, StoreError> {
    let filter = GrantFilter {
        user_id: Some(user_id.to_owned()),
        client_id: None,
    };
    let mut named = Vec::new();
    for grant in engine.store.list_grants(&filter, &Page::first(100)).await? {
        let name = engine
            .store
            .get_client(&grant.client_id)
            .await?
            .map_or_else(|| grant.client_id.clone(), |c| c.name);
        named.push((grant, name));
    }
    Ok(named)
}

/// The user's credential at password authority `authority`, if they have a password.
pub async fn password_credential(
    engine: &Engine,
    authority: &Authority,
    user_id: &str,
) -> Result<Option<Credential>, StoreError> {
    engine.store.find_credential(&authority.id, user_id).await
}

/// A password change asked for by the user of `session`.
#[derive(Debug)]
pub struct PasswordChange<'a> {
    pub ctx: &'a Context,
    pub user: &'a User,
    /// The authority the browser's session signed in through (its fresh session keeps it).
    pub session_authority_id: &'a str,
    /// The id of this browser's session, replaced by a fresh one.
    pub session_id: Option<&'a str>,
    pub current: String,
    pub new: String,
}

/// What came of a password change.
#[derive(Debug)]
pub enum PasswordChanged {
    /// The user has no password at this authority.
    NoPassword,
    /// Too many wrong guesses: try again after this many seconds.
    Throttled(u64),
    /// The current password is wrong.
    WrongCurrent,
    /// The new password is refused by the policy; why.
    Refused(String),
    /// Changed: the id of this browser's fresh session.
    Changed { session_id: String },
}

/// Changes the password of `change.user` at `authority` (the enabled password authority) at
/// `now`, under the rules above.
pub async fn change_password(
    engine: &Engine,
    authority: &Authority,
    change: PasswordChange<'_>,
    now: i64,
) -> Result<PasswordChanged, CommandError> {
    let user = change.user;
    let ctx = change.ctx;
    let Some(credential) = password_credential(engine, authority, &user.id).await? else {
        return Ok(PasswordChanged::NoPassword);
    };
    let limits = [Limit::PasswordChange(user.id.clone())];
    let attempt = match rate_limit::begin_attempt(engine, &limits).await {
        Ok(attempt) => attempt,
        Err(RetryAfter(secs)) => return Ok(PasswordChanged::Throttled(secs)),
    };
    let stored = credential
        .details
        .get("hash")
        .and_then(Value::as_str)
        .map(str::to_owned);
    // Counted as a failure before the check (`begin_attempt`), forgotten once it passed.
    if !verify_password(change.current, stored).await {
        let mut event = ctx
            .event("user", Some(&user.id), "password.change")
            .target("credential", &credential.id);
        event.outcome = Outcome::Failure;
        event.details = json!({ "reason": "bad_current_password" });
        audit::record(engine, event).await;
        return Ok(PasswordChanged::WrongCurrent);
    }
    attempt.succeeded(engine, limits.len()).await;
    let hash = match crate::engine::admin::credentials::new_password_hash(
        engine, authority, user, change.new,
    )
    .await
    {
        Ok(hash) => hash,
        Err(CommandError::Invalid { message, .. }) => return Ok(PasswordChanged::Refused(message)),
        Err(e) => return Err(e),
    };
    crate::engine::admin::credentials::replace_password_hash(engine, &credential, hash).await?;
    // Every other session ends; this browser continues with a fresh session id.
    let ended = crate::engine::session::end_all(engine, &user.id).await?;
    let (_session, session_id) = crate::engine::session::start(
        engine,
        ctx,
        change.session_id,
        &user.id,
        change.session_authority_id,
        now,
    )
    .await?;
    let mut event = ctx
        .event("user", Some(&user.id), "password.change")
        .target("credential", &credential.id);
    event.details = json!({ "other_sessions_ended": ended.saturating_sub(1) });
    audit::record(engine, event).await;
    Ok(PasswordChanged::Changed { session_id })
}
