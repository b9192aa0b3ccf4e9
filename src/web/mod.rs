//! The browser side of authx (SPEC §6): sessions, CSRF protection, login throttling and safe
//! post-login redirects, which the server-rendered pages build on. Invariants: the session cookie
//! holds only a random id (the database stores its hash), every state-changing form is checked
//! with [`csrf::verify_csrf`], and redirects after login go through [`return_to::safe_return_to`].

pub mod csp;
pub mod csrf;
pub mod pages;
pub mod rate_limit;
pub mod return_to;
pub mod session;

use poem::endpoint::BoxEndpoint;
use poem::http::HeaderValue;
use poem::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use poem::{Endpoint, EndpointExt, IntoEndpoint, Request, Response, Route, get, post};

use crate::oauth2::{authorize, logout as oauth2_logout};
use pages::{
    account, account_grants, email, layout, login, logout, reset, upstream, upstream_oidc,
    upstream_saml,
};

/// Every browser page, at its absolute path. `startup` mounts them with [`mount`], in front of the
/// admin API.
pub fn routes() -> Route {
    Route::new()
        .at("/", page(get(login::index)))
        .at("/login", page(get(login::login_page)))
        .at("/login/password", page(post(login::password_login)))
        .at("/login/email", page(post(email::request_login_link)))
        .at("/login/:authority_id", page(get(upstream::start_login)))
        .at(
            "/login/:authority_id/callback",
            page(get(upstream_oidc::callback)),
        )
        .at(
            "/login/:authority_id/metadata",
            page(get(upstream_saml::metadata)),
        )
        .at("/login/:authority_id/acs", page(post(upstream_saml::acs)))
        .at(
            "/login/email/verify",
            page(get(email::login_link_page).post(email::login_with_link)),
        )
        .at(
            "/account/emails",
            page(get(email::add_email).post(email::request_verification)),
        )
        .at(
            "/account/emails/verify",
            page(get(email::verification_link_page).post(email::verify_address)),
        )
        .at(
            "/password/reset",
            page(get(reset::reset_page).post(reset::request_reset)),
        )
        .at(
            "/password/reset/confirm",
            page(get(reset::confirm_page).post(reset::confirm_reset)),
        )
        .at("/logout", page(get(logout::confirm).post(logout::logout)))
        .at("/account", page(get(account::account_page)))
        .at("/account/profile", page(post(account::update_profile)))
        .at("/account/password", page(post(account::change_password)))
        .at("/account/password/set", page(post(account::set_password)))
        .at(
            "/account/credentials/:id/remove",
            page(post(account::remove_credential)),
        )
        .at(
            "/account/link/:authority_id",
            page(get(upstream::start_link)),
        )
        .at("/account/api-keys", page(post(account::create_api_key)))
        .at(
            "/account/api-keys/:id/revoke",
            page(post(account::revoke_api_key)),
        )
        .at(
            "/account/grants/:id/revoke",
            page(post(account_grants::revoke_grant)),
        )
        .at(
            "/oauth2/authorize",
            page(get(authorize::authorize_get).post(authorize::authorize_post)),
        )
        .at("/oauth2/consent", page(post(authorize::consent)))
        .at(
            "/oauth2/logout",
            page(
                get(oauth2_logout::end_session_endpoint).post(oauth2_logout::end_session_endpoint),
            ),
        )
        .at("/oauth2/logout/confirm", page(post(oauth2_logout::confirm)))
        .at("/favicon.ico", get(layout::favicon))
        .at("/favicon.svg", get(layout::favicon))
}

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

/// The pages in front of `fallback` (the admin API): the page paths of [`routes`] answer
/// themselves, everything else goes to `fallback`.
///
/// `GET /` needs a hand: in a poem `Route`, a catch-all nested at `/` wins over an exact `/`, so the
/// index page is dispatched here before the route table.
pub fn mount<E>(fallback: E) -> Pages
where
    E: IntoEndpoint,
    E::Endpoint: 'static,
{
    Pages {
        index: page(get(pages::login::index)).boxed(),
        not_found: page(pages::errors::not_found).boxed(),
        routes: routes().nest("/", fallback),
    }
}

/// The endpoint [`mount`] returns.
pub struct Pages {
    index: BoxEndpoint<'static, Response>,
    not_found: BoxEndpoint<'static, Response>,
    routes: Route,
}

impl Endpoint for Pages {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if req.uri().path() == "/"
            && matches!(
                *req.method(),
                poem::http::Method::GET | poem::http::Method::HEAD
            )
        {
            return self.index.call(req).await;
        }
        // Outside the admin API (whose 404 is a problem document), an address that matches
        // nothing is a person's mistyped link: it gets the styled page, not poem's plain text.
        let is_api = req.uri().path().starts_with("/api/");
        let response = self.routes.call(req).await?;
        let is_html = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
        if response.status() == poem::http::StatusCode::NOT_FOUND && !is_api && !is_html {
            return self.not_found.call(Request::default()).await;
        }
        Ok(response)
    }
}
