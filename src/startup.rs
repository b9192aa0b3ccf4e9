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

use poem::endpoint::BoxEndpoint;
use poem::listener::TcpAcceptor;
use poem::{EndpointExt, Route, Server, get};

use crate::config::{Config, mask_url_password};
use crate::http::{metrics::MetricsMiddleware, ops, request_id::RequestIdMiddleware};
use crate::state::AppState;
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
}

/// A server that has connected to its database and bound its port, ready to run.
pub struct App {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    state: AppState,
    extra: Vec<(String, BoxEndpoint<'static>)>,
}

/// Opens the configured database (and applies migrations if `migrate` is set).
pub async fn open_store(
    config: &Config,
    migrate: bool,
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
    let store = store::connect(&options).await.map_err(wrap)?;
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
        let store = open_store(&config, config.database.migrate_on_start).await?;
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
        let state = AppState {
            config: Arc::new(config),
            store,
        };
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
    pub fn state(&self) -> &AppState {
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
        let mut route = Route::new()
            .at("/metrics", get(ops::metrics))
            .nest("/", crate::api::service(&issuer));
        for (path, endpoint) in extra {
            route = route.at(path, endpoint);
        }
        let app = route
            .data(state.clone())
            .with(MetricsMiddleware)
            .with(RequestIdMiddleware);
        let timeout = Duration::from_secs(state.config.server.shutdown_timeout_secs);
        tracing::info!(%addr, %issuer, backend = state.store.backend(), "authx listening");
        let acceptor = TcpAcceptor::from_tokio(listener)?;
        let result = Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(app, shutdown, Some(timeout))
            .await;
        state.store.close().await;
        tracing::info!("authx stopped");
        result
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (what orchestrators send).
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
