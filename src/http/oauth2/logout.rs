//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): the `end_session_endpoint`,
//! `GET|POST /oauth2/logout`, and `POST /oauth2/logout/confirm`.
//!
//! A relying party sends the browser here with `id_token_hint` (an ID token we issued; it may have
//! expired), `client_id`, `post_logout_redirect_uri` and `state`. The redirect happens only to a
//! URI registered in the client's `post_logout_redirect_uris` (exact match), for a client named by
//! a valid hint or by `client_id` (both must agree) — anything else is shown on a page, never
//! redirected. The session ends at once when the hint names the signed-in user (the RP proved it
//! held that user's ID token); otherwise the user confirms with a CSRF-checked form, so a
//! third-party page cannot log anyone out. Logging out is audited as `logout`.

use maud::html;
use poem::http::{Method, StatusCode};
use poem::web::{Data, Form};
use poem::{Body, Request, Response, handler};

use super::read_form;
use crate::engine::Engine;
use crate::engine::audit;
use crate::engine::oauth2::logout::{LogoutRequest, Refused, validate};
use crate::engine::oauth2::params::Params;
use crate::engine::oauth2::redirect::with_params;
use crate::http::web::csp::allow_form_target;
use crate::http::web::csrf::csrf_token;
use crate::http::web::pages::errors::PageError;
use crate::http::web::pages::layout::{csrf_field, html_response, page, see_other};
use crate::http::web::pages::{Fields, audit_event};
use crate::http::web::session::{Session, current_session, end_session};

/// `GET|POST /oauth2/logout`.
#[handler]
pub async fn end_session_endpoint(
    req: &Request,
    body: Body,
    state: Data<&Engine>,
) -> Result<Response, PageError> {
    let params = if req.method() == Method::POST {
        read_form(req, body).await
    } else {
        Params::parse(req.uri().query().unwrap_or_default())
    }
    .map_err(|e| invalid(&e.to_string()))?;
    let request = validate_page(&state, &params).await?;
    let session = current_session(&state, req).await?;
    match &session {
        None => Ok(done(&request, Vec::new())),
        Some(s) if request.hinted_user.as_deref() == Some(s.user_id.as_str()) => {
            finish(&state, req, s, &request).await
        }
        Some(_) => Ok(confirm_page(req, &params, &request)),
    }
}

/// `POST /oauth2/logout/confirm` (form: `csrf_token`, `request`).
#[handler]
pub async fn confirm(
    req: &Request,
    state: Data<&Engine>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(fields);
    fields.check_csrf(req)?;
    let params = Params::parse(fields.get("request")).map_err(|e| invalid(&e.to_string()))?;
    let request = validate_page(&state, &params).await?;
    match current_session(&state, req).await? {
        Some(session) => finish(&state, req, &session, &request).await,
        None => Ok(done(&request, Vec::new())),
    }
}

async fn finish(
    state: &Engine,
    req: &Request,
    session: &Session,
    request: &LogoutRequest,
) -> Result<Response, PageError> {
    let removal = end_session(state, req).await?;
    let mut event =
        audit_event(req, Some(&session.user_id), "logout").target("user", &session.user_id);
    event.details = serde_json::json!({ "via": "end_session_endpoint" });
    audit::record_unchanged(state, event).await;
    Ok(done(request, vec![removal]))
}

/// After logging out (or when nobody was signed in): back to the client, or a page.
fn done(request: &LogoutRequest, cookies: Vec<poem::web::cookie::Cookie>) -> Response {
    if let Some(uri) = &request.redirect {
        let params: Vec<(&str, &str)> = request
            .state
            .as_deref()
            .map(|s| vec![("state", s)])
            .unwrap_or_default();
        return see_other(&with_params(uri, &params), &cookies);
    }
    let body = html! {
        section {
            p { "You are signed out of authx." }
            p { a href="/login" { "Sign in again" } }
        }
    };
    html_response(StatusCode::OK, page("Signed out", None, body), &cookies)
}

fn confirm_page(req: &Request, params: &Params, request: &LogoutRequest) -> Response {
    let (csrf, new_cookie) = csrf_token(req);
    let body = html! {
        section {
            @if let Some(name) = &request.client_name {
                p { strong { (name) } " asks to sign you out of authx. Do you want to log out?" }
            } @else {
                p { "An application asks to sign you out of authx. Do you want to log out?" }
            }
            form method="post" action="/oauth2/logout/confirm" {
                (csrf_field(&csrf))
                input type="hidden" name="request" value=(params.to_query(&[]));
                button type="submit" { "Log out" }
                " "
                a.button.secondary href="/account" { "Stay signed in" }
            }
        }
    };
    let cookies: Vec<_> = new_cookie.into_iter().collect();
    let mut response = html_response(StatusCode::OK, page("Log out", None, body), &cookies);
    // Logging out ends with a redirect to the application's registered address.
    if let Some(uri) = &request.redirect {
        allow_form_target(&mut response, uri);
    }
    response
}

async fn validate_page(state: &Engine, params: &Params) -> Result<LogoutRequest, PageError> {
    match validate(state, params).await {
        Ok(request) => Ok(request),
        Err(Refused::Page(message)) => Err(invalid(message)),
        Err(Refused::Store(error)) => Err(error.into()),
    }
}

fn invalid(message: &str) -> PageError {
    PageError::new(StatusCode::BAD_REQUEST, "Invalid logout request", message)
}
