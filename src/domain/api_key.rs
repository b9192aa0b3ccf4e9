//! API keys (Ego, reference §5): a random secret a user issues to themself for a subset of their scopes,
//! optionally limited to some clients, expiring and revocable. Stored as the SHA-256 hex digest of
//! the secret; [`ApiKey`] never carries the hash.

use serde::{Deserialize, Serialize};

/// A stored API key's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: String,
    /// The owner.
    pub user_id: String,
    /// The first characters of the secret, for display.
    pub hint: String,
    pub description: Option<String>,
    /// The scope patterns asked for; effective scopes are these ∩ the owner's access at check time.
    pub scopes: Vec<String>,
    /// Client ids the key is limited to; empty means any client.
    pub clients: Vec<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

impl ApiKey {
    /// Neither revoked nor expired at `now` (unix seconds). The owner's status is checked apart.
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// What `create_api_key` needs; the store assigns the id and `created_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewApiKey {
    pub user_id: String,
    /// SHA-256 hex digest of the secret.
    pub key_hash: String,
    pub hint: String,
    pub description: Option<String>,
    pub scopes: Vec<String>,
    pub clients: Vec<String>,
    pub expires_at: i64,
}

/// Filters for listing API keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyFilter {
    /// Only this user's keys.
    pub user_id: Option<String>,
    /// Also list revoked keys (excluded by default). Expired keys are listed until swept.
    pub include_revoked: bool,
}
