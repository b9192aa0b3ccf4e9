//! The PostgreSQL backend, for production and for several `authx serve` nodes sharing one database.
//!
//! The aggregate implementations are shared with the SQLite backend (`../sql/*.rs`, compiled here
//! with `#[path]`); this module supplies the driver types and what differs: connection setup, how a
//! write transaction starts, and the reading of driver errors.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::{ConnectOptions, PoolStats, Store, StoreError};
use crate::sealing::{Reseal, Sealer};

type Db = sqlx::Postgres;
type Pool = sqlx::PgPool;
type Backend = PgStore;

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

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A [`Store`] on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: Pool,
    /// Seals and opens the secrets at rest (signing keys, authorities' secret settings).
    sealer: Arc<Sealer>,
    /// Whether the database is known to be down (then requests fail at once).
    outage: Arc<super::outage::Outage>,
}

impl PgStore {
    /// Connects and checks one connection.
    pub async fn connect(opts: &ConnectOptions, sealer: Arc<Sealer>) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(&opts.url)
            .map_err(|_| StoreError::InvalidUrl("unparsable postgres URL".to_owned()))?;
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
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

/// Starts a transaction that will write. PostgreSQL needs nothing special (row locks are taken by
/// the statements themselves); the SQLite backend starts with `BEGIN IMMEDIATE` here.
async fn begin_write(pool: &Pool) -> Result<sqlx::Transaction<'static, Db>, StoreError> {
    pool.begin().await.map_err(map_err)
}

/// The one place PostgreSQL errors become [`StoreError`]s.
fn map_err(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::Database(db) => match db.kind() {
            sqlx::error::ErrorKind::UniqueViolation => {
                let table = db.table().unwrap_or_default();
                let constraint = db.constraint().unwrap_or_default();
                StoreError::Conflict(super::Conflict::on(super::UniqueKey::of(table, constraint)))
            }
            // The constraint name says which key, not which value; callers that know refine this.
            sqlx::error::ErrorKind::ForeignKeyViolation => {
                StoreError::Reference("a referenced row does not exist".to_owned())
            }
            _ => {
                // SQLSTATE class 08 (connection exception), 53 (insufficient resources, e.g. too many
                // connections), 57P01..57P03 (shutting down / cannot connect now).
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                // 22021 / 22P05: text PostgreSQL cannot store (a NUL byte, invalid encoding). It is
                // the caller's input that is wrong, not the database.
                if code == "22021" || code == "22P05" {
                    return StoreError::InvalidValue(
                        "text values must not contain NUL characters".to_owned(),
                    );
                }
                if code.starts_with("08") || code.starts_with("53") || code.starts_with("57P") {
                    StoreError::Unavailable(sqlx::Error::Database(db))
                } else {
                    StoreError::Backend(sqlx::Error::Database(db))
                }
            }
        },
        e @ (sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed) => StoreError::Unavailable(e),
        e => StoreError::Backend(e),
    }
}

const MIGRATIONS_TABLE_EXISTS: &str = "SELECT COUNT(*) FROM information_schema.tables \
     WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'";

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
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
