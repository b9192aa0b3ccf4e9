//! Login and email throttling (reference §3), shared by every node through the `rate_limits` table.
//!
//! Two kinds of limit:
//! - failures ([`Limit::LoginAccount`], [`Limit::LoginIp`], [`Limit::PasswordChange`]): failed
//!   password checks within `login.failure_window_secs`; when the count reaches the threshold
//!   the key is blocked for 30 s, and each further failure doubles the block, up to 1 h.
//!   [`begin_attempt`] counts an attempt as a failure **before** the password is verified, and
//!   only while the key is not blocked, in one atomic statement: checking first and counting
//!   after the (slow) hash would let concurrent attempts all pass the check before any was
//!   counted, so an attacker sending them in parallel would get as many guesses as requests.
//!   Attempts refused while blocked are not counted, so a burst does not lengthen the block: as
//!   with attempts one at a time, exactly one attempt is checked after each block ends.
//!   [`Attempt::succeeded`] then forgets the account key and takes the attempt back from the IP
//!   key (not forgetting it: one success must not wash away a spraying attack from that address,
//!   nor count as a failure of its own).
//! - sends ([`Limit::EmailAddress`], [`Limit::EmailIp`]): [`hit`] counts every request within
//!   `login.email_window_secs` and refuses those beyond the threshold until the window ends.
//!
//! Keys are stored as `<kind>:<sha256 of the lower-cased value>`, so addresses and IPs do not sit
//! in the table in plain text. A database error while checking refuses (fails closed, with a short
//! retry): authx guards credentials, and without a database no login could succeed anyway.

use crate::domain::now;
use crate::engine::Engine;
use crate::secret;
use crate::store::{FailureRule, StoreError};

/// Block length when the failure threshold is reached.
pub const BASE_BACKOFF_SECS: i64 = 30;
/// The longest block for failures.
pub const MAX_BACKOFF_SECS: i64 = 3_600;
/// What a caller is told to wait when the limits cannot be read.
const UNAVAILABLE_RETRY_SECS: u64 = 5;

/// A throttled key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limit {
    /// Failed logins for one account (the identifier typed, or the user id).
    LoginAccount(String),
    /// Failed logins from one IP address.
    LoginIp(String),
    /// Wrong current passwords given to change one user's password (the user id). Its own
    /// kind, so that nobody can use it up by typing the user's id at the login form.
    PasswordChange(String),
    /// Emails sent to one address.
    EmailAddress(String),
    /// Emails requested from one IP address.
    EmailIp(String),
}

impl Limit {
    fn kind(&self) -> &'static str {
        match self {
            Self::LoginAccount(_) => "login_account",
            Self::LoginIp(_) => "login_ip",
            Self::PasswordChange(_) => "password_change",
            Self::EmailAddress(_) => "email_address",
            Self::EmailIp(_) => "email_ip",
        }
    }

    fn value(&self) -> &str {
        match self {
            Self::LoginAccount(v)
            | Self::LoginIp(v)
            | Self::PasswordChange(v)
            | Self::EmailAddress(v)
            | Self::EmailIp(v) => v,
        }
    }

    /// The stored key: `<kind>:<sha256 of the trimmed, lower-cased value>`.
    pub fn key(&self) -> String {
        format!(
            "{}:{}",
            self.kind(),
            secret::hash(&crate::address::fold(self.value()))
        )
    }

    /// The configured threshold and window (seconds) of this kind.
    fn threshold_and_window(&self, state: &Engine) -> (i64, i64) {
        let login = &state.config.login;
        let (threshold, window) = match self {
            Self::LoginAccount(_) | Self::PasswordChange(_) => {
                (login.max_failures_per_account, login.failure_window_secs)
            }
            Self::LoginIp(_) => (login.max_failures_per_ip, login.failure_window_secs),
            Self::EmailAddress(_) => (login.max_emails_per_address, login.email_window_secs),
            Self::EmailIp(_) => (login.max_emails_per_ip, login.email_window_secs),
        };
        (
            i64::from(threshold),
            i64::try_from(window).unwrap_or(i64::MAX),
        )
    }
}

/// Refused: try again after this many seconds (for a `Retry-After` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

impl std::fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "too many attempts; try again in {} seconds", self.0)
    }
}

/// Whether any of `limits` is blocked now; the longest remaining block if so.
pub async fn check(state: &Engine, limits: &[Limit]) -> Result<(), RetryAfter> {
    let at = now();
    let mut wait = 0u64;
    for limit in limits {
        match state.store.get_rate_limit(&limit.key()).await {
            Ok(Some(row)) => {
                if let Some(until) = row.blocked_until
                    && until > at
                {
                    wait = wait.max(remaining(until, at));
                }
            }
            Ok(None) => {}
            Err(error) => return Err(unavailable(&error)),
        }
    }
    if wait > 0 {
        Err(RetryAfter(wait))
    } else {
        Ok(())
    }
}

