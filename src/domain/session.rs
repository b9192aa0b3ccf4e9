//! Browser sessions at authx itself (reference §1, §6). The cookie holds a random 256-bit id; only its
//! SHA-256 hex digest (`id_hash`) is stored, so a database dump does not yield usable sessions.
//!
//! A session ends at the first of two instants: `expires_at` (absolute, fixed at login) and
//! `idle_expires_at` (slid forward while the browser keeps using it).

use serde::{Deserialize, Serialize};

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// SHA-256 hex digest of the cookie value.
    pub id_hash: String,
    pub user_id: String,
    /// The authority the user signed in with.
    pub authority_id: String,
    /// When the user last authenticated (OIDC `auth_time`).
    pub auth_time: i64,
    pub created_at: i64,
    /// Absolute end of the session.
    pub expires_at: i64,
    /// End of the session unless it is used before then.
    pub idle_expires_at: i64,
    pub last_seen_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Session {
    /// Neither the absolute nor the idle expiry has passed at `now` (unix seconds).
    pub fn is_active(&self, now: i64) -> bool {
        now < self.expires_at && now < self.idle_expires_at
    }
}

/// What `create_session` needs; the store sets `created_at` and `last_seen_at` to now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub id_hash: String,
    pub user_id: String,
    pub authority_id: String,
    pub auth_time: i64,
    pub expires_at: i64,
    pub idle_expires_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}
