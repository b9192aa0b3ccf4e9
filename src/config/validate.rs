//! The checks run once every layer is merged: each refusal names the key and says what is
//! allowed.

use super::{Config, ConfigError, TokensConfig};

impl Config {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
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
