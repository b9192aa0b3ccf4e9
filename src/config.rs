//! Typed configuration: built-in defaults, then a TOML file, then `AUTHX_*` environment variables,
//! then command-line flags — each layer overriding the one before.
//!
//! Invariants: an unknown key (in the file or as an `AUTHX_*` variable) is an error that names it,
//! because a misspelt setting silently falling back to its default is how insecure deployments
//! happen. Secrets can be read from files (`*_file` keys) so they need not sit in the environment,
//! and `Debug` never prints them: passwords inside database URLs are masked.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use authx_strategy_email::MailerConfig;
use figment::Figment;
use figment::providers::{Format, Serialized, Toml};

use crate::domain::signing_key::SigningAlg;
use serde::{Deserialize, Deserializer, Serialize};

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

/// Where the key-encryption key comes from (`crate::sealing::key_source` says how the default is
/// chosen).
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// A file holding the key: 32 random bytes, base64-encoded. The same on every node.
    pub key_file: Option<PathBuf>,
    /// The key itself, base64 (`AUTHX_SECRETS__KEY`), where secrets come as environment
    /// variables; never printed.
    pub key: Option<String>,
    /// Keys values may still be sealed under after a rotation, until `authx secrets reseal`.
    pub previous_key_files: Vec<PathBuf>,
}

impl fmt::Debug for SecretsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretsConfig")
            .field("key_file", &self.key_file)
            .field("key", &self.key.as_ref().map(|_| "***"))
            .field("previous_key_files", &self.previous_key_files)
            .finish()
    }
}

/// Where the data lives.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://authx.db` (default; created on first start) or `postgres://user:pass@host/db`.
    /// `AUTHX_DATABASE_URL` and `--database-url` set it too.
    pub url: String,
    /// Read the URL from this file instead (keeps the password out of the environment).
    pub url_file: Option<PathBuf>,
    /// Connections per node.
    pub max_connections: u32,
    /// How long a request waits for a free connection before failing.
    pub acquire_timeout_secs: u64,
    /// Apply pending migrations when `serve` starts.
    pub migrate_on_start: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://authx.db".to_owned(),
            url_file: None,
            max_connections: 8,
            acquire_timeout_secs: 5,
            migrate_on_start: true,
        }
    }
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &mask_url_password(&self.url))
            .field("url_file", &self.url_file)
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout_secs", &self.acquire_timeout_secs)
            .field("migrate_on_start", &self.migrate_on_start)
            .finish()
    }
}

/// Log output.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` (human-readable, the default) or `json` (one object per line, for log shippers).
    pub format: LogFormat,
    /// A tracing filter such as `info` or `info,authx=debug`. `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// JSON objects, one per line.
    Json,
}

/// HTTP server behaviour.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// On SIGINT/SIGTERM, how long in-flight requests may take to finish before they are cut off.
    pub shutdown_timeout_secs: u64,
    /// How often each node sweeps expired sessions, codes, tokens, keys and counters (0: never).
    pub sweep_interval_secs: u64,
    /// Reverse proxies (CIDR networks or addresses) whose `Forwarded` / `X-Forwarded-For`
    /// headers name the client; empty: the socket's peer is the client.
    pub trusted_proxies: crate::proxies::TrustedProxies,
    /// A connection must send a complete request head within this long of opening or of its
    /// previous request, or it is closed (slow clients, idle keep-alive connections).
    pub header_read_timeout_secs: u64,
    /// A request body must have arrived in full this long after its head, or the request is
    /// answered 408.
    pub body_read_timeout_secs: u64,
    /// Open connections per client address (IPv6: per /64); trusted proxies are exempt. 0: no
    /// cap.
    pub max_connections_per_ip: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            shutdown_timeout_secs: 30,
            sweep_interval_secs: 600,
            trusted_proxies: crate::proxies::TrustedProxies::default(),
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 30,
            max_connections_per_ip: 256,
        }
    }
}

/// Password hashing cost and policy.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    /// bcrypt cost factor (4–31); each step doubles the work.
    pub bcrypt_cost: u32,
    /// Shortest password accepted.
    pub min_length: usize,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            bcrypt_cost: 12,
            min_length: 8,
        }
    }
}

