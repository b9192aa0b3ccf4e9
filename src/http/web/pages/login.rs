//! `GET /`, `GET /login` and `POST /login/password` (reference §3 password strategy, §6 login page).
//!
//! The login page lists the enabled authorities: a password form, an email form (handled by
//! `POST /login/email`), and a button per upstream authority whose round trip authx runs
//! (`/login/<id>`, see [`super::upstream`]: Google / OpenID Connect now, SAML when it is wired in).
//! `return_to` travels through every form and is validated with [`safe_return_to`] before use.
//!
//! A password login answers the same page, with the same status (401) and the same message, for an
//! unknown identifier, a wrong password and a disabled account, after the same bcrypt work (an
//! unknown account is checked against a dummy hash). The reason is recorded only in the audit log.
//! Failed attempts count against the typed identifier and the client IP ([`rate_limit`]); a
//! blocked key answers 429 with `Retry-After` before any password is checked.

use authx_strategy_password::verify_password;
use maud::html;
use poem::http::StatusCode;
use poem::web::{Data, Form, Query};
use poem::{Request, Response, handler};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::audit::Outcome;
use crate::domain::authority::{Authority, Strategy};
use crate::domain::now;
use crate::domain::user::{User, UserStatus};
use crate::engine::Engine;
use crate::engine::audit;
use crate::engine::rate_limit::{self, Limit, RetryAfter};
use crate::http::client_ip;
use crate::http::web::csp::allow_form_target;
use crate::http::web::csrf::csrf_token;
use crate::http::web::pages::errors::PageError;
use crate::http::web::pages::layout::{csrf_field, error_box, html_response, page, see_other};
use crate::http::web::pages::{Fields, audit_event, encode_query_value, upstream};
use crate::http::web::return_to::safe_return_to;
use crate::http::web::session::{current_session, start_session};
use crate::store::StoreError;

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
    let authorities: Vec<Authority> = state
        .store
        .list_authorities()
        .await?
        .into_iter()
        .filter(|a| a.enabled)
        .collect();
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
    let Some(authority) = password_authority(&state).await? else {
        return Err(PageError::not_found());
    };
    let identifier = crate::address::fold(fields.get("identifier"));
    let password = fields.get("password").to_owned();
    let ip = client_ip(req).unwrap_or_else(|| "unknown".to_owned());
    let limits = [Limit::LoginAccount(identifier.clone()), Limit::LoginIp(ip)];
    if let Err(RetryAfter(secs)) = rate_limit::check(&state, &limits).await {
        let mut event = audit_event(req, None, "login.failure");
        event.outcome = Outcome::Denied;
        event.details = json!({ "authority": authority.id, "reason": "throttled" });
        audit::record(&state, event).await;
        return Err(PageError::too_many(secs));
    }
    let user = if identifier.is_empty() {
        None
    } else {
        find_user(&state, &identifier).await?
    };
    let credential = match &user {
        Some(user) => state.store.find_credential(&authority.id, &user.id).await?,
        None => None,
    };
    let stored_hash = credential
        .as_ref()
        .and_then(|c| c.details.get("hash"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    // Always one bcrypt verification: against the dummy hash when there is no stored one.
    let matches = verify_password(password, stored_hash).await;
    let failure = match &user {
        None => Some("unknown_user"),
        Some(_) if !matches => Some("bad_password"),
        Some(user) if user.status != UserStatus::Active => Some("disabled"),
        Some(_) => None,
    };
    let (Some(user), Some(credential), None) = (&user, &credential, failure) else {
        if let Err(error) = rate_limit::record_failure(&state, &limits).await {
            tracing::error!(%error, "could not record a failed login");
        }
        let mut event = audit_event(req, None, "login.failure");
        if let Some(user) = &user {
            event = event.target("user", &user.id);
        }
        event.outcome = Outcome::Failure;
        event.details = json!({
            "authority": authority.id,
            "reason": failure.unwrap_or("bad_password"),
        });
        audit::record(&state, event).await;
        return render_login(
            &state,
            req,
            &return_to,
            Some(LOGIN_FAILED),
            StatusCode::UNAUTHORIZED,
        )
        .await;
    };
    if let Err(error) = rate_limit::reset(&state, &limits[..1]).await {
        tracing::warn!(%error, "could not reset the login limit of an account");
    }
    let (_session, cookie) = start_session(&state, req, &user.id, &authority.id).await?;
    match state.store.touch_credential(&credential.id, now()).await {
        Ok(()) | Err(StoreError::NotFound) => {}
        Err(error) => tracing::warn!(%error, "could not record a credential's use"),
    }
    let mut event = audit_event(req, Some(&user.id), "login.success").target("user", &user.id);
    event.details = json!({ "authority": authority.id, "strategy": "password" });
    audit::record(&state, event).await;
    Ok(see_other(&return_to, &[cookie]))
}

/// The password authority logins use: the enabled one called `password`, else the first enabled
/// one of the password strategy.
pub async fn password_authority(state: &Engine) -> Result<Option<Authority>, StoreError> {
    let mut candidates: Vec<Authority> = state
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
async fn find_user(state: &Engine, identifier: &str) -> Result<Option<User>, StoreError> {
    if let Some(user) = state.store.find_user_by_username(identifier).await? {
        return Ok(Some(user));
    }
    let Ok(address) = crate::address::normalize(identifier) else {
        return Ok(None);
    };
    let mut email_authorities: Vec<String> = state
        .store
        .list_authorities()
        .await?
        .into_iter()
        .filter(|a| a.strategy == Strategy::Email)
        .map(|a| a.id)
        .collect();
    email_authorities.sort_by_key(|id| id != "email");
    for authority_id in email_authorities {
        if let Some(credential) = state.store.find_credential(&authority_id, &address).await? {
            return state.store.get_user(&credential.user_id).await;
        }
    }
    Ok(None)
}

/// A short label for a user: display name, username, email or id.
pub fn user_label(user: &User) -> &str {
    user.display_name
        .as_deref()
        .or(user.username.as_deref())
        .or(user.email.as_deref())
        .unwrap_or(&user.id)
}
