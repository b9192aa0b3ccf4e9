//! The `google` strategy (reference §3): login through any OpenID Connect provider, with Google's
//! issuer as the default. Several authorities of this strategy can coexist — two Google
//! Workspace tenants, a Keycloak realm, any certified issuer — each with its own [`GoogleDetails`].
//!
//! The pieces, each in its own module:
//! - [`details`]: the authority's settings (validation, redaction of the write-only client
//!   secret, [`merge_details`] for PATCH), served to the admin API through [`GoogleStrategy`];
//! - [`discovery`]: the provider's metadata from `/.well-known/openid-configuration`, cached;
//! - [`flow`]: [`OidcClient::start`] (authorization URL with PKCE, `state`, `nonce`) and
//!   [`OidcClient::finish`] (callback checks, code exchange, id_token verification, identity);
//! - `jwks`, `id_token`, `identity`: the provider's keys, OIDC Core §3.1.3.7 verification, and
//!   claims → [`UpstreamIdentity`];
//! - [`http`]: the bounded reqwest client and its adapter to the `oauth2` crate;
//! - [`error`]: [`OidcError`], detailed for logs and audit with a stable [`OidcError::reason`],
//!   generic for users.
//!
//! # How the server uses it
//! 1. At startup: one [`OidcClient::new`] with the server's options (its outbound policy), shared.
//! 2. Login button of authority `id`: parse its stored details with
//!    [`GoogleDetails::from_details`], call [`OidcClient::start`] with
//!    [`redirect_uri`]`(authx_issuer, id)`, store [`AuthorizationRequest::pending`] server-side
//!    (with the authority id and an expiry of a few minutes) under a random id set as an
//!    HttpOnly, SameSite=Lax cookie, and redirect (303) to [`AuthorizationRequest::url`].
//! 3. `GET {authx_issuer}/login/{id}/callback`: load *and delete* the row named by the cookie
//!    (single use), check it belongs to authority `id`, compare its `state` with the query's
//!    through [`state_matches`], then call [`OidcClient::finish`] with
//!    [`CallbackParams::from_query`]. The [`UpstreamIdentity`] goes through the reference §3
//!    resolution; an [`OidcError`] is logged and audited with its `reason()`, and the person
//!    sees a generic page ([`OidcError::user_message`]) with a way back to the login page.
//!
//! The crate stores nothing and never talks to the server's database.

pub mod details;
pub mod discovery;
pub mod error;
pub mod flow;
pub mod http;
mod id_token;
mod identity;
mod jwks;

use authx_strategy_core::{DetailsRules, StrategyError};
use serde_json::Value;

pub use authx_strategy_core::UpstreamIdentity;
pub use details::{GOOGLE_ISSUER, GoogleDetails, merge_details};
pub use discovery::{ClientAuth, ProviderMetadata};
pub use error::OidcError;
pub use flow::{
    AuthorizationRequest, CallbackParams, OidcClient, OidcOptions, PendingLogin, redirect_uri,
    state_matches,
};
pub use id_token::ALLOWED_ALGORITHMS;

/// The `google` strategy's implementation of [`DetailsRules`]: validation and redaction of an
/// authority's details. The login itself is [`OidcClient`].
#[derive(Clone, Copy, Debug, Default)]
pub struct GoogleStrategy;

impl GoogleStrategy {
    /// The strategy name stored in `authorities.strategy`.
    pub const NAME: &'static str = "google";
}

impl DetailsRules for GoogleStrategy {
    fn strategy(&self) -> &'static str {
        Self::NAME
    }

    /// Validates and normalises (see [`GoogleDetails::from_details`]). On PATCH, pass the
    /// submitted details through [`merge_details`] first so an omitted secret is kept.
    fn validate_details(&self, details: &Value) -> Result<Value, StrategyError> {
        GoogleDetails::from_details(details).map(|d| d.to_value())
    }

    fn redact_details(&self, details: &Value) -> Value {
        details::redact(details)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn strategy_contract() {
        let s = GoogleStrategy;
        assert_eq!(s.strategy(), "google");
        let stored = s
            .validate_details(&json!({"client_id": "c", "client_secret": "hunter2"}))
            .unwrap();
        assert_eq!(stored["issuer"], GOOGLE_ISSUER);
        let shown = s.redact_details(&stored);
        assert!(shown.get("client_secret").is_none());
        assert_eq!(shown["client_secret_set"], true);
        // PATCH round trip: what was shown, edited, merged, validated keeps the secret.
        let mut edit = shown.clone();
        edit["hosted_domains"] = json!(["example.com"]);
        let again = s.validate_details(&merge_details(&stored, &edit)).unwrap();
        assert_eq!(again["client_secret"], "hunter2");
        assert_eq!(again["hosted_domains"], json!(["example.com"]));
        match s.validate_details(&json!({"client_id": "c", "client_secret": "s", "bogus": 1})) {
            Err(StrategyError::InvalidDetails { field, .. }) => assert_eq!(field, "details.bogus"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