/// Lifetimes of personal API keys (reference §5).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiKeysConfig {
    /// Life of a key whose request names no `expires_in` (default 24 h, as Ego).
    pub default_ttl_secs: u64,
    /// The longest life a key may be given (default 30 days).
    pub max_ttl_secs: u64,
    /// How long a node may reuse a token-check decision (0–1000 ms; 0 turns the cache off).
    /// Changes made through the node itself are visible at once; changes made through other nodes
    /// within this time.
    pub check_cache_ms: u64,
}

impl Default for ApiKeysConfig {
    fn default() -> Self {
        Self {
            default_ttl_secs: 86_400,
            max_ttl_secs: 2_592_000,
            check_cache_ms: 900,
        }
    }
}

/// Browser sessions at authx (reference §6): a session ends after `idle_timeout_secs` without use or
/// `absolute_timeout_secs` after login, whichever comes first.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// Inactivity after which a session ends (default 30 min).
    pub idle_timeout_secs: u64,
    /// Life of a session however busy (default 12 h).
    pub absolute_timeout_secs: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout_secs: 1_800,
            absolute_timeout_secs: 43_200,
        }
    }
}

/// Login throttling (reference §3): failed logins per account and per IP within a window; reaching the
/// limit blocks for 30 s, doubling with each further failure up to 1 h. Email sends per address
/// and per IP within a window; beyond the limit sends are refused until the window ends.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    /// Failed logins for one account within the window before it is blocked.
    pub max_failures_per_account: u32,
    /// Failed logins from one IP address within the window before it is blocked.
    pub max_failures_per_ip: u32,
    /// The failure-counting window.
    pub failure_window_secs: u64,
    /// Emails (login links, resets) to one address within the window.
    pub max_emails_per_address: u32,
    /// Emails requested from one IP address within the window.
    pub max_emails_per_ip: u32,
    /// The email-counting window.
    pub email_window_secs: u64,
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            max_failures_per_account: 5,
            max_failures_per_ip: 50,
            failure_window_secs: 900,
            max_emails_per_address: 3,
            max_emails_per_ip: 20,
            email_window_secs: 900,
        }
    }
}

/// OAuth2 tokens (reference §4): lifetimes and the algorithm of newly created signing keys.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokensConfig {
    /// Algorithm of access tokens (`ES256`, `RS256` or `EdDSA`), and the default of ID tokens
    /// besides RS256.
    pub signing_alg: SigningAlg,
    /// Further algorithms ID tokens may be signed with, chosen per client
    /// (`id_token_signed_response_alg`). RS256 is always among them (OpenID Connect Core §15.1:
    /// the default for clients that register none), and so is `signing_alg`. In the environment:
    /// a comma-separated list (`AUTHX_TOKENS__ID_TOKEN_SIGNING_ALGS=EdDSA,ES256`).
    #[serde(deserialize_with = "deserialize_alg_list")]
    pub id_token_signing_algs: Vec<SigningAlg>,
    /// Life of an access token (JWT, default 10 min).
    pub access_token_ttl_secs: u64,
    /// Life of an ID token (default 10 min).
    pub id_token_ttl_secs: u64,
    /// Life of a refresh token (default 30 days).
    pub refresh_token_ttl_secs: u64,
    /// Life of an authorization code (default and maximum 60 s).
    pub authorization_code_ttl_secs: u64,
    /// Tolerated clock difference between nodes (and clients): `iat` may be this far in the future,
    /// and retired keys stay published this much longer than the tokens they signed.
    pub clock_skew_secs: u64,
    /// After a refresh token is rotated, presenting it again within this window, by the same
    /// client, is a retry (a lost answer, or a concurrent refresh): it gets the same successor
    /// again while that is unused. Later, it is theft: the whole family is revoked.
    pub refresh_reuse_grace_secs: u64,
    /// How long a rotated-in key is published before it signs (default 65 s: the JWKS's 60 s
    /// `max-age` plus the 5 s a node keeps its key set), so that every verifier, ours and
    /// external ones fetching `GET /oauth2/jwks`, knows the key before the first token it signs.
    /// `authx keys rotate --now` skips the wait (after a key leaked).
    pub key_publish_lead_secs: u64,
    /// The `aud` of access tokens (RFC 9068 §3: the default resource indicator); default: the
    /// issuer URL, i.e. authx's own APIs.
    pub audience: Option<String>,
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self {
            signing_alg: SigningAlg::Es256,
            id_token_signing_algs: Vec::new(),
            access_token_ttl_secs: 600,
            id_token_ttl_secs: 600,
            refresh_token_ttl_secs: 2_592_000,
            authorization_code_ttl_secs: 60,
            clock_skew_secs: 60,
            refresh_reuse_grace_secs: 5,
            key_publish_lead_secs: 65,
            audience: None,
        }
    }
}

