//! The one route table: every path authx answers, and which adapter answers it.
//!
//! Three adapters share it: the OAuth 2.0 / OpenID Connect endpoints (`oauth2`, RFC wire formats;
//! the ones browser-based clients call answer CORS), the browser pages (`web`, each wrapped by
//! [`web::page`] for the security headers), and the documented admin API (`api`, poem-openapi,
//! problem+json), which answers every path nothing else claims. The operational endpoints
//! (`/healthz`, `/readyz`) are part of the documented API; `/metrics` is not.

use poem::endpoint::BoxEndpoint;
use poem::http::HeaderValue;
use poem::http::header::{CONTENT_TYPE, RETRY_AFTER};
use poem::{Endpoint, EndpointExt, Request, Response, Route, get, post};

use crate::http::oauth2::cors::cors;
use crate::http::oauth2::{
    authorize, discovery, ego, introspect, jwks, logout as oauth2_logout, revoke, token, userinfo,
};
use crate::http::web::page;
use crate::http::web::pages::{
    self, account, account_grants, email, layout, login, logout, reset, upstream_oidc,
    upstream_saml, upstream_start,
};
use crate::http::{api, ops};

/// The whole table for a server whose public URL is `issuer`, with `extra` endpoints mounted
/// beside it (applications embedding authx; the tests' slow endpoint).
pub fn table(issuer: &str, extra: Vec<(String, BoxEndpoint<'static>)>) -> Table {
    let mut routes = Route::new()
        .at("/metrics", get(ops::metrics))
        // OAuth 2.0 / OpenID Connect: what clients and resource servers call.
        .at("/oauth2/jwks", cors(get(jwks::jwks_endpoint)))
        .at("/oauth2/token", cors(post(token::token)))
        .at("/oauth2/revoke", cors(post(revoke::revoke)))
        .at(
            "/oauth2/userinfo",
            cors(get(userinfo::userinfo).post(userinfo::userinfo)),
        )
        .at(
            "/.well-known/openid-configuration",
            cors(get(discovery::discovery)),
        )
        .at(
            "/.well-known/oauth-authorization-server",
            cors(get(discovery::discovery)),
        )
        .at("/oauth2/introspect", post(introspect::introspect))
        .at("/o/check_api_key", post(ego::check_api_key_endpoint))
        // OAuth 2.0 / OpenID Connect: where the browser goes (pages).
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
        // The browser pages.
        .at("/login", page(get(login::login_page)))
        .at("/login/password", page(post(login::password_login)))
        .at("/login/email", page(post(email::request_login_link)))
        .at(
            "/login/:authority_id",
            page(get(upstream_start::start_login)),
        )
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
            "/login/:authority_id/acs/continue",
            page(get(upstream_saml::acs_continue)),
        )
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
            page(get(upstream_start::start_link)),
        )
        .at("/account/api-keys", page(post(account::create_api_key)))
        .at(
            "/account/api-keys/revoke-all",
            page(post(account::revoke_all_api_keys)),
        )
        .at(
            "/account/sign-out-everywhere",
            page(post(account::sign_out_everywhere)),
        )
        .at(
            "/account/api-keys/:id/revoke",
            page(post(account::revoke_api_key)),
        )
        .at(
            "/account/grants/:id/revoke",
            page(post(account_grants::revoke_grant)),
        )
        .at("/favicon.ico", get(layout::favicon))
        .at("/favicon.svg", get(layout::favicon))
        // The documented admin API answers everything else.
        .nest("/", api::routes(issuer));
    for (path, endpoint) in extra {
        routes = routes.at(path, endpoint);
    }
    Table {
        index: page(get(login::index)).boxed(),
        not_found: page(pages::errors::not_found).boxed(),
        routes,
    }
}

/// The endpoint [`table`] returns.
///
/// `GET /` needs a hand: in a poem `Route`, a catch-all nested at `/` wins over an exact `/`, so the
/// index page is dispatched here before the route table.
pub struct Table {
    index: BoxEndpoint<'static, Response>,
    not_found: BoxEndpoint<'static, Response>,
    routes: Route,
}

impl Endpoint for Table {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let mut response = self.dispatch(req).await?;
        // Every 503 (the database is down, in any adapter's language) says when to come back.
        if response.status() == poem::http::StatusCode::SERVICE_UNAVAILABLE
            && !response.headers().contains_key(RETRY_AFTER)
        {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        Ok(response)
    }
}

/// The `Retry-After` of a 503: the database is probed every second while it is down, so a client
/// coming back after this finds it up as soon as it is.
pub const RETRY_AFTER_SECS: u64 = 2;

impl Table {
    async fn dispatch(&self, req: Request) -> poem::Result<Response> {
        let req = match crate::http::intake::inspect(req).await {
            Ok(req) => req,
            Err(refusal) => return Ok(refusal),
        };
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
