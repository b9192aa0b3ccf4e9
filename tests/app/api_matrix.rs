//! The authorization matrix for the operations not covered by their resource's own tests: users
//! and `me`, audit events and signing keys. For each operation, a caller holding exactly the
//! required scope is let in, and callers holding the neighbouring scopes — `me` for `user`, `read`
//! for `update`, the wrong realm, the wrong action — are refused with 403.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::db::TestDb;
use crate::support::principals::{api_call as call, caller};

/// One row: an operation, the scopes that allow it, and neighbouring scopes that must not.
struct Row {
    method: Method,
    path: String,
    body: Option<Value>,
    allowed: Vec<String>,
    refused: Vec<&'static str>,
}

async fn check(app: &TestApp, row: Row) {
    for neighbour in &row.refused {
        let who = caller(app, &[neighbour]).await;
        let (s, p) = call(app, &who, row.method.clone(), &row.path, row.body.clone()).await;
        assert_eq!(s, 403, "{} {} with {neighbour}: {p}", row.method, row.path);
        assert_eq!(p["type"], "urn:authx:problem:forbidden");
    }
    let allowed: Vec<&str> = row.allowed.iter().map(String::as_str).collect();
    let who = caller(app, &allowed).await;
    let (s, p) = call(app, &who, row.method.clone(), &row.path, row.body.clone()).await;
    assert!(
        (200..300).contains(&s),
        "{} {} with {allowed:?}: {s} {p}",
        row.method,
        row.path
    );
}

async fn users_audit_keys_matrix(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let target = caller(&app, &[]).await;
    let t = &target.user_id;
    let rows = vec![
        Row {
            method: Method::GET,
            path: "/api/v1/users".into(),
            body: None,
            allowed: vec!["AuthX:user:read".into()],
            refused: vec!["AuthX:user:update", "Other:user:read", "AuthX:role.*:read"],
        },
        Row {
            method: Method::POST,
            path: "/api/v1/users".into(),
            body: Some(json!({"display_name": "New"})),
            allowed: vec!["AuthX:user:create".into()],
            refused: vec!["AuthX:user:read", "AuthX:me:create", "Other:user:create"],
        },
        Row {
            method: Method::GET,
            path: format!("/api/v1/users/{t}"),
            body: None,
            allowed: vec!["AuthX:user:read".into()],
            refused: vec!["AuthX:me:read", "AuthX:user:update", "Other:user:read"],
        },
        Row {
            method: Method::PATCH,
            path: format!("/api/v1/users/{t}"),
            body: Some(json!({"display_name": "Renamed"})),
            allowed: vec!["AuthX:user:update".into()],
            refused: vec!["AuthX:user:read", "AuthX:me:update", "Other:user:update"],
        },
        Row {
            method: Method::GET,
            path: "/api/v1/audit-events".into(),
            body: None,
            allowed: vec!["AuthX:audit:read".into()],
            refused: vec!["AuthX:audit:update", "AuthX:user:read", "Other:audit:read"],
        },
        Row {
            method: Method::GET,
            path: "/api/v1/keys".into(),
            body: None,
            allowed: vec!["AuthX:key:read".into()],
            refused: vec!["AuthX:key:rotate", "Other:key:read", "AuthX:audit:read"],
        },
        Row {
            method: Method::POST,
            path: "/api/v1/keys/rotate".into(),
            body: Some(json!({})),
            allowed: vec!["AuthX:key:rotate".into()],
            refused: vec!["AuthX:key:read", "Other:key:rotate"],
        },
        Row {
            method: Method::GET,
            path: "/api/v1/api-keys".into(),
            body: None,
            allowed: vec!["AuthX:apikey.user:read".into()],
            refused: vec![
                "AuthX:apikey.user:delete",
                "AuthX:user:read",
                "Other:apikey.user:read",
            ],
        },
        Row {
            method: Method::DELETE,
            path: format!("/api/v1/users/{t}"),
            body: None,
            allowed: vec!["AuthX:user:delete".into()],
            refused: vec!["AuthX:user:update", "AuthX:me:delete", "Other:user:delete"],
        },
    ];
    for row in rows {
        check(&app, row).await;
    }
    app.stop().await.unwrap();
}
on_both_backends!(users_audit_keys_matrix);

/// `me` operations need `me:<action>` (or the wider `user:<action>`, which covers every user) and
/// only ever touch the caller.
async fn me_matrix(db: TestDb) {
    let app = TestApp::spawn(db).await;
    for (method, body, allowed, refused) in [
        (
            Method::GET,
            None,
            "AuthX:me:read",
            ["AuthX:me:update", "Other:me:read"],
        ),
        (
            Method::PATCH,
            Some(json!({"display_name": "Me"})),
            "AuthX:me:update",
            ["AuthX:me:read", "Other:me:update"],
        ),
        (
            Method::DELETE,
            None,
            "AuthX:me:delete",
            ["AuthX:me:update", "Other:me:delete"],
        ),
    ] {
        for neighbour in refused {
            let who = caller(&app, &[neighbour]).await;
            let (s, p) = call(&app, &who, method.clone(), "/api/v1/me", body.clone()).await;
            assert_eq!(s, 403, "{method} /me with {neighbour}: {p}");
        }
        let who = caller(&app, &[allowed]).await;
        let (s, p) = call(&app, &who, method.clone(), "/api/v1/me", body.clone()).await;
        assert!(
            (200..300).contains(&s),
            "{method} /me with {allowed}: {s} {p}"
        );
    }
    app.stop().await.unwrap();
}
on_both_backends!(me_matrix);
