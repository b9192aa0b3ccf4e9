//! Grants: a user's consent to a client (reference §1). `(user_id, client_id)` is unique; authorization
//! codes and refresh-token families hang off a grant and go with it.

use serde::{Deserialize, Serialize};

/// A stored grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    /// The consented scope patterns, as given to `upsert_grant`.
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Filters for listing grants; all given filters must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantFilter {
    pub user_id: Option<String>,
    pub client_id: Option<String>,
}
