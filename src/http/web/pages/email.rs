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
//! The rules (tokens, limits, who may add what) live in [`crate::engine::email_links`].

use maud::{Markup, html};
use poem::http::StatusCode;
use poem::web::{Data, Form, Query};
use poem::{Request, Response, handler};
use serde::Deserialize;

use crate::domain::now;
use crate::domain::user::User;
use crate::engine::Engine;
use crate::engine::actor::Actor;
use crate::engine::email_links::{
    self, LinkLogin, LinkRequest, Verified, VerifyRequestError, token_shape_ok,
};
use crate::http::client_ip;
use crate::http::web::csp::allow_form_target;
use crate::http::web::csrf::csrf_token;
use crate::http::web::pages::errors::PageError;
use crate::http::web::pages::layout::{csrf_field, error_box, html_response, page, see_other};
use crate::http::web::pages::login::render_login;
use crate::http::web::pages::{Fields, encode_query_value};
use crate::http::web::return_to::safe_return_to;
use crate::http::web::session::{Session, current_session, session_cookie, session_id};

/// The message of every unusable link.
pub const INVALID_LINK: &str = "This link is invalid or has expired.";

/// The query of the pages a mailed link opens.
#[derive(Debug, Default, Deserialize)]
pub struct TokenQuery {
    /// The one-time token from the link.
    pub token: Option<String>,
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
    let ctx = crate::http::context(req);
    let ip = client_ip(req).unwrap_or_else(|| "unknown".to_owned());
    match email_links::request_login_link(&state, &ctx, &ip, &address, &return_to, now()).await? {
        LinkRequest::Throttled(secs) => Err(PageError::too_many(secs)),
        LinkRequest::NoAuthority => Err(PageError::not_found()),
        LinkRequest::Answered => Ok(check_your_email(
            "to sign in",
            ("/login", "Back to the sign-in page"),
        )),
    }
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
    if let Some(return_to) = email_links::login_link_return_to(&state, &token, now()).await? {
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
    let ctx = crate::http::context(req);
    let previous = session_id(req);
    let token = fields.get("token");
    match email_links::login_with_link(&state, &ctx, token, previous.as_deref(), now()).await? {
        LinkLogin::Invalid => Ok(invalid_link(("/login", "Back to the sign-in page"))),
        LinkLogin::Refused(message) => Err(PageError::new(
            StatusCode::FORBIDDEN,
            "Cannot sign in",
            &message,
        )),
        LinkLogin::SignedIn {
            session_id,
            return_to,
        } => {
            let return_to = safe_return_to(return_to.as_deref());
            Ok(see_other(&return_to, &[session_cookie(&state, session_id)]))
        }
    }
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
    match crate::engine::session::holder(state, &session).await? {
        Some((user, _)) => Ok(Ok((session, user))),
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
    let actor = Actor::for_session(&state, &user.id, &crate::http::context(req)).await?;
    let ip = client_ip(req).unwrap_or_else(|| "unknown".to_owned());
    match email_links::request_verification(&state, &actor, &ip, &address, now()).await {
        Ok(()) => Ok(check_your_email(
            "to verify it",
            ("/account", "Back to your account"),
        )),
        Err(VerifyRequestError::NoAuthority) => Err(PageError::not_found()),
        Err(VerifyRequestError::Throttled(secs)) => Err(PageError::too_many(secs)),
        Err(VerifyRequestError::Command(e)) => Err(e.into()),
    }
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
    let actor = Actor::for_session(&state, &user.id, &crate::http::context(req)).await?;
    match email_links::verify_address(&state, &actor, &user, token, now()).await? {
        Verified::Invalid => Ok(invalid_link(back)),
        Verified::Taken => Err(PageError::new(
            StatusCode::CONFLICT,
            "Address not added",
            "This email address cannot be added to your account.",
        )),
        Verified::Added => Ok(see_other("/account", &[])),
    }
}