impl TokensConfig {
    /// The algorithm of ID tokens for clients that register none (OpenID Connect Core §15.1).
    pub const DEFAULT_ID_TOKEN_ALG: SigningAlg = SigningAlg::Rs256;
    /// The longest `refresh_reuse_grace_secs` accepted: what a retry answered with the same
    /// successor may be late by, so rotated tokens keep their successor no longer than this.
    pub const MAX_REFRESH_REUSE_GRACE_SECS: u64 = 60;

    /// Every algorithm this server signs with, each with an active key in the JWKS: the
    /// access-token algorithm, RS256, and `id_token_signing_algs`, in that order, each once.
    pub fn published_algs(&self) -> Vec<SigningAlg> {
        let mut algs = vec![self.signing_alg];
        for alg in std::iter::once(Self::DEFAULT_ID_TOKEN_ALG)
            .chain(self.id_token_signing_algs.iter().copied())
        {
            if !algs.contains(&alg) {
                algs.push(alg);
            }
        }
        algs
    }

    /// How long a key retired now must stay published: it may sign for `key_publish_lead_secs`
    /// more (until its successor takes over), then the longest life of a JWT it signed (access or
    /// ID token), plus the clock skew.
    pub fn retired_key_publish_secs(&self) -> i64 {
        let longest = self.access_token_ttl_secs.max(self.id_token_ttl_secs);
        let secs = longest
            .saturating_add(self.clock_skew_secs)
            .saturating_add(self.key_publish_lead_secs);
        i64::try_from(secs).unwrap_or(i64::MAX)
    }
}

/// A list of algorithms, as a TOML array or (from the environment) a comma-separated string.
fn deserialize_alg_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<SigningAlg>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Algs {
        List(Vec<SigningAlg>),
        Text(String),
    }
    match Algs::deserialize(deserializer)? {
        Algs::List(algs) => Ok(algs),
        Algs::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| a.parse::<SigningAlg>().map_err(serde::de::Error::custom))
            .collect(),
    }
}

