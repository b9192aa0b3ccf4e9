//! `GET /`, `GET /login` and `POST /login/password` (reference §3 password strategy, §6 login page).
//!
//! The login page lists the enabled authorities: a password form, an email form (handled by
//! `POST /login/email`), and a button per upstream authority whose round trip authx runs
//! (`/login/<id>`, see [`super::upstream`]: Google / OpenID Connect now, SAML when it is wired in).
//! `return_to` travels through every form and is validated with [`safe_return_to`] before use.
//!
//! A password login answers the same page, with the same status (401) and the same message, for
//! every failure; a blocked identifier or IP answers 429 with `Retry-After`. The decision is
//! [`crate::engine::password_login::password`]'s.

use maud::html;
use poem::http::StatusCode;
use poem::web::{Data, Form, Query};
use poem::{Request, Response, handler};
use serde::Deserialize;

use crate::domain::authority::{Authority, Strategy};
use crate::domain::now;
use crate::domain::user::User;
use crate::engine::Engine;
use crate::engine::password_login::{PasswordAttempt, PasswordOutcome};
use crate::http::client_ip;
use crate::http::web::csp::allow_form_target;
use crate::http::web::csrf::csrf_token;
use crate::http::web::pages::errors::PageError;
use crate::http::web::pages::layout::{csrf_field, error_box, html_response, page, see_other};
use crate::http::web::pages::{Fields, encode_query_value, upstream};
use crate::http::web::return_to::safe_return_to;
use crate::http::web::session::{current_session, session_cookie, session_id};

/// The one message for every failed password login.
pub const LOGIN_FAILED: &str = "The email address/username or password is incorrect.";

/// `GET /`: the account page when signed in, else the login page.
#[handler]
pub async fn index(req: &Request, state: Data<&Engine>) -> Result<Response, PageError> {
    Ok(match current_session(&state, req).await? {
        Some(_) => see_other("/account", &[]),
        None => see_other("/login", &[]),
    })
}

/// The query of `GET /login`.
#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    /// Where to go after signing in (a local path).
    pub return_to: Option<String>,
}

/// `GET /login`.
#[handler]
pub async fn login_page(
    req: &Request,
    state: Data<&Engine>,
    Query(query): Query<LoginQuery>,
) -> Result<Response, PageError> {
    let return_to = safe_return_to(query.return_to.as_deref());
    render_login(&state, req, &return_to, None, StatusCode::OK).await
}

/// Renders the login page with an optional error message.
pub async fn render_login(
    state: &Engine,
    req: &Request,
    return_to: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let authorities = crate::engine::password_login::enabled_authorities(state).await?;
    let (csrf, new_cookie) = csrf_token(req);
    let has = |s: Strategy| authorities.iter().any(|a| a.strategy == s);
    // Only strategies whose round trip authx runs (`/login/<id>` answers for them).
    let buttons: Vec<&Authority> = authorities
        .iter()
        .filter(|a| upstream::has_flow(a.strategy))
        .collect();
    let body = html! {
        @if let Some(message) = error {
            (error_box(message))
        }
        @if authorities.is_empty() {
            p { "No way to sign in is enabled on this server. Ask your administrator." }
        }
        @if has(Strategy::Password) {
            section aria-labelledby="password-heading" {
                h2 #password-heading { "Sign in with a password" }
                form method="post" action="/login/password" {
                    (csrf_field(&csrf))
                    input type="hidden" name="return_to" value=(return_to);
                    label for="identifier" { "Email address or username" }
                    input #identifier type="text" name="identifier" autocomplete="username"
                        autocapitalize="none" spellcheck="false" required;
                    label for="password" { "Password" }
                    input #password type="password" name="password"
                        autocomplete="current-password" required;
                    button type="submit" { "Sign in" }
                }
                p { a href="/password/reset" { "Forgot your password?" } }
            }
        }
        @if has(Strategy::Email) {
            section aria-labelledby="email-heading" {
                h2 #email-heading { "Sign in with an email link" }
                form method="post" action="/login/email" {
                    (csrf_field(&csrf))
                    input type="hidden" name="return_to" value=(return_to);
                    label for="email" { "Email address" }
                    input #email type="email" name="email" autocomplete="email" required;
                    button type="submit" { "Email me a sign-in link" }
                }
            }
        }
        @if !buttons.is_empty() {
            section aria-labelledby="other-heading" {
                h2 #other-heading { "Other ways to sign in" }
                @for authority in &buttons {
                    p {
                        a.button href=(authority_href(authority, return_to)) {
                            "Sign in with " (authority.name)
                        }
                    }
                }
            }
        }
    };
    let cookies: Vec<_> = new_cookie.into_iter().collect();
    let mut response = html_response(status, page("Sign in", None, body), &cookies);
    if let Some(target) = crate::engine::oauth2::authorize::resume_target(state, return_to).await {
        allow_form_target(&mut response, &target);
    }
    Ok(response)
}

fn authority_href(authority: &Authority, return_to: &str) -> String {
    format!(
        "/login/{}?return_to={}",
        encode_query_value(&authority.id),
        encode_query_value(return_to)
    )
}

/// `POST /login/password` (form: `identifier`, `password`, `csrf_token`, `return_to`).
#[handler]
pub async fn password_login(
    req: &Request,
    state: Data<&Engine>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(fields);
    fields.check_csrf(req)?;
    let return_to = safe_return_to(fields.opt("return_to"));
    let ip = client_ip(req).unwrap_or_else(|| "unknown".to_owned());
    let ctx = crate::http::context(req);
    let previous = session_id(req);
    let attempt = PasswordAttempt {
        ctx: &ctx,
        ip: &ip,
        identifier: fields.get("identifier"),
        password: fields.get("password").to_owned(),
        previous_session: previous.as_deref(),
    };
    match crate::engine::password_login::password(&state, attempt, now()).await? {
        PasswordOutcome::NoAuthority => Err(PageError::not_found()),
        PasswordOutcome::Throttled(secs) => Err(PageError::too_many(secs)),
        PasswordOutcome::Failed => {
            render_login(
                &state,
                req,
                &return_to,
                Some(LOGIN_FAILED),
                StatusCode::UNAUTHORIZED,
            )
            .await
        }
        PasswordOutcome::SignedIn { session_id, .. } => {
            let cookie = session_cookie(&state, session_id);
            Ok(see_other(&return_to, &[cookie]))
        }
    }
}

/// A short label for a user: display name, username, email or id.
pub fn user_label(user: &User) -> &str {
    user.display_name
        .as_deref()
        .or(user.username.as_deref())
        .or(user.email.as_deref())
        .unwrap_or(&user.id)
}
