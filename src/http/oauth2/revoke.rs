//! `POST /oauth2/revoke` (RFC 7009): the client authenticates as at the token endpoint (a public
//! client names itself) and the engine revokes the token. The answer is 200 with an empty body for
//! every well-formed request (§2.2).

use poem::http::{StatusCode, header};
use poem::web::Data;
use poem::{Body, IntoResponse, Request, Response, handler};

use super::client_auth::authenticate;
use super::read_form;
use crate::domain::now;
use crate::engine::Engine;
use crate::engine::oauth2::client_auth::Public;
use crate::engine::oauth2::error::OAuth2Error;
use crate::engine::oauth2::revoke as revocation;

/// `POST /oauth2/revoke`.
#[handler]
pub async fn revoke(req: &Request, body: Body, state: Data<&Engine>) -> Response {
    match run(req, body, &state).await {
        Ok(()) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CACHE_CONTROL, "no-store")
            .finish(),
        Err(error) => error.into_response(),
    }
}

async fn run(req: &Request, body: Body, state: &Engine) -> Result<(), OAuth2Error> {
    let form = read_form(req, body).await?;
    let client = authenticate(state, req, &form, Public::Allow).await?;
    let token = form.require("token")?;
    revocation::revoke(
        state,
        &crate::http::context(req),
        &client,
        token,
        form.get("token_type_hint"),
        now(),
    )
    .await
}
