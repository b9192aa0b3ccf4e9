//! Building and running the server: connect and migrate the database, bind the listener, serve
//! until a shutdown signal, drain in-flight requests, close the pool.
//!
//! Binding happens in [`App::build`], before anything is served, so the caller learns the real
//! address (tests bind port 0) and start-up problems (port in use, database unreachable) surface as
//! errors with their own exit code instead of log lines from a half-started server.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use poem::EndpointExt;
use poem::endpoint::BoxEndpoint;

use crate::config::{Config, mask_url_password};
use crate::engine::Engine;
use crate::http::{metrics::MetricsMiddleware, request_id::RequestIdMiddleware};
use crate::sealing::key_source::{self, KeySourceError};
use crate::sealing::{Reseal, Sealer};
use crate::store::{self, ConnectOptions, StoreError};

/// Why the server could not start. Each is reported with exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be opened, reached or migrated.
    #[error("database {url}: {source}")]
    Database {
        /// The URL with its password masked.
        url: String,
        /// What went wrong.
        source: StoreError,
    },
    /// The listen address could not be bound (in use, not local, no permission).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The `[email]` configuration cannot make a mailer (bad sender address, TLS setup, …).
    #[error("[email] settings: {0}")]
    Mailer(authx_strategy_email::MailerError),
    /// The OpenID Connect client (upstream logins) cannot be built (its HTTP client, TLS setup).
    #[error("OpenID Connect client: {0}")]
    Oidc(authx_strategy_google::OidcError),
    /// The HTTP client that fetches SAML IdP metadata cannot be built (its TLS setup).
    #[error("SAML metadata client: {0}")]
    SamlMetadata(reqwest::Error),
    /// The key secrets at rest are sealed under cannot be had.
    #[error("[secrets] settings: {0}")]
    Secrets(KeySourceError),
}

