//! The browser side of authx (reference §6): sessions, CSRF protection, login throttling and safe
//! post-login redirects, which the server-rendered pages build on. Invariants: the session cookie
//! holds only a random id (the database stores its hash), every state-changing form is checked
//! with [`csrf::verify_csrf`], and redirects after login go through [`return_to::safe_return_to`].

pub mod csp;
pub mod csrf;
pub mod pages;
pub mod return_to;
pub mod session;

use poem::http::HeaderValue;
use poem::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use poem::{Endpoint, EndpointExt, IntoEndpoint};

/// Wraps a page endpoint: errors become their HTML page, and every response gets the security
/// headers (`Cache-Control: no-store`, `X-Frame-Options: DENY`, the CSP of [`csp`], `Referrer-Policy:
/// no-referrer`, `X-Content-Type-Options: nosniff`). Every page route goes through this.
pub fn page<E>(endpoint: E) -> impl Endpoint<Output = poem::Response>
where
    E: IntoEndpoint,
    E::Endpoint: 'static,
{
    endpoint.into_endpoint().around(|ep, req| async move {
        let mut response = ep.get_response(req).await;
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        // A page whose form leads to an application has set its own, wider `form-action`
        // (see `csp`); every other page gets the base policy.
        if !headers.contains_key(CONTENT_SECURITY_POLICY) {
            headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp::BASE));
        }
        headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        Ok(response)
    })
}
