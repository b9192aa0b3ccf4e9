//! One-time email tokens (reference §3, email strategy): a login link, an address verification or a
//! password reset. The token is random and only its SHA-256 hex digest is stored; it is consumed at
//! most once (the store marks it used in the same statement that reads it).

use serde::{Deserialize, Serialize};

/// What a token is for. A token of one purpose never works for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailTokenPurpose {
    /// Passwordless login.
    Login,
    /// Proof of control of an address.
    Verify,
    /// Password reset.
    Reset,
}

impl EmailTokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Verify => "verify",
            Self::Reset => "reset",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "login" => Some(Self::Login),
            "verify" => Some(Self::Verify),
            "reset" => Some(Self::Reset),
            _ => None,
        }
    }
}

/// A stored email token (without its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailToken {
    pub purpose: EmailTokenPurpose,
    /// The address the link was sent to, lower-cased by the store.
    pub email: String,
    /// The user the token is about, when known at sending time (verify, reset).
    pub user_id: Option<String>,
    /// The email authority that sent it.
    pub authority_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    /// Where to go after the link is followed (a local path, see `web::return_to`).
    pub return_to: Option<String>,
}

/// What `create_email_token` needs; the store sets `created_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEmailToken {
    /// SHA-256 hex digest of the token (`secret::hash`).
    pub token_hash: String,
    pub purpose: EmailTokenPurpose,
    pub email: String,
    pub user_id: Option<String>,
    pub authority_id: String,
    pub expires_at: i64,
    pub return_to: Option<String>,
}
