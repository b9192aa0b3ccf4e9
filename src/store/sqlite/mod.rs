//! The SQLite backend: a file database in WAL mode (or `sqlite::memory:` for throwaway use).
//!
//! The aggregate implementations are shared with the PostgreSQL backend (`../sql/*.rs`, compiled
//! here with `#[path]`); this module supplies the driver types and what differs: connection setup,
//! how a write transaction starts, and the reading of driver errors.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{ConnectOptions, PoolStats, Store, StoreError};
use crate::sealing::{Reseal, Sealer};

type Db = sqlx::Sqlite;
type Pool = sqlx::SqlitePool;
type Backend = SqliteStore;

#[path = "../sql/api_key.rs"]
#[allow(clippy::duplicate_mod)] // shared on purpose: the other backend compiles it too
mod api_key;
#[path = "../sql/audit.rs"]
#[allow(clippy::duplicate_mod)] // shared on purpose: the other backend compiles it too
mod audit;
#[path = "../sql/authority.rs"]
#[allow(clippy::duplicate_mod)] // shared on purpose: the other backend compiles it too
mod authority;
#[path = "../sql/client.rs"]
#[allow(clippy::duplicate_mod)] // shared on purpose: the other backend compiles it too
mod client;
#[path = "../sql/common.rs"]
#[allow(clippy::duplicate_mod)] // shared on purpose: the other backend compiles it too
mod common;
#[path = "../sql/credential.rs"]
#[allow(clippy::duplicate_mod)] // shared on purpose: the other backend compiles it too
mod credential;
#[path = "../sql/email_token.rs"]
#[allow(clippy::duplicate_mod)] // shared on purpose: the other backend compiles it too
mod email_token;
#[path = "../sql/grant.rs"]
#[allow(clippy::duplicate_mod)] // shared on purpose: the other backend compiles it too
mod grant;
#[path = "../sql/rate_limit.rs"]
#[allow(clippy::duplicate_mod)] // shared on purpose: the other backend compiles it too
mod rate_limit;
#[path = "../sql/role.rs"]
#[allow(clippy::duplicate_mod)] // shared on purpose: the other backend compiles it too
mod role;
#[path = "../sql/sealing.rs"]
#[allow(clippy::duplicate_mod)] // shared on purpose: the other backend compiles it too
mod sealing;
#[path = "../sql/session.rs"]
#[allow(clippy::duplicate_mod)] // shared on purpose: the other backend compiles it too
mod session;
#[path = "../sql/signing_key.rs"]
#[allow(clippy::duplicate_mod)] // shared on purpose: the other backend compiles it too
mod signing_key;
#[path = "../sql/token.rs"]
#[allow(clippy::duplicate_mod)] // shared on purpose: the other backend compiles it too
mod token;
#[path = "../sql/upstream_login.rs"]
#[allow(clippy::duplicate_mod)] // shared on purpose: the other backend compiles it too
mod upstream_login;
#[path = "../sql/user.rs"]
#[allow(clippy::duplicate_mod)] // shared on purpose: the other backend compiles it too
mod user;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A [`Store`] on SQLite.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: Pool,
    /// Seals and opens the secrets at rest (signing keys, authorities' secret settings).
    sealer: Arc<Sealer>,
    /// Whether the database is known to be down (then requests fail at once).
    outage: Arc<super::outage::Outage>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file and checks one connection.
    pub async fn connect(opts: &ConnectOptions, sealer: Arc<Sealer>) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(&opts.url)
            .map_err(|_| StoreError::InvalidUrl("unparsable sqlite URL".to_owned()))?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(5));
        // An in-memory database lives and dies with its connection: keep exactly one, forever.
        let in_memory = opts.url.contains(":memory:") || opts.url.contains("mode=memory");
        let (options, pool_options) = if in_memory {
            (
                options,
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None),
            )
        } else {
            (
                // WAL lets readers proceed during a write; NORMAL is durable in WAL mode except for the
                // last transactions on power loss, the usual trade-off for a server.
                options
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal),
                SqlitePoolOptions::new().max_connections(opts.max_connections.max(1)),
            )
        };
        let pool = pool_options
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(StoreError::Unavailable)?;
        Ok(Self {
            pool,
            sealer,
            outage: Arc::default(),
        })
    }

    /// The pool, for stores of later aggregates.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

/// Starts a transaction that will write. `BEGIN IMMEDIATE` takes the write lock at once: a deferred
/// transaction that reads and then writes can fail with SQLITE_BUSY when another connection wrote in
/// between (the lock upgrade cannot wait), while an immediate one waits under busy_timeout.
async fn begin_write(pool: &Pool) -> Result<sqlx::Transaction<'static, Db>, StoreError> {
    pool.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)
}

/// The one place SQLite errors become [`StoreError`]s.
fn map_err(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::Database(db) => {
            let message = db.message();
            match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => {
                    // "UNIQUE constraint failed: table.col, table.col"
                    let cols = message.rsplit(": ").next().unwrap_or_default();
                    let table = cols.split('.').next().unwrap_or_default();
                    StoreError::Conflict(super::Conflict::on(super::UniqueKey::of(table, cols)))
                }
                // SQLite does not say which foreign key failed; callers that know refine this.
                sqlx::error::ErrorKind::ForeignKeyViolation => {
                    StoreError::Reference("a referenced row does not exist".to_owned())
                }
                _ => {
                    // SQLITE_BUSY (5) / SQLITE_LOCKED (6) after busy_timeout, SQLITE_CANTOPEN (14),
                    // SQLITE_IOERR (10), SQLITE_FULL (13): the database is not available right now.
                    let primary = db
                        .code()
                        .and_then(|c| c.parse::<i32>().ok())
                        .map(|c| c & 0xff);
                    if matches!(primary, Some(5 | 6 | 10 | 13 | 14)) {
                        StoreError::Unavailable(sqlx::Error::Database(db))
                    } else {
                        StoreError::Backend(sqlx::Error::Database(db))
                    }
                }
            }
        }
        e @ (sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed) => StoreError::Unavailable(e),
        e => StoreError::Backend(e),
    }
}

const MIGRATIONS_TABLE_EXISTS: &str =
    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'";

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&mut *self.conn().await?)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn reseal_secrets(&self, mode: Reseal) -> Result<usize, StoreError> {
        sealing::reseal(self, mode).await
    }

    async fn migrate(&self) -> Result<usize, StoreError> {
        common::migrate(&self.pool, &MIGRATOR, MIGRATIONS_TABLE_EXISTS).await
    }

    fn pool_stats(&self) -> PoolStats {
        PoolStats {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
        }
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
