//! Password hashing and policy.
//!
//! bcrypt is deliberately slow (≈250 ms at cost 12), so hashing and verifying run on the blocking
//! thread pool: on the async runtime they would stall every other request on that worker.
//! bcrypt only reads the first 72 bytes of its input, so longer passwords are refused rather than
//! silently truncated.

/// bcrypt's input limit in bytes.
pub const MAX_BYTES: usize = 72;

/// Why a password is not acceptable. Messages are shown to the user who chose it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Shorter than the configured minimum (counted in characters).
    #[error("the password must be at least {min} characters long")]
    TooShort {
        /// The configured minimum.
        min: usize,
    },
    /// Longer than bcrypt can take.
    #[error("the password must be at most {MAX_BYTES} bytes long")]
    TooLong,
    /// Equal to the account's email address (case-insensitively).
    #[error("the password must not be your email address")]
    IsEmail,
}

/// Hashing failed: a bad cost or the blocking pool shut down.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Checks a new password against the policy (reference §3).
pub fn check_policy(
    password: &str,
    min_length: usize,
    email: Option<&str>,
) -> Result<(), PolicyError> {
    if password.chars().count() < min_length {
        return Err(PolicyError::TooShort { min: min_length });
    }
    if password.len() > MAX_BYTES {
        return Err(PolicyError::TooLong);
    }
    if email.is_some_and(|e| e.eq_ignore_ascii_case(password)) {
        return Err(PolicyError::IsEmail);
    }
    Ok(())
}

/// Hashes a password with bcrypt at `cost`, off the async runtime.
pub async fn hash(password: String, cost: u32) -> Result<String, HashError> {
    tokio::task::spawn_blocking(move || bcrypt::hash(password, cost))
        .await
        .map_err(|e| HashError(e.to_string()))?
        .map_err(|e| HashError(e.to_string()))
}

/// Verifies a password against a bcrypt hash, off the async runtime. A malformed hash verifies as
/// false (and is logged), never as an error the caller could distinguish.
pub async fn verify(password: String, hash: String) -> bool {
    match tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash)).await {
        Ok(Ok(ok)) => ok,
        Ok(Err(error)) => {
            tracing::error!(%error, "stored password hash is malformed");
            false
        }
        Err(error) => {
            tracing::error!(%error, "password verification task failed");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert_eq!(
            check_policy("short", 8, None),
            Err(PolicyError::TooShort { min: 8 })
        );
        assert_eq!(
            check_policy(&"x".repeat(73), 8, None),
            Err(PolicyError::TooLong)
        );
        // 24 three-byte characters are 72 bytes: allowed; one more is not.
        assert!(check_policy(&"€".repeat(24), 8, None).is_ok());
        assert_eq!(
            check_policy(&"€".repeat(25), 8, None),
            Err(PolicyError::TooLong)
        );
        assert_eq!(
            check_policy("Admin@Example.com", 8, Some("admin@example.com")),
            Err(PolicyError::IsEmail)
        );
        assert!(check_policy("correct horse battery", 8, Some("a@b.c")).is_ok());
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let h = hash("correct horse".into(), 4).await.unwrap();
        assert!(verify("correct horse".into(), h.clone()).await);
        assert!(!verify("wrong horse".into(), h).await);
        assert!(!verify("x".into(), "not a hash".into()).await);
    }
}
