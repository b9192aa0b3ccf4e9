//! Short-lived, per-node memory of token-check decisions: the hottest path in authx (downstream
//! services check an API key per request) would otherwise pay several database round trips and a
//! scope intersection every time.
//!
//! Invariant (reference §5): a change — a revoked key, a role edit, a membership change, a disabled
//! user, a retired client secret — is visible within one second on every node. Entries therefore
//! live at most `api_keys.check_cache_ms` (≤ 1000 ms, validated), and every change made through
//! *this* node clears its cache at once (see `audit::record`), so the node that made a change never
//! answers from before it. `check_cache_ms = 0` turns the cache off.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::domain::access::Access;
use crate::domain::client::Client;
use crate::domain::token::AccessClaims;

/// Entries beyond this are not added until the next expiry sweep, bounding memory whatever
/// callers send (a flood of unknown keys must not grow the map without limit).
const MAX_ENTRIES: usize = 50_000;

/// What an active API key carries at check time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveApiKey {
    /// The key's id (never its secret).
    pub key_id: String,
    /// The owner.
    pub user_id: String,
    /// Effective scopes now: the key's scopes ∩ the owner's current access, patterns a deny
    /// covers entirely removed; simplified.
    pub scopes: Vec<String>,
    /// Deny patterns that partly overlap the effective scopes (reference §2.5); empty otherwise.
    pub deny: Vec<String>,
    /// The clients the key is limited to (empty: any).
    pub clients: Vec<String>,
    /// Creation time (unix seconds).
    pub issued_at: i64,
    /// Expiry (unix seconds).
    pub expires_at: i64,
}

/// What the database says about a token's `jti`, cached briefly per node.
#[derive(Debug, Clone)]
pub struct ResolvedAccessToken {
    /// The user's current access narrowed to the token's realm patterns.
    pub access: Access,
}

/// A map whose entries expire `ttl` after insertion.
#[derive(Debug)]
pub struct TtlCache<V> {
    ttl: Duration,
    entries: RwLock<HashMap<String, (Instant, V)>>,
}

impl<V: Clone> TtlCache<V> {
    /// A cache keeping entries for `ttl` (zero: keeps nothing).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// The live entry for `key`, if any.
    pub fn get(&self, key: &str) -> Option<V> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.read().ok()?;
        let (at, value) = entries.get(key)?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    /// Remembers `value` for `key`.
    pub fn insert(&self, key: String, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= MAX_ENTRIES {
                let ttl = self.ttl;
                entries.retain(|_, (at, _)| at.elapsed() < ttl);
                if entries.len() >= MAX_ENTRIES {
                    return;
                }
            }
            entries.insert(key, (Instant::now(), value));
        }
    }

    /// Forgets everything.
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }
}

/// The decision caches of one node.
#[derive(Debug)]
pub struct CheckCache {
    /// `client_id \0 secret hash` → the client the secret authenticates (or none).
    pub clients: TtlCache<Option<Client>>,
    /// API key hash → what the key carries now, before the per-request checks that depend on the
    /// clock and the calling client.
    pub api_keys: TtlCache<Option<ActiveApiKey>>,
    /// Access-token `jti` → what the token allows now (its record, client and user checked).
    pub access_tokens: TtlCache<Option<ResolvedAccessToken>>,
    /// Access-token hash → its claims, once its signature, `typ`, issuer, audience and `iat`
    /// verified: a resource server introspecting the same token per request pays the signature
    /// check once per entry's life. Expiry is still checked on every use.
    pub verified_access_tokens: TtlCache<AccessClaims>,
}

impl CheckCache {
    /// Caches keeping decisions for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            clients: TtlCache::new(ttl),
            api_keys: TtlCache::new(ttl),
            access_tokens: TtlCache::new(ttl),
            verified_access_tokens: TtlCache::new(ttl),
        }
    }

    /// Forgets every decision (after a change made through this node).
    pub fn clear(&self) {
        self.clients.clear();
        self.api_keys.clear();
        self.access_tokens.clear();
        self.verified_access_tokens.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_and_off() {
        let cache = TtlCache::new(Duration::from_millis(30));
        cache.insert("a".into(), 1);
        assert_eq!(cache.get("a"), Some(1));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get("a"), None);
        cache.insert("b".into(), 2);
        cache.clear();
        assert_eq!(cache.get("b"), None);
        let off = TtlCache::new(Duration::ZERO);
        off.insert("a".into(), 1);
        assert_eq!(off.get("a"), None);
    }
}
