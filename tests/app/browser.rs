//! The pages in a real headless browser (reference §6: "tested in a real headless browser"): Chromium
//! through chromedriver, driven with fantoccini over WebDriver. No JavaScript is involved on
//! authx's side; this proves the forms, cookies and redirects work as a browser treats them.
//!
//! chromedriver is taken from `AUTHX_TEST_CHROMEDRIVER` or `/usr/bin/chromedriver`; when it is
//! missing the test is skipped, except under `CI=true`, where it fails.

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};

use crate::support::app::TestApp;
use crate::support::chromium::{
    browser, chromedriver_path, click, start_driver, type_into, wait_for_path,
};
use crate::support::db::TestDb;
use crate::web_password::person;

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

/// The application's side on another origin: a tiny server on its own loopback port whose
/// callback and post-logout pages just say the browser arrived. Aborted on drop.
struct OtherOrigin {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OtherOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[poem::handler]
fn arrived() -> &'static str {
    "client callback reached"
}

async fn other_origin() -> OtherOrigin {
    use poem::listener::{Acceptor, TcpAcceptor};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = TcpAcceptor::from_tokio(listener).unwrap();
    let _ = acceptor.local_addr();
    let app = poem::Route::new()
        .at("/cb", poem::get(arrived))
        .at("/bye", poem::get(arrived));
    let task = tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
    });
    OtherOrigin { port, task }
}

/// reference §6 with the application where it really is, on another origin: Chromium applies the
/// pages' `form-action` to the redirects after a form, so this is where a CSP that allowed only
/// authx itself would strand the person. Consent Allow (to a second loopback port), signing in
/// when consent was already given (to `http://localhost` against authx's `http://127.0.0.1`),
/// consent Deny, and logout with a return address; each code redeems.
async fn authorization_returns_to_another_origin_in_chromium(db: TestDb) {
    let Some(path) = crate::support::chromium::chromedriver_or_skip() else {
        return;
    };
    let app = TestApp::spawn(db).await;
    let site = other_origin().await;
    let by_ip = format!("http://127.0.0.1:{}/cb", site.port);
    let by_name = format!("http://localhost:{}/cb", site.port);
    let bye = format!("http://localhost:{}/bye", site.port);
    let ada = person(&app, "ada").await;
    crate::support::oauth::grant_role(&app, "shopper", &ada.user_id, &["Shop:orders:read"]).await;
    let shop = crate::support::oauth::client(
        &app,
        "shop",
        crate::support::oauth::ClientOptions {
            scopes: &["Shop:**:*"],
            redirect_uris: &[by_ip.as_str(), by_name.as_str()],
            post_logout_redirect_uris: &[bye.as_str()],
            ..Default::default()
        },
    )
    .await;
    let driver = start_driver(&path).await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, &profile).await;
    let result = cross_origin_run(&c, &app, &ada, &shop, &by_ip, &by_name, &bye).await;
    let _ = c.close().await;
    drop(driver);
    drop(site);
    app.stop().await.unwrap();
    result.unwrap();
}
on_both_backends!(authorization_returns_to_another_origin_in_chromium);

async fn cross_origin_run(
    c: &Client,
    app: &TestApp,
    ada: &crate::web_password::Person,
    shop: &crate::support::oauth::TestClient,
    by_ip: &str,
    by_name: &str,
    bye: &str,
) -> Result<(), fantoccini::error::CmdError> {
    use crate::support::chromium::wait_for_url;
    use crate::support::oauth::{authorize_path, pkce_pair, query_of, token_request};
    let secret = shop.secret.as_deref().unwrap();
    let redeem = |code: String, redirect_uri: String, verifier: String| async move {
        let (status, tokens) = token_request(
            app,
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", redirect_uri.as_str()),
                ("code_verifier", verifier.as_str()),
            ],
            Some(("shop", secret)),
        )
        .await;
        assert_eq!(status, 200, "{tokens}");
        assert_eq!(tokens["scope"], "Shop:orders:read");
    };
    let request = |redirect_uri: &str, challenge: &str, extra: &[(&'static str, &'static str)]| {
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", "shop"),
            ("redirect_uri", redirect_uri),
            ("scope", "Shop:orders:read"),
            ("state", "st"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ];
        params.extend_from_slice(extra);
        app.url(&authorize_path(&params))
    };
    let sign_in = || async {
        c.wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css("#identifier"))
            .await?;
        type_into(c, "#identifier", &ada.username).await;
        type_into(c, "#password", &ada.password).await;
        click(c, "form[action='/login/password'] button[type=submit]").await;
        Ok::<(), fantoccini::error::CmdError>(())
    };

    // 1. Signed out, to a second loopback port: login, consent, Allow.
    let (verifier, challenge) = pkce_pair();
    c.goto(&request(by_ip, &challenge, &[])).await?;
    sign_in().await?;
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("button[name=decision][value=allow]"))
        .await?;
    click(c, "button[name=decision][value=allow]").await;
    let url = wait_for_url(c, by_ip).await;
    assert!(c.source().await?.contains("client callback reached"));
    let answer = query_of(url.as_str());
    assert_eq!(answer["state"], "st");
    redeem(answer["code"].clone(), by_ip.to_owned(), verifier).await;

    // 2. Signed out again; consent already given: signing in goes straight to the application,
    //    here `http://localhost` while authx is `http://127.0.0.1`.
    c.goto(&app.url("/account")).await?;
    click(c, "header form[action='/logout'] button").await;
    wait_for_path(c, "/login").await;
    let (verifier, challenge) = pkce_pair();
    c.goto(&request(by_name, &challenge, &[])).await?;
    sign_in().await?;
    let url = wait_for_url(c, by_name).await;
    assert!(c.source().await?.contains("client callback reached"));
    let answer = query_of(url.as_str());
    redeem(answer["code"].clone(), by_name.to_owned(), verifier).await;

    // 3. Signed in, consent asked again, Deny: the application learns access_denied.
    let (_, challenge) = pkce_pair();
    c.goto(&request(by_name, &challenge, &[("prompt", "consent")]))
        .await?;
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("button[name=decision][value=deny]"))
        .await?;
    click(c, "button[name=decision][value=deny]").await;
    let url = wait_for_url(c, by_name).await;
    let answer = query_of(url.as_str());
    assert_eq!(answer["error"], "access_denied");
    assert!(!answer.contains_key("code"));

    // 4. Logout with a return address on the application's origin, confirmed on the page.
    c.goto(&app.url(&format!(
        "/oauth2/logout?client_id=shop&post_logout_redirect_uri={}&state=bye-state",
        crate::support::oauth::urlencode(bye)
    )))
    .await?;
    let source = c.source().await?;
    assert!(source.contains("App shop"), "{source}");
    click(
        c,
        "form[action='/oauth2/logout/confirm'] button[type=submit]",
    )
    .await;
    let url = wait_for_url(c, bye).await;
    assert_eq!(query_of(url.as_str())["state"], "bye-state");
    // Signed out for real: the account page asks to sign in.
    c.goto(&app.url("/account")).await?;
    wait_for_path(c, "/login?return_to=/account").await;
    Ok(())
}