/// The `[email]` section: a [`MailerConfig`] (tagged by `transport`) plus `password_file`, which
/// reads the SMTP password from a file (trailing newline dropped), like `database.url_file`.
fn deserialize_email<'de, D: Deserializer<'de>>(deserializer: D) -> Result<MailerConfig, D::Error> {
    use serde::de::Error;
    let mut table = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
    let password_file = match table.remove("password_file") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(path)) => Some(PathBuf::from(path)),
        Some(other) => {
            return Err(D::Error::custom(format!(
                "`email.password_file` must be a file path, not {other}"
            )));
        }
    };
    let mut config: MailerConfig =
        serde_json::from_value(serde_json::Value::Object(table)).map_err(D::Error::custom)?;
    if let Some(path) = password_file {
        let MailerConfig::Smtp(smtp) = &mut config else {
            return Err(D::Error::custom(
                "`email.password_file` needs `transport = \"smtp\"`",
            ));
        };
        let password = read_secret_file(&path, "email.password_file")
            .map_err(|e| D::Error::custom(e.to_string()))?;
        smtp.password = Some(password);
    }
    Ok(config)
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

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_owned(),
            origin: "after merging all sources".to_owned(),
            message,
        };
        if let Some(issuer) = &self.issuer
            && !(issuer.starts_with("https://") || issuer.starts_with("http://"))
        {
            return Err(invalid(
                "issuer",
                format!("{issuer:?} must be an absolute http:// or https:// URL"),
            ));
        }
        if !crate_realm_is_valid(&self.realm) {
            return Err(invalid(
                "realm",
                format!(
                    "{:?} must be one or more segments of [A-Za-z0-9_-] separated by '.'",
                    self.realm
                ),
            ));
        }
        if self.database.max_connections == 0 {
            return Err(invalid(
                "database.max_connections",
                "must be at least 1".to_owned(),
            ));
        }
        if !(4..=31).contains(&self.password.bcrypt_cost) {
            return Err(invalid(
                "password.bcrypt_cost",
                "must be between 4 and 31".to_owned(),
            ));
        }
        if self.password.min_length == 0 || self.password.min_length > 72 {
            return Err(invalid(
                "password.min_length",
                "must be between 1 and 72".to_owned(),
            ));
        }
        // Ten years: far beyond any sensible key life, and far from overflowing unix seconds.
        const TEN_YEARS: u64 = 10 * 366 * 86_400;
        if self.api_keys.check_cache_ms > 1000 {
            return Err(invalid(
                "api_keys.check_cache_ms",
                "must be at most 1000: changes must show within one second".to_owned(),
            ));
        }
        if !(1..=TEN_YEARS).contains(&self.api_keys.max_ttl_secs) {
            return Err(invalid(
                "api_keys.max_ttl_secs",
                format!("must be between 1 and {TEN_YEARS} seconds"),
            ));
        }
        if self.api_keys.default_ttl_secs == 0
            || self.api_keys.default_ttl_secs > self.api_keys.max_ttl_secs
        {
            return Err(invalid(
                "api_keys.default_ttl_secs",
                format!(
                    "must be between 1 and api_keys.max_ttl_secs ({})",
                    self.api_keys.max_ttl_secs
                ),
            ));
        }
        self.validate_session_and_login()?;
        self.validate_tokens()
    }

    fn validate_tokens(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_owned(),
            origin: "after merging all sources".to_owned(),
            message,
        };
        const ONE_DAY: u64 = 86_400;
        const ONE_YEAR: u64 = 366 * 86_400;
        let t = &self.tokens;
        for (key, value, min, max) in [
            (
                "tokens.access_token_ttl_secs",
                t.access_token_ttl_secs,
                1,
                ONE_DAY,
            ),
            ("tokens.id_token_ttl_secs", t.id_token_ttl_secs, 1, ONE_DAY),
            (
                "tokens.refresh_token_ttl_secs",
                t.refresh_token_ttl_secs,
                60,
                ONE_YEAR,
            ),
            (
                "tokens.authorization_code_ttl_secs",
                t.authorization_code_ttl_secs,
                1,
                60,
            ),
            ("tokens.clock_skew_secs", t.clock_skew_secs, 0, 600),
            (
                "tokens.refresh_reuse_grace_secs",
                t.refresh_reuse_grace_secs,
                0,
                TokensConfig::MAX_REFRESH_REUSE_GRACE_SECS,
            ),
            (
                "tokens.key_publish_lead_secs",
                t.key_publish_lead_secs,
                0,
                3600,
            ),
        ] {
            if !(min..=max).contains(&value) {
                return Err(invalid(
                    key,
                    format!("must be between {min} and {max} seconds"),
                ));
            }
        }
        for (key, value, max) in [
            (
                "server.header_read_timeout_secs",
                self.server.header_read_timeout_secs,
                300,
            ),
            (
                "server.body_read_timeout_secs",
                self.server.body_read_timeout_secs,
                600,
            ),
        ] {
            if !(1..=max).contains(&value) {
                return Err(invalid(key, format!("must be between 1 and {max} seconds")));
            }
        }
        let sweep = self.server.sweep_interval_secs;
        if sweep != 0 && !(10..=7 * ONE_DAY).contains(&sweep) {
            return Err(invalid(
                "server.sweep_interval_secs",
                format!("must be 0 (off) or between 10 and {} seconds", 7 * ONE_DAY),
            ));
        }
        if let Some(audience) = &t.audience
            && (audience.trim().is_empty()
                || audience.len() > 500
                || audience.contains(char::is_whitespace))
        {
            return Err(invalid(
                "tokens.audience",
                "must be a non-empty identifier without spaces (at most 500 bytes)".to_owned(),
            ));
        }
        Ok(())
    }

    fn validate_session_and_login(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_owned(),
            origin: "after merging all sources".to_owned(),
            message,
        };
        const THIRTY_ONE_DAYS: u64 = 31 * 86_400;
        const ONE_DAY: u64 = 86_400;
        if !(60..=THIRTY_ONE_DAYS).contains(&self.session.absolute_timeout_secs) {
            return Err(invalid(
                "session.absolute_timeout_secs",
                format!("must be between 60 and {THIRTY_ONE_DAYS} seconds"),
            ));
        }
        if self.session.idle_timeout_secs < 60
            || self.session.idle_timeout_secs > self.session.absolute_timeout_secs
        {
            return Err(invalid(
                "session.idle_timeout_secs",
                format!(
                    "must be between 60 and session.absolute_timeout_secs ({})",
                    self.session.absolute_timeout_secs
                ),
            ));
        }
        for (key, value) in [
            (
                "login.max_failures_per_account",
                self.login.max_failures_per_account,
            ),
            ("login.max_failures_per_ip", self.login.max_failures_per_ip),
            (
                "login.max_emails_per_address",
                self.login.max_emails_per_address,
            ),
            ("login.max_emails_per_ip", self.login.max_emails_per_ip),
        ] {
            if !(1..=1_000_000).contains(&value) {
                return Err(invalid(key, "must be between 1 and 1000000".to_owned()));
            }
        }
        for (key, value) in [
            ("login.failure_window_secs", self.login.failure_window_secs),
            ("login.email_window_secs", self.login.email_window_secs),
        ] {
            if !(1..=ONE_DAY).contains(&value) {
                return Err(invalid(
                    key,
                    format!("must be between 1 and {ONE_DAY} seconds"),
                ));
            }
        }
        Ok(())
    }
}

