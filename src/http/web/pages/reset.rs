//! Password reset through the email strategy (reference §3 password: "reset via the email strategy").
//!
//! - `GET /password/reset` asks for an address; `POST /password/reset` mails a `reset` link when an
//!   email credential holds the address (of an active user) and answers the same page whatever
//!   the address, after the same lookups. Sends are limited per address and per IP.
//! - `GET /password/reset/confirm?token=…` shows the new-password form (the token travels in a
//!   hidden field); `POST /password/reset/confirm` checks the two fields match and the length
//!   policy *before* consuming the token, so a typo does not burn the link. The check against the
//!   account's addresses needs the token's user, so it comes after consuming; if it fails, a fresh
//!   token for the same user and expiry replaces the spent one in the re-shown form.
//! - On success the password credential is created or updated, every session of the user ends, a
//!   `password.reset` audit event is written, and the page links to the login page.
//!
//! The reset pages exist only while a password authority is enabled.

use authx_strategy_email::{Purpose, hash_token, new_token};
use authx_strategy_password::{PasswordStrategy, check_policy, hash_password};
use maud::html;
use poem::http::StatusCode;
use poem::web::cookie::Cookie;
use poem::web::{Data, Form, Query};
use poem::{Request, Response, handler};
use serde_json::{Value, json};

use crate::domain::authority::{Authority, Strategy};
use crate::domain::credential::NewCredential;
use crate::domain::email_token::{EmailToken, EmailTokenPurpose, NewEmailToken};
use crate::domain::now;
use crate::domain::user::UserStatus;
use crate::engine::Engine;
use crate::engine::audit;
use crate::http::web::csrf::csrf_token;
use crate::http::web::pages::email::{
    LinkMail, TokenQuery, check_send_limits, check_your_email, invalid_link, send_link,
    token_shape_ok,
};
use crate::http::web::pages::errors::PageError;
use crate::http::web::pages::layout::{csrf_field, error_box, html_response, page};
use crate::http::web::pages::login::password_authority;
use crate::http::web::pages::{Fields, audit_event};
use crate::store::StoreError;

const BACK: (&str, &str) = ("/password/reset", "Ask for a new link");

/// The password authority, or 404 when none is enabled.
async fn required_password_authority(state: &Engine) -> Result<Authority, PageError> {
    password_authority(state)
        .await?
        .ok_or_else(PageError::not_found)
}

fn min_length(state: &Engine, authority: &Authority) -> usize {
    PasswordStrategy::min_length(&authority.details, state.config.password.min_length)
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
    check_send_limits(&state, req, &address).await?;
    // The email credential holding the address (any email authority; the one called `email`
    // first), and its active user.
    let mut email_authorities: Vec<Authority> = state
        .store
        .list_authorities()
        .await?
        .into_iter()
        .filter(|a| a.strategy == Strategy::Email)
        .collect();
    email_authorities.sort_by_key(|a| (!a.enabled, a.id != "email"));
    let mut target = None;
    for authority in email_authorities {
        if let Some(credential) = state.store.find_credential(&authority.id, &address).await? {
            target = Some((authority, credential.user_id));
            break;
        }
    }
    let mut sent = false;
    if let Some((authority, user_id)) = target
        && let Some(user) = state.store.get_user(&user_id).await?
        && user.status == UserStatus::Active
    {
        send_link(
            &state,
            LinkMail {
                purpose: Purpose::Reset,
                authority: &authority,
                email: &address,
                user_id: Some(&user.id),
                return_to: None,
                path: "/password/reset/confirm",
            },
        )
        .await?;
        sent = true;
    }
    let mut event = audit_event(req, None, "email.link_requested");
    event.details = json!({ "purpose": "reset", "sent": sent });
    audit::record(&state, event).await;
    Ok(check_your_email(
        "to reset your password",
        ("/login", "Back to the sign-in page"),
    ))
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
    let token = fields.get("token");
    if !token_shape_ok(token) {
        return Ok(invalid_link(BACK));
    }
    let min = min_length(&state, &authority);
    let rules = rules(min);
    let password = fields.get("new_password");
    if password != fields.get("confirm_password") {
        return Ok(confirm_form(
            req,
            token,
            &rules,
            Some("The two passwords are not the same."),
            StatusCode::BAD_REQUEST,
        ));
    }
    // Everything that does not need the account, before the token is spent.
    if let Err(problem) = check_policy(password, min, None) {
        return Ok(confirm_form(
            req,
            token,
            &rules,
            Some(&problem.to_string()),
            StatusCode::BAD_REQUEST,
        ));
    }
    let Some(consumed) = state
        .store
        .consume_email_token(&hash_token(token), EmailTokenPurpose::Reset, now())
        .await?
    else {
        return Ok(invalid_link(BACK));
    };
    let user = match consumed.user_id.as_deref() {
        Some(id) => state.store.get_user(id).await?,
        None => None,
    };
    let Some(user) = user.filter(|u| u.status == UserStatus::Active) else {
        return Ok(invalid_link(BACK));
    };
    // The account's own addresses.
    let mut emails = vec![consumed.email.clone()];
    emails.extend(user.email.clone());
    if let Some(problem) = emails
        .iter()
        .find_map(|e| check_policy(password, min, Some(e)).err())
    {
        // The link is spent; the person who held it gets a fresh one in the re-shown form.
        let fresh = reissue(&state, &consumed).await?;
        return Ok(confirm_form(
            req,
            &fresh,
            &rules,
            Some(&problem.to_string()),
            StatusCode::BAD_REQUEST,
        ));
    }
    let hash = hash_password(password.to_owned(), state.config.password.bcrypt_cost)
        .await
        .map_err(|e| PageError::internal(&e))?;
    let credential_id = match state.store.find_credential(&authority.id, &user.id).await? {
        Some(credential) => {
            let mut details = match credential.details {
                Value::Object(map) => map,
                _ => serde_json::Map::new(),
            };
            details.insert("hash".to_owned(), Value::from(hash));
            state
                .store
                .update_credential_details(&credential.id, Value::Object(details))
                .await?
                .id
        }
        None => {
            state
                .store
                .create_credential(NewCredential {
                    user_id: user.id.clone(),
                    authority_id: authority.id.clone(),
                    authority_user_id: user.id.clone(),
                    details: json!({ "hash": hash }),
                })
                .await?
                .id
        }
    };
    // Whoever knew the old password may hold sessions or tokens: all of them end.
    let (ended, revoked) =
        crate::engine::session::end_everywhere(&state, &user.id, crate::domain::now()).await?;
    let mut event =
        audit_event(req, Some(&user.id), "password.reset").target("credential", &credential_id);
    event.details =
        json!({ "authority": authority.id, "sessions_ended": ended, "tokens_revoked": revoked });
    audit::record(&state, event).await;
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

/// A new reset token replacing `spent` (same address, user, authority and expiry).
async fn reissue(state: &Engine, spent: &EmailToken) -> Result<String, StoreError> {
    let token = new_token();
    state
        .store
        .create_email_token(NewEmailToken {
            token_hash: token.hash,
            purpose: EmailTokenPurpose::Reset,
            email: spent.email.clone(),
            user_id: spent.user_id.clone(),
            authority_id: spent.authority_id.clone(),
            expires_at: spent.expires_at,
            return_to: None,
        })
        .await?;
    Ok(token.token)
}