/// A password check [`begin_attempt`] counted, not yet known to be a failure.
#[must_use = "an attempt whose password was right is passed to `succeeded`"]
pub struct Attempt<'a> {
    limits: &'a [Limit],
    /// Per limit: whether counting this attempt set the key's block (its count reached the
    /// threshold), which taking it back must then lift.
    set_block: Vec<bool>,
}

impl Attempt<'_> {
    /// The password was right: the first `forget` limits (the account's) are forgotten, and the
    /// attempt is taken back from the others (the IP's), with the block it set, if any.
    pub async fn succeeded(self, state: &Engine, forget: usize) {
        for (i, limit) in self.limits.iter().enumerate() {
            let done = if i < forget {
                state.store.reset_rate_limit(&limit.key()).await
            } else {
                let lift = self.set_block.get(i).copied().unwrap_or(false);
                state
                    .store
                    .take_back_rate_limit_failure(&limit.key(), lift)
                    .await
            };
            if let Err(error) = done {
                tracing::warn!(%error, "could not take back a counted login attempt");
            }
        }
    }
}

/// Starts a password check against `limits`: counted as a failure now, before the password is
/// checked, and only while no key is blocked, in one atomic statement per key. Refused (and not
/// counted) while a key is blocked, whether by earlier failures or by a concurrent attempt that
/// was counted first. The caller verifies only after `Ok`, and calls [`Attempt::succeeded`] if
/// the password was right.
pub async fn begin_attempt<'a>(
    state: &Engine,
    limits: &'a [Limit],
) -> Result<Attempt<'a>, RetryAfter> {
    check(state, limits).await?;
    let at = now();
    let mut set_block = Vec::with_capacity(limits.len());
    for limit in limits {
        let (threshold, window_secs) = limit.threshold_and_window(state);
        let counted = state
            .store
            .count_rate_limit_attempt(
                &limit.key(),
                at,
                FailureRule {
                    threshold,
                    window_secs,
                    base_backoff_secs: BASE_BACKOFF_SECS,
                    max_backoff_secs: MAX_BACKOFF_SECS,
                },
            )
            .await;
        match counted {
            Ok(Some(row)) => set_block.push(row.count >= threshold.max(1)),
            // Blocked meanwhile: the keys already counted take the attempt back, as it is
            // never checked.
            Ok(None) => {
                let counted = set_block.len();
                Attempt {
                    limits: &limits[..counted],
                    set_block,
                }
                .succeeded(state, 0)
                .await;
                return Err(check(state, std::slice::from_ref(limit))
                    .await
                    .err()
                    .unwrap_or(RetryAfter(1)));
            }
            Err(error) => return Err(unavailable(&error)),
        }
    }
    Ok(Attempt { limits, set_block })
}

/// Counts one event (an email send) against each of `limits`; refused when any count is beyond
/// its threshold, until that window ends. Every call counts, refused ones too.
pub async fn hit(state: &Engine, limits: &[Limit]) -> Result<(), RetryAfter> {
    let at = now();
    let mut wait = 0u64;
    for limit in limits {
        let (threshold, window_secs) = limit.threshold_and_window(state);
        match state
            .store
            .hit_rate_limit(&limit.key(), at, threshold, window_secs)
            .await
        {
            Ok(row) => {
                if row.count > threshold {
                    let until = row
                        .blocked_until
                        .unwrap_or(row.window_start.saturating_add(window_secs));
                    wait = wait.max(remaining(until, at).max(1));
                }
            }
            Err(error) => return Err(unavailable(&error)),
        }
    }
    if wait > 0 {
        Err(RetryAfter(wait))
    } else {
        Ok(())
    }
}

fn remaining(until: i64, at: i64) -> u64 {
    u64::try_from(until.saturating_sub(at)).unwrap_or(0)
}

fn unavailable(error: &StoreError) -> RetryAfter {
    tracing::error!(error = %crate::telemetry::ErrorChain(error), "cannot read rate limits; refusing");
    RetryAfter(UNAVAILABLE_RETRY_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_hashed_lower_cased_and_typed() {
        let a = Limit::LoginAccount("Alice@Example.COM ".to_owned()).key();
        let b = Limit::LoginAccount("alice@example.com".to_owned()).key();
        assert_eq!(a, b);
        assert!(a.starts_with("login_account:"));
        assert!(!a.contains("alice"));
        assert_ne!(a, Limit::EmailAddress("alice@example.com".to_owned()).key());
        assert_eq!(
            RetryAfter(3).to_string(),
            "too many attempts; try again in 3 seconds"
        );
    }
}