/// A realm is one scope domain without wildcards.
fn crate_realm_is_valid(realm: &str) -> bool {
    !realm.is_empty()
        && realm.split('.').all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}

fn read_secret_file(path: &Path, key: &str) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
        key: key.to_owned(),
        origin: path.display().to_string(),
        message: format!("cannot read secret file: {e}"),
    })?;
    // Files written by `echo` or editors end in a newline that is not part of the secret.
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

/// The `AUTHX_*` variables that are configuration, lower-cased and without the prefix, mapped to
/// dotted keys: `AUTHX_DATABASE__MAX_CONNECTIONS` → `database.max_connections`, plus the flat
/// aliases a newcomer reaches for first (`AUTHX_DATABASE_URL`).
fn environment_pairs(
    env: impl IntoIterator<Item = (String, String)>,
) -> Vec<(String, String, String)> {
    let mut pairs = Vec::new();
    for (name, value) in env {
        let Some(rest) = name.strip_prefix("AUTHX_") else {
            continue;
        };
        let lower = rest.to_ascii_lowercase();
        if lower == "config" || lower.starts_with(TEST_VARIABLE_PREFIX) {
            continue;
        }
        let key = match lower.as_str() {
            "database_url" => "database.url".to_owned(),
            "database_url_file" => "database.url_file".to_owned(),
            _ => lower.replace("__", "."),
        };
        pairs.push((key, value, name));
    }
    pairs
}

fn env_provider(pairs: &[(String, String, String)]) -> Serialized<figment::value::Dict> {
    let mut root = figment::value::Dict::new();
    for (key, value, _) in pairs {
        insert_dotted(&mut root, key, parse_env_value(value));
    }
    Serialized::defaults(root)
}

fn insert_dotted(dict: &mut figment::value::Dict, key: &str, value: figment::value::Value) {
    match key.split_once('.') {
        None => {
            dict.insert(key.to_owned(), value);
        }
        Some((head, tail)) => {
            let entry = dict
                .entry(head.to_owned())
                .or_insert_with(|| figment::value::Value::from(figment::value::Dict::new()));
            if let figment::value::Value::Dict(_, inner) = entry {
                insert_dotted(inner, tail, value);
            } else {
                let mut inner = figment::value::Dict::new();
                insert_dotted(&mut inner, tail, value);
                *entry = figment::value::Value::from(inner);
            }
        }
    }
}

