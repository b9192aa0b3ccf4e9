//! The email strategy's pages (reference §3 email, §6): passwordless login by a link, and verification
//! of an address a signed-in user adds to their account.
//!
//! - `POST /login/email` (form: `email`, `csrf_token`, `return_to`) mails a login link when the
//!   address has an email credential or the `email` authority creates users, and answers the same
//!   "Check your email" page (200) either way, after the same lookups: the page never tells whether
//!   an address is known. Sends are limited per address and per IP (429 with `Retry-After`).
//! - `GET /login/email/verify?token=…` only shows a "Log in" button: mail scanners fetch links,
//!   and a GET must not burn the one-time token. `POST /login/email/verify` consumes it (atomic,
//!   single use, unexpired), resolves the identity (reference §3) and starts a session.
//! - `GET /account/emails` (form), `POST /account/emails` mails a `verify` link bound to the
//!   signed-in user; `GET|POST /account/emails/verify` (same confirm-then-consume pattern) adds an
//!   email credential to that user — only while that same user is signed in, so a link sent by
//!   someone else's account cannot attach the reader's address to a foreign account.
//!
//! Tokens are random (`axe_` + 256 bits), stored only as SHA-256, and mailed in the background so
//! the answer does not wait for (or reveal) an SMTP round trip.

use std::time::Duration;

use authx_strategy_email::{EmailStrategy, Purpose, TOKEN_PREFIX, hash_token, new_token, render};
use maud::{Markup, html};
use poem::http::StatusCode;
use poem::web::{Data, Form, Query};
use poem::{Request, Response, handler};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::audit::Outcome;
use crate::domain::authority::{Authority, Strategy};
use crate::domain::email_token::{EmailTokenPurpose, NewEmailToken};
use crate::domain::now;
use crate::domain::user::User;
use crate::engine::Engine;
use crate::engine::actor::Actor;
use crate::engine::audit;
use crate::engine::identity::{LoginError, VerifiedIdentity, resolve_identity};
use crate::engine::rate_limit::{self, Limit, RetryAfter};
use crate::http::client_ip;
use crate::http::web::csp::allow_form_target;
use crate::http::web::csrf::csrf_token;
use crate::http::web::pages::errors::PageError;
use crate::http::web::pages::layout::{csrf_field, error_box, html_response, page, see_other};
use crate::http::web::pages::login::render_login;
use crate::http::web::pages::{Fields, audit_event, encode_query_value};
use crate::http::web::return_to::safe_return_to;
use crate::http::web::session::{Session, current_session, start_session};
use crate::store::StoreError;

/// The product name in mails.
pub const PRODUCT: &str = "authx";

/// The message of every unusable link.
pub const INVALID_LINK: &str = "This link is invalid or has expired.";

