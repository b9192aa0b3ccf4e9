//! `GET /oauth2/jwks`: the published signing keys (current and retired-but-published) as a JWK
//! set (RFC 7517), cacheable for 60 s.

use poem::http::{StatusCode, header};
use poem::web::Data;
use poem::{Response, handler};

use crate::engine::Engine;
use crate::telemetry::ErrorChain;

/// `GET /oauth2/jwks`.
#[handler]
pub async fn jwks_endpoint(state: Data<&Engine>) -> Response {
    match state.keys.jwks().await {
        Ok(jwks) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CACHE_CONTROL, "public, max-age=60")
            .body(jwks.to_string()),
        Err(error) => {
            tracing::warn!(error = %ErrorChain(&error), "cannot serve the JWKS");
            Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .header(header::CACHE_CONTROL, "no-store")
                .body("the key set is not available; retry later")
        }
    }
}
