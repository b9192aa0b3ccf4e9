//! The README's walkthrough, run as written: every ```` ```sh walkthrough ```` block of README.md,
//! in order, in one bash process, against the real binary and examples, with the browser step
//! done by a person in headless Chromium (sign in with the password, allow the application, come
//! back to the command-line client's loopback port, another origin than authx's).
//!
//! The only changes to the text are the ones a test needs: `cargo run --release --quiet --` and
//! `cargo run --quiet --example NAME --` become the binaries this `cargo test` built, the ports
//! 8080 and 3000 become free ones, the database is the test's (SQLite, or PostgreSQL on the
//! second run), Google's issuer is a real OpenID provider on loopback (panva's oidc-provider),
//! and bcrypt's cost is the tests' low one.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use fantoccini::Locator;
use serde_json::json;

use crate::support::chromium::{
    browser, chromedriver_or_skip, click, free_port, start_driver, type_into,
};
use crate::support::db::TestDb;
use crate::support::oidc_provider::Provider;

/// The README's walkthrough blocks, joined.
fn walkthrough_script() -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut script = String::new();
    let mut inside = false;
    for line in readme.lines() {
        if !inside && line.trim() == "```sh walkthrough" {
            inside = true;
        } else if inside && line.trim() == "```" {
            inside = false;
            script.push('\n');
        } else if inside {
            script.push_str(line);
            script.push('\n');
        }
    }
    assert!(!inside, "an unterminated walkthrough block");
    assert!(
        script.lines().count() > 20,
        "the README has a walkthrough:\n{script}"
    );
    script
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// What the test adds in front of the README's commands: when the script ends, however it ends
/// (a failed command under `set -e`, or the test stopping it with SIGTERM), its background jobs
/// (the server, the resource server) end with it.
const CLEANUP: &str = "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\ntrap 'exit 143' TERM\n";

/// The running script; stopped (SIGTERM, so its EXIT trap stops its background jobs) when the
/// test ends early.
struct Script(std::process::Child);

