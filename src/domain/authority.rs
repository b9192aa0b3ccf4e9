//! Authorities: configured ways to authenticate (reference §1, §3).

use serde::{Deserialize, Serialize};

/// The strategy an authority uses. Immutable once the authority exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    Password,
    Email,
    /// Generic OpenID Connect with Google's presets.
    Google,
    Saml,
}

impl Strategy {
    /// The `details` members that hold secrets authx must read back (sealed at rest, never
    /// shown): google's `client_secret`, saml's SP signing key.
    pub fn secret_fields(self) -> &'static [&'static str] {
        match self {
            Self::Google => &["client_secret"],
            Self::Saml => authx_strategy_saml::SAML_SECRET_FIELDS,
            Self::Password | Self::Email => &[],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Email => "email",
            Self::Google => "google",
            Self::Saml => "saml",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "password" => Some(Self::Password),
            "email" => Some(Self::Email),
            "google" => Some(Self::Google),
            "saml" => Some(Self::Saml),
            _ => None,
        }
    }
}

/// A stored authority. `details` hold strategy-specific settings as JSON; the strategy crates give
/// them a type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authority {
    pub id: String,
    pub strategy: Strategy,
    pub name: String,
    pub enabled: bool,
    pub details: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What `create_authority` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuthority {
    pub id: String,
    pub strategy: Strategy,
    pub name: String,
    pub enabled: bool,
    pub details: serde_json::Value,
}

/// A partial update (the strategy cannot change).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorityPatch {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub details: Option<serde_json::Value>,
}
