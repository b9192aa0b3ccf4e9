//! Throwaway databases for tests: a SQLite file in a temporary directory, or a fresh PostgreSQL
//! database created through `AUTHX_TEST_POSTGRES_URL` and dropped (`WITH (FORCE)`) when the
//! [`TestDb`] is dropped, also when the test panics.
//!
//! A run without `AUTHX_TEST_POSTGRES_URL` skips the PostgreSQL variants, except under `CI=true`,
//! where that is a failure: a CI run that skipped the PostgreSQL suite must not pass.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use authx::store::{ConnectOptions, Store};
use sqlx::Connection as _;

/// The environment variable naming the admin connection for PostgreSQL tests.
pub const POSTGRES_URL_VAR: &str = "AUTHX_TEST_POSTGRES_URL";

/// A database that exists for the lifetime of this value.
pub struct TestDb {
    /// The URL of the test database (for `ConnectOptions` or the app's config).
    pub url: String,
    kind: Kind,
}

enum Kind {
    Sqlite { _dir: tempfile::TempDir },
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    /// A new SQLite database file in a temporary directory (removed on drop). `async` only for
    /// symmetry with [`TestDb::postgres`].
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory for the SQLite test database");
        let url = format!("sqlite://{}", dir.path().join("authx.db").display());
        TestDb {
            url,
            kind: Kind::Sqlite { _dir: dir },
        }
    }

    /// A new, empty PostgreSQL database `authx_test_<uuid>`, or `None` when
    /// `AUTHX_TEST_POSTGRES_URL` is not set (a panic instead when `CI=true`).
    pub async fn postgres() -> Option<TestDb> {
        let admin_url = match std::env::var(POSTGRES_URL_VAR) {
            Ok(url) if !url.trim().is_empty() => url,
            _ => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!(
                        "{POSTGRES_URL_VAR} is not set but CI=true: a CI run that skips the \
                         PostgreSQL suite is a failure"
                    );
                }
                return None;
            }
        };
        let name = format!("authx_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {POSTGRES_URL_VAR}: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .expect("CREATE DATABASE for the test");
        let _ = admin.close().await;
        Some(TestDb {
            url: with_database(&admin_url, &name),
            kind: Kind::Postgres { admin_url, name },
        })
    }

    /// Connection options for this database (small pool, generous acquire timeout).
    pub fn connect_options(&self) -> ConnectOptions {
        ConnectOptions {
            url: self.url.clone(),
            max_connections: 4,
            acquire_timeout: Duration::from_secs(10),
        }
    }

    /// A store connected to this database, not migrated, sealing with the tests' key.
    pub async fn connect(&self) -> Arc<dyn Store> {
        authx::store::connect(&self.connect_options(), sealer())
            .await
            .expect("connect to the test database")
    }

    /// The first column of `sql`'s rows as text: what the store actually wrote, read past it.
    pub async fn texts(&self, sql: &str) -> Vec<String> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        if self.url.starts_with("sqlite") {
            let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
            let rows = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows
        } else {
            let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
            let rows = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows
        }
    }

    /// Runs `sql` past the store (to put the database in a state the store would not).
    pub async fn execute(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        if self.url.starts_with("sqlite") {
            let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        } else {
            let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }

    /// A store connected to this database, with the migrations applied.
    pub async fn store(&self) -> Arc<dyn Store> {
        let store = self.connect().await;
        store.migrate().await.expect("migrate the test database");
        store
    }
}

/// The key-encryption key every test server and store uses.
pub const SECRETS_KEY: [u8; authx::sealing::KEY_LEN] = [0x5e; authx::sealing::KEY_LEN];

/// [`SECRETS_KEY`] as the configuration writes it (base64).
pub fn secrets_key_base64() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(SECRETS_KEY)
}

/// A sealer of [`SECRETS_KEY`].
pub fn sealer() -> Arc<authx::sealing::Sealer> {
    Arc::new(authx::sealing::Sealer::new(&SECRETS_KEY, &[]).unwrap())
}

/// `admin_url` with its database (path) replaced by `name`, keeping any query string.
fn with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Kind::Postgres { admin_url, name } = &self.kind else {
            return;
        };
        // Drop cannot be async, and we may be inside a runtime: use a thread with its own.
        let admin_url = admin_url.clone();
        let name = name.clone();
        let dropped = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await
                .map_err(|e| e.to_string())?;
                let _ = admin.close().await;
                Ok(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: could not drop test database: {e}"),
            Err(_) => eprintln!("warning: the thread dropping the test database panicked"),
        }
    }
}

/// Generates a test module `name` with two tests, `name::sqlite` and `name::postgres`, each running
/// the body against a freshly migrated store of that backend. The PostgreSQL variant is skipped
/// (with a note on stderr) when `AUTHX_TEST_POSTGRES_URL` is unset, and fails under `CI=true`.
///
/// ```ignore
/// both_backends!(async fn creates_users(store: Arc<dyn Store>) { … });
/// ```
#[macro_export]
macro_rules! both_backends {
    ($(#[$meta:meta])* async fn $name:ident($store:ident : $ty:ty) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($store: $ty) $body

            #[tokio::test]
            async fn sqlite() {
                let db = $crate::support::db::TestDb::sqlite().await;
                let store = db.store().await;
                run(store.clone()).await;
                store.close().await;
            }

            #[tokio::test]
            async fn postgres() {
                let Some(db) = $crate::support::db::TestDb::postgres().await else {
                    eprintln!(
                        "skipped: {} is not set",
                        $crate::support::db::POSTGRES_URL_VAR
                    );
                    return;
                };
                let store = db.store().await;
                run(store.clone()).await;
                store.close().await;
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_is_replaced_in_the_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=require", "x"),
            "postgres://u:p@h/x?sslmode=require"
        );
        assert_eq!(
            with_database("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
    }
}
