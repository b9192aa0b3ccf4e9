//! Operational endpoints: `/healthz` (the process answers), `/readyz` (the database answers) and
//! `/metrics` (Prometheus text).
//!
//! Load balancers route on `/readyz`: it fails with 503 when the database is unreachable so a node
//! that cannot serve is taken out of rotation, while `/healthz` keeps saying the process is alive
//! (restarting it would not help).

use std::time::Duration;

use poem::web::Data;
use poem::{IntoResponse, Response, handler, http::StatusCode};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use crate::engine::Engine;

/// How long readiness waits for the database before declaring it unreachable.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Tags)]
enum OpsTag {
    /// Liveness, readiness and metrics for operators and load balancers.
    Operations,
}

/// Status of a health or readiness check.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct HealthStatus {
    /// `ok`, `ready` or `unavailable`.
    pub status: String,
}

#[derive(ApiResponse)]
enum ReadyResponse {
    /// The database answers; this node can serve requests.
    #[oai(status = 200)]
    Ready(Json<HealthStatus>),
    /// The database does not answer; take this node out of rotation.
    #[oai(status = 503)]
    Unavailable(Json<HealthStatus>),
}

/// The operational endpoints of the OpenAPI service.
pub struct OpsApi;

#[OpenApi]
impl OpsApi {
    /// Liveness: answers as long as the process runs.
    #[oai(
        path = "/healthz",
        method = "get",
        operation_id = "healthz",
        tag = "OpsTag::Operations"
    )]
    async fn healthz(&self) -> Json<HealthStatus> {
        Json(HealthStatus {
            status: "ok".to_owned(),
        })
    }

    /// Readiness: answers 200 when the database is reachable, 503 otherwise.
    #[oai(
        path = "/readyz",
        method = "get",
        operation_id = "readyz",
        tag = "OpsTag::Operations"
    )]
    async fn readyz(&self, state: Data<&Engine>) -> ReadyResponse {
        match state.database_ready(READY_TIMEOUT).await {
            Ok(()) => ReadyResponse::Ready(Json(HealthStatus {
                status: "ready".to_owned(),
            })),
            Err(error) => {
                tracing::warn!(%error, "readiness check: database not ready");
                ReadyResponse::Unavailable(Json(HealthStatus {
                    status: "unavailable".to_owned(),
                }))
            }
        }
    }
}

/// `GET /metrics`: Prometheus text exposition format.
#[handler]
pub async fn metrics(state: Data<&Engine>) -> Response {
    let db = state.database_health();
    crate::http::metrics::render(db.in_use, db.idle)
        .with_content_type("text/plain; version=0.0.4; charset=utf-8")
        .with_status(StatusCode::OK)
        .into_response()
}
