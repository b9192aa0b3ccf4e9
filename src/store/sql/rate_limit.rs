//! Throttling counters (shared SQL, compiled into each backend). Every count is one
//! `INSERT … ON CONFLICT (key) DO UPDATE … RETURNING` statement, so concurrent requests on any
//! number of nodes never lose an increment. In both dialects the expressions of `DO UPDATE SET`
//! read the row as it was before the statement, which the window logic below relies on.

use async_trait::async_trait;

use super::{Backend, Db, map_err};
use crate::store::{FailureRule, RateLimit, RateLimitStore, StoreError};

macro_rules! rate_limit_columns {
    () => {
        "key, count, window_start, blocked_until"
    };
}

/// The count after this event: 1 in a new window (the old one ended at or before `$2`, now),
/// else one more. `$3` is the window length.
macro_rules! new_count {
    () => {
        "(CASE WHEN rate_limits.window_start + $3 <= $2 THEN 1 ELSE rate_limits.count + 1 END)"
    };
}

#[derive(sqlx::FromRow)]
struct RateLimitRow {
    key: String,
    count: i64,
    window_start: i64,
    blocked_until: Option<i64>,
}

impl From<RateLimitRow> for RateLimit {
    fn from(row: RateLimitRow) -> Self {
        RateLimit {
            key: row.key,
            count: row.count,
            window_start: row.window_start,
            blocked_until: row.blocked_until,
        }
    }
}

/// The smallest shift at which `base << shift` reaches `max` (so the SQL never shifts further and
/// cannot overflow).
fn cap_shift(base: i64, max: i64) -> i64 {
    let mut shift = 0;
    while shift < 62 && base.checked_shl(shift as u32).is_some_and(|b| b < max) {
        shift += 1;
    }
    shift
}

/// The statement that counts a failure at `$2` (see `RateLimitStore::record_rate_limit_failure`),
/// with `$guard` (empty, or a `WHERE` on the existing row) before its `RETURNING`.
macro_rules! failure_upsert {
    ($guard:literal) => {
        concat!(
            "INSERT INTO rate_limits (key, count, window_start, blocked_until) \
             VALUES ($1, 1, $2, $7) \
             ON CONFLICT (key) DO UPDATE SET \
             count = ",
            new_count!(),
            ", window_start = CASE WHEN rate_limits.window_start + $3 <= $2 THEN $2 \
             ELSE rate_limits.window_start END, \
             blocked_until = CASE WHEN ",
            new_count!(),
            " >= $4 THEN (CASE WHEN ",
            new_count!(),
            " - $4 >= $6 THEN $2 + $8 ELSE $2 + ($5 << CAST(",
            new_count!(),
            " - $4 AS INTEGER)) END) \
             WHEN rate_limits.blocked_until > $2 THEN rate_limits.blocked_until \
             ELSE NULL END",
            $guard,
            " RETURNING ",
            rate_limit_columns!()
        )
    };
}

/// Runs a [`failure_upsert!`] statement for `key` at `now` under `rule`; `None` when its guard
/// left the row as it was.
async fn upsert_failure(
    store: &Backend,
    sql: &'static str,
    key: &str,
    now: i64,
    rule: FailureRule,
) -> Result<Option<RateLimit>, StoreError> {
    let threshold = rule.threshold.max(1);
    let base = rule.base_backoff_secs.max(1);
    let max = rule.max_backoff_secs.max(base);
    let window = rule.window_secs.max(1);
    // A first failure blocks only when the threshold is 1.
    let first_block = (threshold <= 1).then_some(now + base);
    Ok(sqlx::query_as::<Db, RateLimitRow>(sql)
        .bind(key)
        .bind(now)
        .bind(window)
        .bind(threshold)
        .bind(base)
        .bind(cap_shift(base, max))
        .bind(first_block)
        .bind(max)
        .fetch_optional(&mut *store.conn().await?)
        .await
        .map_err(map_err)?
        .map(RateLimit::from))
}

#[async_trait]
impl RateLimitStore for Backend {
    async fn get_rate_limit(&self, key: &str) -> Result<Option<RateLimit>, StoreError> {
        Ok(sqlx::query_as::<Db, RateLimitRow>(concat!(
            "SELECT ",
            rate_limit_columns!(),
            " FROM rate_limits WHERE key = $1"
        ))
        .bind(key)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .map(RateLimit::from))
    }

    async fn record_rate_limit_failure(
        &self,
        key: &str,
        now: i64,
        rule: FailureRule,
    ) -> Result<RateLimit, StoreError> {
        upsert_failure(self, failure_upsert!(""), key, now, rule)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a counted failure returned no row".into()))
    }

    async fn count_rate_limit_attempt(
        &self,
        key: &str,
        now: i64,
        rule: FailureRule,
    ) -> Result<Option<RateLimit>, StoreError> {
        // The guard makes "not blocked" and "counted" one atomic step: of concurrent attempts
        // after a block ends, the first is counted (and blocks again), the others see its block.
        upsert_failure(
            self,
            failure_upsert!(
                " WHERE rate_limits.blocked_until IS NULL OR rate_limits.blocked_until <= $2"
            ),
            key,
            now,
            rule,
        )
        .await
    }

    async fn hit_rate_limit(
        &self,
        key: &str,
        now: i64,
        threshold: i64,
        window_secs: i64,
    ) -> Result<RateLimit, StoreError> {
        let window = window_secs.max(1);
        let first_block = (threshold < 1).then_some(now + window);
        sqlx::query_as::<Db, RateLimitRow>(concat!(
            "INSERT INTO rate_limits (key, count, window_start, blocked_until) \
             VALUES ($1, 1, $2, $5) \
             ON CONFLICT (key) DO UPDATE SET \
             count = ",
            new_count!(),
            ", window_start = CASE WHEN rate_limits.window_start + $3 <= $2 THEN $2 \
             ELSE rate_limits.window_start END, \
             blocked_until = CASE WHEN rate_limits.window_start + $3 <= $2 THEN $5 \
             WHEN rate_limits.count + 1 > $4 THEN rate_limits.window_start + $3 \
             ELSE rate_limits.blocked_until END \
             RETURNING ",
            rate_limit_columns!()
        ))
        .bind(key)
        .bind(now)
        .bind(window)
        .bind(threshold)
        .bind(first_block)
        .fetch_one(&mut *self.conn().await?)
        .await
        .map_err(map_err)
        .map(RateLimit::from)
    }

    async fn take_back_rate_limit_failure(
        &self,
        key: &str,
        lift_block: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE rate_limits SET count = count - 1, \
             blocked_until = CASE WHEN $2 THEN NULL ELSE blocked_until END \
             WHERE key = $1 AND count > 0",
        )
        .bind(key)
        .bind(lift_block)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn reset_rate_limit(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM rate_limits WHERE key = $1")
            .bind(key)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn delete_stale_rate_limits(&self, before: i64, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM rate_limits WHERE window_start < $1 \
             AND (blocked_until IS NULL OR blocked_until <= $2)",
        )
        .bind(before)
        .bind(now)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}
