//! The password strategy (reference §3): bcrypt hashing and verification, and the password policy.
//!
//! bcrypt is deliberately slow, so [`hash_password`] and [`verify_password`] run on tokio's
//! blocking pool and never stall the async runtime. Verification gives the same answer, after
//! similar work, whether the account is unknown or the password wrong: with no stored hash it
//! checks the password against a fixed dummy hash of cost 12 (the default cost) and returns
//! `false`. The caller maps `false` to [`StrategyError::InvalidCredentials`], whose one message
//! covers both cases.
//!
//! The interactive flow is this crate's own API rather than part of [`DetailsRules`]: the server looks
//! the credential up by identifier (email address or username), calls [`verify_password`] with the
//! stored hash or `None`, and applies its attempt limits. [`check_policy`] guards new passwords
//! (set, change, reset).

use authx_strategy_core::{DetailsRules, StrategyError, details};
use serde_json::{Map, Value};

/// The longest password bcrypt can take, in bytes; longer input would be silently truncated.
pub const MAX_PASSWORD_BYTES: usize = 72;

/// A bcrypt hash (cost 12) of a password nobody uses, checked when the account is unknown so that
/// answering "wrong" costs the same bcrypt work as for a real account at the default cost.
const DUMMY_HASH: &str = "$2b$12$ywwRWOx62qm7FjbtLA3Bs.BH9n7mf6UV5l0c5C4kWc8Zp.Yvdws3K";

/// The password strategy's implementation of [`DetailsRules`].
///
/// Details: `{}` or `{ "min_length": 1..=72 }`. An absent `min_length` means the server-wide
/// default (`password.min_length`) applies, so it is not filled in by validation; use
/// [`PasswordStrategy::min_length`] to read the effective value.
#[derive(Clone, Copy, Debug, Default)]
pub struct PasswordStrategy;

impl PasswordStrategy {
    /// The strategy name stored in `authorities.strategy`.
    pub const NAME: &'static str = "password";

    /// The effective minimum length for an authority: its (validated) `details.min_length`, else
    /// `fallback` (the server's configured default).
    pub fn min_length(details: &Value, fallback: usize) -> usize {
        details
            .get("min_length")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(fallback)
    }
}

impl DetailsRules for PasswordStrategy {
    fn strategy(&self) -> &'static str {
        Self::NAME
    }

    fn validate_details(&self, details: &Value) -> Result<Value, StrategyError> {
        let map = details::object(details, &["min_length"])?;
        let mut out = Map::new();
        if map.contains_key("min_length") {
            let min = details::integer_in(&map, "min_length", 1, MAX_PASSWORD_BYTES as u64, 0)?;
            out.insert("min_length".to_owned(), Value::from(min));
        }
        Ok(Value::Object(out))
    }

    fn redact_details(&self, details: &Value) -> Value {
        // No secrets among the password strategy's details.
        details.clone()
    }
}

/// Hashes `password` with bcrypt at `cost` (4–31) on the blocking pool.
pub async fn hash_password(password: String, cost: u32) -> Result<String, StrategyError> {
    tokio::task::spawn_blocking(move || bcrypt::hash(password, cost))
        .await
        .map_err(|e| StrategyError::Internal(format!("password hashing task failed: {e}")))?
        .map_err(|e| StrategyError::Internal(format!("password hashing failed: {e}")))
}

/// Whether `password` matches `stored_hash`, checked on the blocking pool.
///
/// `None` (no such account, or an account without a password) is checked against a fixed dummy
/// hash and always yields `false`, so unknown users and wrong passwords take similar time. A
/// malformed stored hash also yields `false`.
pub async fn verify_password(password: String, stored_hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || match stored_hash {
        Some(hash) => bcrypt::verify(password, &hash).unwrap_or(false),
        None => {
            // Do the work, ignore the answer.
            let _ = bcrypt::verify(password, DUMMY_HASH);
            false
        }
    })
    .await
    .unwrap_or(false)
}

/// Why a new password breaks the policy. Messages are meant for the person choosing it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Fewer characters than the minimum.
    #[error("the password must be at least {min_length} characters long")]
    TooShort {
        /// The minimum, in characters.
        min_length: usize,
    },
    /// More than bcrypt's 72 bytes.
    #[error(
        "the password must be at most 72 bytes long (72 plain letters or digits; accented letters and symbols count for more)"
    )]
    TooLong,
    /// The password is the account's own email address.
    #[error("the password must not be your email address")]
    EqualsEmail,
}

impl From<PolicyError> for StrategyError {
    fn from(error: PolicyError) -> Self {
        StrategyError::InvalidDetails {
            field: "password".to_owned(),
            message: error.to_string(),
        }
    }
}

