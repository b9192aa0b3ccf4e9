//! A real OpenID Provider on loopback for the upstream-login tests: panva's `oidc-provider` (OpenID
//! Certified), run by `tests/peers/oidc_provider.mjs` with its development login and consent forms,
//! and a browser-less driver for those forms.
//!
//! Needs Node and `tests/peers/node_modules` (`npm ci` there). Without them [`Provider::start`]
//! returns `None` and the test is skipped with a note on stderr — except under `CI=true`, where
//! that is a failure. The process is killed when the [`Provider`] is dropped, and the script exits
//! by itself when its stdin closes or after ten minutes, so no run leaves it behind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running `oidc_provider.mjs`.
pub struct Provider {
    /// Its issuer URL (`http://127.0.0.1:<port>`).
    pub issuer: String,
    stderr: Arc<Mutex<String>>,
    _child: Child,
}

fn peers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

/// Skips (outside CI) or fails (CI=true) when the provider can't run here.
fn unavailable(why: &str) -> Option<Provider> {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but the OpenID provider peer cannot run: {why}");
    }
    eprintln!("note: skipping an oidc-provider test: {why}");
    None
}

impl Provider {
    /// Starts the provider with `config` (see the script's header: `clients`, `accounts`, …).
    pub async fn start(config: Value) -> Option<Self> {
        let peers = peers_dir();
        if !peers
            .join("node_modules/oidc-provider/package.json")
            .is_file()
        {
            return unavailable(&format!(
                "{} has no oidc-provider (run `npm ci` there)",
                peers.join("node_modules").display()
            ));
        }
        let node = std::env::var("AUTHX_TEST_NODE").unwrap_or_else(|_| "node".to_owned());
        let spawned = Command::new(&node)
            .arg(peers.join("oidc_provider.mjs"))
            .arg(config.to_string())
            .current_dir(&peers)
            // The script exits when its stdin closes, i.e. when this test process goes away.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => return unavailable(&format!("cannot run `{node}`: {e}")),
        };
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
        let issuer = match first {
            Ok(Ok(Some(line))) if line.starts_with("http://127.0.0.1:") => line,
            other => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                panic!(
                    "the provider did not print its issuer ({other:?}); stderr:\n{}",
                    stderr.lock().unwrap()
                );
            }
        };
        Some(Self {
            issuer,
            stderr,
            _child: child,
        })
    }

    /// What the provider wrote to stderr so far (for failure messages).
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

/// What the person does at the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtProvider<'a> {
    /// Logs in as this account (`sub`) and consents.
    LogIn(&'a str),
    /// Clicks the login page's "Cancel" link.
    Cancel,
}

/// Follows `url` (the provider's authorization URL) with `browser` (a cookie jar, no automatic
/// redirects) through the provider's login and consent forms, and stops at the first redirect to
/// a URL starting with `stop_at` (authx's callback), which is returned without being requested.
pub async fn drive(
    browser: &reqwest::Client,
    url: &str,
    stop_at: &str,
    action: AtProvider<'_>,
) -> String {
    let mut next = reqwest::Url::parse(url).unwrap();
    let mut form: Option<Vec<(&str, String)>> = None;
    for _ in 0..20 {
        if next.as_str().starts_with(stop_at) {
            return next.to_string();
        }
        let response = match form.take() {
            Some(fields) => browser.post(next.clone()).form(&fields).send().await,
            None => browser.get(next.clone()).send().await,
        }
        .unwrap();
        let status = response.status();
        if status.is_redirection() {
            let location = response.headers()["location"].to_str().unwrap().to_owned();
            next = next.join(&location).unwrap();
            continue;
        }
        let page = response.text().await.unwrap();
        assert!(status.is_success(), "{status} at {next}: {page}");
        let login = match action {
            AtProvider::Cancel => {
                let abort = attribute(&page, "<a href=\"").expect("a cancel link");
                next = next.join(&abort).unwrap();
                continue;
            }
            AtProvider::LogIn(login) => login,
        };
        let target = attribute(&page, "action=\"").expect("a form on the provider's page");
        next = next.join(&target).unwrap();
        form = Some(if page.contains("name=\"login\"") {
            vec![
                ("prompt", "login".to_owned()),
                ("login", login.to_owned()),
                ("password", "any password".to_owned()),
            ]
        } else {
            assert!(
                page.contains("value=\"consent\""),
                "unexpected page: {page}"
            );
            vec![("prompt", "consent".to_owned())]
        });
    }
    panic!("too many steps before the callback");
}

/// The (HTML-unescaped) value following `prefix` up to the closing quote.
fn attribute(page: &str, prefix: &str) -> Option<String> {
    let start = page.find(prefix)? + prefix.len();
    let end = start + page[start..].find('"')?;
    Some(page[start..end].replace("&amp;", "&"))
}
