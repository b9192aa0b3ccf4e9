//! HTTP plumbing shared by every route: request ids, metrics, and the operational endpoints.
//!
//! The protocol adapters (admin API, OAuth2, pages) live in their own modules; this one holds what
//! wraps all of them.

pub mod api;
pub mod intake;
pub mod metrics;
pub mod oauth2;
pub mod ops;
pub mod request_id;
pub mod routes;
pub mod serve;
pub mod web;

/// The audit context of a request: the client's address ([`client_ip`]), the user agent
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

/// The client's IP address: the socket's peer, or, when that is one of `server.trusted_proxies`,
/// the address its forwarding headers name (see [`crate::proxies`]).
pub fn client_ip(req: &poem::Request) -> Option<String> {
    let peer = req.remote_addr().as_socket_addr()?.ip();
    let Some(engine) = req.data::<crate::engine::Engine>() else {
        return Some(peer.to_string());
    };
    let values = |name: &str| -> Vec<&str> {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    };
    let client = engine.config.server.trusted_proxies.client(
        peer,
        &values("forwarded"),
        &values("x-forwarded-for"),
    );
    Some(client.to_string())
}
