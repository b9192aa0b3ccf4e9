//! The pages in a real headless browser (SPEC §6: "tested in a real headless browser"): Chromium
//! through chromedriver, driven with fantoccini over WebDriver. No JavaScript is involved on
//! authx's side; this proves the forms, cookies and redirects work as a browser treats them.
//!
//! chromedriver is taken from `AUTHX_TEST_CHROMEDRIVER` or `/usr/bin/chromedriver`; when it is
//! missing the test is skipped, except under `CI=true`, where it fails.

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::support::app::TestApp;
use crate::support::db::TestDb;
use crate::web_password::person;

/// A chromedriver child process, killed on drop.
struct Driver {
    child: std::process::Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver_path() -> Option<PathBuf> {
    let path = std::env::var_os("AUTHX_TEST_CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"));
    path.exists().then_some(path)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_driver(path: &PathBuf) -> Driver {
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

async fn browser(driver: &Driver, profile: &tempfile::TempDir) -> Client {
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

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

async fn type_into(c: &Client, css: &str, text: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .send_keys(text)
        .await
        .unwrap();
}

/// Waits (up to 15 s) until the browser is at `expected` (path and query): a click that submits a
/// form returns before the navigation it starts has finished.
async fn wait_for_path(c: &Client, expected: &str) {
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

async fn path_of(c: &Client) -> String {
    let url = c.current_url().await.unwrap();
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

#[tokio::test]
async fn password_login_account_api_key_and_logout_in_chromium() {
    let Some(path) = chromedriver_path() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromedriver is missing (set AUTHX_TEST_CHROMEDRIVER or install chromium-driver)"
        );
        eprintln!("skipping: no chromedriver");
        return;
    };
    let app = TestApp::spawn(TestDb::sqlite().await).await;
    let ada = person(&app, "ada").await;
    let driver = start_driver(&path).await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, &profile).await;
    let result = run(&c, &app, &ada).await;
    let _ = c.close().await;
    drop(driver);
    app.stop().await.unwrap();
    result.unwrap();
}

async fn run(
    c: &Client,
    app: &TestApp,
    ada: &crate::web_password::Person,
) -> Result<(), fantoccini::error::CmdError> {
    // Signed out, the account page sends the browser to the login page.
    c.goto(&app.url("/account")).await?;
    wait_for_path(c, "/login?return_to=/account").await;
    assert_eq!(c.title().await?, "Sign in · authx");

    // Sign in with the password form.
    type_into(c, "#identifier", &ada.username).await;
    type_into(c, "#password", &ada.password).await;
    click(c, "form[action='/login/password'] button[type=submit]").await;
    wait_for_path(c, "/account").await;
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("form[action='/account/api-keys']"))
        .await?;
    let source = c.source().await?;
    assert!(source.contains(&ada.display_name), "{source}");

    // Create an API key for one of the offered scopes.
    click(c, "input[name=scope][value='AuthX:me:*']").await;
    type_into(c, "#description", "from the browser").await;
    click(c, "form[action='/account/api-keys'] button[type=submit]").await;
    let secret = c
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("#new-api-key"))
        .await?
        .text()
        .await?
        .trim()
        .to_owned();
    assert!(secret.starts_with("axk_"), "{secret}");
    assert!(c.source().await?.contains("shown only this once"));
    let me = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);

    // Back on the account page, and reloaded: listed, never shown again.
    c.goto(&app.url("/account")).await?;
    c.refresh().await?;
    let source = c.source().await?;
    assert!(!source.contains(&secret));
    assert!(source.contains("from the browser"));
    assert!(c.find(Locator::Css("#new-api-key")).await.is_err());

    // Log out with the header button; the account page is closed again.
    click(c, "header form[action='/logout'] button").await;
    wait_for_path(c, "/login").await;
    c.goto(&app.url("/account")).await?;
    wait_for_path(c, "/login?return_to=/account").await;
    Ok(())
}

/// A stand-in for the client's redirect endpoint, mounted on the test server itself (a loopback
/// redirect URI): it just says the browser arrived.
#[poem::handler]
fn client_callback() -> &'static str {
    "client callback reached"
}

#[tokio::test]
async fn authorization_consent_and_withdrawal_in_chromium() {
    let Some(path) = chromedriver_path() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromedriver is missing (set AUTHX_TEST_CHROMEDRIVER or install chromium-driver)"
        );
        eprintln!("skipping: no chromedriver");
        return;
    };
    use poem::EndpointExt;
    let app = TestApp::spawn_with(
        TestDb::sqlite().await,
        |_| {},
        vec![("/client/callback", poem::get(client_callback).boxed())],
    )
    .await;
    let ada = person(&app, "ada").await;
    crate::support::oauth::grant_role(
        &app,
        "shopper",
        &ada.user_id,
        &["Shop:orders:read", "AuthX:grant.*.me:*"],
    )
    .await;
    let redirect_uri = app.url("/client/callback");
    let shop = crate::support::oauth::client(
        &app,
        "shop",
        crate::support::oauth::ClientOptions {
            scopes: &["Shop:**:*"],
            redirect_uris: &[redirect_uri.as_str()],
            ..Default::default()
        },
    )
    .await;
    let driver = start_driver(&path).await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, &profile).await;
    let result = consent_run(&c, &app, &ada, &shop, &redirect_uri).await;
    let _ = c.close().await;
    drop(driver);
    app.stop().await.unwrap();
    result.unwrap();
}

async fn consent_run(
    c: &Client,
    app: &TestApp,
    ada: &crate::web_password::Person,
    shop: &crate::support::oauth::TestClient,
    redirect_uri: &str,
) -> Result<(), fantoccini::error::CmdError> {
    use crate::support::oauth::{authorize_path, pkce_pair, query_of, token_request};
    let (verifier, challenge) = pkce_pair();
    let authorize = authorize_path(&[
        ("response_type", "code"),
        ("client_id", "shop"),
        ("redirect_uri", redirect_uri),
        ("scope", "openid Shop:orders:read"),
        ("state", "from-chromium"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    // Not signed in: the login page first, then straight back to the request.
    c.goto(&app.url(&authorize)).await?;
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("#identifier"))
        .await?;
    type_into(c, "#identifier", &ada.username).await;
    type_into(c, "#password", &ada.password).await;
    click(c, "form[action='/login/password'] button[type=submit]").await;
    // The consent page names the client and the permission in words.
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("button[name=decision][value=allow]"))
        .await?;
    let source = c.source().await?;
    assert!(
        source.contains("App shop wants to access your account"),
        "{source}"
    );
    assert!(source.contains("read orders in Shop"), "{source}");
    click(c, "button[name=decision][value=allow]").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let url = loop {
        let url = c.current_url().await?;
        if url.path() == "/client/callback" {
            break url;
        }
        assert!(Instant::now() < deadline, "never reached the client: {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(c.source().await?.contains("client callback reached"));
    let answer = query_of(url.as_str());
    assert_eq!(answer["state"], "from-chromium");
    assert_eq!(answer["iss"], app.base);
    let (status, tokens) = token_request(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", answer["code"].as_str()),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier.as_str()),
        ],
        Some(("shop", shop.secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["id_token"].as_str().is_some());

    // The account page lists the application; withdrawing it works with a click.
    c.goto(&app.url("/account")).await?;
    let source = c.source().await?;
    assert!(source.contains("App shop"), "{source}");
    click(c, "form[action^='/account/grants/'] button").await;
    wait_for_path(c, "/account?notice=grant_revoked").await;
    assert!(c.source().await?.contains("access was withdrawn"));
    Ok(())
}
