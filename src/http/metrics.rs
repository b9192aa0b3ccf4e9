//! Prometheus metrics: request counts by route and status, a latency histogram, and the database
//! pool's connections in use and idle.
//!
//! Routes are labelled by their matched pattern (`/api/v1/users/:id`), never the raw path, so the
//! number of series stays bounded whatever clients send; unmatched paths share one label.

use std::sync::OnceLock;
use std::time::Instant;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem::PathPattern;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

const REQUESTS: &str = "http_requests_total";
const DURATION: &str = "http_request_duration_seconds";
/// Latency buckets from 0.5 ms (a cached check) to 10 s (a stuck database).
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide recorder's handle, installed on first use. `None` if another recorder was
/// installed first (an embedding application's), in which case `/metrics` reports only the pool.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(DURATION.to_owned()), BUCKETS)
                .ok()?;
            builder.install_recorder().ok()
        })
        .as_ref()
}

/// Renders the metrics in Prometheus text format, with pool figures appended.
pub fn render(pool_in_use: u32, pool_idle: u32) -> String {
    let mut out = String::new();
    if let Some(handle) = handle() {
        handle.run_upkeep();
        out.push_str(&handle.render());
    }
    // Gauges are rendered here rather than recorded, so they describe this node's pool at scrape
    // time even when several servers share the process-wide recorder (tests).
    out.push_str("# HELP db_pool_connections Database connections of this node's pool.\n");
    out.push_str("# TYPE db_pool_connections gauge\n");
    out.push_str(&format!(
        "db_pool_connections{{state=\"in_use\"}} {pool_in_use}\n"
    ));
    out.push_str(&format!(
        "db_pool_connections{{state=\"idle\"}} {pool_idle}\n"
    ));
    out
}

/// Middleware recording one count and one latency observation per request.
#[derive(Clone, Copy, Debug, Default)]
pub struct MetricsMiddleware;

impl<E: Endpoint> Middleware<E> for MetricsMiddleware {
    type Output = MetricsEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        // Make sure the recorder exists before the first request is counted.
        let _ = handle();
        MetricsEndpoint { inner: ep }
    }
}

/// The endpoint produced by [`MetricsMiddleware`].
pub struct MetricsEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for MetricsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let method = req.method().as_str().to_owned();
        let started = Instant::now();
        let (route, response) = match self.inner.call(req).await {
            Ok(r) => {
                let r = r.into_response();
                (r.data::<PathPattern>().map(|p| p.0.to_string()), r)
            }
            Err(e) => (
                e.data::<PathPattern>().map(|p| p.0.to_string()),
                e.into_response(),
            ),
        };
        // No pattern, or the empty one a nested service reports when none of its routes matched.
        let route = route
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "unmatched".to_owned());
        let status = response.status().as_u16().to_string();
        let seconds = started.elapsed().as_secs_f64();
        metrics::counter!(REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status)
            .increment(1);
        metrics::histogram!(DURATION, "method" => method, "route" => route).record(seconds);
        Ok(response)
    }
}
