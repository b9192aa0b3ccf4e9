//! A real authx server on 127.0.0.1:0, in this process, with its own database.

use std::net::SocketAddr;

use authx::config::Config;
use authx::engine::Engine;
use authx::startup::App;
use poem::endpoint::BoxEndpoint;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::db::TestDb;

/// A running server; `stop` shuts it down gracefully and returns what `run_until` returned.
pub struct TestApp {
    #[allow(dead_code)]
    pub addr: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    #[allow(dead_code)]
    pub state: Engine,
    pub db: TestDb,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

/// The configuration tests start from: port 0, the test database, defaults otherwise.
pub fn test_config(db: &TestDb) -> Config {
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    config.database.url = db.url.clone();
    config.password.bcrypt_cost = 4;
    // Tests change the database behind the server's back and expect the next check to see it;
    // the check cache has its own test.
    config.api_keys.check_cache_ms = 0;
    // Rotations sign with the new key at once, as most tests expect; the wait has its own test.
    config.tokens.key_publish_lead_secs = 0;
    // The upstream providers the tests run are on loopback; nothing else non-public is reachable.
    config.secrets.key = Some(crate::support::db::secrets_key_base64());
    config.outbound.allowed_networks =
        authx_strategy_core::network::Networks::parse_list(&["127.0.0.0/8", "::1"]).unwrap();
    config
}

impl TestApp {
    pub async fn spawn(db: TestDb) -> Self {
        Self::spawn_with(db, |_| {}, Vec::new()).await
    }

    /// A server on the database of `db`, which the caller keeps (and drops) itself.
    pub async fn spawn_on(db: &TestDb) -> Self {
        let url = db.url.clone();
        Self::spawn_with(
            TestDb::sqlite().await,
            move |c| c.database.url = url,
            Vec::new(),
        )
        .await
    }

    pub async fn spawn_with(
        db: TestDb,
        configure: impl FnOnce(&mut Config),
        mounts: Vec<(&str, BoxEndpoint<'static>)>,
    ) -> Self {
        let mut config = test_config(&db);
        configure(&mut config);
        let mut app = App::build(config).await.expect("app builds");
        for (path, endpoint) in mounts {
            app = app.mount(path, endpoint);
        }
        let addr = app.local_addr();
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        // Serving starts after the start-up work (the signing keys of every published
        // algorithm): wait for it, so tests see the state a client would.
        let probe = reqwest::Client::new();
        for _ in 0..200 {
            if probe
                .get(format!("http://{addr}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        Self {
            addr,
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            state,
            db,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// Signals shutdown and waits for the server to finish.
    pub async fn stop(mut self) -> std::io::Result<()> {
        self.begin_stop();
        self.wait().await
    }

    /// Signals shutdown without waiting.
    pub fn begin_stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Waits for the server task to end.
    pub async fn wait(&mut self) -> std::io::Result<()> {
        match self.handle.take() {
            Some(handle) => handle.await.expect("server task"),
            None => Ok(()),
        }
    }
}

/// Drops the PostgreSQL database of `url` now, terminating its connections (the server's pool
/// included), through an admin connection to `AUTHX_TEST_POSTGRES_URL`.
pub async fn drop_postgres_database(url: &str) {
    use sqlx::Connection;
    let name = url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    assert!(name.starts_with("authx_test_"), "refusing to drop {name}");
    let admin = std::env::var("AUTHX_TEST_POSTGRES_URL").unwrap();
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
}
