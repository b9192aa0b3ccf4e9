//! The state every handler shares: configuration and storage, built once at start-up and cloned
//! cheaply (everything behind `Arc`).

use std::sync::Arc;

use crate::config::Config;
use crate::store::Store;

/// Shared application state.
#[derive(Clone)]
pub struct AppState {
    /// The loaded configuration.
    pub config: Arc<Config>,
    /// The database.
    pub store: Arc<dyn Store>,
}
