//! The `authx` command line: what each subcommand does and the flags a newcomer needs first.
//!
//! Only argument parsing lives here; `main.rs` dispatches. Flags override the configuration file
//! and the `AUTHX_*` environment (see `config.rs` for the layering).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Overrides;

/// authx — identity exchange and OAuth 2.0 / OpenID Connect authorization server.
///
/// With no configuration at all, `authx serve` keeps its data in `authx.db` (SQLite) in the
/// working directory and listens on http://127.0.0.1:8080. Settings come from built-in defaults,
/// then a TOML file (`--config`, or `authx.toml` in the working directory), then `AUTHX_*`
/// environment variables (`AUTHX_DATABASE__MAX_CONNECTIONS=16` sets `database.max_connections`),
/// then these flags.
#[derive(Debug, Parser)]
#[command(name = "authx", version, propagate_version = true)]
pub struct Cli {
    /// Configuration file (TOML). Default: ./authx.toml if it exists.
    #[arg(long, global = true, env = "AUTHX_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Database URL: sqlite://authx.db (default) or postgres://user:password@host/database.
    /// Also AUTHX_DATABASE_URL.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// Public base URL of this server, e.g. https://id.example.com (the OAuth2 issuer). Also
    /// AUTHX_ISSUER. Default: http://<listen address>.
    #[arg(long, global = true, value_name = "URL")]
    pub issuer: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (applies pending database migrations first unless told not to).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit. Safe to run repeatedly.
    Migrate,
    /// Load and validate the configuration, print it with secrets masked, and exit.
    CheckConfig,
    /// Create the first administrator: the `root` and `default` roles, the `email` and `password`
    /// authorities, and a user holding `root`. Safe to run again (it only adds what is missing).
    BootstrapAdmin(BootstrapArgs),
    /// Print the OpenAPI document of the HTTP API (JSON).
    Openapi(OpenapiArgs),
    /// Manage the JWT signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage the key that seals secrets at rest.
    #[command(subcommand)]
    Secrets(SecretsCommand),
}

/// `authx secrets …`.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Re-encrypt every stored secret (JWT signing keys, upstream client secrets) under the
    /// current key (`secrets.key_file`), opening each with it or one of
    /// `secrets.previous_key_files`. To rotate the key: give every node the new key as
    /// `secrets.key_file` and the old one in `secrets.previous_key_files`, run this once, then
    /// drop the old key.
    Reseal,
}

/// `authx keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Retire the active signing keys (one per algorithm the server signs with) and create their
    /// successors. The old keys stay published (and verify their tokens) until those have
    /// expired; prints the new kids and that time.
    Rotate(RotateArgs),
}

/// `authx keys rotate`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// Rotate only the key of this algorithm (ES256, RS256 or EdDSA; one the server signs with).
    /// Default: all of them.
    #[arg(long, value_name = "ALG")]
    pub alg: Option<crate::domain::signing_key::SigningAlg>,
    /// Sign with the new key at once (after a key leaked) instead of publishing it for
    /// `tokens.key_publish_lead_secs` first; verifiers whose cached JWKS predates it may refuse
    /// its tokens for up to a minute.
    #[arg(long)]
    pub now: bool,
}

/// `authx serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080 or 0.0.0.0:443. Also AUTHX_LISTEN.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Do not apply pending migrations at start (run `authx migrate` yourself).
    #[arg(long)]
    pub no_migrate: bool,
}

/// `authx bootstrap-admin`.
#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// The administrator's email address (their login with the email authority).
    #[arg(long, value_name = "ADDRESS")]
    pub email: String,
    /// Also give them a password, read from this file (first line).
    #[arg(long, value_name = "FILE", conflicts_with = "password_stdin")]
    pub password_file: Option<PathBuf>,
    /// Also give them a password, read from standard input (first line). On a terminal it asks
    /// for it, twice, without echo.
    #[arg(long)]
    pub password_stdin: bool,
    /// Recovery: make `root` bestow every scope again (enabled, no deny), re-activate this
    /// administrator, put them in `root`, and lift any deny that keeps them from administering
    /// authx. Run it on the machine that holds the database; every change is audited.
    #[arg(long)]
    pub restore_root: bool,
    /// Also issue the administrator an API key for every scope (`**:**:**`, bounded at any moment
    /// by their access) and print it. It is shown only this once.
    #[arg(long)]
    pub issue_api_key: bool,
    /// Life of that API key in seconds (default `api_keys.default_ttl_secs`, at most
    /// `api_keys.max_ttl_secs`).
    #[arg(long, value_name = "SECONDS", requires = "issue_api_key")]
    pub expires_in: Option<u64>,
}

/// `authx openapi`.
#[derive(Debug, Args)]
pub struct OpenapiArgs {
    /// Write to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

impl Cli {
    /// The flag values that override configuration.
    pub fn overrides(&self) -> Overrides {
        let listen = match &self.command {
            Command::Serve(args) => args.listen,
            _ => None,
        };
        Overrides {
            listen,
            database_url: self.database_url.clone(),
            issuer: self.issuer.clone(),
        }
    }
}