/// A server that has connected to its database and bound its port, ready to run.
pub struct App {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    state: Engine,
    extra: Vec<(String, BoxEndpoint<'static>)>,
}

/// The sealer of the configured key-encryption key (see `crate::sealing::key_source`).
pub fn sealer(config: &Config) -> Result<Arc<Sealer>, StartupError> {
    key_source::load(&config.secrets, &config.database.url)
        .map(Arc::new)
        .map_err(StartupError::Secrets)
}

/// Opens the configured database with the configured key (and applies migrations if `migrate`
/// is set).
pub async fn open_store(
    config: &Config,
    migrate: bool,
) -> Result<Arc<dyn store::Store>, StartupError> {
    open_store_sealed(config, migrate, sealer(config)?).await
}

/// Opens the configured database, sealing with `sealer` (and applies migrations if `migrate` is
/// set).
async fn open_store_sealed(
    config: &Config,
    migrate: bool,
    sealer: Arc<Sealer>,
) -> Result<Arc<dyn store::Store>, StartupError> {
    let url = config.database.url.clone();
    let wrap = |source| StartupError::Database {
        url: mask_url_password(&url),
        source,
    };
    let options = ConnectOptions {
        url: url.clone(),
        max_connections: config.database.max_connections,
        acquire_timeout: config.acquire_timeout(),
    };
    let store = store::connect(&options, sealer).await.map_err(wrap)?;
    if migrate {
        let applied = store.migrate().await.map_err(wrap)?;
        if applied > 0 {
            tracing::info!(applied, "applied database migrations");
        }
    }
    Ok(store)
}

impl App {
    /// Connects to the database, applies pending migrations if configured, and binds the listener.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        // Checked before anything is opened: a broken mail setup must not half-start a server.
        let mailer = Arc::new(
            authx_strategy_email::Mailer::from_config(&config.email)
                .map_err(StartupError::Mailer)?,
        );
        let oidc = Arc::new(
            authx_strategy_google::OidcClient::new(authx_strategy_google::OidcOptions {
                outbound: config.outbound.clone(),
                ..authx_strategy_google::OidcOptions::default()
            })
            .map_err(StartupError::Oidc)?,
        );
        let saml_metadata = Arc::new(
            crate::engine::saml_metadata::MetadataCache::new(&config.outbound)
                .map_err(StartupError::SamlMetadata)?,
        );
        if config.email.transport() == "log" {
            tracing::warn!(
                "email.transport is `log`: login and reset links are written to this log instead \
                 of being mailed (development only)"
            );
        }
        let sealer = sealer(&config)?;
        let keyless = sealer.current_key_id().is_none();
        let store = open_store_sealed(&config, config.database.migrate_on_start, sealer).await?;
        // A server reads its secrets back, so it needs the key (PostgreSQL has no default).
        // Checked once the database answered, so a wrong URL is what gets reported first.
        if keyless {
            store.close().await;
            return Err(StartupError::Secrets(KeySourceError::Missing));
        }
        // Secrets written before sealing existed are sealed now; values under a previous key
        // wait for `authx secrets reseal`, since other nodes may not hold the new key yet.
        match store.reseal_secrets(Reseal::Plaintext).await {
            Ok(0) => {}
            Ok(sealed) => tracing::info!(sealed, "sealed secrets stored in the clear"),
            Err(source) => {
                store.close().await;
                return Err(StartupError::Database {
                    url: mask_url_password(&config.database.url),
                    source,
                });
            }
        }
        // Not fatal: without a key an authority still signs people in, unless its IdP wants
        // signed requests, and the next start or save tries again.
        match crate::engine::admin::authorities::give_saml_authorities_keys(store.as_ref()).await {
            Ok(0) => {}
            Ok(given) => tracing::info!(given, "SAML authorities given their SP signing key"),
            Err(error) => tracing::warn!(%error, "could not give SAML authorities their keys"),
        }
        let listener = match tokio::net::TcpListener::bind(config.listen).await {
            Ok(listener) => listener,
            Err(source) => {
                store.close().await;
                return Err(StartupError::Bind {
                    addr: config.listen,
                    source,
                });
            }
        };
        let addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: config.listen,
            source,
        })?;
        let mut config = config;
        if config.issuer.is_none() && config.listen.port() == 0 {
            // The issuer derived from the listen address must name the port actually bound.
            let mut public = addr;
            if public.ip().is_unspecified() {
                public.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            config.issuer = Some(format!("http://{public}"));
        }
        let state = Engine::new(config, store, mailer, oidc, saml_metadata);
        Ok(Self {
            listener,
            addr,
            state,
            extra: Vec::new(),
        })
    }

    /// The address actually bound (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state the server will run with.
    pub fn state(&self) -> &Engine {
        &self.state
    }

    /// Mounts an extra endpoint, for applications embedding authx beside their own routes (the
    /// test suite mounts a deliberately slow one to exercise graceful shutdown).
    pub fn mount(mut self, path: &str, endpoint: BoxEndpoint<'static>) -> Self {
        self.extra.push((path.to_owned(), endpoint));
        self
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight requests finish
    /// (up to `server.shutdown_timeout_secs`), and closes the database pool.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let Self {
            listener,
            addr,
            state,
            extra,
        } = self;
        let issuer = state.config.issuer_url();
        // Browser-based public clients call these themselves: they answer CORS (see `cors`).
        let route = crate::http::routes::table(&issuer, extra);
        let app = route
            .data(state.clone())
            .with(MetricsMiddleware)
            .with(RequestIdMiddleware);
        let timeout = Duration::from_secs(state.config.server.shutdown_timeout_secs);
        tracing::info!(%addr, %issuer, backend = state.store.backend(), "authx listening");
        // A key of every published algorithm exists before the first request: resource servers
        // that fetch the JWKS at start-up would otherwise cache an incomplete set.
        if let Err(error) = state.keys.ensure_published().await {
            tracing::warn!(error = %crate::telemetry::ErrorChain(&error), "no signing key yet");
        }
        let sweeper = (state.config.server.sweep_interval_secs > 0).then(|| {
            tokio::spawn(crate::engine::sweeper::run(
                state.store.clone(),
                Duration::from_secs(state.config.server.sweep_interval_secs),
            ))
        });
        let server = &state.config.server;
        let limits = crate::http::serve::Limits {
            header_read: Duration::from_secs(server.header_read_timeout_secs),
            per_ip: server.max_connections_per_ip,
            trusted_proxies: server.trusted_proxies.clone(),
            shutdown: timeout,
        };
        let result = crate::http::serve::serve(listener, app, limits, shutdown).await;
        if let Some(sweeper) = sweeper {
            sweeper.abort();
        }
        state.store.close().await;
        tracing::info!("authx stopped");
        result
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (what orchestrators send).
///
/// The handlers are installed when this is called, not when the future is first polled: a signal
/// arriving between "listening" and the server's first poll of the future must still shut down
/// gracefully rather than kill the process.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => tracing::info!("SIGINT received, shutting down"),
                        _ = terminate.recv() => tracing::info!("SIGTERM received, shutting down"),
                    }
                }
                (interrupt, terminate) => {
                    for error in [interrupt.err(), terminate.err()].into_iter().flatten() {
                        tracing::error!(%error, "cannot listen for shutdown signals");
                    }
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::info!("Ctrl-C received, shutting down");
            }
        }
    }
}
