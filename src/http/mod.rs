//! HTTP plumbing shared by every route: request ids, metrics, and the operational endpoints.
//!
//! The protocol adapters (admin API, OAuth2, pages) live in their own modules; this one holds what
//! wraps all of them.

pub mod api;
pub mod metrics;
pub mod oauth2;
pub mod ops;
pub mod request_id;
pub mod routes;
pub mod web;

/// The audit context of a request: the client's address as the socket sees it, the user agent
/// (shortened) and the request id.
pub fn context(req: &poem::Request) -> crate::engine::audit::Context {
    crate::engine::audit::Context {
        ip: client_ip(req),
        user_agent: req
            .header(poem::http::header::USER_AGENT)
            .map(|ua| ua.chars().take(512).collect()),
        request_id: req.data::<request_id::RequestId>().map(|r| r.0.clone()),
    }
}

/// The client's IP address as the socket sees it (the proxy's, behind a reverse proxy).
pub fn client_ip(req: &poem::Request) -> Option<String> {
    req.remote_addr()
        .as_socket_addr()
        .map(|addr| addr.ip().to_string())
}
