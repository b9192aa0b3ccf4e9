//! `GET /logout` (a confirmation form; a GET changes nothing) and `POST /logout` (ends the
//! session, removes the cookie, audits `logout`).

use maud::html;
use poem::http::StatusCode;
use poem::web::{Data, Form};
use poem::{Request, Response, handler};

use crate::engine::Engine;
use crate::engine::audit;
use crate::http::web::csrf::csrf_token;
use crate::http::web::pages::errors::PageError;
use crate::http::web::pages::layout::{csrf_field, html_response, page, see_other};
use crate::http::web::pages::{Fields, audit_event};
use crate::http::web::session::{current_session, end_session};

/// `GET /logout`: asks for confirmation.
#[handler]
pub async fn confirm(req: &Request, state: Data<&Engine>) -> Result<Response, PageError> {
    if current_session(&state, req).await?.is_none() {
        return Ok(see_other("/login", &[]));
    }
    let (csrf, new_cookie) = csrf_token(req);
    let body = html! {
        section {
            p { "Do you want to log out of authx?" }
            form method="post" action="/logout" {
                (csrf_field(&csrf))
                button type="submit" { "Log out" }
                " "
                a.button.secondary href="/account" { "Cancel" }
            }
        }
    };
    let cookies: Vec<_> = new_cookie.into_iter().collect();
    Ok(html_response(
        StatusCode::OK,
        page("Log out", None, body),
        &cookies,
    ))
}

/// `POST /logout` (form: `csrf_token`).
#[handler]
pub async fn logout(
    req: &Request,
    state: Data<&Engine>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    Fields(fields).check_csrf(req)?;
    let session = current_session(&state, req).await?;
    let removal = end_session(&state, req).await?;
    if let Some(session) = session {
        let event =
            audit_event(req, Some(&session.user_id), "logout").target("user", &session.user_id);
        audit::record_unchanged(&state, event).await;
    }
    Ok(see_other("/login", &[removal]))
}
