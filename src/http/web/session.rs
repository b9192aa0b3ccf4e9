//! Browser sessions (SPEC §6): a server-side row per login, found through the `authx_session`
//! cookie.
//!
//! The cookie holds a random 256-bit id; the database holds only its SHA-256, so a leaked dump
//! cannot be replayed as a cookie. Every login gets a new id (the session of a cookie presented at
//! login is deleted first: no session fixation). The cookie is HttpOnly, SameSite=Lax, Path=/,
//! `Secure` when the issuer is https, and has no Max-Age: it dies with the browser, and the server
//! ends it anyway after `session.idle_timeout_secs` without use or `session.absolute_timeout_secs`
//! after login. The cookie is read from the `Cookie` header directly, so no cookie middleware is
//! needed.

use poem::Request;
use poem::web::cookie::{Cookie, SameSite};

use crate::domain::now;
use crate::domain::session::NewSession;
pub use crate::domain::session::Session;
use crate::domain::user::UserStatus;
use crate::engine::Engine;
use crate::secret;
use crate::store::StoreError;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "authx_session";

/// Prefix of session ids (recognisable for secret scanners, like `axk_` for API keys).
pub const SESSION_ID_PREFIX: &str = "axsn_";

/// The idle expiry is written back at most this often per session, so that a busy page does not
/// write on every request.
const TOUCH_INTERVAL_SECS: i64 = 60;

/// Longest user agent kept with a session.
const MAX_USER_AGENT_LEN: usize = 512;

/// Starts a new session for `user_id`, signed in through `authority_id`, and returns it with the
/// cookie to set. Any session of the cookie the request presents is deleted first.
pub async fn start_session(
    state: &Engine,
    req: &Request,
    user_id: &str,
    authority_id: &str,
) -> Result<(Session, Cookie), StoreError> {
    if let Some(old) = session_id(req) {
        match state.store.delete_session(&secret::hash(&old)).await {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    let id = secret::generate(SESSION_ID_PREFIX);
    let at = now();
    let cfg = &state.config.session;
    let session = state
        .store
        .create_session(NewSession {
            id_hash: secret::hash(&id),
            user_id: user_id.to_owned(),
            authority_id: authority_id.to_owned(),
            auth_time: at,
            expires_at: at.saturating_add(secs(cfg.absolute_timeout_secs)),
            idle_expires_at: at.saturating_add(secs(cfg.idle_timeout_secs)),
            ip: client_ip(req),
            user_agent: user_agent(req),
        })
        .await?;
    Ok((session, cookie(state, SESSION_COOKIE, id)))
}

/// The session of the request's cookie, if it is known, unexpired and its user is active. Expired
/// rows are deleted on the way; the idle expiry slides forward (written at most once a minute).
pub async fn current_session(state: &Engine, req: &Request) -> Result<Option<Session>, StoreError> {
    let Some(id) = session_id(req) else {
        return Ok(None);
    };
    let id_hash = secret::hash(&id);
    let Some(mut session) = state.store.get_session(&id_hash).await? else {
        return Ok(None);
    };
    let at = now();
    if !session.is_active(at) {
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
    if at - session.last_seen_at >= TOUCH_INTERVAL_SECS {
        let idle = at
            .saturating_add(secs(state.config.session.idle_timeout_secs))
            .min(session.expires_at);
        match state.store.touch_session(&id_hash, idle, at).await {
            Ok(()) => {
                session.idle_expires_at = idle;
                session.last_seen_at = at;
            }
            // Ended concurrently (logout in another tab): this request is no longer signed in.
            Err(StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Ok(Some(session))
}

/// Ends the request's session (if any) and returns the cookie that removes it from the browser.
pub async fn end_session(state: &Engine, req: &Request) -> Result<Cookie, StoreError> {
    if let Some(id) = session_id(req) {
        match state.store.delete_session(&secret::hash(&id)).await {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    let mut removal = cookie(state, SESSION_COOKIE, String::new());
    removal.make_removal();
    Ok(removal)
}

/// Ends every session of the user (after a password change, when disabling); returns how many.
pub async fn end_user_sessions(state: &Engine, user_id: &str) -> Result<u64, StoreError> {
    state.store.delete_user_sessions(user_id).await
}

/// The session id of the request's cookie, if it has the shape of one (anything else is not
/// looked up).
fn session_id(req: &Request) -> Option<String> {
    request_cookie(req, SESSION_COOKIE).filter(|v| {
        v.strip_prefix(SESSION_ID_PREFIX)
            .is_some_and(is_random_token)
    })
}

/// 256 bits in unpadded base64url, as [`secret::generate`] makes them.
pub(crate) fn is_random_token(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The value of the first cookie called `name` in the request's `Cookie` headers.
pub(crate) fn request_cookie(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(poem::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
}

/// A cookie with authx's attributes: HttpOnly, SameSite=Lax, Path=/, `Secure` over https, no
/// Max-Age (a browser-session cookie).
pub(crate) fn cookie(state: &Engine, name: &str, value: String) -> Cookie {
    let mut cookie = Cookie::new_with_str(name, value);
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_path("/");
    cookie.set_secure(state.config.issuer_url().starts_with("https://"));
    cookie
}

/// The client's IP address as the socket sees it (the proxy's, behind a reverse proxy).
pub fn client_ip(req: &Request) -> Option<String> {
    req.remote_addr()
        .as_socket_addr()
        .map(|addr| addr.ip().to_string())
}

fn user_agent(req: &Request) -> Option<String> {
    req.header(poem::http::header::USER_AGENT)
        .map(|ua| ua.chars().take(MAX_USER_AGENT_LEN).collect())
}

fn secs(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
