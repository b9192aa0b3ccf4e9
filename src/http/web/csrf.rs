//! CSRF protection for the browser forms (reference §6): a double-submit token.
//!
//! The `authx_csrf` cookie holds 256 random bits (HttpOnly, SameSite=Lax, Path=/, `Secure` over
//! https); every form carries the same value in a hidden field, and a POST is accepted only when
//! the two are equal (compared in constant time). A cross-site attacker can make the browser send
//! the cookie but can neither read it nor set it for our origin, so cannot fill in the field.
//! SameSite=Lax already keeps the cookie off cross-site POSTs; the token is the second line.
//! The token is independent of the session, so the login form is protected before anyone is
//! signed in.

use poem::Request;
use poem::web::cookie::{Cookie, SameSite};

use crate::engine::Engine;
use crate::http::web::session::{is_random_token, request_cookie};
use crate::secret;

/// Name of the CSRF cookie.
pub const CSRF_COOKIE: &str = "authx_csrf";

/// The name forms use for the token field (a convention for the pages).
pub const CSRF_FIELD: &str = "csrf_token";

/// The token to put in a form: the request's cookie value if it has one, else a new token together
/// with the cookie that must be set on the response.
pub fn csrf_token(req: &Request) -> (String, Option<Cookie>) {
    if let Some(token) = request_token(req) {
        return (token, None);
    }
    let token = secret::generate("");
    let mut cookie = Cookie::new_with_str(CSRF_COOKIE, token.clone());
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_path("/");
    cookie.set_secure(is_https(req));
    (token, Some(cookie))
}

/// Whether `form_token` equals the request's CSRF cookie (constant-time); false when either is
/// missing or malformed.
pub fn verify_csrf(req: &Request, form_token: &str) -> bool {
    let Some(cookie) = request_token(req) else {
        return false;
    };
    !form_token.is_empty() && secret::constant_time_eq(cookie.as_bytes(), form_token.as_bytes())
}

/// Whether the request carries a well-formed CSRF cookie (without one, no form can pass
/// [`verify_csrf`]).
pub fn has_token(req: &Request) -> bool {
    request_token(req).is_some()
}

fn request_token(req: &Request) -> Option<String> {
    request_cookie(req, CSRF_COOKIE).filter(|v| is_random_token(v))
}

/// Served over https: by the configured issuer when the app state is attached to the request,
/// else by the request URI.
fn is_https(req: &Request) -> bool {
    match req.data::<Engine>() {
        Some(state) => state.config.issuer_url().starts_with("https://"),
        None => req.uri().scheme_str() == Some("https"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(value: &str) -> Request {
        Request::builder()
            .header("cookie", format!("other=1; {CSRF_COOKIE}={value}"))
            .finish()
    }

    #[test]
    fn new_token_sets_a_cookie_and_an_existing_one_is_reused() {
        let (token, cookie) = csrf_token(&Request::builder().finish());
        let cookie = cookie.unwrap_or_else(|| Cookie::named("missing"));
        assert_eq!(cookie.name(), CSRF_COOKIE);
        assert_eq!(cookie.value_str(), token);
        assert!(cookie.http_only());
        assert_eq!(cookie.same_site(), Some(SameSite::Lax));
        assert_eq!(cookie.path(), Some("/"));
        assert!(!cookie.secure());
        assert!(cookie.max_age().is_none());
        let (again, none) = csrf_token(&with_cookie(&token));
        assert_eq!(again, token);
        assert!(none.is_none());
        assert!(verify_csrf(&with_cookie(&token), &token));
        assert!(!verify_csrf(&with_cookie(&token), "x"));
        assert!(!verify_csrf(&with_cookie("short"), "short"));
    }
}