/// Environment values are strings; numbers and booleans are recognised so `AUTHX_DATABASE__MAX_CONNECTIONS=16`
/// works, everything else stays a string (a URL must never be mangled).
fn parse_env_value(value: &str) -> figment::value::Value {
    if let Ok(n) = value.parse::<i64>() {
        return figment::value::Value::from(n);
    }
    match value {
        "true" => figment::value::Value::from(true),
        "false" => figment::value::Value::from(false),
        _ => figment::value::Value::from(value.to_owned()),
    }
}

/// Turns figment's error into one that names the key and where it came from: the environment
/// variable that set it, else the file, else the built-in default.
fn convert_error(
    error: figment::Error,
    file: &Option<PathBuf>,
    env_pairs: &[(String, String, String)],
) -> ConfigError {
    let origin_of = |key: &str| -> String {
        let from_env = env_pairs
            .iter()
            .find(|(k, _, _)| k == key || k.starts_with(&format!("{key}.")));
        match (from_env, file) {
            (Some((_, _, name)), _) => format!("from environment variable {name}"),
            (None, Some(path)) => format!("in {}", path.display()),
            (None, None) => "built-in default".to_owned(),
        }
    };
    let Some(e) = error.into_iter().next() else {
        return ConfigError::Invalid {
            key: String::new(),
            origin: String::new(),
            message: "unknown configuration error".to_owned(),
        };
    };
    match &e.kind {
        figment::error::Kind::UnknownField(field, expected) => {
            let mut path = e.path.clone();
            // Figment's path usually ends with the unknown field already; older versions don't.
            if path.last() != Some(field) {
                path.push(field.clone());
            }
            let key = path.join(".");
            ConfigError::UnknownKey {
                origin: origin_of(&key),
                key,
                expected: expected.join(", "),
            }
        }
        kind => {
            let key = e.path.join(".");
            ConfigError::Invalid {
                origin: origin_of(&key),
                key,
                message: kind.to_string(),
            }
        }
    }
}

