//! Typed configuration: built-in defaults, then a TOML file, then `AUTHX_*` environment variables,
//! then command-line flags — each layer overriding the one before.
//!
//! Invariants: an unknown key (in the file or as an `AUTHX_*` variable) is an error that names it,
//! because a misspelt setting silently falling back to its default is how insecure deployments
//! happen. Secrets can be read from files (`*_file` keys) so they need not sit in the environment,
//! and `Debug` never prints them: passwords inside database URLs are masked.
//!
//! This module holds the whole [`Config`] and its loading; `sections` the smaller sections,
//! `tokens` the token lifetimes and algorithms, `layers` how the file and the environment are
//! read, and `validate` the checks run once every layer is merged.

mod layers;
mod sections;
#[cfg(test)]
mod tests;
mod tokens;
mod validate;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use authx_strategy_email::MailerConfig;
use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

pub use layers::mask_url_password;
use layers::{convert_error, deserialize_email, env_provider, environment_pairs, read_secret_file};
pub use sections::{
    ApiKeysConfig, DatabaseConfig, LogConfig, LogFormat, LoginConfig, PasswordConfig,
    SecretsConfig, ServerConfig, SessionConfig,
};
pub use tokens::TokensConfig;

/// The file read when neither `--config` nor `AUTHX_CONFIG` names one, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "authx.toml";

/// Environment variables with this prefix are reserved for the test suite and never read as
/// configuration (CI exports `AUTHX_TEST_POSTGRES_URL` into the same environment as the server).
const TEST_VARIABLE_PREFIX: &str = "test_";

/// Why the configuration could not be loaded. Every message names the offending key or file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The named configuration file does not exist or cannot be read.
    #[error("cannot read configuration file {path}: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A key no version of authx knows.
    #[error("unknown configuration key `{key}` ({origin}); known keys here: {expected}")]
    UnknownKey {
        /// The dotted key path, e.g. `database.urll`.
        key: String,
        /// Where it came from (the file or the environment variable).
        origin: String,
        /// The keys that are valid at that level.
        expected: String,
    },
    /// A value of the wrong type or shape.
    #[error("invalid configuration value for `{key}` ({origin}): {message}")]
    Invalid {
        /// The dotted key path.
        key: String,
        /// Where it came from.
        origin: String,
        /// What is wrong.
        message: String,
    },
}

/// The whole configuration of one authx node.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server binds to (`--listen`, `AUTHX_LISTEN`).
    pub listen: SocketAddr,
    /// Public base URL of this authx (`--issuer`, `AUTHX_ISSUER`); it is the OAuth2 `iss`, so every
    /// node behind a load balancer must share it. Derived from `listen` when absent.
    pub issuer: Option<String>,
    /// The realm of authx's own scopes (`AuthX:user:read`).
    pub realm: String,
    /// Database settings.
    pub database: DatabaseConfig,
    /// Logging settings.
    pub log: LogConfig,
    /// HTTP server behaviour.
    pub server: ServerConfig,
    /// Password hashing and policy.
    pub password: PasswordConfig,
    /// Lifetimes of personal API keys.
    pub api_keys: ApiKeysConfig,
    /// Browser session lifetimes.
    pub session: SessionConfig,
    /// Login throttling and email send limits.
    pub login: LoginConfig,
    /// How mail (login links, address verification, password resets) leaves authx: the `log`
    /// transport by default (links appear in the server log, for development), `file`, or `smtp`.
    /// `email.password_file` reads the SMTP password from a file.
    #[serde(deserialize_with = "deserialize_email")]
    pub email: MailerConfig,
    /// Token lifetimes and the JWT signing algorithm.
    pub tokens: TokensConfig,
    /// Where authx may connect when it fetches from upstream providers (issuers' discovery,
    /// keys and tokens; SAML metadata URLs): public addresses only, unless
    /// `outbound.allowed_networks` lists a network or `outbound.allow_private_networks` (for
    /// development) lets everything through.
    pub outbound: authx_strategy_core::outbound::OutboundPolicy,
    /// The key-encryption key secrets at rest are sealed under (see `crate::sealing`).
    pub secrets: SecretsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            issuer: None,
            realm: "AuthX".to_owned(),
            database: DatabaseConfig::default(),
            log: LogConfig::default(),
            server: ServerConfig::default(),
            password: PasswordConfig::default(),
            api_keys: ApiKeysConfig::default(),
            session: SessionConfig::default(),
            login: LoginConfig::default(),
            email: MailerConfig::default(),
            tokens: TokensConfig::default(),
            outbound: authx_strategy_core::outbound::OutboundPolicy::default(),
            secrets: SecretsConfig::default(),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("issuer", &self.issuer)
            .field("realm", &self.realm)
            .field("database", &self.database)
            .field("log", &self.log)
            .field("server", &self.server)
            .field("password", &self.password)
            .field("api_keys", &self.api_keys)
            .field("session", &self.session)
            .field("login", &self.login)
            .field("email", &self.email)
            .field("tokens", &self.tokens)
            .field("outbound", &self.outbound)
            .field("secrets", &self.secrets)
            .finish()
    }
}

/// Values given on the command line; they override every other layer.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--database-url`.
    pub database_url: Option<String>,
    /// `--issuer`.
    pub issuer: Option<String>,
}

impl Config {
    /// Loads the configuration: defaults, then `file` (or `authx.toml` in the working directory if
    /// it exists), then `AUTHX_*` variables from the process environment, then `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars(), overrides)
    }

    /// Like [`Config::load`] with an explicit environment (tests pass their own).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let file = match file {
            Some(path) => Some(path.to_path_buf()),
            None => {
                let default = PathBuf::from(DEFAULT_CONFIG_FILE);
                default.exists().then_some(default)
            }
        };
        if let Some(path) = &file {
            // Read it ourselves: figment's own "file not found" is silent for `Toml::file`.
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
                path: path.clone(),
                source,
            })?;
            figment = figment.merge(Toml::string(&text));
        }
        let env_pairs = environment_pairs(env);
        figment = figment.merge(env_provider(&env_pairs));
        let mut config: Config = figment
            .extract()
            .map_err(|e| convert_error(e, &file, &env_pairs))?;
        if let Some(listen) = overrides.listen {
            config.listen = listen;
        }
        if let Some(url) = &overrides.database_url {
            config.database.url = url.clone();
            config.database.url_file = None;
        }
        if let Some(issuer) = &overrides.issuer {
            config.issuer = Some(issuer.clone());
        }
        config.resolve_secret_files()?;
        config.validate()?;
        Ok(config)
    }

    /// The issuer URL without a trailing slash: the configured one, or `http://<listen>` with an
    /// unspecified address replaced by `127.0.0.1`.
    pub fn issuer_url(&self) -> String {
        match &self.issuer {
            Some(issuer) => issuer.trim_end_matches('/').to_owned(),
            None => {
                let mut addr = self.listen;
                if addr.ip().is_unspecified() {
                    addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                format!("http://{addr}")
            }
        }
    }

    /// The `aud` of access tokens: `tokens.audience`, else the issuer URL.
    pub fn access_token_audience(&self) -> String {
        self.tokens
            .audience
            .clone()
            .unwrap_or_else(|| self.issuer_url())
    }

    /// How long a request waits for a database connection.
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_secs(self.database.acquire_timeout_secs)
    }

    fn resolve_secret_files(&mut self) -> Result<(), ConfigError> {
        if let Some(path) = self.database.url_file.take() {
            self.database.url = read_secret_file(&path, "database.url_file")?;
        }
        Ok(())
    }
}
