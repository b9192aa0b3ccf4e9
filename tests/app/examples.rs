//! The examples under `examples/` run against a real authx.

use std::process::{Child, Command};
use std::time::Duration;

use authx::domain::client::{ClientType, InitialClientSecret, NewClient};
use authx::secret;

use crate::support::app::TestApp;
use crate::support::db::TestDb;
use crate::support::principals::caller;

/// Builds example `name` with the cargo running this test and returns its path (`cargo test` only
/// builds examples without a target filter, and then under a hashed name).
fn build_example(name: &str) -> std::path::PathBuf {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--example",
            name,
            "--manifest-path",
            manifest,
        ])
        .status()
        .unwrap();
    assert!(status.success(), "cargo build --example {name}");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("debug").join("examples").join(name)
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn api_key_service_checks_keys_with_authx() {
    let app = TestApp::spawn(TestDb::sqlite().await).await;
    let client_secret = secret::generate(secret::CLIENT_SECRET_PREFIX);
    app.state
        .store
        .create_client(
            NewClient {
                id: "docs".into(),
                name: "Documents".into(),
                client_type: ClientType::Confidential,
                redirect_uris: Vec::new(),
                post_logout_redirect_uris: Vec::new(),
                scopes: Vec::new(),
                trusted: false,
                enabled: true,
                machine_user_id: None,
            },
            Some(InitialClientSecret {
                secret_hash: secret::hash(&client_secret),
                description: None,
                expires_at: None,
            }),
        )
        .await
        .unwrap();
    let reader = caller(&app, &["App:documents:read"]).await;
    let other = caller(&app, &["App:photos:read"]).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let _service = Killed(
        Command::new(
            tokio::task::spawn_blocking(|| build_example("api_key_service"))
                .await
                .unwrap(),
        )
        .arg(&listen)
        .env("AUTHX_URL", &app.base)
        .env("CLIENT_ID", "docs")
        .env("CLIENT_SECRET", &client_secret)
        .spawn()
        .expect("the example runs"),
    );
    let url = format!("http://{listen}/documents");
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if http.get(&url).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the example service did not start");
    let status = |key: Option<String>| {
        let mut req = http.get(&url);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(Some(reader.key.clone())).await, 200);
    assert_eq!(status(Some(other.key.clone())).await, 403);
    assert_eq!(status(Some("axk_not_a_key".into())).await, 401);
    assert_eq!(status(None).await, 401);
    app.stop().await.unwrap();
}
