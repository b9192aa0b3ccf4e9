//! CORS for the endpoints a browser-based public client calls itself: discovery, the JWKS, the
//! token endpoint, userinfo and revocation. Which origins may is the engine's
//! [`AllowedOrigins`](crate::engine::oauth2::origins::AllowedOrigins); credentials (cookies) are
//! never allowed, clients authenticate in the request itself.

use poem::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use poem::http::{HeaderValue, Method, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::engine::Engine;

/// Wraps one of the endpoints above with CORS: preflights (`OPTIONS` with
/// `Access-Control-Request-Method`) are answered here, and answers to an allowed origin carry
/// `Access-Control-Allow-Origin` naming it.
pub fn cors<E>(endpoint: E) -> impl Endpoint<Output = Response>
where
    E: Endpoint + 'static,
{
    Cors { inner: endpoint }
}

struct Cors<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for Cors<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let origin = req
            .header(ORIGIN)
            .map(str::to_owned)
            .filter(|o| o.len() <= 300);
        let allowed = match (&origin, req.data::<Engine>()) {
            (Some(origin), Some(state)) => match state.origins.allows(origin).await {
                Ok(allowed) => allowed,
                Err(error) => {
                    tracing::warn!(%error, "cannot read the allowed CORS origins");
                    false
                }
            },
            _ => false,
        };
        let preflight =
            req.method() == Method::OPTIONS && req.header(ACCESS_CONTROL_REQUEST_METHOD).is_some();
        let mut response = if preflight {
            if !allowed {
                return Ok(StatusCode::FORBIDDEN.into_response());
            }
            let mut r = StatusCode::NO_CONTENT.into_response();
            let headers = r.headers_mut();
            headers.insert(
                ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST"),
            );
            headers.insert(
                ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("Authorization, Content-Type"),
            );
            headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
            r
        } else {
            match self.inner.call(req).await {
                Ok(r) => r.into_response(),
                Err(e) => e.into_response(),
            }
        };
        let headers = response.headers_mut();
        headers.append(VARY, HeaderValue::from_static("Origin"));
        if allowed && let Some(value) = origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, value);
        }
        Ok(response)
    }
}
