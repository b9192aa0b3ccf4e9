//! Gives every request an id, logs its outcome, and returns the id in `x-request-id`.
//!
//! An id sent by a trusted proxy is kept so one request can be followed across services, but only if
//! it is short and plain (anything else would let a client inject text into our logs). Every log
//! line emitted while the request runs is inside a span carrying the id.

use std::time::Instant;

use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};
use tracing::Instrument;

/// The header that carries the id in both directions.
pub const HEADER: &str = "x-request-id";

/// The id of the request being handled, available to handlers as request data.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Middleware adding request ids and one access-log line per request.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestIdMiddleware;

impl<E: Endpoint> Middleware<E> for RequestIdMiddleware {
    type Output = RequestIdEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        RequestIdEndpoint { inner: ep }
    }
}

/// The endpoint produced by [`RequestIdMiddleware`].
pub struct RequestIdEndpoint<E> {
    inner: E,
}

fn acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl<E: Endpoint> Endpoint for RequestIdEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let id = req
            .headers()
            .get(HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| acceptable(v))
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        req.set_data(RequestId(id.clone()));
        let span = tracing::info_span!("request", request_id = %id);
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let started = Instant::now();
        let result = self.inner.call(req).instrument(span.clone()).await;
        let mut response = match result {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        };
        let status = response.status().as_u16();
        let micros = started.elapsed().as_micros();
        span.in_scope(|| {
            if status >= 500 {
                tracing::warn!(%method, %path, status, micros, "request failed");
            } else {
                tracing::info!(%method, %path, status, micros, "request");
            }
        });
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(HEADER, value);
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn only_plain_short_ids_are_kept() {
        assert!(acceptable("0192-abc_DEF.1"));
        assert!(!acceptable(""));
        assert!(!acceptable("a b"));
        assert!(!acceptable("evil\nline"));
        assert!(!acceptable(&"x".repeat(65)));
    }
}
