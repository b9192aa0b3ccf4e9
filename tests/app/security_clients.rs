//! Attacks through clients, on both backends: a caller who may only edit a client tries to put
//! themselves in its place (a secret, a redirect URI, trust, re-enabling) to obtain tokens they
//! do not hold. Each test asserts what the attacker ends up with: the stored client, its secrets.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::db::TestDb;
use crate::support::principals::{Caller, caller};

async fn call(
    app: &TestApp,
    who: &Caller,
    method: Method,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let r = app
        .client
        .request(method, app.url(path))
        .header("authorization", who.bearer())
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn acting_as_a_client_needs_its_reach(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let store = &app.state.store;
    let root = caller(&app, &["**:**:**"]).await;
    let (s, c) = call(
        &app,
        &root,
        Method::POST,
        "/api/v1/clients",
        json!({
            "id": "shop", "name": "Shop", "type": "confidential",
            "redirect_uris": ["https://shop.example/cb"], "scopes": ["Shop:**:*"],
        }),
    )
    .await;
    assert_eq!(s, 201, "{c}");
    let (s, c) = call(
        &app,
        &root,
        Method::POST,
        "/api/v1/clients",
        json!({
            "id": "portal", "name": "Portal", "type": "public",
            "redirect_uris": ["https://portal.example/cb"], "scopes": ["AuthX:me:read"],
        }),
    )
    .await;
    assert_eq!(s, 201, "{c}");
    let (s, _) = call(
        &app,
        &root,
        Method::PATCH,
        "/api/v1/clients/portal",
        json!({"enabled": false}),
    )
    .await;
    assert_eq!(s, 200);
    // Holds every client's `update`, and the `me` scopes everyone has, but nothing of Shop.
    let editor = caller(&app, &["AuthX:client.*:update", "AuthX:me:*"]).await;

    let secrets_before = store.list_client_secrets("shop").await.unwrap().len();
    for (path, body) in [
        ("/api/v1/clients/shop/secrets", json!({})),
        ("/api/v1/clients/shop/secrets/rotate", json!({})),
    ] {
        let (s, p) = call(&app, &editor, Method::POST, path, body).await;
        assert_eq!(s, 403, "{path}: {p}");
        assert_eq!(p["missing_scopes"], json!(["Shop:**:*"]), "{path}");
        assert!(p.get("secret").is_none());
    }
    for body in [
        json!({"redirect_uris": ["https://evil.example/cb"]}),
        json!({"post_logout_redirect_uris": ["https://evil.example/bye"]}),
        json!({"trusted": true}),
    ] {
        let (s, p) = call(
            &app,
            &editor,
            Method::PATCH,
            "/api/v1/clients/shop",
            body.clone(),
        )
        .await;
        assert_eq!(s, 403, "{body}: {p}");
    }
    // A trusted client's `me` scopes reach everyone: trusting the portal needs `user:read`.
    let (s, p) = call(
        &app,
        &editor,
        Method::PATCH,
        "/api/v1/clients/portal",
        json!({"trusted": true}),
    )
    .await;
    assert_eq!(s, 403, "{p}");
    assert_eq!(p["missing_scopes"], json!(["AuthX:user:read"]));
    // Re-enabling needs the reach too; a harmless rename does not.
    let (s, _) = call(
        &app,
        &editor,
        Method::PATCH,
        "/api/v1/clients/portal",
        json!({"enabled": true}),
    )
    .await;
    assert_eq!(
        s, 200,
        "the portal's ceiling is AuthX:me:read, which the editor holds"
    );
    let (s, _) = call(
        &app,
        &editor,
        Method::PATCH,
        "/api/v1/clients/shop",
        json!({"name": "Shop 2"}),
    )
    .await;
    assert_eq!(s, 200);

    // What the attacker ends up with: the same secrets, redirect URIs and trust as before.
    assert_eq!(
        store.list_client_secrets("shop").await.unwrap().len(),
        secrets_before
    );
    let shop = store.get_client("shop").await.unwrap().unwrap();
    assert_eq!(shop.redirect_uris, ["https://shop.example/cb"]);
    assert!(shop.post_logout_redirect_uris.is_empty());
    assert!(!shop.trusted);
    assert!(!store.get_client("portal").await.unwrap().unwrap().trusted);

    // Whoever covers the reach may.
    let owner = caller(&app, &["AuthX:client.*:update", "Shop:**:*"]).await;
    let (s, p) = call(
        &app,
        &owner,
        Method::POST,
        "/api/v1/clients/shop/secrets/rotate",
        json!({}),
    )
    .await;
    assert_eq!(s, 201, "{p}");
    assert!(p["secret"].as_str().is_some());
    let (s, _) = call(
        &app,
        &owner,
        Method::PATCH,
        "/api/v1/clients/shop",
        json!({"redirect_uris": ["https://shop.example/cb2"]}),
    )
    .await;
    assert_eq!(s, 200);

    // Creating a trusted client follows the same rule.
    let creator = caller(&app, &["AuthX:client:create", "AuthX:me:*"]).await;
    let (s, p) = call(
        &app,
        &creator,
        Method::POST,
        "/api/v1/clients",
        json!({
            "id": "sneaky", "name": "Sneaky", "type": "public", "trusted": true,
            "redirect_uris": ["https://evil.example/cb"], "scopes": ["AuthX:me:read"],
        }),
    )
    .await;
    assert_eq!(s, 403, "{p}");
    assert!(store.get_client("sneaky").await.unwrap().is_none());
    app.stop().await.unwrap();
}
on_both_backends!(acting_as_a_client_needs_its_reach);