impl Drop for Script {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let pid = self.0.id().to_string();
            let _ = Command::new("kill").args(["-s", "TERM", &pid]).status();
            std::thread::sleep(Duration::from_millis(500));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn readme_walkthrough_runs(db: TestDb) {
    let Some(driver_path) = chromedriver_or_skip() else {
        return;
    };
    for tool in ["bash", "curl", "jq"] {
        if !have(tool) {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "the walkthrough needs {tool}"
            );
            eprintln!("skipping: no {tool}");
            return;
        }
    }
    let authx_port = free_port();
    let app_port = free_port();
    let issuer = format!("http://127.0.0.1:{authx_port}");
    let Some(google) = Provider::start(json!({
        "clients": [{
            "client_id": "authx-walkthrough",
            "client_secret": "walkthrough-secret",
            "redirect_uris": [format!("{issuer}/login/google/callback")],
        }],
        "accounts": [{"sub": "g-ada", "email": "ada@example.com", "email_verified": true}],
    }))
    .await
    else {
        return;
    };
    let pkce_cli = crate::examples::build_example("pkce_cli");
    let resource_server = crate::examples::build_example("resource_server");
    let script = String::from(CLEANUP)
        + &walkthrough_script()
            .replace(
                "cargo run --release --quiet --",
                env!("CARGO_BIN_EXE_authx"),
            )
            .replace(
                "cargo run --quiet --example pkce_cli --",
                pkce_cli.to_str().unwrap(),
            )
            .replace(
                "cargo run --quiet --example resource_server",
                resource_server.to_str().unwrap(),
            )
            .replace("http://127.0.0.1:8080", &issuer)
            .replace("127.0.0.1:3000", &format!("127.0.0.1:{app_port}"))
            .replace("https://accounts.google.com", &google.issuer);
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("bash");
    cmd.args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .env("AUTHX_LISTEN", format!("127.0.0.1:{authx_port}"))
        .env("AUTHX_DATABASE_URL", &db.url)
        .env("AUTHX_PASSWORD__BCRYPT_COST", "4")
        // "Google" here is the loopback provider, which the outbound policy refuses by default.
        .env("AUTHX_OUTBOUND__ALLOWED_NETWORKS", "127.0.0.0/8")
        // On PostgreSQL the server needs a key (SQLite generates one beside the database).
        .env(
            "AUTHX_SECRETS__KEY",
            crate::support::db::secrets_key_base64(),
        )
        .env("LISTEN", format!("127.0.0.1:{app_port}"))
        .env("GOOGLE_CLIENT_ID", "authx-walkthrough")
        .env("GOOGLE_CLIENT_SECRET", "walkthrough-secret")
        .env("PKCE_CLI_TIMEOUT_SECS", "90")
        .env_remove("AUTHX_TEST_POSTGRES_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut group = Script(cmd.spawn().expect("bash runs"));

    // The script's stderr: watch for the address the command-line client asks us to open.
    let stderr = group.0.stderr.take().unwrap();
    let (url_tx, url_rx) = std::sync::mpsc::channel::<Option<String>>();
    let err_log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let log = err_log.clone();
    std::thread::spawn(move || {
        let marker = format!("http://127.0.0.1:{authx_port}/oauth2/authorize?");
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(start) = line.find(&marker) {
                let _ = url_tx.send(Some(line[start..].trim().to_owned()));
            }
            let mut log = log.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
        let _ = url_tx.send(None);
    });
    let stdout = group.0.stdout.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut BufReader::new(stdout), &mut out).unwrap();
        out
    });

    // Until the address appears; a script that ends first failed (the server it started in the
    // background keeps stderr open, so its end is seen on the process itself).
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    let login_url = loop {
        if let Ok(Some(url)) = url_rx.try_recv() {
            break url;
        }
        if let Some(status) = group.0.try_wait().unwrap() {
            tokio::time::sleep(Duration::from_millis(300)).await;
            panic!(
                "the walkthrough ended ({status}) before the browser step:\n{}",
                err_log.lock().unwrap()
            );
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the client never printed its address:\n{}",
            err_log.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // The person: open the address, sign in as ada, allow the application.
    let driver = start_driver(&driver_path).await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, &profile).await;
    let outcome: Result<String, fantoccini::error::CmdError> = async {
        c.goto(&login_url).await?;
        c.wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css("#identifier"))
            .await?;
        let login_page = c.source().await?;
        assert!(login_page.contains("Sign in with Google"), "{login_page}");
        type_into(&c, "#identifier", "ada").await;
        type_into(&c, "#password", "correct horse battery staple").await;
        click(&c, "form[action='/login/password'] button[type=submit]").await;
        c.wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css("button[name=decision][value=allow]"))
            .await?;
        let consent = c.source().await?;
        assert!(
            consent.contains("Shop CLI wants to access your account"),
            "{consent}"
        );
        click(&c, "button[name=decision][value=allow]").await;
        // Back at the command-line client, on its own loopback port.
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        let back = loop {
            let url = c.current_url().await?;
            if url.port() != Some(authx_port) {
                break url;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "never left authx: {url}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(back.host_str(), Some("127.0.0.1"), "{back}");
        assert_eq!(back.path(), "/callback");
        Ok(back.to_string())
    }
    .await;
    let _ = c.close().await;
    drop(driver);
    outcome.unwrap();

    let status = tokio::task::spawn_blocking(move || {
        let status = group.0.wait().unwrap();
        (status, group)
    })
    .await
    .unwrap();
    let out = out_reader.join().unwrap();
    assert!(
        status.0.success(),
        "the walkthrough failed ({:?}):\n{out}",
        status.0
    );
    // The resource server accepted the person's token and the service's own; introspection said
    // what the person's token allows now.
    assert_eq!(out.matches("o-1001").count(), 2, "{out}");
    assert!(out.contains("\"active\":true"), "{out}");
    assert!(
        out.contains("\"scope\":\"openid Shop:orders:read\""),
        "{out}"
    );
    let tokens: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("tokens.json")).unwrap())
            .unwrap();
    assert_eq!(tokens["access_token_claims"]["client_id"], "shop-cli");
    drop(google);
}
on_both_backends!(readme_walkthrough_runs);
