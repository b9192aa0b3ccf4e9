//! What can go wrong in an OpenID Connect login, in enough detail for logs and the audit trail.
//!
//! Every [`OidcError`] variant carries what an operator needs to find the cause (the claim that did
//! not match, the endpoint that failed) and a short, stable [`OidcError::reason`] code meant for
//! audit events, metrics and log filters. None of that is meant for the person logging in: the
//! server shows [`OidcError::user_message`] (or the [`StrategyError`] this converts into), which
//! says only that the login did not work and never echoes upstream text, so a login page can't be
//! turned into an oracle for tokens or configuration.

use authx_strategy_core::StrategyError;

/// Why an OpenID Connect login failed.
///
/// `Display` is for logs (it may quote upstream error codes and claim values, never secrets or
/// whole tokens); [`OidcError::reason`] is a stable machine code; [`OidcError::user_message`] is
/// what a person may see.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// The authority's `details` are invalid (the admin API should have refused them).
    #[error("invalid authority configuration: {0}")]
    Config(String),
    /// A URL the login needs (redirect URI, endpoint) is malformed or not allowed.
    #[error("invalid URL for {what}: {message}")]
    InvalidUrl {
        /// Which URL: `redirect_uri`, `authorization_endpoint`, …
        what: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// An HTTP exchange with the provider failed (connection, timeout, TLS, unexpected status).
    #[error("request to {endpoint} failed: {message}")]
    Http {
        /// Which endpoint: `discovery`, `jwks`, `token`, `userinfo`.
        endpoint: &'static str,
        /// What went wrong.
        message: String,
    },
    /// A provider response exceeded the configured size bound.
    #[error("the {endpoint} response is larger than {limit} bytes")]
    ResponseTooLarge {
        /// Which endpoint.
        endpoint: &'static str,
        /// The bound, in bytes.
        limit: usize,
    },
    /// The discovery document could not be used (not JSON, a required field missing or invalid).
    #[error("invalid discovery document: {0}")]
    DiscoveryInvalid(String),
    /// The discovery document names another issuer than the one configured (OIDC Discovery §4.3).
    #[error("discovery issuer mismatch: configured {expected:?}, document says {found:?}")]
    DiscoveryIssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The `issuer` of the document.
        found: String,
    },
    /// The key set could not be used (not JSON, no usable key).
    #[error("invalid JWKS: {0}")]
    JwksInvalid(String),
    /// The callback's query is malformed (e.g. a parameter given twice).
    #[error("malformed callback: {0}")]
    MalformedCallback(String),
    /// The callback's `state` is not the one bound to this browser (CSRF or a stale tab).
    #[error("state mismatch")]
    StateMismatch,
    /// The person declined at the provider (`error=access_denied`).
    #[error("the provider reports access_denied: {description}")]
    AccessDenied {
        /// The provider's `error_description`, if any.
        description: String,
    },
    /// The provider answered the authorization request with another error.
    #[error("the provider reports {error}: {description}")]
    ProviderError {
        /// The provider's `error` code.
        error: String,
        /// The provider's `error_description`, if any.
        description: String,
    },
    /// The callback's `iss` (RFC 9207) is missing although the provider promises it, or differs
    /// from the issuer: a mix-up attack or a misrouted response.
    #[error("callback iss mismatch: expected {expected:?}, got {found:?}")]
    CallbackIssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The `iss` parameter, if any.
        found: Option<String>,
    },
    /// The callback has no authorization code.
    #[error("the callback has no code")]
    MissingCode,
    /// The token endpoint refused the code or answered something unusable.
    #[error("token exchange failed: {0}")]
    TokenExchange(String),
    /// The token response has no `id_token` (the `openid` scope was not honoured).
    #[error("the token response has no id_token")]
    MissingIdToken,
    /// The id_token is not a well-formed compact JWS, or its claims don't parse.
    #[error("malformed id_token: {0}")]
    MalformedIdToken(String),
    /// The id_token's `alg` is not on the allow-list (`none`, HMAC, unknown) or not one the
    /// provider advertises.
    #[error("id_token alg {0:?} is not allowed")]
    AlgorithmNotAllowed(String),
    /// No key of the provider's JWKS (even after a refetch) has the id_token's `kid`.
    #[error("no key in the provider's JWKS for kid {kid:?} and alg {alg}")]
    UnknownKey {
        /// The header's `kid`, if any.
        kid: Option<String>,
        /// The header's `alg`.
        alg: String,
    },
    /// The key named by `kid` exists but can't verify this `alg` (wrong key type, curve or key
    /// `alg`): a key confusion attempt or a broken provider.
    #[error("the key {kid:?} does not fit alg {alg}")]
    KeyMismatch {
        /// The header's `kid`, if any.
        kid: Option<String>,
        /// The header's `alg`.
        alg: String,
    },
    /// The signature does not verify with the provider's key.
    #[error("id_token signature is invalid")]
    BadSignature,
    /// `iss` differs from the configured issuer.
    #[error("id_token iss {found:?} is not {expected:?}")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The token's `iss`.
        found: String,
    },
    /// `aud` does not contain the client id.
    #[error("id_token aud {found:?} does not contain the client id")]
    AudienceMismatch {
        /// The token's audiences.
        found: Vec<String>,
    },
    /// Several audiences but no `azp` (OIDC Core §3.1.3.7 item 4).
    #[error("id_token has several audiences but no azp")]
    AzpMissing,
    /// `azp` present but not the client id (OIDC Core §3.1.3.7 item 5).
    #[error("id_token azp {found:?} is not the client id")]
    AzpMismatch {
        /// The token's `azp`.
        found: String,
    },
    /// `exp` is in the past (beyond the allowed clock skew).
    #[error("id_token expired at {exp} (now {now})")]
    Expired {
        /// The token's `exp`.
        exp: i64,
        /// The verifier's clock.
        now: i64,
    },
    /// `iat` is in the future beyond the allowed clock skew.
    #[error("id_token issued in the future: iat {iat}, now {now}")]
    IssuedInFuture {
        /// The token's `iat`.
        iat: i64,
        /// The verifier's clock.
        now: i64,
    },
    /// `iat` is older than the configured maximum age.
    #[error("id_token issued too long ago: iat {iat}, now {now}")]
    IssuedTooLongAgo {
        /// The token's `iat`.
        iat: i64,
        /// The verifier's clock.
        now: i64,
    },
    /// `nbf` is in the future beyond the allowed clock skew.
    #[error("id_token not valid before {nbf} (now {now})")]
    NotYetValid {
        /// The token's `nbf`.
        nbf: i64,
        /// The verifier's clock.
        now: i64,
    },
    /// `nonce` is missing or differs from the one sent with this login attempt (replay).
    #[error("id_token nonce does not match")]
    NonceMismatch,
    /// `at_hash` does not match the access token (OIDC Core §3.1.3.8).
    #[error("id_token at_hash does not match the access token")]
    AtHashMismatch,
    /// `sub` is missing, empty or longer than 255 characters (OIDC Core §2).
    #[error("id_token sub is missing or invalid")]
    InvalidSubject,
    /// The userinfo endpoint failed or answered something unusable.
    #[error("userinfo failed: {0}")]
    Userinfo(String),
    /// The userinfo `sub` differs from the id_token's (OIDC Core §5.3.2): a substitution attack.
    #[error("userinfo sub does not match the id_token sub")]
    UserinfoSubjectMismatch,
    /// `hosted_domains` is configured and the account's `hd` is missing or not in it.
    #[error("hosted domain {hd:?} is not allowed")]
    HostedDomainNotAllowed {
        /// The account's `hd` claim, if any.
        hd: Option<String>,
    },
    /// A failure inside authx (e.g. the HTTP client could not be built).
    #[error("internal error: {0}")]
    Internal(String),
}

