//! Password reset through the email strategy (reference §3 password: "reset via the email strategy").
//!
//! - `GET /password/reset` asks for an address; `POST /password/reset` asks for a link and
//!   answers the same page whatever the address.
//! - `GET /password/reset/confirm?token=…` shows the new-password form (the token travels in a
//!   hidden field); `POST /password/reset/confirm` sets the password, or shows the form again with
//!   the reason (and the token to use now).
//!
//! The rules are [`crate::engine::password_reset`]'s.
//!
//! The reset pages exist only while a password authority is enabled.

use maud::html;
use poem::http::StatusCode;
use poem::web::cookie::Cookie;
use poem::web::{Data, Form, Query};
use poem::{Request, Response, handler};

use crate::domain::authority::Authority;
use crate::domain::now;
use crate::engine::Engine;
use crate::engine::email_links::LinkRequest;
use crate::engine::email_links::token_shape_ok;
use crate::engine::password_login::password_authority;
use crate::engine::password_reset::{self, NewPassword, Reset, min_length};
use crate::http::client_ip;
use crate::http::web::csrf::csrf_token;
use crate::http::web::pages::Fields;
use crate::http::web::pages::email::{TokenQuery, check_your_email, invalid_link};
use crate::http::web::pages::errors::PageError;
use crate::http::web::pages::layout::{csrf_field, error_box, html_response, page};

const BACK: (&str, &str) = ("/password/reset", "Ask for a new link");

/// The password authority, or 404 when none is enabled.
async fn required_password_authority(state: &Engine) -> Result<Authority, PageError> {
    password_authority(state)
        .await?
        .ok_or_else(PageError::not_found)
}

fn request_page(req: &Request, error: Option<&str>, status: StatusCode) -> Response {
    let (csrf, cookie) = csrf_token(req);
    let body = html! {
        @if let Some(message) = error { (error_box(message)) }
        p { "Enter the email address of your account. We will email you a link to choose a new password." }
        form method="post" action="/password/reset" {
            (csrf_field(&csrf))
            label for="email" { "Email address" }
            input #email type="email" name="email" autocomplete="email" required;
            button type="submit" { "Email me a reset link" }
        }
        p { a href="/login" { "Back to the sign-in page" } }
    };
    let cookies: Vec<_> = cookie.into_iter().collect();
    html_response(status, page("Reset your password", None, body), &cookies)
}

/// `GET /password/reset`.
#[handler]
pub async fn reset_page(req: &Request, state: Data<&Engine>) -> Result<Response, PageError> {
    required_password_authority(&state).await?;
    Ok(request_page(req, None, StatusCode::OK))
}

/// `POST /password/reset` (form: `email`, `csrf_token`).
#[handler]
pub async fn request_reset(
    req: &Request,
    state: Data<&Engine>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(fields);
    fields.check_csrf(req)?;
    required_password_authority(&state).await?;
    let Ok(address) = crate::address::normalize(fields.get("email")) else {
        return Ok(request_page(
            req,
            Some("Enter a valid email address."),
            StatusCode::BAD_REQUEST,
        ));
    };
    let ctx = crate::http::context(req);
    let ip = client_ip(req).unwrap_or_else(|| "unknown".to_owned());
    match password_reset::request(&state, &ctx, &ip, &address, now()).await? {
        LinkRequest::Throttled(secs) => Err(PageError::too_many(secs)),
        LinkRequest::NoAuthority | LinkRequest::Answered => Ok(check_your_email(
            "to reset your password",
            ("/login", "Back to the sign-in page"),
        )),
    }
}

fn confirm_form(
    req: &Request,
    token: &str,
    rules: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let (csrf, cookie) = csrf_token(req);
    let body = html! {
        @if let Some(message) = error { (error_box(message)) }
        form method="post" action="/password/reset/confirm" {
            (csrf_field(&csrf))
            input type="hidden" name="token" value=(token);
            label for="new_password" { "New password" }
            input #new_password type="password" name="new_password" autocomplete="new-password"
                required aria-describedby="password-rules";
            p #password-rules .muted { (rules) }
            label for="confirm_password" { "New password again" }
            input #confirm_password type="password" name="confirm_password"
                autocomplete="new-password" required;
            button type="submit" { "Change my password" }
        }
    };
    let cookies: Vec<Cookie> = cookie.into_iter().collect();
    html_response(status, page("Choose a new password", None, body), &cookies)
}

fn rules(min: usize) -> String {
    format!("At least {min} characters, at most 72 bytes, and not your email address.")
}

/// `GET /password/reset/confirm?token=…`: the new-password form.
#[handler]
pub async fn confirm_page(
    req: &Request,
    state: Data<&Engine>,
    Query(query): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let authority = required_password_authority(&state).await?;
    let token = query.token.unwrap_or_default();
    if !token_shape_ok(&token) {
        return Ok(invalid_link(BACK));
    }
    let min = min_length(&state, &authority);
    Ok(confirm_form(req, &token, &rules(min), None, StatusCode::OK))
}

/// `POST /password/reset/confirm` (form: `token`, `new_password`, `confirm_password`,
/// `csrf_token`).
#[handler]
pub async fn confirm_reset(
    req: &Request,
    state: Data<&Engine>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(fields);
    fields.check_csrf(req)?;
    let authority = required_password_authority(&state).await?;
    let input = NewPassword {
        token: fields.get("token"),
        password: fields.get("new_password"),
        confirmation: fields.get("confirm_password"),
    };
    let ctx = crate::http::context(req);
    match password_reset::confirm(&state, &ctx, &authority, input, now()).await? {
        Reset::Invalid => Ok(invalid_link(BACK)),
        Reset::Refused { message, token } => {
            let rules = rules(min_length(&state, &authority));
            Ok(confirm_form(
                req,
                &token,
                &rules,
                Some(&message),
                StatusCode::BAD_REQUEST,
            ))
        }
        Reset::Done => {
            let body = html! {
                p role="status" { "Your password was changed. Every session of your account was signed out, and applications must ask you to sign in again." }
                p { a.button href="/login" { "Sign in" } }
            };
            Ok(html_response(
                StatusCode::OK,
                page("Your password was changed", None, body),
                &[],
            ))
        }
    }
}
