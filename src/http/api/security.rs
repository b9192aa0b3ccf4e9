//! The admin API's authentication: `Authorization: Bearer <API key or access token>` yields the
//! engine's [`Actor`], whose checks every operation then makes.

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

use crate::domain::now;
use crate::engine::Engine;
use crate::engine::actor::{Actor, authenticate_bearer};
use crate::http::api::error::ApiError;

/// Bearer authentication with an API key (`axk_…`) or an authx access token.
#[derive(SecurityScheme)]
#[oai(
    ty = "bearer",
    bearer_format = "API key (axk_…) or JWT access token",
    checker = "authenticate"
)]
pub struct BearerAuth(pub Actor);

/// One message for every failed authentication, so a caller learns nothing about which part failed.
const INVALID: &str = "the bearer credential is invalid, expired or revoked";

async fn authenticate(req: &Request, bearer: Bearer) -> poem::Result<Actor> {
    let state = req
        .data::<Engine>()
        .ok_or_else(|| poem::Error::from(ApiError::unauthenticated(INVALID)))?;
    let ctx = crate::http::context(req);
    authenticate_bearer(state, &bearer.token, &ctx, now())
        .await
        .map_err(|e| poem::Error::from(ApiError::from(e)))?
        .ok_or_else(|| poem::Error::from(ApiError::unauthenticated(INVALID)))
}
