//! The engine: everything authx decides, with no HTTP in it. The adapters under `http` parse a
//! request, call one engine function with typed input (and the time, where a rule depends on it),
//! and render what it returns; the engine authorizes, validates, reads and writes through the
//! `store` traits, and audits.
//!
//! [`Engine`] is what every call shares, built once at start-up and cloned cheaply (everything
//! behind `Arc`): the configuration, the store, the node's caches (token-check decisions, signing
//! keys, SAML metadata, CORS origins) and the outbound clients (mail, OpenID Connect). No module
//! of the engine imports `poem` (a test checks it).

pub mod actor;
pub mod admin;
pub mod audit;
pub mod bootstrap;
pub mod check_cache;
pub mod email_links;
pub mod error;
pub mod identity;
pub mod listing;
pub mod oauth2;
pub mod password_login;
pub mod password_reset;
pub mod rate_limit;
pub mod saml_metadata;
pub mod self_service;
pub mod session;
pub mod strategies;
pub mod sweeper;
pub mod upstream_login;

#[cfg(test)]
mod unit_tests;

use std::sync::Arc;

use crate::config::Config;
use crate::engine::check_cache::CheckCache;
use crate::store::Store;

/// The engine's shared parts.
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
    pub keys: Arc<crate::engine::oauth2::keys::Keys>,
    /// The OpenID Connect relying party every `google` authority logs in through (its caches of
    /// discovery documents and key sets are per issuer, shared by all of them).
    pub oidc: Arc<authx_strategy_google::OidcClient>,
    /// The IdP metadata of `saml` authorities as this node uses it (fetched metadata is cached
    /// and refreshed, see `saml_metadata`).
    pub saml_metadata: Arc<crate::engine::saml_metadata::MetadataCache>,
    /// The web origins browser-based clients may call the token endpoints from (CORS).
    pub origins: Arc<crate::engine::oauth2::origins::AllowedOrigins>,
}

impl Engine {
    /// The engine of a node with `config`, on `store`, mailing with `mailer` and signing in
    /// through upstream providers with `oidc` and `saml_metadata`.
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        mailer: Arc<authx_strategy_email::Mailer>,
        oidc: Arc<authx_strategy_google::OidcClient>,
        saml_metadata: Arc<crate::engine::saml_metadata::MetadataCache>,
    ) -> Self {
        let checks = Arc::new(CheckCache::new(std::time::Duration::from_millis(
            config.api_keys.check_cache_ms,
        )));
        let keys = Arc::new(crate::engine::oauth2::keys::Keys::new(
            store.clone(),
            config.tokens.clone(),
        ));
        let origins = Arc::new(crate::engine::oauth2::origins::AllowedOrigins::new(
            store.clone(),
        ));
        Self {
            config: Arc::new(config),
            store,
            mailer,
            checks,
            keys,
            oidc,
            saml_metadata,
            origins,
        }
    }
}

/// How the database is doing, as the operations endpoints report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatabaseHealth {
    /// Connections of this node's pool in use.
    pub in_use: u32,
    /// Connections open and idle.
    pub idle: u32,
}

impl Engine {
    /// Succeeds when the database answers within `within`.
    pub async fn database_ready(&self, within: std::time::Duration) -> Result<(), Unready> {
        match tokio::time::timeout(within, self.store.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(Unready::Unreachable(error)),
            Err(_) => Err(Unready::TimedOut),
        }
    }

    /// The pool's connections now.
    pub fn database_health(&self) -> DatabaseHealth {
        let stats = self.store.pool_stats();
        DatabaseHealth {
            in_use: stats.size.saturating_sub(stats.idle),
            idle: stats.idle,
        }
    }
}

/// Why the database is not ready.
#[derive(Debug, thiserror::Error)]
pub enum Unready {
    /// It answered with an error.
    #[error("database unreachable: {0}")]
    Unreachable(#[source] crate::store::StoreError),
    /// It did not answer in time.
    #[error("database did not answer in time")]
    TimedOut,
}
