//! Shared test support: throwaway databases, a running authx, and the `authx` binary.

/// Runs the async test `$name(db: TestDb)` against SQLite and, when `AUTHX_TEST_POSTGRES_URL` is
/// set, PostgreSQL, as the tests `$name::sqlite` and `$name::postgres`.
macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(crate::support::db::TestDb::sqlite().await).await;
            }
            #[tokio::test]
            async fn postgres() {
                if let Some(db) = crate::support::db::TestDb::postgres().await {
                    super::$name(db).await;
                }
            }
        }
    };
}

pub mod app;
pub mod binary;
pub mod chromium;
pub mod concurrency;
pub mod db;
pub mod oauth;
pub mod oidc_provider;
pub mod pg_cluster;
pub mod principals;
pub mod saml_idp;
pub mod smtp;
pub mod tokens;
pub mod upstream;