/// Checks a new password: at least `min_length` characters, at most [`MAX_PASSWORD_BYTES`] bytes,
/// and not equal (ignoring case and surrounding spaces) to the account's `email`.
pub fn check_policy(
    password: &str,
    min_length: usize,
    email: Option<&str>,
) -> Result<(), PolicyError> {
    if password.chars().count() < min_length {
        return Err(PolicyError::TooShort { min_length });
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PolicyError::TooLong);
    }
    if let Some(email) = email {
        let email = email.trim();
        if !email.is_empty() && password.trim().to_lowercase() == email.to_lowercase() {
            return Err(PolicyError::EqualsEmail);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let hash = hash_password("correct horse".into(), 4).await.unwrap();
        assert!(hash.starts_with("$2b$04$"));
        assert!(verify_password("correct horse".into(), Some(hash.clone())).await);
        assert!(!verify_password("wrong horse".into(), Some(hash)).await);
        assert!(!verify_password("x".into(), Some("not a hash".into())).await);
    }

    #[tokio::test]
    async fn invalid_cost_is_an_error() {
        assert!(matches!(
            hash_password("x".into(), 3).await,
            Err(StrategyError::Internal(_))
        ));
    }

    #[test]
    fn dummy_hash_is_a_real_cost_12_bcrypt_hash() {
        // Unknown-user verification must do real bcrypt work of the default cost class: the dummy
        // hash parses as bcrypt, has cost 12, and verifies (so bcrypt runs the full rounds).
        let parts = bcrypt::HashParts::from_str(DUMMY_HASH).unwrap();
        assert_eq!(parts.get_cost(), 12);
        assert!(
            bcrypt::verify("authx dummy password: never matches anything", DUMMY_HASH).unwrap()
        );
    }

    #[tokio::test]
    async fn unknown_user_runs_bcrypt_and_fails() {
        // No timing assertion: just that it answers false even for the dummy's own password, and
        // takes at least as long as a cost-4 verification (it runs cost 12).
        let cheap = hash_password("p".into(), 4).await.unwrap();
        let t = std::time::Instant::now();
        assert!(verify_password("p".into(), Some(cheap)).await);
        let cheap_time = t.elapsed();
        let t = std::time::Instant::now();
        assert!(
            !verify_password("authx dummy password: never matches anything".into(), None).await
        );
        let dummy_time = t.elapsed();
        eprintln!("cost-4 verify {cheap_time:?}, unknown-user verify {dummy_time:?}");
    }

    #[test]
    fn policy() {
        assert_eq!(
            check_policy("short", 8, None),
            Err(PolicyError::TooShort { min_length: 8 })
        );
        // Characters, not bytes: 8 two-byte characters are long enough.
        assert_eq!(check_policy("éééééééé", 8, None), Ok(()));
        assert_eq!(check_policy(&"a".repeat(72), 8, None), Ok(()));
        assert_eq!(
            check_policy(&"a".repeat(73), 8, None),
            Err(PolicyError::TooLong)
        );
        // 40 characters but 80 bytes.
        assert_eq!(
            check_policy(&"é".repeat(40), 8, None),
            Err(PolicyError::TooLong)
        );
        assert_eq!(
            check_policy("Ada@Example.com", 8, Some("ada@example.com")),
            Err(PolicyError::EqualsEmail)
        );
        assert_eq!(
            check_policy("ada@example.com!", 8, Some("ada@example.com")),
            Ok(())
        );
        assert_eq!(check_policy("whatever1", 8, Some("")), Ok(()));
        let err: StrategyError = PolicyError::TooLong.into();
        assert!(
            matches!(err, StrategyError::InvalidDetails { ref field, .. } if field == "password")
        );
    }

    #[test]
    fn details() {
        let s = PasswordStrategy;
        assert_eq!(s.strategy(), "password");
        assert_eq!(s.validate_details(&json!({})).unwrap(), json!({}));
        assert_eq!(s.validate_details(&json!(null)).unwrap(), json!({}));
        assert_eq!(
            s.validate_details(&json!({"min_length": 12})).unwrap(),
            json!({"min_length": 12})
        );
        for bad in [
            json!({"min_length": 0}),
            json!({"min_length": 73}),
            json!({"min_length": "8"}),
        ] {
            match s.validate_details(&bad) {
                Err(StrategyError::InvalidDetails { field, .. }) => {
                    assert_eq!(field, "details.min_length")
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        match s.validate_details(&json!({"max_length": 3})) {
            Err(StrategyError::InvalidDetails { field, .. }) => {
                assert_eq!(field, "details.max_length")
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            PasswordStrategy::min_length(&json!({"min_length": 12}), 8),
            12
        );
        assert_eq!(PasswordStrategy::min_length(&json!({}), 8), 8);
        assert_eq!(
            s.redact_details(&json!({"min_length": 12})),
            json!({"min_length": 12})
        );
    }
}
