//! The state every handler shares: configuration, storage and the mailer, built once at start-up
//! and cloned cheaply (everything behind `Arc`).

pub mod admin;
pub mod audit;
pub mod bootstrap;
pub mod check_cache;
pub mod identity;
pub mod saml_metadata;
pub mod strategies;
pub mod sweeper;

use std::sync::Arc;

use crate::config::Config;
use crate::engine::check_cache::CheckCache;
use crate::store::Store;

/// Shared application state.
#[derive(Clone)]
pub struct Engine {
    /// The loaded configuration.
    pub config: Arc<Config>,
    /// The database.
    pub store: Arc<dyn Store>,
    /// Sends the email strategy's mail (login links, verification, resets) with the configured
    /// transport (`email` in the configuration).
    pub mailer: Arc<authx_strategy_email::Mailer>,
    /// This node's short-lived memory of token-check decisions (≤ 1 s, see `check_cache`).
    pub checks: Arc<CheckCache>,
    /// This node's cache of the JWT signing keys (the keys themselves live in the database).
    pub keys: Arc<crate::http::oauth2::keys::Keys>,
    /// The OpenID Connect relying party every `google` authority logs in through (its caches of
    /// discovery documents and key sets are per issuer, shared by all of them).
    pub oidc: Arc<authx_strategy_google::OidcClient>,
    /// The IdP metadata of `saml` authorities as this node uses it (fetched metadata is cached
    /// and refreshed, see `saml_metadata`).
    pub saml_metadata: Arc<crate::engine::saml_metadata::MetadataCache>,
    /// The web origins browser-based clients may call the token endpoints from (CORS).
    pub cors: Arc<crate::http::oauth2::cors::AllowedOrigins>,
}
