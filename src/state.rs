//! The state every handler shares: configuration and storage, built once at start-up and cloned
//! cheaply (everything behind `Arc`).

use std::sync::Arc;

use crate::check_cache::CheckCache;
use crate::config::Config;
use crate::store::Store;

/// Shared application state.
#[derive(Clone)]
pub struct AppState {
    /// The loaded configuration.
    pub config: Arc<Config>,
    /// The database.
    pub store: Arc<dyn Store>,
    /// This node's short-lived memory of token-check decisions (≤ 1 s, see `check_cache`).
    pub checks: Arc<CheckCache>,
}
