//! `GET|POST /oauth2/authorize` and `POST /oauth2/consent`, where the consent page posts the
//! person's answer: the wire side of the engine's authorization decision
//! (`engine::oauth2::authorize`). Errors before the redirect URI is known are shown on a page,
//! never redirected (RFC 6749 §4.1.2.1); after it, they go to the client with `error`, `state`
//! and `iss` (RFC 9207).

use poem::http::StatusCode;
use poem::web::{Data, Form};
use poem::{Body, Request, Response, handler};

use super::read_form;
use crate::domain::now;
use crate::engine::Engine;
use crate::engine::oauth2::authorize::{
    Decision, Failure, Step, Unverified, authorize, client_and_redirect, parse_request,
};
use crate::engine::oauth2::error::OAuth2Error;
use crate::engine::oauth2::params::Params;
use crate::engine::oauth2::redirect::{form_encode, with_params};
use crate::http::web::pages::Fields;
use crate::http::web::pages::consent::{ConsentView, render_consent};
use crate::http::web::pages::errors::PageError;
use crate::http::web::pages::layout::see_other;
use crate::http::web::session::current_session;

/// `GET /oauth2/authorize`.
#[handler]
pub async fn authorize_get(req: &Request, state: Data<&Engine>) -> Result<Response, PageError> {
    let params = Params::parse(req.uri().query().unwrap_or_default()).map_err(bad_request)?;
    handle(&state, req, params, None).await
}

/// `POST /oauth2/authorize` (OIDC Core §3.1.2.1: the request may also arrive form-encoded).
#[handler]
pub async fn authorize_post(
    req: &Request,
    body: Body,
    state: Data<&Engine>,
) -> Result<Response, PageError> {
    let params = read_form(req, body).await.map_err(bad_request)?;
    handle(&state, req, params, None).await
}

/// `POST /oauth2/consent` (form: `csrf_token`, `request` — the original request as a query
/// string — and `decision`, `allow` or `deny`).
#[handler]
pub async fn consent(
    req: &Request,
    state: Data<&Engine>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(fields);
    fields.check_csrf(req)?;
    let params = Params::parse(fields.get("request")).map_err(bad_request)?;
    let decision = match fields.get("decision") {
        "allow" => Decision::Allow,
        "deny" => Decision::Deny,
        _ => {
            return Err(PageError::new(
                StatusCode::BAD_REQUEST,
                "Invalid request",
                "The consent form was incomplete. Go back to the application and try again.",
            ));
        }
    };
    handle(&state, req, params, Some(decision)).await
}

/// Where answers go once the redirect URI is known.
struct Reply {
    redirect_uri: String,
    state: Option<String>,
    issuer: String,
}

impl Reply {
    fn send(&self, params: &[(&str, &str)]) -> Response {
        let mut all: Vec<(&str, &str)> = params.to_vec();
        if let Some(state) = &self.state {
            all.push(("state", state));
        }
        all.push(("iss", &self.issuer));
        see_other(&with_params(&self.redirect_uri, &all), &[])
    }

    fn error(&self, error: &OAuth2Error) -> Response {
        let mut params = vec![("error", error.code.as_str())];
        if let Some(description) = &error.description {
            params.push(("error_description", description));
        }
        self.send(&params)
    }
}

async fn handle(
    state: &Engine,
    req: &Request,
    params: Params,
    decision: Option<Decision>,
) -> Result<Response, PageError> {
    let (client, redirect_uri) = match client_and_redirect(state, &params).await {
        Ok(found) => found,
        Err(Unverified::Page(message)) => return Err(page_error(message)),
        Err(Unverified::Store(error)) => return Err(error.into()),
    };
    let reply = Reply {
        state: params.get("state").map(str::to_owned),
        issuer: state.config.issuer_url(),
        redirect_uri,
    };
    let request = match parse_request(client, &reply.redirect_uri, &params) {
        Ok(request) => request,
        Err(error) => return Ok(reply.error(&error)),
    };
    let session = current_session(state, req).await?;
    let ctx = crate::http::context(req);
    match authorize(state, &ctx, &params, &request, session, decision, now()).await {
        Ok(Step::Code(code)) => Ok(reply.send(&[("code", &code)])),
        Ok(Step::Login { return_to }) => Ok(see_other(
            &format!("/login?return_to={}", form_encode(&return_to)),
            &[],
        )),
        Ok(Step::Consent(prompt)) => {
            let view = ConsentView {
                client: &prompt.client,
                user: &prompt.user,
                oidc: prompt.oidc,
                realm: prompt.realm,
                request: prompt.request,
                redirect_uri: &request.redirect_uri,
            };
            Ok(render_consent(req, &view))
        }
        Err(Failure::Redirect(error)) => Ok(reply.error(&error)),
        Err(Failure::Store(error)) => Err(error.into()),
    }
}

fn page_error(message: &str) -> PageError {
    PageError::new(
        StatusCode::BAD_REQUEST,
        "Invalid authorization request",
        message,
    )
}

fn bad_request(error: OAuth2Error) -> PageError {
    page_error(&format!(
        "The application sent an invalid request: {}.",
        error
            .description
            .as_deref()
            .unwrap_or("malformed parameters")
    ))
}
