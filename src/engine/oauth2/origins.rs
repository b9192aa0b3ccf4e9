//! The web origins a browser-based public client may call the token endpoints from (CORS, see
//! `http::oauth2::cors`).
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

use http::Uri;

use crate::domain::Page;
use crate::store::{Store, StoreError};

impl std::fmt::Debug for AllowedOrigins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AllowedOrigins").finish_non_exhaustive()
    }
}

/// The origins of the registered redirect URIs, as this node last read them.
pub struct AllowedOrigins {
    store: Arc<dyn Store>,
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

    /// Origins read from `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            snapshot: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether `origin` (an `Origin` header) may read the answers.
    pub async fn allows(&self, origin: &str) -> Result<bool, StoreError> {
        Ok(self.current().await?.allows(origin))
    }

    fn fresh(&self) -> Option<Arc<OriginSet>> {
        let guard = self.snapshot.read().ok()?;
        let (at, set) = guard.as_ref()?;
        (at.elapsed() < Self::REFRESH).then(|| set.clone())
    }

    async fn current(&self) -> Result<Arc<OriginSet>, StoreError> {
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
            let clients = self.store.list_clients(&page).await?;
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
