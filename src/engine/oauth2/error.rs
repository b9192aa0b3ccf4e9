//! The errors of the OAuth 2.0 flows: the RFC 6749 §5.2 (and OpenID Connect, RFC 6750) codes with
//! a description. `http::oauth2::error` turns them into the wire answer: a JSON object
//! `{"error": "<code>", "error_description": "…"}`, never cached. A failed client authentication is `invalid_client`
//! with 401 and a `Basic` challenge (RFC 6749 §5.2, RFC 7617), the same for an unknown client, a
//! wrong secret and a disabled client, so a caller learns nothing about which part failed.
//!
//! A 500 carries no internal text: the cause goes to the log only.

use crate::store::StoreError;
use crate::telemetry::ErrorChain;

/// The error codes of RFC 6749 §5.2 (and §4.1.2.1) that authx answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Missing, repeated or malformed parameter; more than one client authentication method.
    InvalidRequest,
    /// Client authentication failed.
    InvalidClient,
    /// The grant (code, refresh token, credentials) is invalid, expired or revoked.
    InvalidGrant,
    /// The client may not use this grant type.
    UnauthorizedClient,
    /// The grant type is not supported.
    UnsupportedGrantType,
    /// The requested scope is invalid or exceeds what was granted.
    InvalidScope,
    /// The user or server refused the authorization request (§4.1.2.1).
    AccessDenied,
    /// The authorization endpoint does not support this `response_type` (§4.1.2.1).
    UnsupportedResponseType,
    /// `prompt=none`, but the user must sign in (OIDC Core §3.1.2.6).
    LoginRequired,
    /// `prompt=none`, but the user must consent (OIDC Core §3.1.2.6).
    ConsentRequired,
    /// The bearer token is missing, expired, revoked or malformed (RFC 6750 §3.1).
    InvalidToken,
    /// The bearer token lacks the scope the endpoint needs (RFC 6750 §3.1).
    InsufficientScope,
    /// Something failed inside authx.
    ServerError,
    /// The database is unreachable; retry later.
    TemporarilyUnavailable,
}

impl ErrorCode {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

/// An OAuth2 error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2Error {
    /// The `error` code.
    pub code: ErrorCode,
    /// The `error_description`: for a person to read; never contains secrets or tokens.
    pub description: Option<String>,
}

impl OAuth2Error {
    /// An error with a description.
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: Some(description.into()),
        }
    }

    /// `invalid_request` (400).
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_client` (401 with a `Basic` challenge). One message for every cause.
    pub fn invalid_client() -> Self {
        Self::new(ErrorCode::InvalidClient, "client authentication failed")
    }

    /// `server_error` (500); `cause` goes to the log only.
    pub fn server_error(cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %ErrorChain(cause), "internal error on an OAuth2 endpoint");
        Self::new(
            ErrorCode::ServerError,
            "the server failed to handle the request; it has been logged",
        )
    }

    /// `temporarily_unavailable` (503): the database does not answer.
    pub fn unavailable(cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::warn!(error = %ErrorChain(cause), "database unavailable");
        Self::new(
            ErrorCode::TemporarilyUnavailable,
            "the database is not reachable; retry later",
        )
    }
}

impl std::fmt::Display for OAuth2Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.description {
            Some(d) => write!(f, "{}: {d}", self.code.as_str()),
            None => f.write_str(self.code.as_str()),
        }
    }
}

impl std::error::Error for OAuth2Error {}

impl From<StoreError> for OAuth2Error {
    fn from(error: StoreError) -> Self {
        match &error {
            StoreError::Unavailable(_) => Self::unavailable(&error),
            _ => Self::server_error(&error),
        }
    }
}
