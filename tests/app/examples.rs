//! The examples under `examples/` run against a real authx: the API-key service, the offline
//! resource server (JWKS, claims, scopes, key rotation) and the PKCE command-line client (driven
//! through the login and consent pages like a browser, its loopback listener called like one).

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authx::domain::client::{ClientType, InitialClientSecret, NewClient};
use authx::domain::role::NewRole;
use authx::engine::oauth2::keys::Pace;
use authx::secret;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};

use crate::support::app::TestApp;
use crate::support::db::TestDb;
use crate::support::oauth::{
    ClientOptions, TestClient, authorize_with, client, grant_role, introspect, jwt_claims,
    jwt_header, query_of, token_request,
};
use crate::support::principals::caller;
use crate::web_password::{Browser, person};

/// Builds example `name` with the cargo running this test and returns its path (`cargo test` only
/// builds examples without a target filter, and then under a hashed name).
pub(crate) fn build_example(name: &str) -> std::path::PathBuf {
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
                id_token_alg: None,
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
        .env("AUTHX_ISSUER", &app.base)
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

/// Starts example `name` (built first) with stdout and stderr piped; killed when dropped.
async fn start_example(
    name: &'static str,
    args: &[&str],
    envs: &[(&str, &str)],
) -> tokio::process::Child {
    let path = tokio::task::spawn_blocking(move || build_example(name))
        .await
        .unwrap();
    tokio::process::Command::new(path)
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the example runs")
}

/// The lines `stream` writes, collected in the background as they come.
fn collect_lines(stream: impl AsyncRead + Unpin + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

/// Waits (up to 30 s) for a collected line containing `needle` and returns it.
async fn wait_for_line(lines: &Arc<Mutex<Vec<String>>>, needle: &str) -> String {
    for _ in 0..300 {
        if let Some(line) = lines.lock().unwrap().iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no line with {needle:?} in {:?}", lines.lock().unwrap());
}

/// A free port on 127.0.0.1 (bound and released; the example binds it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A client_credentials access token of `c`.
async fn client_token(app: &TestApp, c: &TestClient) -> String {
    let (status, body) = token_request(
        app,
        &[("grant_type", "client_credentials")],
        Some((&c.id, c.secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// A JWT part: base64url of the JSON.
fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// `GET /orders` with `token`: the status, the `WWW-Authenticate` header and the body.
async fn get_orders(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
) -> (u16, String, String) {
    let mut request = http.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, challenge, r.text().await.unwrap())
}

/// The number of JWKS fetches the resource server has logged.
fn fetches(log: &Arc<Mutex<Vec<String>>>) -> usize {
    log.lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("jwks: fetched"))
        .count()
}

#[tokio::test]
async fn resource_server_verifies_access_tokens_offline() {
    let app = TestApp::spawn(TestDb::sqlite().await).await;
    let shop = ClientOptions {
        scopes: &["Shop:**:*"],
        ..Default::default()
    };
    // Three services of the shop, by what their machine users may do.
    let reader = client(&app, "orders-app", shop.clone()).await;
    let reader_user = reader.machine_user_id.clone().unwrap();
    grant_role(&app, "order-reader", &reader_user, &["Shop:orders:read"]).await;
    let stock = client(&app, "stock-app", shop.clone()).await;
    grant_role(
        &app,
        "stock-reader",
        stock.machine_user_id.as_deref().unwrap(),
        &["Shop:stock:read"],
    )
    .await;
    let auditor = client(&app, "auditor", shop.clone()).await;
    app.state
        .store
        .create_role(NewRole {
            id: "reads-all-but-orders".into(),
            name: "reads all but orders".into(),
            description: None,
            is_default: false,
            enabled: true,
            scopes: vec!["Shop:*:read".into()],
            deny: vec!["Shop:orders:read".into()],
        })
        .await
        .unwrap();
    app.state
        .store
        .add_role_member(
            "reads-all-but-orders",
            auditor.machine_user_id.as_deref().unwrap(),
        )
        .await
        .unwrap();

    // authx creates its first signing key when it first signs: issue a token before the resource
    // server reads the JWKS, or it would find the set empty and (rate limit) refuse that kid for
    // a second.
    let good = client_token(&app, &reader).await;

    let listen = format!("127.0.0.1:{}", free_port());
    let mut server = start_example(
        "resource_server",
        &[],
        &[
            ("AUTHX_ISSUER", app.base.as_str()),
            ("LISTEN", listen.as_str()),
            ("REQUIRED_SCOPE", "Shop:orders:read"),
        ],
    )
    .await;
    let log = collect_lines(server.stderr.take().unwrap());
    let url = format!("http://{listen}/orders");
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..300 {
        if http.get(&url).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        up,
        "the resource server did not start: {:?}",
        log.lock().unwrap()
    );
    assert_eq!(fetches(&log), 1, "the JWKS is fetched at start");

    // A token with the scope.
    let (status, _, body) = get_orders(&http, &url, Some(&good)).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["sub"], reader_user.as_str());
    assert_eq!(body["client_id"], "orders-app");

    // Valid tokens without the scope: 403.
    let insufficient = r#"Bearer error="insufficient_scope", scope="Shop:orders:read""#;
    let (status, challenge, _) =
        get_orders(&http, &url, Some(&client_token(&app, &stock).await)).await;
    assert_eq!((status, challenge.as_str()), (403, insufficient));
    // The deny claim is applied: the pattern allows orders, the deny takes them away.
    let denied = client_token(&app, &auditor).await;
    let claims = jwt_claims(&denied);
    assert_eq!(claims["scope"], "Shop:*:read");
    assert_eq!(claims["deny"], json!(["Shop:orders:read"]));
    let (status, challenge, _) = get_orders(&http, &url, Some(&denied)).await;
    assert_eq!((status, challenge.as_str()), (403, insufficient));

    // No token: 401 with a bare challenge (RFC 6750 §3.1).
    let (status, challenge, _) = get_orders(&http, &url, None).await;
    assert_eq!((status, challenge.as_str()), (401, "Bearer"));

    // Bad tokens: 401 invalid_token.
    let invalid = |(status, challenge, _): (u16, String, String), what: &str| {
        assert_eq!(status, 401, "{what}");
        assert!(
            challenge.starts_with(r#"Bearer error="invalid_token""#),
            "{what}: {challenge}"
        );
    };
    let [header, _, signature] = good.split('.').collect::<Vec<_>>()[..] else {
        panic!("a JWT");
    };
    let mut broader = jwt_claims(&good);
    broader["scope"] = json!("Shop:**:**");
    let tampered = format!("{header}.{}.{signature}", b64_json(&broader));
    invalid(get_orders(&http, &url, Some(&tampered)).await, "tampered");
    invalid(get_orders(&http, &url, Some("not-a-jwt")).await, "garbage");
    let kid = jwt_header(&good)["kid"].as_str().unwrap().to_owned();
    let unsigned = format!(
        "{}.{}.",
        b64_json(&json!({"alg": "none", "typ": "at+jwt", "kid": kid})),
        b64_json(&jwt_claims(&good))
    );
    invalid(get_orders(&http, &url, Some(&unsigned)).await, "alg none");
    // The algorithm comes from the JWK: HS256 keyed with the public key's bytes is refused.
    let jwks: Value = app.get("/oauth2/jwks").await.json().await.unwrap();
    let public_x = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap()["x"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.kid = Some(kid.clone());
    hs_header.typ = Some("at+jwt".into());
    let confused = jsonwebtoken::encode(
        &hs_header,
        &jwt_claims(&good),
        &jsonwebtoken::EncodingKey::from_secret(public_x.as_bytes()),
    )
    .unwrap();
    invalid(
        get_orders(&http, &url, Some(&confused)).await,
        "HS256 with the public key",
    );

    // Tokens signed by authx's real key, each wrong in one claim or header.
    let now = authx::domain::now();
    let claims = json!({
        "iss": app.base, "sub": reader_user, "aud": app.state.config.access_token_audience(),
        "client_id": "orders-app", "iat": now, "exp": now + 600, "jti": "crafted",
        "scope": "Shop:orders:read",
    });
    let signed = |changes: Value, typ: &'static str| {
        let mut claims = claims.clone();
        for (name, value) in changes.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        let state = app.state.clone();
        async move { state.keys.sign(&claims, typ).await.unwrap() }
    };
    let crafted = signed(json!({}), "at+jwt").await;
    assert_eq!(
        get_orders(&http, &url, Some(&crafted)).await.0,
        200,
        "the unchanged token"
    );
    for (what, changes, typ) in [
        (
            "expired",
            json!({"iat": now - 720, "exp": now - 120}),
            "at+jwt",
        ),
        (
            "issued in the future",
            json!({"iat": now + 300, "exp": now + 900}),
            "at+jwt",
        ),
        ("no iat", json!({"iat": null}), "at+jwt"),
        (
            "other issuer",
            json!({"iss": "https://id.other.example"}),
            "at+jwt",
        ),
        (
            "other audience",
            json!({"aud": "https://api.other.example"}),
            "at+jwt",
        ),
        ("no exp", json!({"exp": null}), "at+jwt"),
        // An ID token is signed by the same key; it is not an access token (RFC 9068 §4).
        ("typ JWT", json!({}), "JWT"),
    ] {
        invalid(
            get_orders(&http, &url, Some(&signed(changes, typ).await)).await,
            what,
        );
    }

    // A token of another authx: its key is unknown here (and so is its issuer).
    let other = TestApp::spawn(TestDb::sqlite().await).await;
    let foreign = client(&other, "orders-app", shop.clone()).await;
    grant_role(
        &other,
        "order-reader",
        foreign.machine_user_id.as_deref().unwrap(),
        &["Shop:orders:read"],
    )
    .await;
    let foreign_token = client_token(&other, &foreign).await;
    invalid(
        get_orders(&http, &url, Some(&foreign_token)).await,
        "another authx",
    );
    other.stop().await.unwrap();

    // Unknown kids make the server fetch the JWKS again, at most once a second: a burst of them
    // costs authx one fetch (two if the burst straddles the limit on a slow machine).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let before = fetches(&log);
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..20 {
        let forged = format!(
            "{}.{}.{signature}",
            b64_json(&json!({"alg": "ES256", "typ": "at+jwt", "kid": format!("unknown-{i}")})),
            b64_json(&jwt_claims(&good))
        );
        let (http, url) = (http.clone(), url.clone());
        burst.spawn(async move { get_orders(&http, &url, Some(&forged)).await });
    }
    while let Some(answer) = burst.join_next().await {
        invalid(answer.unwrap(), "unknown kid");
    }
    let during_burst = fetches(&log) - before;
    assert!(
        (1..=2).contains(&during_burst),
        "{during_burst} fetches for 20 unknown kids"
    );

    // `authx keys rotate` (the tests publish for 0 s before signing): tokens are signed by the new
    // key at once; the resource server learns it on the first token naming it. Tokens of the
    // retired key stay valid while it is published.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let rotation = app
        .state
        .keys
        .rotate(Some(app.state.config.tokens.signing_alg), Pace::Published)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(rotation.retired, vec![kid.clone()]);
    let rotated = client_token(&app, &reader).await;
    assert_eq!(jwt_header(&rotated)["kid"], rotation.key.kid.as_str());
    let (status, _, body) = get_orders(&http, &url, Some(&rotated)).await;
    assert_eq!(status, 200, "a token of the new key: {body}");
    let (status, _, body) = get_orders(&http, &url, Some(&good)).await;
    assert_eq!(status, 200, "a token of the retired key: {body}");
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("jwks: fetched 2 key(s)")),
        "{:?}",
        log.lock().unwrap()
    );

    server.kill().await.unwrap();
    app.stop().await.unwrap();
}

/// A public client `cli` registered for the loopback redirect, and a person who may read orders,
/// signed in with a browser.
async fn cli_setup(app: &TestApp) -> (crate::web_password::Person, Browser) {
    let ada = person(app, "ada").await;
    grant_role(app, "shopper", &ada.user_id, &["Shop:orders:read"]).await;
    client(
        app,
        "cli",
        ClientOptions {
            public: true,
            scopes: &["Shop:**:*"],
            redirect_uris: &["http://127.0.0.1/callback"],
            ..Default::default()
        },
    )
    .await;
    let browser = Browser::new(app);
    assert_eq!(
        browser.login(&ada.username, &ada.password).await.status(),
        303
    );
    (ada, browser)
}

/// Starts `pkce_cli` for client `cli` and returns it, its stderr lines and the authorization URL
/// it printed.
async fn start_cli(
    app: &TestApp,
    scopes: &[&str],
) -> (tokio::process::Child, Arc<Mutex<Vec<String>>>, String) {
    let mut args = vec!["cli"];
    args.extend_from_slice(scopes);
    let mut cli = start_example("pkce_cli", &args, &[("AUTHX_ISSUER", app.base.as_str())]).await;
    let stderr = collect_lines(cli.stderr.take().unwrap());
    let line = wait_for_line(&stderr, "/oauth2/authorize?").await;
    let url = line.trim().to_owned();
    assert!(url.starts_with(&app.url("/oauth2/authorize?")), "{url}");
    (cli, stderr, url)
}

/// Waits (up to 60 s) for `cli` to end: its exit status and standard output.
async fn finish(mut cli: tokio::process::Child) -> (std::process::ExitStatus, String) {
    let status = tokio::time::timeout(Duration::from_secs(60), cli.wait())
        .await
        .expect("the CLI ends")
        .unwrap();
    let mut out = String::new();
    cli.stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    (status, out)
}

#[tokio::test]
async fn pkce_cli_signs_in_through_a_loopback_redirect() {
    let app = TestApp::spawn(TestDb::sqlite().await).await;
    let (ada, browser) = cli_setup(&app).await;
    let (cli, stderr, url) =
        start_cli(&app, &["openid", "offline_access", "Shop:orders:read"]).await;
    let asked = query_of(&url);
    assert_eq!(asked["client_id"], "cli");
    assert_eq!(asked["code_challenge_method"], "S256");
    assert_eq!(asked["scope"], "openid offline_access Shop:orders:read");
    let redirect_uri = &asked["redirect_uri"];
    assert!(
        redirect_uri.starts_with("http://127.0.0.1:") && redirect_uri.ends_with("/callback"),
        "{redirect_uri}"
    );

    // The browser opens the URL, consents, and is sent back to the loopback listener.
    let params: Vec<(&str, &str)> = asked
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let back = authorize_with(&app, &browser.client, &params, "allow").await;
    assert!(back.starts_with(&format!("{redirect_uri}?")), "{back}");
    assert_eq!(query_of(&back)["iss"], app.base);

    let http = reqwest::Client::new();
    // Someone else's redirect (another state) is refused, and the CLI keeps waiting.
    let mut forged = reqwest::Url::parse(&back).unwrap();
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                "forged".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    assert_eq!(http.get(forged).send().await.unwrap().status(), 400);
    let r = http
        .get(redirect_uri.replace("/callback", "/favicon.ico"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // The real redirect.
    let r = http.get(&back).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Signed in"));

    let (status, out) = finish(cli).await;
    assert!(status.success(), "{status}: {:?}", stderr.lock().unwrap());
    let tokens: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(tokens["token_type"], "bearer");
    assert_eq!(tokens["scope"], "openid offline_access Shop:orders:read");
    assert_eq!(tokens["expires_in"], 600);
    assert!(tokens["expires_at"].as_u64().unwrap() > 0);
    assert!(
        tokens["refresh_token"]
            .as_str()
            .unwrap()
            .starts_with("axr_")
    );
    assert!(tokens["id_token"].as_str().is_some(), "{tokens}");
    let claims = &tokens["access_token_claims"];
    assert_eq!(claims["sub"], ada.user_id.as_str());
    assert_eq!(claims["client_id"], "cli");
    assert_eq!(claims["iss"], app.base);
    assert_eq!(claims["scope"], "openid offline_access Shop:orders:read");
    // The access token is live at authx.
    let checker = client(&app, "checker", ClientOptions::default()).await;
    let info = introspect(&app, &checker, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["sub"], ada.user_id.as_str());
    app.stop().await.unwrap();
}

#[tokio::test]
async fn pkce_cli_refuses_an_answer_from_another_issuer() {
    let app = TestApp::spawn(TestDb::sqlite().await).await;
    let (cli, stderr, url) = start_cli(&app, &["Shop:orders:read"]).await;
    let asked = query_of(&url);
    // A mix-up: the right state, but an answer naming another server. The code is never sent.
    let mixed_up = format!(
        "{}?code=axc_stolen&state={}&iss=https%3A%2F%2Fevil.example",
        asked["redirect_uri"], asked["state"]
    );
    let r = reqwest::Client::new().get(&mixed_up).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let (status, out) = finish(cli).await;
    assert!(!status.success());
    assert!(out.is_empty(), "{out}");
    wait_for_line(&stderr, "refusing it (mix-up defence)").await;
    app.stop().await.unwrap();
}
