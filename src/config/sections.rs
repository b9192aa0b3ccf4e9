//! The configuration's smaller sections: secrets, database, log, server, passwords, API keys,
//! sessions and login throttling, each with its defaults.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::layers::mask_url_password;

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
