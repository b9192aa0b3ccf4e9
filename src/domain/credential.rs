//! Credentials: link a user to an authority. `(authority_id, authority_user_id)` is unique: an
//! upstream identity maps to at most one user.

use serde::{Deserialize, Serialize};

/// A stored credential. `details` hold strategy data (a bcrypt hash, a profile snapshot): never
/// render them to anyone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    pub id: String,
    pub user_id: String,
    pub authority_id: String,
    /// The email address, the OIDC `sub`, the SAML NameID, or the user id for passwords.
    pub authority_user_id: String,
    pub details: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_used_at: Option<i64>,
}

/// What `create_credential` needs; the store assigns the id and timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredential {
    pub user_id: String,
    pub authority_id: String,
    pub authority_user_id: String,
    pub details: serde_json::Value,
}

/// A credential for a user that does not exist yet (`create_user_with_credentials`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUserCredential {
    pub authority_id: String,
    pub authority_user_id: String,
    pub details: serde_json::Value,
}

impl NewUserCredential {
    /// This credential for the user `user_id`.
    pub fn for_user(self, user_id: impl Into<String>) -> NewCredential {
        NewCredential {
            user_id: user_id.into(),
            authority_id: self.authority_id,
            authority_user_id: self.authority_user_id,
            details: self.details,
        }
    }
}