/// The query of the pages a mailed link opens.
#[derive(Debug, Default, Deserialize)]
pub struct TokenQuery {
    /// The one-time token from the link.
    pub token: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// shared with the password reset pages

/// The email authority links are sent through: the enabled one called `email`, else the first
/// enabled one of the email strategy.
pub async fn email_authority(state: &Engine) -> Result<Option<Authority>, StoreError> {
    let mut candidates: Vec<Authority> = state
        .store
        .list_authorities()
        .await?
        .into_iter()
        .filter(|a| a.enabled && a.strategy == Strategy::Email)
        .collect();
    candidates.sort_by_key(|a| a.id != "email");
    Ok(candidates.into_iter().next())
}

/// Whether `token` has the shape of a link token (`axe_` + 43 base64url characters); anything
/// else is refused without a database lookup.
pub fn token_shape_ok(token: &str) -> bool {
    token.strip_prefix(TOKEN_PREFIX).is_some_and(|body| {
        body.len() == 43
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// Counts one send against the address and the client IP; `Err` is the 429 page.
pub async fn check_send_limits(
    state: &Engine,
    req: &Request,
    address: &str,
) -> Result<(), PageError> {
    let ip = client_ip(req).unwrap_or_else(|| "unknown".to_owned());
    let limits = [Limit::EmailAddress(address.to_owned()), Limit::EmailIp(ip)];
    match rate_limit::hit(state, &limits).await {
        Ok(()) => Ok(()),
        Err(RetryAfter(secs)) => Err(PageError::too_many(secs)),
    }
}

/// What to mail.
pub struct LinkMail<'a> {
    pub purpose: Purpose,
    /// The authority the token belongs to (its `token_ttl_secs` applies).
    pub authority: &'a Authority,
    /// The normalized address.
    pub email: &'a str,
    pub user_id: Option<&'a str>,
    pub return_to: Option<&'a str>,
    /// The path the link opens, e.g. `/login/email/verify`.
    pub path: &'a str,
}

/// Stores a new token for `mail` and sends the link in the background (failures are logged: the
/// answer is the same whatever happens to the mail).
pub async fn send_link(state: &Engine, mail: LinkMail<'_>) -> Result<(), StoreError> {
    let ttl = EmailStrategy::token_ttl(&mail.authority.details);
    let token = new_token();
    state
        .store
        .create_email_token(NewEmailToken {
            token_hash: token.hash.clone(),
            purpose: store_purpose(mail.purpose),
            email: mail.email.to_owned(),
            user_id: mail.user_id.map(str::to_owned),
            authority_id: mail.authority.id.clone(),
            expires_at: now().saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
            return_to: mail.return_to.map(str::to_owned),
        })
        .await?;
    let link = format!(
        "{}{}?token={}",
        state.config.issuer_url(),
        mail.path,
        token.token
    );
    let message = render(mail.purpose, &link, ttl_minutes(ttl), PRODUCT);
    let mailer = state.mailer.clone();
    let to = mail.email.to_owned();
    let purpose = mail.purpose;
    tokio::spawn(async move {
        if let Err(error) = mailer.send(&to, &message).await {
            tracing::error!(%error, %purpose, "could not send an email link");
        }
    });
    Ok(())
}

/// The store's name of a purpose.
pub fn store_purpose(purpose: Purpose) -> EmailTokenPurpose {
    match purpose {
        Purpose::Login => EmailTokenPurpose::Login,
        Purpose::Verify => EmailTokenPurpose::Verify,
        Purpose::Reset => EmailTokenPurpose::Reset,
    }
}

fn ttl_minutes(ttl: Duration) -> u64 {
    ttl.as_secs().div_ceil(60).max(1)
}

/// The answer to every send request: the same for known and unknown addresses.
pub fn check_your_email(what: &str, back: (&str, &str)) -> Response {
    let body = html! {
        p role="status" {
            "If the address you entered can be used here, we have sent it a link " (what) ". "
            "The link works once and expires soon."
        }
        p { "Nothing in your inbox? Check the spam folder, or wait a minute and try again." }
        p { a href=(back.0) { (back.1) } }
    };
    html_response(StatusCode::OK, page("Check your email", None, body), &[])
}

/// The page of an unusable link (400), with a way back.
pub fn invalid_link(back: (&str, &str)) -> Response {
    let body = html! {
        p role="alert" { (INVALID_LINK) }
        p { "Links work only once and only for a short time. Ask for a new one." }
        p { a href=(back.0) { (back.1) } }
    };
    html_response(
        StatusCode::BAD_REQUEST,
        page("Link invalid or expired", None, body),
        &[],
    )
}

/// The page a mailed link opens: one button that POSTs the token (with the CSRF field) to
/// `action`. A GET never consumes a token.
fn confirm_page(
    req: &Request,
    title: &str,
    text: &str,
    action: &str,
    token: &str,
    button: &str,
) -> Response {
    let (csrf, cookie) = csrf_token(req);
    let body = html! {
        p { (text) }
        form method="post" action=(action) {
            (csrf_field(&csrf))
            input type="hidden" name="token" value=(token);
            button type="submit" { (button) }
        }
    };
    let cookies: Vec<_> = cookie.into_iter().collect();
    html_response(StatusCode::OK, page(title, None, body), &cookies)
}

// ---------------------------------------------------------------------------------------------
// passwordless login

/// `POST /login/email` (form: `email`, `csrf_token`, `return_to`).
#[handler]
pub async fn request_login_link(
    req: &Request,
    state: Data<&Engine>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(fields);
    fields.check_csrf(req)?;
    let return_to = safe_return_to(fields.opt("return_to"));
    let Ok(address) = crate::address::normalize(fields.get("email")) else {
        return render_login(
            &state,
            req,
            &return_to,
            Some("Enter a valid email address."),
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    check_send_limits(&state, req, &address).await?;
    let Some(authority) = email_authority(&state).await? else {
        return Err(PageError::not_found());
    };
    let known = state
        .store
        .find_credential(&authority.id, &address)
        .await?
        .is_some();
    let creates_users = authority
        .details
        .get("creates_users")
        .and_then(Value::as_bool)
        == Some(true);
    if known || creates_users {
        send_link(
            &state,
            LinkMail {
                purpose: Purpose::Login,
                authority: &authority,
                email: &address,
                user_id: None,
                return_to: Some(&return_to),
                path: "/login/email/verify",
            },
        )
        .await?;
    }
    let mut event = audit_event(req, None, "email.link_requested");
    event.details =
        json!({ "authority": authority.id, "purpose": "login", "sent": known || creates_users });
    audit::record(&state, event).await;
    Ok(check_your_email(
        "to sign in",
        ("/login", "Back to the sign-in page"),
    ))
}

/// `GET /login/email/verify?token=…`: the "Log in" button. Reading the token (never using it)
/// tells where the login leads: when that is an authorization request, the button's answer ends
/// at the application, which the page's `form-action` must allow.
#[handler]
pub async fn login_link_page(
    req: &Request,
    state: Data<&Engine>,
    Query(query): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let token = query.token.unwrap_or_default();
    if !token_shape_ok(&token) {
        return Ok(invalid_link(("/login", "Back to the sign-in page")));
    }
    let mut response = confirm_page(
        req,
        "Sign in",
        "Continue to sign in with the link we emailed you.",
        "/login/email/verify",
        &token,
        "Log in",
    );
    let pending = state
        .store
        .find_email_token(&hash_token(&token), EmailTokenPurpose::Login, now())
        .await?;
    if let Some(return_to) = pending.and_then(|t| t.return_to) {
        let return_to = safe_return_to(Some(&return_to));
        if let Some(target) =
            crate::engine::oauth2::authorize::resume_target(&state, &return_to).await
        {
            allow_form_target(&mut response, &target);
        }
    }
    Ok(response)
}

/// `POST /login/email/verify` (form: `token`, `csrf_token`): consumes the token and signs in.
#[handler]
pub async fn login_with_link(
    req: &Request,
    state: Data<&Engine>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(fields);
    fields.check_csrf(req)?;
    let back = ("/login", "Back to the sign-in page");
    let token = fields.get("token");
    let consumed = if token_shape_ok(token) {
        state
            .store
            .consume_email_token(&hash_token(token), EmailTokenPurpose::Login, now())
            .await?
    } else {
        None
    };
    let Some(consumed) = consumed else {
        login_failure(&state, req, None, "invalid_token").await;
        return Ok(invalid_link(back));
    };
    let authority = match state.store.get_authority(&consumed.authority_id).await? {
        Some(a) if a.enabled && a.strategy == Strategy::Email => a,
        _ => {
            login_failure(&state, req, None, "authority_disabled").await;
            return Ok(invalid_link(back));
        }
    };
    let identity = VerifiedIdentity {
        authority_user_id: consumed.email.clone(),
        email: Some(consumed.email.clone()),
        email_verified: true,
        ..VerifiedIdentity::default()
    };
    let user = match resolve_identity(&state, &authority, &identity, None).await {
        Ok(user) => user,
        Err(LoginError::Store(e)) => return Err(e.into()),
        Err(error) => {
            let reason = match error {
                LoginError::Disabled => "disabled",
                _ => "not_linked",
            };
            login_failure(&state, req, Some(&authority.id), reason).await;
            return Err(PageError::new(
                StatusCode::FORBIDDEN,
                "Cannot sign in",
                &error.to_string(),
            ));
        }
    };
    let (_session, cookie) = start_session(&state, req, &user.id, &authority.id).await?;
    let mut event = audit_event(req, Some(&user.id), "login.success").target("user", &user.id);
    event.details = json!({ "authority": authority.id, "strategy": "email" });
    audit::record_unchanged(&state, event).await;
    let return_to = safe_return_to(consumed.return_to.as_deref());
    Ok(see_other(&return_to, &[cookie]))
}

async fn login_failure(state: &Engine, req: &Request, authority: Option<&str>, reason: &str) {
    let mut event = audit_event(req, None, "login.failure");
    event.outcome = Outcome::Failure;
    event.details =
        json!({ "authority": authority.unwrap_or("email"), "strategy": "email", "reason": reason });
    audit::record(state, event).await;
}

// ---------------------------------------------------------------------------------------------
// adding an address to the account

/// The signed-in user, or the redirect to the login page that comes back to `return_to`.
async fn signed_in_user(
    state: &Engine,
    req: &Request,
    return_to: &str,
) -> Result<Result<(Session, User), Response>, PageError> {
    let redirect = || {
        see_other(
            &format!("/login?return_to={}", encode_query_value(return_to)),
            &[],
        )
    };
    let Some(session) = current_session(state, req).await? else {
        return Ok(Err(redirect()));
    };
    match state.store.get_user(&session.user_id).await? {
        Some(user) => Ok(Ok((session, user))),
        None => Ok(Err(redirect())),
    }
}

fn add_email_form(csrf: &str, error: Option<&str>) -> Markup {
    html! {
        @if let Some(message) = error { (error_box(message)) }
        p { "We will email a link to the address. Following it adds the address to your account." }
        form method="post" action="/account/emails" {
            (csrf_field(csrf))
            label for="email" { "Email address" }
            input #email type="email" name="email" autocomplete="email" required;
            button type="submit" { "Send the verification link" }
        }
        p { a href="/account" { "Back to your account" } }
    }
}

fn add_email_page(req: &Request, user: &User, error: Option<&str>, status: StatusCode) -> Response {
    let (csrf, cookie) = csrf_token(req);
    let name = crate::http::web::pages::login::user_label(user);
    let body = add_email_form(&csrf, error);
    let cookies: Vec<_> = cookie.into_iter().collect();
    html_response(
        status,
        page("Add an email address", Some((name, &csrf)), body),
        &cookies,
    )
}

/// `GET /account/emails`: the form to add an address.
#[handler]
pub async fn add_email(req: &Request, state: Data<&Engine>) -> Result<Response, PageError> {
    Ok(
        match signed_in_user(&state, req, "/account/emails").await? {
            Ok((_, user)) => add_email_page(req, &user, None, StatusCode::OK),
            Err(redirect) => redirect,
        },
    )
}

/// `POST /account/emails` (form: `email`, `csrf_token`): mails a verification link bound to the
/// signed-in user.
#[handler]
pub async fn request_verification(
    req: &Request,
    state: Data<&Engine>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(fields);
    fields.check_csrf(req)?;
    let (_, user) = match signed_in_user(&state, req, "/account/emails").await? {
        Ok(me) => me,
        Err(redirect) => return Ok(redirect),
    };
    let Ok(address) = crate::address::normalize(fields.get("email")) else {
        return Ok(add_email_page(
            req,
            &user,
            Some("Enter a valid email address."),
            StatusCode::BAD_REQUEST,
        ));
    };
    let Some(authority) = email_authority(&state).await? else {
        return Err(PageError::not_found());
    };
    may_add_address(&state, req, &user, &authority).await?;
    check_send_limits(&state, req, &address).await?;
    send_link(
        &state,
        LinkMail {
            purpose: Purpose::Verify,
            authority: &authority,
            email: &address,
            user_id: Some(&user.id),
            return_to: None,
            path: "/account/emails/verify",
        },
    )
    .await?;
    let mut event = audit_event(req, Some(&user.id), "email.link_requested");
    event.details = json!({ "authority": authority.id, "purpose": "verify", "sent": true });
    audit::record(&state, event).await;
    Ok(check_your_email(
        "to verify it",
        ("/account", "Back to your account"),
    ))
}

/// The page answers with the API's scopes: adding an address of one's own needs
/// `credential.<authority>.me:create`, as `POST /api/v1/users/{me}/credentials` would.
async fn may_add_address(
    state: &Engine,
    req: &Request,
    user: &User,
    authority: &Authority,
) -> Result<(), PageError> {
    let actor = Actor::for_session(state, &user.id, &crate::http::context(req)).await?;
    let scopes =
        crate::engine::admin::credentials::scopes(&actor, &authority.id, &user.id, "create");
    actor
        .require_any(state, &scopes, "credential.create")
        .await?;
    Ok(())
}

/// `GET /account/emails/verify?token=…`: the "Verify" button (signing in first if needed).
#[handler]
pub async fn verification_link_page(
    req: &Request,
    state: Data<&Engine>,
    Query(query): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let token = query.token.unwrap_or_default();
    if !token_shape_ok(&token) {
        return Ok(invalid_link(("/account", "Back to your account")));
    }
    let here = format!("/account/emails/verify?token={token}");
    if let Err(redirect) = signed_in_user(&state, req, &here).await? {
        return Ok(redirect);
    }
    Ok(confirm_page(
        req,
        "Verify your email address",
        "Add this email address to your account.",
        "/account/emails/verify",
        &token,
        "Verify",
    ))
}

/// `POST /account/emails/verify` (form: `token`, `csrf_token`): adds the address as an email
/// credential of the signed-in user the link was sent for.
#[handler]
pub async fn verify_address(
    req: &Request,
    state: Data<&Engine>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(fields);
    fields.check_csrf(req)?;
    let back = ("/account", "Back to your account");
    let token = fields.get("token");
    if !token_shape_ok(token) {
        return Ok(invalid_link(back));
    }
    let here = format!("/account/emails/verify?token={token}");
    let (_, user) = match signed_in_user(&state, req, &here).await? {
        Ok(me) => me,
        Err(redirect) => return Ok(redirect),
    };
    let consumed = state
        .store
        .consume_email_token(&hash_token(token), EmailTokenPurpose::Verify, now())
        .await?;
    let Some(consumed) = consumed.filter(|t| t.user_id.as_deref() == Some(user.id.as_str())) else {
        return Ok(invalid_link(back));
    };
    let authority = match state.store.get_authority(&consumed.authority_id).await? {
        Some(a) if a.enabled && a.strategy == Strategy::Email => a,
        _ => return Ok(invalid_link(back)),
    };
    // Checked again at the end: the access may have changed since the link was sent.
    may_add_address(&state, req, &user, &authority).await?;
    let identity = VerifiedIdentity {
        authority_user_id: consumed.email.clone(),
        email: Some(consumed.email.clone()),
        email_verified: true,
        ..VerifiedIdentity::default()
    };
    let refused = || {
        PageError::new(
            StatusCode::CONFLICT,
            "Address not added",
            "This email address cannot be added to your account.",
        )
    };
    match resolve_identity(&state, &authority, &identity, Some(&user.id)).await {
        Ok(owner) if owner.id == user.id => {}
        Ok(_) | Err(LoginError::NotLinked | LoginError::Disabled) => {
            let mut event = audit_event(req, Some(&user.id), "email.verify");
            event.outcome = Outcome::Failure;
            event.details = json!({ "authority": authority.id, "reason": "address_taken" });
            audit::record(&state, event).await;
            return Err(refused());
        }
        Err(LoginError::Store(e)) => return Err(e.into()),
    }
    if user.email.is_none() {
        let patch = crate::domain::user::UserPatch {
            email: Some(Some(consumed.email.clone())),
            ..Default::default()
        };
        if let Err(error) = state.store.update_user(&user.id, patch).await {
            tracing::warn!(%error, "could not set a verified address as the primary one");
        }
    }
    let mut event = audit_event(req, Some(&user.id), "email.verify").target("user", &user.id);
    event.details = json!({ "authority": authority.id });
    audit::record(&state, event).await;
    Ok(see_other("/account", &[]))
}
