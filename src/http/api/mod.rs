//! The documented HTTP API (poem-openapi): the operational endpoints and the admin REST API under
//! `/api/v1`. `authx openapi` prints this service's document; `openapi/authx.json` is that output,
//! committed, and a test fails when it is stale.

// `ApiError` carries a whole problem document; handlers return it by value on the error path,
// which is cold, so boxing it would only add noise.
#![allow(clippy::result_large_err)]

pub mod api_keys;
pub mod audit_events;
pub mod authorities;
pub mod clients;
pub mod common;
pub mod credentials;
pub mod error;
pub mod grants;
pub mod keys;
pub mod problem;
pub mod request_check;
pub mod roles;
pub mod security;
pub mod users;

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::OpenApiService;

use crate::http::ops::OpsApi;
use api_keys::{ApiKeysApi, MyApiKeysApi};
use audit_events::AuditEventsApi;
use authorities::AuthoritiesApi;
use clients::ClientsApi;
use credentials::CredentialsApi;
use grants::GrantsApi;
use keys::KeysApi;
use roles::RolesApi;
use users::{MeApi, UsersApi};

/// The APIs served by the one OpenAPI service.
/// One API per line here and in [`apis`], so additions don't collide.
pub type Apis = (
    OpsApi,
    UsersApi,
    MeApi,
    RolesApi,
    MyApiKeysApi,
    ApiKeysApi,
    AuthoritiesApi,
    CredentialsApi,
    ClientsApi,
    GrantsApi,
    AuditEventsApi,
    KeysApi,
);

fn apis() -> Apis {
    (
        OpsApi,
        UsersApi,
        MeApi,
        RolesApi,
        MyApiKeysApi,
        ApiKeysApi,
        AuthoritiesApi,
        CredentialsApi,
        ClientsApi,
        GrantsApi,
        AuditEventsApi,
        KeysApi,
    )
}

fn base() -> OpenApiService<Apis, ()> {
    OpenApiService::new(apis(), "authx", env!("CARGO_PKG_VERSION")).description(
        "Identity exchange and OAuth 2.0 / OpenID Connect authorization server. The admin API \
             under /api/v1 is guarded by authx's own scopes (realm `AuthX` by default); callers \
             authenticate with `Authorization: Bearer <API key or access token>`. Errors are RFC \
             9457 problem documents with a stable `type`.",
    )
}

/// The OpenAPI document as pretty JSON. The server URL is left out: it depends on the deployment.
pub fn spec_json() -> String {
    base().spec()
}

/// The documented API with its Swagger UI (`/api/docs`) and document (`/api/openapi.json`), every
/// error answer a problem document.
pub fn routes(issuer: &str) -> impl Endpoint + 'static {
    let service = base().server(issuer.to_owned());
    let docs = service.swagger_ui();
    let spec = service.spec_endpoint();
    let table = serde_json::from_str(&service.spec()).map(|doc| problem::Routes::from_spec(&doc));
    let routes = table.unwrap_or_default();
    Route::new()
        .nest("/api/docs", docs)
        .at("/api/openapi.json", spec)
        .nest("/", service.with(problem::ProblemMiddleware::new(routes)))
}
