//! Browser sessions (reference §6): a server-side row per login. The browser holds a random 256-bit id
//! (in the `authx_session` cookie, see `http::web::session`); the database holds only its SHA-256,
//! so a leaked dump cannot be replayed as a cookie. Every login gets a new id (the session of the
//! id presented at login is deleted first: no session fixation). A session ends after
//! `session.idle_timeout_secs` without use or `session.absolute_timeout_secs` after login.

use crate::domain::access::Access;
use crate::domain::authority::Authority;
use crate::domain::session::{NewSession, Session};
use crate::domain::user::{User, UserStatus};
use crate::engine::Engine;
use crate::engine::audit::Context;
use crate::secret;
use crate::store::StoreError;

/// Prefix of session ids (recognisable for secret scanners, like `axk_` for API keys).
pub const SESSION_ID_PREFIX: &str = "axsn_";

/// The idle expiry is written back at most this often per session, so that a busy page does not
/// write on every request.
const TOUCH_INTERVAL_SECS: i64 = 60;

/// Starts a session for `user_id`, signed in through `authority_id` at `now`, after deleting the
/// session of `previous` (the id the browser presented, if any). Returns it with its new id.
pub async fn start(
    state: &Engine,
    ctx: &Context,
    previous: Option<&str>,
    user_id: &str,
    authority_id: &str,
    now: i64,
) -> Result<(Session, String), StoreError> {
    if let Some(old) = previous {
        match state.store.delete_session(&secret::hash(old)).await {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    let id = secret::generate(SESSION_ID_PREFIX);
    let cfg = &state.config.session;
    let session = state
        .store
        .create_session(NewSession {
            id_hash: secret::hash(&id),
            user_id: user_id.to_owned(),
            authority_id: authority_id.to_owned(),
            auth_time: now,
            expires_at: now.saturating_add(secs(cfg.absolute_timeout_secs)),
            idle_expires_at: now.saturating_add(secs(cfg.idle_timeout_secs)),
            ip: ctx.ip.clone(),
            user_agent: ctx.user_agent.clone(),
        })
        .await?;
    Ok((session, id))
}

/// The session with id `id`, if it is known, unexpired at `now` and its user is active. Expired
/// rows are deleted on the way; the idle expiry slides forward (written at most once a minute).
pub async fn current(state: &Engine, id: &str, now: i64) -> Result<Option<Session>, StoreError> {
    let id_hash = secret::hash(id);
    let Some(mut session) = state.store.get_session(&id_hash).await? else {
        return Ok(None);
    };
    if !session.is_active(now) {
        match state.store.delete_session(&id_hash).await {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e),
        }
        return Ok(None);
    }
    match state.store.get_user(&session.user_id).await? {
        Some(user) if user.status == UserStatus::Active => {}
        _ => return Ok(None),
    }
    if now - session.last_seen_at >= TOUCH_INTERVAL_SECS {
        let idle = now
            .saturating_add(secs(state.config.session.idle_timeout_secs))
            .min(session.expires_at);
        match state.store.touch_session(&id_hash, idle, now).await {
            Ok(()) => {
                session.idle_expires_at = idle;
                session.last_seen_at = now;
            }
            // Ended concurrently (logout in another tab): this request is no longer signed in.
            Err(StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Ok(Some(session))
}

/// Signs `user_id` in through `authority` at `now`: a new session (the browser's `previous` one
/// ends first) and the `login.success` event. Returns the session's id, for the cookie.
pub async fn sign_in(
    state: &Engine,
    ctx: &Context,
    previous: Option<&str>,
    user_id: &str,
    authority: &Authority,
    now: i64,
) -> Result<String, StoreError> {
    let (_session, id) = start(state, ctx, previous, user_id, &authority.id, now).await?;
    let mut event = ctx
        .event("user", Some(user_id), "login.success")
        .target("user", user_id);
    event.details = serde_json::json!({
        "authority": authority.id,
        "strategy": authority.strategy.as_str(),
    });
    crate::engine::audit::record_unchanged(state, event).await;
    Ok(id)
}

/// Who is signed in through `session`: the user and their current access (none when they hold
/// no roles); `None` when the user is gone.
pub async fn holder(
    state: &Engine,
    session: &Session,
) -> Result<Option<(User, Access)>, StoreError> {
    let Some(user) = state.store.get_user(&session.user_id).await? else {
        return Ok(None);
    };
    let access = crate::engine::actor::access_now(state, &user.id).await?;
    Ok(Some((user, access)))
}

/// Ends the session with id `id`, if there is one.
pub async fn end(state: &Engine, id: &str) -> Result<(), StoreError> {
    match state.store.delete_session(&secret::hash(id)).await {
        Ok(()) | Err(StoreError::NotFound) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Ends every session of the user (after a password change, when disabling); returns how many.
pub async fn end_all(state: &Engine, user_id: &str) -> Result<u64, StoreError> {
    state.store.delete_user_sessions(user_id).await
}

/// Signs the user out everywhere: every browser session ends, and every refresh-token family and
/// access token of theirs is revoked, so no application keeps a way in (after a password reset, or
/// when the user asks). Returns (sessions ended, tokens revoked).
pub async fn end_everywhere(
    state: &Engine,
    user_id: &str,
    now: i64,
) -> Result<(u64, u64), StoreError> {
    let sessions = end_all(state, user_id).await?;
    let tokens = state.store.revoke_tokens_of_user(user_id, now).await?;
    Ok((sessions, tokens))
}

fn secs(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
