//! authx: an identity exchange and OAuth 2.0 / OpenID Connect authorization server.
//!
//! The library holds everything; the `authx` binary only parses the command line and dispatches.
//! Data flows one way: the HTTP adapters (`http`: the admin API, the pages, the OAuth 2.0
//! endpoints, one route table) parse and authenticate, call the `engine`, which decides and reads
//! and writes through the `store` traits; `domain` holds the plain data and `scopes` the scope
//! algebra, pure and usable on its own by resource servers. `docs/ARCHITECTURE.md` draws it.

pub mod address;
pub mod cli;
pub mod config;
pub mod domain;
pub mod engine;
pub mod http;
pub mod password;
pub mod proxies;
pub mod scopes;
pub mod sealing;
pub mod secret;
pub mod startup;
pub mod store;
pub mod telemetry;
