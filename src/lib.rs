//! authx: an identity exchange and OAuth 2.0 / OpenID Connect authorization server.
//!
//! The library holds everything; the `authx` binary only parses the command line and dispatches.
//! Data flows one way: HTTP adapters (`http`, `api`) authenticate and parse, call the domain, which
//! reads and writes through the `store` traits. `scopes` is pure and usable on its own by resource
//! servers.

pub mod address;
pub mod api;
pub mod apikeys;
pub mod audit;
pub mod bootstrap;
pub mod check_cache;
pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod login;
pub mod oauth2;
pub mod password;
pub mod saml_metadata;
pub mod scopes;
pub mod secret;
pub mod startup;
pub mod state;
pub mod store;
pub mod strategies;
pub mod sweeper;
pub mod telemetry;
pub mod web;
