//! Browser sessions (reference §6): a server-side row per login, found through the `authx_session`
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
pub use crate::domain::session::Session;
use crate::engine::Engine;
use crate::engine::session::{self, SESSION_ID_PREFIX};
use crate::store::StoreError;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "authx_session";

/// Starts a new session for `user_id`, signed in through `authority_id`, and returns it with the
/// cookie to set. Any session of the cookie the request presents is deleted first.
pub async fn start_session(
    state: &Engine,
    req: &Request,
    user_id: &str,
    authority_id: &str,
) -> Result<(Session, Cookie), StoreError> {
    let previous = session_id(req);
    let (session, id) = session::start(
        state,
        &crate::http::context(req),
        previous.as_deref(),
        user_id,
        authority_id,
        now(),
    )
    .await?;
    Ok((session, cookie(state, SESSION_COOKIE, id)))
}

/// The session of the request's cookie, if it is known, unexpired and its user is active.
pub async fn current_session(state: &Engine, req: &Request) -> Result<Option<Session>, StoreError> {
    match session_id(req) {
        Some(id) => session::current(state, &id, now()).await,
        None => Ok(None),
    }
}

/// Ends the request's session (if any) and returns the cookie that removes it from the browser.
pub async fn end_session(state: &Engine, req: &Request) -> Result<Cookie, StoreError> {
    if let Some(id) = session_id(req) {
        session::end(state, &id).await?;
    }
    let mut removal = cookie(state, SESSION_COOKIE, String::new());
    removal.make_removal();
    Ok(removal)
}

/// Ends every session of the user (after a password change, when disabling); returns how many.
pub async fn end_user_sessions(state: &Engine, user_id: &str) -> Result<u64, StoreError> {
    session::end_all(state, user_id).await
}

/// The session id of the request's cookie, if it has the shape of one (anything else is not
/// looked up).
pub fn session_id(req: &Request) -> Option<String> {
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
/// The cookie that carries session `id` (from a sign-in the engine decided).
pub fn session_cookie(state: &Engine, id: String) -> Cookie {
    cookie(state, SESSION_COOKIE, id)
}

pub(crate) fn cookie(state: &Engine, name: &str, value: String) -> Cookie {
    let mut cookie = Cookie::new_with_str(name, value);
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_path("/");
    cookie.set_secure(state.config.issuer_url().starts_with("https://"));
    cookie
}