/// Replaces the password of a URL like `postgres://user:secret@host/db` with `***`.
pub fn mask_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: Option<&str>, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let file = toml.map(|t| {
            let p = dir.path().join("authx.toml");
            std::fs::write(&p, t).unwrap();
            p
        });
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::load_from(
            Some(
                file.as_deref()
                    .unwrap_or(Path::new("/nonexistent/none.toml")),
            ),
            env,
            &Overrides::default(),
        )
        .or_else(|e| match (&e, toml) {
            (ConfigError::Unreadable { .. }, None) => {
                Config::load_from(None, Vec::new(), &Overrides::default())
            }
            _ => Err(e),
        })
    }

    #[test]
    fn defaults() {
        let c = Config::load_from(None, Vec::new(), &Overrides::default()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.issuer_url(), "http://127.0.0.1:8080");
        assert_eq!(c.realm, "AuthX");
        assert_eq!(c.database.url, "sqlite://authx.db");
    }

    #[test]
    fn layers_override_in_order() {
        let c = load(
            Some("listen = \"127.0.0.1:9000\"\n[database]\nmax_connections = 3\nurl = \"sqlite://a.db\"\n"),
            &[("AUTHX_DATABASE__MAX_CONNECTIONS", "5"), ("AUTHX_ISSUER", "https://id.example.com/")],
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.database.max_connections, 5);
        assert_eq!(c.database.url, "sqlite://a.db");
        assert_eq!(c.issuer_url(), "https://id.example.com");
        let c = Config::load_from(
            None,
            vec![("AUTHX_DATABASE_URL".into(), "postgres://u:p@h/d".into())],
            &Overrides {
                database_url: Some("sqlite://flag.db".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(c.database.url, "sqlite://flag.db");
    }

    #[test]
    fn flat_database_url_variable() {
        let c = Config::load_from(
            None,
            vec![("AUTHX_DATABASE_URL".into(), "postgres://u:p@h/d".into())],
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.database.url, "postgres://u:p@h/d");
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = load(Some("[database]\nurll = \"x\"\n"), &[]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("`database.urll`"), "{msg}");
        assert!(msg.contains("authx.toml"), "{msg}");
        let e = Config::load_from(
            None,
            vec![("AUTHX_LISTN".into(), "x".into())],
            &Overrides::default(),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("`listn`") && msg.contains("AUTHX_LISTN"),
            "{msg}"
        );
    }

    #[test]
    fn test_variables_and_config_path_are_not_configuration() {
        Config::load_from(
            None,
            vec![
                ("AUTHX_TEST_POSTGRES_URL".into(), "postgres://x".into()),
                ("AUTHX_CONFIG".into(), "a.toml".into()),
            ],
            &Overrides::default(),
        )
        .unwrap();
    }

    #[test]
    fn bad_values_are_named() {
        let e = Config::load_from(
            None,
            vec![("AUTHX_LISTEN".into(), "nonsense".into())],
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("`listen`"), "{e}");
        let e = load(Some("[log]\nformat = \"xml\"\n"), &[]).unwrap_err();
        assert!(e.to_string().contains("log.format"), "{e}");
    }

    #[test]
    fn secret_from_file_and_masked_debug() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("db_url");
        std::fs::write(&secret, "postgres://authx:hunter2@db/authx\n").unwrap();
        let c = Config::load_from(
            None,
            vec![(
                "AUTHX_DATABASE__URL_FILE".into(),
                secret.display().to_string(),
            )],
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.database.url, "postgres://authx:hunter2@db/authx");
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("postgres://authx:***@db/authx"), "{debug}");
    }

    #[test]
    fn api_key_lifetimes() {
        let c = Config::load_from(None, Vec::new(), &Overrides::default()).unwrap();
        assert_eq!(c.api_keys.default_ttl_secs, 86_400);
        assert_eq!(c.api_keys.max_ttl_secs, 2_592_000);
        let e = load(
            Some("[api_keys]\ndefault_ttl_secs = 100\nmax_ttl_secs = 10\n"),
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("api_keys.default_ttl_secs"), "{e}");
        let e = Config::load_from(
            None,
            vec![("AUTHX_API_KEYS__MAX_TTL_SECS".into(), "0".into())],
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("api_keys.max_ttl_secs"), "{e}");
    }

    #[test]
    fn session_and_login_settings() {
        let c = Config::load_from(None, Vec::new(), &Overrides::default()).unwrap();
        assert_eq!(c.session.idle_timeout_secs, 1_800);
        assert_eq!(c.session.absolute_timeout_secs, 43_200);
        assert_eq!(c.login.max_failures_per_account, 5);
        assert_eq!(c.login.max_failures_per_ip, 50);
        assert_eq!(c.login.failure_window_secs, 900);
        assert_eq!(c.login.max_emails_per_address, 3);
        assert_eq!(c.login.max_emails_per_ip, 20);
        assert_eq!(c.login.email_window_secs, 900);
        let c = load(
            Some("[session]\nidle_timeout_secs = 600\n[login]\nmax_failures_per_ip = 9\n"),
            &[],
        )
        .unwrap();
        assert_eq!(c.session.idle_timeout_secs, 600);
        assert_eq!(c.login.max_failures_per_ip, 9);
        let e = load(
            Some("[session]\nidle_timeout_secs = 7200\nabsolute_timeout_secs = 3600\n"),
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("session.idle_timeout_secs"), "{e}");
        let e = Config::load_from(
            None,
            vec![("AUTHX_LOGIN__MAX_EMAILS_PER_IP".into(), "0".into())],
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("login.max_emails_per_ip"), "{e}");
        let e = load(Some("[login]\nfailure_window = 3\n"), &[]).unwrap_err();
        assert!(e.to_string().contains("login.failure_window"), "{e}");
    }

    #[test]
    fn email_transport_settings() {
        let c = Config::load_from(None, Vec::new(), &Overrides::default()).unwrap();
        assert_eq!(c.email, MailerConfig::default());
        assert_eq!(c.email.transport(), "log");
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("smtp_password");
        std::fs::write(&secret, "hunter2\n").unwrap();
        let c = load(
            Some(&format!(
                "[email]\ntransport = \"smtp\"\nhost = \"smtp.example.com\"\nusername = \"authx\"\npassword_file = {:?}\n",
                secret.display().to_string()
            )),
            &[("AUTHX_EMAIL__PORT", "2525")],
        )
        .unwrap();
        let MailerConfig::Smtp(smtp) = &c.email else {
            panic!("not smtp: {:?}", c.email)
        };
        assert_eq!(smtp.host, "smtp.example.com");
        assert_eq!(smtp.effective_port(), 2525);
        assert_eq!(smtp.password.as_deref(), Some("hunter2"));
        assert!(!format!("{c:?}").contains("hunter2"));
        let e = load(Some("[email]\ntransport = \"smtp\"\nhots = \"x\"\n"), &[]).unwrap_err();
        assert!(e.to_string().contains("hots"), "{e}");
        let e = load(
            Some("[email]\ntransport = \"log\"\npassword_file = \"/x\"\n"),
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("email.password_file"), "{e}");
        let e = load(
            Some("[email]\ntransport = \"smtp\"\nhost = \"h\"\npassword_file = \"/nonexistent/pw\"\n"),
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("email.password_file"), "{e}");
    }

    #[test]
    fn token_settings() {
        let c = Config::load_from(None, Vec::new(), &Overrides::default()).unwrap();
        assert_eq!(c.tokens.signing_alg, SigningAlg::Es256);
        assert_eq!(c.tokens.access_token_ttl_secs, 600);
        assert_eq!(c.tokens.id_token_ttl_secs, 600);
        assert_eq!(c.tokens.refresh_token_ttl_secs, 2_592_000);
        assert_eq!(c.tokens.authorization_code_ttl_secs, 60);
        assert_eq!(c.tokens.clock_skew_secs, 60);
        assert_eq!(c.tokens.key_publish_lead_secs, 65);
        assert_eq!(c.tokens.retired_key_publish_secs(), 725);
        assert_eq!(
            c.tokens.published_algs(),
            [SigningAlg::Es256, SigningAlg::Rs256]
        );
        let c = load(
            Some("[tokens]\nsigning_alg = \"EdDSA\"\n"),
            &[("AUTHX_TOKENS__ACCESS_TOKEN_TTL_SECS", "300")],
        )
        .unwrap();
        assert_eq!(c.tokens.signing_alg, SigningAlg::EdDsa);
        assert_eq!(c.tokens.access_token_ttl_secs, 300);
        let c = load(
            Some("[tokens]\nsigning_alg = \"RS256\"\nid_token_signing_algs = [\"EdDSA\", \"RS256\"]\n"),
            &[],
        )
        .unwrap();
        assert_eq!(
            c.tokens.published_algs(),
            [SigningAlg::Rs256, SigningAlg::EdDsa]
        );
        let env = |value: &str| {
            vec![(
                "AUTHX_TOKENS__ID_TOKEN_SIGNING_ALGS".to_owned(),
                value.to_owned(),
            )]
        };
        let c = Config::load_from(None, env("EdDSA, ES256"), &Overrides::default()).unwrap();
        assert_eq!(
            c.tokens.published_algs(),
            [SigningAlg::Es256, SigningAlg::Rs256, SigningAlg::EdDsa]
        );
        let e = Config::load_from(None, env("HS256"), &Overrides::default()).unwrap_err();
        assert!(
            e.to_string().contains("tokens.id_token_signing_algs"),
            "{e}"
        );
        let e = load(Some("[tokens]\nsigning_alg = \"HS256\"\n"), &[]).unwrap_err();
        assert!(e.to_string().contains("tokens.signing_alg"), "{e}");
        let e = load(Some("[tokens]\nauthorization_code_ttl_secs = 61\n"), &[]).unwrap_err();
        assert!(
            e.to_string().contains("tokens.authorization_code_ttl_secs"),
            "{e}"
        );
        let e = load(Some("[tokens]\naccess_ttl = 1\n"), &[]).unwrap_err();
        assert!(e.to_string().contains("tokens.access_ttl"), "{e}");
    }

    #[test]
    fn masking() {
        assert_eq!(
            mask_url_password("postgres://u:p@h:5432/d"),
            "postgres://u:***@h:5432/d"
        );
        assert_eq!(mask_url_password("postgres://u@h/d"), "postgres://u@h/d");
        assert_eq!(mask_url_password("sqlite://authx.db"), "sqlite://authx.db");
        assert_eq!(
            mask_url_password("postgres://u:p@ss@h/d"),
            "postgres://u:***@h/d"
        );
    }
}
