//! What standard clients and browsers expect of the provider: ID tokens signed RS256 unless the
//! client registered another algorithm (OpenID Connect Core §15.1), whatever signs the access
//! tokens; discovery that lists only what is implemented; CORS for browser-based clients on
//! discovery, JWKS, token, userinfo and revocation, allowed only for the origins of registered
//! redirect URIs.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::db::TestDb;
use crate::support::oauth::{
    ClientOptions, REDIRECT_URI, authorize_with, client, grant_role, jwt_header, query_of,
    token_request,
};
use crate::support::principals::caller;
use crate::web_password::{Browser, person};

async fn id_token_algorithm_follows_the_client(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let ada = person(&app, "ada").await;
    grant_role(&app, "shopper", &ada.user_id, &["Shop:orders:read"]).await;
    let admin = caller(&app, &["AuthX:**:**", "Shop:**:**"]).await;
    let post = |body: Value| {
        let app = &app;
        let admin = &admin;
        async move {
            let r = app
                .client
                .post(app.url("/api/v1/clients"))
                .header("authorization", admin.bearer())
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    // One client registers nothing, one ES256; EdDSA is not an algorithm this server signs with.
    let (s, plain) = post(
        json!({"id": "plain", "name": "Plain", "type": "confidential",
        "redirect_uris": [REDIRECT_URI], "scopes": ["Shop:**:*"]}),
    )
    .await;
    assert_eq!(s, 201, "{plain}");
    assert_eq!(plain["id_token_signed_response_alg"], "RS256");
    let (s, edge) = post(json!({"id": "edge", "name": "Edge", "type": "confidential",
        "redirect_uris": [REDIRECT_URI], "scopes": ["Shop:**:*"],
        "id_token_signed_response_alg": "ES256"}))
    .await;
    assert_eq!(s, 201, "{edge}");
    assert_eq!(edge["id_token_signed_response_alg"], "ES256");
    let (s, p) = post(json!({"id": "odd", "name": "Odd", "type": "public",
        "redirect_uris": [REDIRECT_URI], "id_token_signed_response_alg": "EdDSA"}))
    .await;
    assert_eq!(s, 400, "{p}");
    assert_eq!(p["errors"][0]["field"], "id_token_signed_response_alg");

    let browser = Browser::new(&app);
    assert_eq!(
        browser.login(&ada.username, &ada.password).await.status(),
        303
    );
    let mut id_algs = Vec::new();
    for (id, secret) in [("plain", &plain["secret"]), ("edge", &edge["secret"])] {
        let params = [
            ("response_type", "code"),
            ("client_id", id),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid Shop:orders:read"),
            ("nonce", "n"),
        ];
        let back = authorize_with(&app, &browser.client, &params, "allow").await;
        let code = query_of(&back)["code"].clone();
        let (status, tokens) = token_request(
            &app,
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT_URI),
            ],
            Some((id, secret.as_str().unwrap())),
        )
        .await;
        assert_eq!(status, 200, "{tokens}");
        assert_eq!(
            jwt_header(tokens["access_token"].as_str().unwrap())["alg"],
            "ES256",
            "access tokens keep tokens.signing_alg"
        );
        id_algs.push(jwt_header(tokens["id_token"].as_str().unwrap())["alg"].clone());
    }
    assert_eq!(id_algs, [json!("RS256"), json!("ES256")]);

    // Back to the default with null.
    let r = app
        .client
        .patch(app.url("/api/v1/clients/edge"))
        .header("authorization", admin.bearer())
        .json(&json!({"id_token_signed_response_alg": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let edge: Value = r.json().await.unwrap();
    assert_eq!(edge["id_token_signed_response_alg"], "RS256");

    // Discovery lists what is implemented, and the JWKS holds a key of every listed algorithm.
    let meta: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        meta["id_token_signing_alg_values_supported"],
        json!(["ES256", "RS256"])
    );
    assert_eq!(
        meta["prompt_values_supported"],
        json!(["none", "login", "consent"])
    );
    let jwks: Value = app.get("/oauth2/jwks").await.json().await.unwrap();
    for alg in ["ES256", "RS256"] {
        assert!(
            jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["alg"] == alg),
            "{alg}: {jwks}"
        );
    }
    app.stop().await.unwrap();
}
on_both_backends!(id_token_algorithm_follows_the_client);

/// Sends `method path` with `Origin: origin` (and, for a preflight, the request method asked).
async fn with_origin(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    origin: &str,
    preflight_for: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .request(method, app.url(path))
        .header("origin", origin);
    if let Some(m) = preflight_for {
        req = req
            .header("access-control-request-method", m)
            .header("access-control-request-headers", "content-type");
    }
    req.send().await.unwrap()
}

fn allowed_origin(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn cors_for_the_origins_of_registered_redirect_uris(db: TestDb) {
    use reqwest::Method;
    let app = TestApp::spawn(db).await;
    client(
        &app,
        "spa",
        ClientOptions {
            public: true,
            redirect_uris: &["https://spa.example/cb", "http://127.0.0.1/callback"],
            ..Default::default()
        },
    )
    .await;
    client(
        &app,
        "gone",
        ClientOptions {
            redirect_uris: &["https://gone.example/cb"],
            ..Default::default()
        },
    )
    .await;
    app.state
        .store
        .update_client(
            "gone",
            authx::domain::client::ClientPatch {
                enabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    // Preflight of the token endpoint.
    let r = with_origin(
        &app,
        Method::OPTIONS,
        "/oauth2/token",
        "https://spa.example",
        Some("POST"),
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(allowed_origin(&r).as_deref(), Some("https://spa.example"));
    let methods = r.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let headers = r.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(headers.contains("Content-Type"), "{headers}");
    assert!(
        r.headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    // Loopback redirect URIs allow any port, like the redirect itself.
    let r = with_origin(
        &app,
        Method::OPTIONS,
        "/oauth2/token",
        "http://127.0.0.1:5173",
        Some("POST"),
    )
    .await;
    assert_eq!(r.status(), 204);
    // Not registered, or registered by a disabled client: no CORS at all.
    for origin in [
        "https://evil.example",
        "https://gone.example",
        "https://spa.example.evil",
        "http://spa.example",
        "null",
    ] {
        let r = with_origin(&app, Method::OPTIONS, "/oauth2/token", origin, Some("POST")).await;
        assert_eq!(r.status(), 403, "{origin}");
        assert!(allowed_origin(&r).is_none(), "{origin}");
        let r = with_origin(&app, Method::GET, "/oauth2/jwks", origin, None).await;
        assert_eq!(r.status(), 200);
        assert!(allowed_origin(&r).is_none(), "{origin}");
    }

    // Actual requests: every browser-facing endpoint answers an allowed origin, errors included
    // (so the application can read them), and says the answer varies by origin.
    for (method, path) in [
        (Method::GET, "/.well-known/openid-configuration"),
        (Method::GET, "/.well-known/oauth-authorization-server"),
        (Method::GET, "/oauth2/jwks"),
        (Method::POST, "/oauth2/token"),
        (Method::GET, "/oauth2/userinfo"),
        (Method::POST, "/oauth2/revoke"),
    ] {
        let r = with_origin(&app, method.clone(), path, "https://spa.example", None).await;
        assert_eq!(
            allowed_origin(&r).as_deref(),
            Some("https://spa.example"),
            "{method} {path}"
        );
        let vary = r.headers()["vary"].to_str().unwrap().to_owned();
        assert!(vary.contains("Origin"), "{path}: {vary}");
    }
    // Introspection is for services, not browsers.
    let r = with_origin(
        &app,
        Method::POST,
        "/oauth2/introspect",
        "https://spa.example",
        None,
    )
    .await;
    assert!(allowed_origin(&r).is_none());

    // A redirect URI registered later is allowed within the node's short cache.
    client(
        &app,
        "late",
        ClientOptions {
            public: true,
            redirect_uris: &["https://late.example/cb"],
            ..Default::default()
        },
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let r = with_origin(
            &app,
            Method::OPTIONS,
            "/oauth2/token",
            "https://late.example",
            Some("POST"),
        )
        .await;
        if r.status() == 204 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new origin was never allowed"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    app.stop().await.unwrap();
}
on_both_backends!(cors_for_the_origins_of_registered_redirect_uris);
