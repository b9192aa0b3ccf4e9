//! Users: people (`human`) and clients' service accounts (`machine`), reference §1.

use serde::{Deserialize, Serialize};

/// What a user is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserKind {
    Human,
    Machine,
}

impl UserKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Human => "human",
            Self::Machine => "machine",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "human" => Some(Self::Human),
            "machine" => Some(Self::Machine),
            _ => None,
        }
    }
}

/// Whether a user may authenticate and act. A disabled user has no access at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    Active,
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }
}

/// A Portable Contacts profile (the subset authx keeps). It comes from users and upstream identity
/// providers and is never trusted for authentication.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<ProfileName>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<ProfileValue>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub photos: Vec<ProfileValue>,
}

/// Portable Contacts `name`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileName {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
}

/// A Portable Contacts plural-field entry (`emails`, `photos`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileValue {
    pub value: String,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub primary: bool,
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub kind: UserKind,
    pub status: UserStatus,
    /// Unique when present. The domain decides its normalisation; the store compares it exactly.
    pub username: Option<String>,
    /// The primary email address, lower-cased by the store. Not unique (an address may appear on
    /// several accounts); logins by email go through credentials, which are unique.
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub profile: Profile,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What `create_user` needs; the store assigns the id (UUIDv7) and timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub kind: UserKind,
    pub status: UserStatus,
    pub username: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub profile: Profile,
}

impl NewUser {
    /// An active human with nothing else set.
    pub fn human() -> Self {
        Self {
            kind: UserKind::Human,
            status: UserStatus::Active,
            username: None,
            email: None,
            display_name: None,
            profile: Profile::default(),
        }
    }
}

/// A partial update: `None` leaves a field as it is; for nullable fields `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPatch {
    pub status: Option<UserStatus>,
    pub username: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub display_name: Option<Option<String>>,
    pub profile: Option<Profile>,
}

/// Filters for listing users; all given filters must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// Only this user (a caller who may see only themself lists through the same query).
    pub id: Option<String>,
    /// The address (lower-cased) is the primary email or the address of an email credential: the
    /// user who signs in with it.
    pub email: Option<String>,
    /// Exact username.
    pub username: Option<String>,
    /// Case-insensitive substring of the display name or the username.
    pub name: Option<String>,
    pub status: Option<UserStatus>,
    /// Explicit members of this role (default roles are not expanded).
    pub role_id: Option<String>,
}