impl OidcError {
    /// A short, stable code for audit events, metrics and log filters (`snake_case`, never
    /// containing data).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Config(_) => "invalid_config",
            Self::InvalidUrl { .. } => "invalid_url",
            Self::Http { .. } => "upstream_unreachable",
            Self::ResponseTooLarge { .. } => "response_too_large",
            Self::DiscoveryInvalid(_) => "discovery_invalid",
            Self::DiscoveryIssuerMismatch { .. } => "discovery_issuer_mismatch",
            Self::JwksInvalid(_) => "jwks_invalid",
            Self::MalformedCallback(_) => "malformed_callback",
            Self::StateMismatch => "state_mismatch",
            Self::AccessDenied { .. } => "access_denied",
            Self::ProviderError { .. } => "provider_error",
            Self::CallbackIssuerMismatch { .. } => "callback_iss_mismatch",
            Self::MissingCode => "missing_code",
            Self::TokenExchange(_) => "token_exchange_failed",
            Self::MissingIdToken => "missing_id_token",
            Self::MalformedIdToken(_) => "malformed_id_token",
            Self::AlgorithmNotAllowed(_) => "alg_not_allowed",
            Self::UnknownKey { .. } => "unknown_kid",
            Self::KeyMismatch { .. } => "key_mismatch",
            Self::BadSignature => "bad_signature",
            Self::IssuerMismatch { .. } => "iss_mismatch",
            Self::AudienceMismatch { .. } => "aud_mismatch",
            Self::AzpMissing => "azp_missing",
            Self::AzpMismatch { .. } => "azp_mismatch",
            Self::Expired { .. } => "expired",
            Self::IssuedInFuture { .. } => "iat_in_future",
            Self::IssuedTooLongAgo { .. } => "iat_too_old",
            Self::NotYetValid { .. } => "nbf_in_future",
            Self::NonceMismatch => "nonce_mismatch",
            Self::AtHashMismatch => "at_hash_mismatch",
            Self::InvalidSubject => "invalid_sub",
            Self::Userinfo(_) => "userinfo_failed",
            Self::UserinfoSubjectMismatch => "userinfo_sub_mismatch",
            Self::HostedDomainNotAllowed { .. } => "hd_not_allowed",
            Self::Internal(_) => "internal",
        }
    }

    /// What the person logging in may be told. Deliberately vague: the details go to the logs.
    pub fn user_message(&self) -> &'static str {
        match self {
            Self::AccessDenied { .. } => "the login was cancelled at the identity provider",
            Self::HostedDomainNotAllowed { .. } => "this account may not log in here",
            Self::StateMismatch | Self::MalformedCallback(_) | Self::MissingCode => {
                "the login attempt has expired or was already used; please start again"
            }
            _ => "the login with the identity provider did not succeed; please try again",
        }
    }

    /// Whether the failure is on authx's side (configuration, internal) rather than the
    /// provider's or the browser's: the server may log these at a higher level.
    pub fn is_local(&self) -> bool {
        matches!(
            self,
            Self::Config(_) | Self::InvalidUrl { .. } | Self::Internal(_)
        )
    }
}

impl From<OidcError> for StrategyError {
    /// Keeps the detail out of what users see: local failures become
    /// [`StrategyError::Internal`] (shown generically by the server, detail for logs), all others
    /// [`StrategyError::Upstream`] with [`OidcError::user_message`].
    fn from(error: OidcError) -> Self {
        if error.is_local() {
            StrategyError::Internal(error.to_string())
        } else {
            StrategyError::Upstream(error.user_message().to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_facing_text_never_contains_the_detail() {
        let error = OidcError::IssuerMismatch {
            expected: "https://good.example".into(),
            found: "https://evil.example".into(),
        };
        assert_eq!(error.reason(), "iss_mismatch");
        let shown = StrategyError::from(error).to_string();
        assert!(!shown.contains("evil"), "{shown}");
        let internal = StrategyError::from(OidcError::Internal("secret path".into()));
        assert_eq!(internal.to_string(), "an internal error occurred");
    }
}
