//! OAuth 2.0 artefacts (reference §4): authorization codes, refresh tokens and the record of issued
//! access tokens.
//!
//! Codes and refresh tokens are opaque 256-bit secrets; only their SHA-256 hex digest is stored.
//! Access tokens are JWTs verified offline by resource servers; the server keeps a row per `jti`
//! so that revocation (by the client, by a replayed code, by a reused refresh token, by revoking
//! the grant) reaches them for introspection and the admin API.
//!
//! A refresh-token *family* is the chain of rotations that started with one code exchange: every
//! member shares `family_id` and `code_hash`, and so do the access tokens issued with them. Reuse
//! of a rotated member revokes the family; a replayed code revokes everything with its `code_hash`.

use serde::{Deserialize, Serialize};

/// The OpenID Connect scopes, handled apart from authx's `realm:resource:action` scopes: they
/// select ID-token and userinfo claims (`openid`, `profile`, `email`) and whether a refresh token
/// is issued (`offline_access`).
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// Whether `scope` is one of [`OIDC_SCOPES`].
pub fn is_oidc_scope(scope: &str) -> bool {
    OIDC_SCOPES.contains(&scope)
}

/// A stored authorization code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationCode {
    /// SHA-256 hex digest of the code.
    pub code_hash: String,
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    /// The redirect URI of the authorization request; the token request must repeat it.
    pub redirect_uri: String,
    /// What the user authorized: realm scope patterns and OIDC scope names.
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    /// The PKCE challenge (RFC 7636), if the request carried one.
    pub code_challenge: Option<String>,
    /// `S256` (the only method accepted).
    pub code_challenge_method: Option<String>,
    /// When the user authenticated (OIDC `auth_time`).
    pub auth_time: i64,
    /// The SHA-256 of the browser session that authorized it.
    pub session_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    /// Set when redeemed; a second redemption is a replay.
    pub used_at: Option<i64>,
}

/// What `create_authorization_code` needs; the store sets `created_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuthorizationCode {
    pub code_hash: String,
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub auth_time: i64,
    pub session_id: Option<String>,
    pub expires_at: i64,
}

/// A stored refresh token (metadata; the secret itself is only ever hashed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshToken {
    pub id: String,
    pub family_id: String,
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    /// What this token may be exchanged for: realm scope patterns and OIDC scope names.
    pub scopes: Vec<String>,
    /// The token this one replaced (`None` for the first of a family).
    pub parent_id: Option<String>,
    /// The authorization code the family was issued from.
    pub code_hash: Option<String>,
    /// When the user authenticated (for ID tokens issued on refresh).
    pub auth_time: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    /// Set when rotated: using it again is reuse.
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl RefreshToken {
    /// Neither used, revoked nor expired at `now`.
    pub fn is_usable(&self, now: i64) -> bool {
        self.used_at.is_none() && self.revoked_at.is_none() && now < self.expires_at
    }
}

/// What the store needs to create a refresh token; it assigns the id and `created_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefreshToken {
    pub token_hash: String,
    pub family_id: String,
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scopes: Vec<String>,
    pub parent_id: Option<String>,
    pub code_hash: Option<String>,
    pub auth_time: Option<i64>,
    pub expires_at: i64,
}

/// The record of an issued access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenRecord {
    pub jti: String,
    /// `None` for client_credentials tokens.
    pub grant_id: Option<String>,
    pub client_id: String,
    pub user_id: String,
    pub family_id: Option<String>,
    pub code_hash: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// What the store needs to record an access token; it sets `created_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccessToken {
    pub jti: String,
    pub grant_id: Option<String>,
    pub client_id: String,
    pub user_id: String,
    pub family_id: Option<String>,
    pub code_hash: Option<String>,
    pub expires_at: i64,
    /// Its `oauth2.token.issue` event, written in the same transaction as the record, so that no
    /// token is answered whose issuance was not audited.
    pub issued: Option<crate::domain::audit::NewAuditEvent>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oidc_scopes_are_told_apart() {
        assert!(is_oidc_scope("openid"));
        assert!(is_oidc_scope("offline_access"));
        assert!(!is_oidc_scope("AuthX:me:read"));
        assert!(!is_oidc_scope("OPENID"));
    }
}

/// The claims of an access token (built and signed in `engine::oauth2::jwt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The user (a person, or a client's machine user).
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    /// Space-separated OIDC scopes and realm patterns.
    pub scope: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
}
