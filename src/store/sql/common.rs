//! Helpers shared by the aggregate implementations of one backend (compiled into each backend
//! module with `#[path]`): migrations and the explanation of foreign-key violations.

use std::sync::Arc;

use super::{Backend, Db, Pool, begin_write, map_err};
use crate::store::StoreError;
use crate::store::outage::Outage;

impl Backend {
    /// A connection from the pool; refused at once while the database is known to be down (see
    /// [`Outage`]).
    pub(super) async fn conn(&self) -> Result<sqlx::pool::PoolConnection<Db>, StoreError> {
        self.guarded(|| async { self.pool.acquire().await.map_err(map_err) })
            .await
    }

    /// A write transaction, under the same rule as [`Backend::conn`].
    pub(super) async fn begin(&self) -> Result<sqlx::Transaction<'static, Db>, StoreError> {
        self.guarded(|| begin_write(&self.pool)).await
    }

    /// Runs `attempt` (one that takes a connection) unless the database is known to be down, and
    /// records what it found; the first failure starts the probe.
    async fn guarded<T, F>(&self, attempt: impl FnOnce() -> F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>>,
    {
        if !self.outage.admit() {
            return Err(StoreError::Unavailable(sqlx::Error::PoolTimedOut));
        }
        let result = attempt().await;
        match &result {
            Ok(_) => self.outage.reached(),
            Err(StoreError::Unavailable(_)) if self.outage.unreachable() => {
                tokio::spawn(probe(self.pool.clone(), self.outage.clone()));
            }
            Err(_) => {}
        }
        result
    }
}

/// Tries to connect every [`Outage::PROBE_EVERY`] until a connection is had (or the pool is
/// closed), then marks the database up.
async fn probe(pool: Pool, outage: Arc<Outage>) {
    loop {
        tokio::time::sleep(Outage::PROBE_EVERY).await;
        if pool.is_closed() {
            return;
        }
        if let Ok(Ok(_connection)) =
            tokio::time::timeout(Outage::PROBE_TIMEOUT, pool.acquire()).await
        {
            outage.reached();
            return;
        }
    }
}

/// Runs the embedded migrations and reports how many were applied. sqlx records applied migrations
/// in `_sqlx_migrations` (and, on PostgreSQL, serialises concurrent runs with an advisory lock).
pub(super) async fn migrate(
    pool: &Pool,
    migrator: &sqlx::migrate::Migrator,
    table_exists_sql: &'static str,
) -> Result<usize, StoreError> {
    let before = applied(pool, table_exists_sql).await?;
    migrator.run(pool).await.map_err(StoreError::Migration)?;
    let after = applied(pool, table_exists_sql).await?;
    Ok(after.saturating_sub(before))
}

async fn applied(pool: &Pool, table_exists_sql: &'static str) -> Result<usize, StoreError> {
    let exists: i64 = sqlx::query_scalar(table_exists_sql)
        .fetch_one(pool)
        .await
        .map_err(map_err)?;
    if exists == 0 {
        return Ok(0);
    }
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .map_err(map_err)?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// A kind of row other rows refer to.
#[derive(Debug, Clone, Copy)]
pub(super) enum Parent {
    User,
    Authority,
    Role,
    Client,
}

impl Parent {
    fn name(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Authority => "authority",
            Self::Role => "role",
            Self::Client => "client",
        }
    }

    fn exists_sql(self) -> &'static str {
        match self {
            Self::User => "SELECT COUNT(*) FROM users WHERE id = $1",
            Self::Authority => "SELECT COUNT(*) FROM authorities WHERE id = $1",
            Self::Role => "SELECT COUNT(*) FROM roles WHERE id = $1",
            Self::Client => "SELECT COUNT(*) FROM clients WHERE id = $1",
        }
    }
}

/// Turns a generic `Reference` error into one that names the missing row ("no such authority
/// 'x'"). SQLite does not say which foreign key failed, so after the failed write (its transaction
/// already rolled back) we look the candidates up. Other errors pass through unchanged.
pub(super) async fn explain_reference(
    pool: &Pool,
    err: StoreError,
    candidates: &[(Parent, &str)],
) -> StoreError {
    if !matches!(err, StoreError::Reference(_)) {
        return err;
    }
    for (parent, id) in candidates {
        let found: Result<i64, _> = sqlx::query_scalar(parent.exists_sql())
            .bind(*id)
            .fetch_one(pool)
            .await;
        match found {
            Ok(0) => return StoreError::Reference(format!("no such {} '{}'", parent.name(), id)),
            Ok(_) => {}
            Err(e) => return map_err(e),
        }
    }
    err
}
