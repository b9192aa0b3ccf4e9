//! The documented HTTP API (poem-openapi): the operational endpoints now, the admin REST API under
//! `/api/v1` as it lands. `authx openapi` prints this service's document.

pub mod error;

use poem_openapi::OpenApiService;

use crate::http::ops::OpsApi;

/// The APIs served by the one OpenAPI service.
pub type Apis = OpsApi;

fn base() -> OpenApiService<Apis, ()> {
    OpenApiService::new(OpsApi, "authx", env!("CARGO_PKG_VERSION"))
        .description("Identity exchange and OAuth 2.0 / OpenID Connect authorization server.")
}

/// Builds the OpenAPI service; `issuer` is the public base URL advertised as the server.
pub fn service(issuer: &str) -> OpenApiService<Apis, ()> {
    base().server(issuer.to_owned())
}

/// The OpenAPI document as pretty JSON. The server URL is left out: it depends on the deployment.
pub fn spec_json() -> String {
    base().spec()
}
