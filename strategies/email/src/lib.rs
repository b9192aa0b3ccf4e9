//! The email strategy (reference §3): passwordless login, address verification and password reset
//! through a link carrying a one-time token.
//!
//! The pieces are independent so the server can store and send as it sees fit:
//! [`token`] makes tokens (random, shown once in the link, stored only as a SHA-256 hash),
//! [`message`] renders the mail for each [`Purpose`] (plain text and HTML), and [`mailer`] sends it
//! over SMTP with lettre — or, for development, writes it to a directory or the log.
//!
//! The interactive flow is this crate's own API rather than part of [`DetailsRules`]: the server makes a
//! token with [`new_token`], stores its hash with the purpose and expiry in `email_tokens`, sends
//! [`render`]'s message with [`Mailer::send`], and redeems the link by looking up
//! [`hash_token`] of the presented token (single use, unexpired), answering
//! [`StrategyError::TokenInvalid`] otherwise. It answers the same whether or not the address is
//! known.

pub mod mailer;
pub mod message;
pub mod token;

use std::fmt;
use std::time::Duration;

use authx_strategy_core::{DetailsRules, StrategyError, details};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use mailer::{Mailer, MailerConfig, MailerError, SmtpConfig, SmtpTls};
pub use message::{Message, render};
pub use token::{LoginToken, TOKEN_PREFIX, hash_token, new_token};

/// Default life of a link token: 15 minutes.
pub const DEFAULT_TOKEN_TTL_SECS: u64 = 900;
/// Shortest configurable token life.
pub const MIN_TOKEN_TTL_SECS: u64 = 60;
/// Longest configurable token life (one day).
pub const MAX_TOKEN_TTL_SECS: u64 = 86_400;

/// The email strategy's implementation of [`DetailsRules`].
///
/// Details: `{}` or `{ "token_ttl_secs": 60..=86400 }`; validation fills in the default (900).
#[derive(Clone, Copy, Debug, Default)]
pub struct EmailStrategy;

impl EmailStrategy {
    /// The strategy name stored in `authorities.strategy`.
    pub const NAME: &'static str = "email";

    /// The token life configured in (validated) `details`, or the default of 15 minutes.
    pub fn token_ttl(details: &Value) -> Duration {
        let secs = details
            .get("token_ttl_secs")
            .and_then(Value::as_u64)
            .filter(|n| (MIN_TOKEN_TTL_SECS..=MAX_TOKEN_TTL_SECS).contains(n))
            .unwrap_or(DEFAULT_TOKEN_TTL_SECS);
        Duration::from_secs(secs)
    }
}

impl DetailsRules for EmailStrategy {
    fn strategy(&self) -> &'static str {
        Self::NAME
    }

    fn validate_details(&self, details: &Value) -> Result<Value, StrategyError> {
        let map = details::object(details, &["token_ttl_secs"])?;
        let ttl = details::integer_in(
            &map,
            "token_ttl_secs",
            MIN_TOKEN_TTL_SECS,
            MAX_TOKEN_TTL_SECS,
            DEFAULT_TOKEN_TTL_SECS,
        )?;
        let mut out = Map::new();
        out.insert("token_ttl_secs".to_owned(), Value::from(ttl));
        Ok(Value::Object(out))
    }

    fn redact_details(&self, details: &Value) -> Value {
        // No secrets among the email strategy's details.
        details.clone()
    }
}

/// What a link token is for; stored in the `email_tokens.purpose` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// Passwordless login.
    Login,
    /// Proving control of an email address.
    Verify,
    /// Password reset.
    Reset,
}

impl Purpose {
    /// Every purpose.
    pub const ALL: [Purpose; 3] = [Purpose::Login, Purpose::Verify, Purpose::Reset];

    /// The stored form: `login`, `verify` or `reset`.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Login => "login",
            Purpose::Verify => "verify",
            Purpose::Reset => "reset",
        }
    }

    /// The purpose from its stored form; `None` for anything else.
    pub fn parse(value: &str) -> Option<Purpose> {
        Self::ALL.into_iter().find(|p| p.as_str() == value)
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn purposes_round_trip() {
        for p in Purpose::ALL {
            assert_eq!(Purpose::parse(p.as_str()), Some(p));
            assert_eq!(serde_json::to_value(p).unwrap(), json!(p.as_str()));
            assert_eq!(p.to_string(), p.as_str());
        }
        assert_eq!(Purpose::parse("Login"), None);
        assert_eq!(Purpose::parse(""), None);
    }

    #[test]
    fn details() {
        let s: Box<dyn DetailsRules> = Box::new(EmailStrategy);
        assert_eq!(s.strategy(), "email");
        assert_eq!(
            s.validate_details(&json!({})).unwrap(),
            json!({"token_ttl_secs": 900})
        );
        assert_eq!(
            s.validate_details(&json!(null)).unwrap(),
            json!({"token_ttl_secs": 900})
        );
        assert_eq!(
            s.validate_details(&json!({"token_ttl_secs": 60})).unwrap(),
            json!({"token_ttl_secs": 60})
        );
        for bad in [
            json!({"token_ttl_secs": 59}),
            json!({"token_ttl_secs": 86_401}),
            json!({"token_ttl_secs": -1}),
        ] {
            match s.validate_details(&bad) {
                Err(StrategyError::InvalidDetails { field, .. }) => {
                    assert_eq!(field, "details.token_ttl_secs")
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(matches!(
            s.validate_details(&json!({"ttl": 60})),
            Err(StrategyError::InvalidDetails { field, .. }) if field == "details.ttl"
        ));
        assert_eq!(
            EmailStrategy::token_ttl(&json!({"token_ttl_secs": 120})),
            Duration::from_secs(120)
        );
        assert_eq!(
            EmailStrategy::token_ttl(&json!({})),
            Duration::from_secs(900)
        );
        assert_eq!(
            s.redact_details(&json!({"token_ttl_secs": 60})),
            json!({"token_ttl_secs": 60})
        );
    }
}
