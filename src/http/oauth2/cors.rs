//! CORS for the endpoints a browser-based public client calls itself: discovery, the JWKS, the
//! token endpoint, userinfo and revocation.
//!
//! An origin is allowed when it is the origin of a registered redirect URI of an enabled client
//! (for a loopback IP redirect URI, any port, as the redirect URI itself matches any port, RFC 8252
//! §7.3). Nothing else is: a page on another origin cannot read these answers. Credentials
//! (cookies) are never allowed; clients authenticate in the request itself. The allowed set is
//! read from the database at most every [`AllowedOrigins::REFRESH`], so a new or removed redirect
//! URI takes effect within that time on every node.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use poem::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use poem::http::{HeaderValue, Method, StatusCode, Uri};
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::domain::Page;
use crate::engine::Engine;
use crate::store::{Store, StoreError};

/// The origins of the registered redirect URIs, as this node last read them.
#[derive(Debug, Default)]
pub struct AllowedOrigins {
    snapshot: RwLock<Option<(Instant, Arc<OriginSet>)>>,
    refresh: tokio::sync::Mutex<()>,
}

/// Exact origins, and the hosts of loopback IP redirect URIs (any port).
#[derive(Debug, Default)]
struct OriginSet {
    exact: HashSet<String>,
    loopback_hosts: HashSet<String>,
}

impl OriginSet {
    fn allows(&self, origin: &str) -> bool {
        if self.exact.contains(origin) {
            return true;
        }
        let Some(parsed) = parse_origin(origin) else {
            return false;
        };
        parsed.scheme == "http" && self.loopback_hosts.contains(&parsed.host)
    }
}

impl AllowedOrigins {
    /// How long a read of the registered redirect URIs is reused.
    pub const REFRESH: Duration = Duration::from_secs(5);

    /// Whether `origin` (an `Origin` header) may read the answers.
    pub async fn allows(&self, store: &dyn Store, origin: &str) -> Result<bool, StoreError> {
        Ok(self.current(store).await?.allows(origin))
    }

    fn fresh(&self) -> Option<Arc<OriginSet>> {
        let guard = self.snapshot.read().ok()?;
        let (at, set) = guard.as_ref()?;
        (at.elapsed() < Self::REFRESH).then(|| set.clone())
    }

    async fn current(&self, store: &dyn Store) -> Result<Arc<OriginSet>, StoreError> {
        if let Some(set) = self.fresh() {
            return Ok(set);
        }
        let _one_reader = self.refresh.lock().await;
        if let Some(set) = self.fresh() {
            return Ok(set);
        }
        let mut set = OriginSet::default();
        let mut page = Page::first(Page::MAX_LIMIT);
        loop {
            let clients = store.list_clients(&page).await?;
            for client in clients.iter().filter(|c| c.enabled) {
                for uri in &client.redirect_uris {
                    if let Some(parsed) = parse_origin(uri) {
                        if parsed.scheme == "http" && is_loopback_ip(&parsed.host) {
                            set.loopback_hosts.insert(parsed.host.clone());
                        }
                        set.exact.insert(parsed.serialized());
                    }
                }
            }
            match clients.last() {
                Some(last) if clients.len() as u32 >= page.clamped_limit() => {
                    page = Page::after(Page::MAX_LIMIT, last.id.clone());
                }
                _ => break,
            }
        }
        let set = Arc::new(set);
        if let Ok(mut guard) = self.snapshot.write() {
            *guard = Some((Instant::now(), set.clone()));
        }
        Ok(set)
    }
}

/// A web origin: scheme, host and the port when it is not the scheme's default.
struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    /// The ASCII serialisation browsers send in `Origin` (RFC 6454 §6.2).
    fn serialized(&self) -> String {
        match self.port {
            Some(port) => format!("{}://{}:{port}", self.scheme, self.host),
            None => format!("{}://{}", self.scheme, self.host),
        }
    }
}

/// The origin of an http(s) URI (or of an `Origin` header value); `None` for other schemes.
fn parse_origin(uri: &str) -> Option<Origin> {
    let parsed: Uri = uri.parse().ok()?;
    let scheme = parsed.scheme_str()?.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let host = parsed.host()?.to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let port = parsed.port_u16().filter(|p| *p != default_port);
    Some(Origin { scheme, host, port })
}

fn is_loopback_ip(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "[::1]")
}

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
            (Some(origin), Some(state)) => {
                match state.cors.allows(state.store.as_ref(), origin).await {
                    Ok(allowed) => allowed,
                    Err(error) => {
                        tracing::warn!(%error, "cannot read the allowed CORS origins");
                        false
                    }
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn set(uris: &[&str]) -> OriginSet {
        let mut set = OriginSet::default();
        for uri in uris {
            let o = parse_origin(uri).unwrap();
            if o.scheme == "http" && is_loopback_ip(&o.host) {
                set.loopback_hosts.insert(o.host.clone());
            }
            set.exact.insert(o.serialized());
        }
        set
    }

    #[test]
    fn origins_of_redirect_uris() {
        let s = set(&[
            "https://App.example:443/cb",
            "http://localhost:5173/cb",
            "http://127.0.0.1/callback",
        ]);
        assert!(s.allows("https://app.example"));
        assert!(s.allows("http://localhost:5173"));
        assert!(s.allows("http://127.0.0.1:49152"));
        assert!(!s.allows("http://localhost:5174"));
        assert!(!s.allows("https://app.example.evil"));
        assert!(!s.allows("http://app.example"));
        assert!(!s.allows("null"));
        assert!(parse_origin("com.example.app:/cb").is_none());
    }
}
