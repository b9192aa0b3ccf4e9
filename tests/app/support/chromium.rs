//! Headless Chromium for the browser tests: a chromedriver child process (killed on drop), a
//! fresh profile per session, and the few WebDriver steps the tests need. chromedriver is taken
//! from `AUTHX_TEST_CHROMEDRIVER` or `/usr/bin/chromedriver`; [`chromedriver_or_skip`] skips a test
//! when it is missing, except under `CI=true`, where it fails.

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// A chromedriver child process, killed on drop.
pub struct Driver {
    child: std::process::Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn chromedriver_path() -> Option<PathBuf> {
    let path = std::env::var_os("AUTHX_TEST_CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"));
    path.exists().then_some(path)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn start_driver(path: &PathBuf) -> Driver {
    let port = free_port();
    let child = std::process::Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    driver
}

pub async fn browser(driver: &Driver, profile: &tempfile::TempDir) -> Client {
    let mut args = vec![
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-quic".to_owned(),
        "--no-first-run".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        format!("--user-data-dir={}", profile.path().display()),
    ];
    args.push("--window-size=1200,900".to_owned());
    let mut options = json!({ "args": args });
    if std::path::Path::new("/usr/bin/chromium").exists() {
        options["binary"] = json!("/usr/bin/chromium");
    }
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".to_owned(), json!("chrome"));
    caps.insert("goog:chromeOptions".to_owned(), options);
    ClientBuilder::rustls()
        .expect("rustls client")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session")
}

pub async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

pub async fn type_into(c: &Client, css: &str, text: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .send_keys(text)
        .await
        .unwrap();
}

/// Waits (up to 15 s) until the browser is at `expected` (path and query): a click that submits a
/// form returns before the navigation it starts has finished.
pub async fn wait_for_path(c: &Client, expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = path_of(c).await;
        if now == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected to reach {expected}, still at {now}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn path_of(c: &Client) -> String {
    let url = c.current_url().await.unwrap();
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// chromedriver's path, or `None` (after a note) when the test should be skipped: missing outside
/// CI. Under `CI=true` a missing driver fails the test.
pub fn chromedriver_or_skip() -> Option<PathBuf> {
    let path = chromedriver_path();
    if path.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromedriver is missing (set AUTHX_TEST_CHROMEDRIVER or install chromium-driver)"
        );
        eprintln!("skipping: no chromedriver");
    }
    path
}

/// Waits (up to 15 s) until the browser's URL starts with `prefix`, and returns it.
pub async fn wait_for_url(c: &Client, prefix: &str) -> reqwest::Url {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let url = c.current_url().await.unwrap();
        if url.as_str().starts_with(prefix) {
            return url;
        }
        assert!(
            Instant::now() < deadline,
            "expected to reach {prefix}, still at {url}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
