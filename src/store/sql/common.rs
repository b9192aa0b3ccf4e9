//! Helpers shared by the aggregate implementations of one backend (compiled into each backend
//! module with `#[path]`): migrations and the explanation of foreign-key violations.

use super::{Pool, map_err};
use crate::store::StoreError;

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
