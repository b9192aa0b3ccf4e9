//! Roles: bestow scopes (and deny scopes, reference §2.5) on their members; `is_default` roles include
//! every user.

use serde::{Deserialize, Serialize};

use super::user::UserStatus;

/// A stored role with its scope and deny patterns (each sorted in byte order, without duplicates).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub is_default: bool,
    pub enabled: bool,
    pub scopes: Vec<String>,
    pub deny: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What `create_role` needs. Patterns are stored as given (validate them with the scope engine
/// first); duplicates are dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRole {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub is_default: bool,
    pub enabled: bool,
    pub scopes: Vec<String>,
    pub deny: Vec<String>,
}

/// A partial update; `scopes` and `deny`, when given, replace the whole list atomically.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolePatch {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub is_default: Option<bool>,
    pub enabled: Option<bool>,
    pub scopes: Option<Vec<String>>,
    pub deny: Option<Vec<String>>,
}

/// The raw material of a user's effective access (reference §2.4): the user's status and the scope and
/// deny patterns of every enabled role that includes the user (explicit members and default roles).
/// Patterns are de-duplicated and sorted in byte order, not simplified. The store reports the patterns
/// even for a disabled user; the access rule (a disabled user has none) belongs to the domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserAccess {
    pub status: UserStatus,
    pub scopes: Vec<String>,
    pub deny: Vec<String>,
}
