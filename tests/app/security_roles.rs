//! Attacks through roles, on both backends: a user held back by a deny tries to free themself
//! (disabling, deleting or shrinking the role, leaving it), a role editor tries to lock everyone
//! out with a deny on the default role, an administrator's change would leave no administrator,
//! and a narrow reader walks list cursors to learn hidden ids. Each test asserts what the
//! attacker ends up holding or seeing, read back from the store.

use authx::domain::access::Access;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::db::TestDb;
use crate::support::principals::{api_json as call, caller, caller_with};

/// Whether user `user_id` holds `scope` now, from live data.
async fn holds(app: &TestApp, user_id: &str, scope: &str) -> bool {
    let raw = app.state.store.access_of_user(user_id).await.unwrap();
    raw.is_some_and(|raw| Access::of_user(&raw).allows_str(scope))
}

async fn a_user_cannot_lift_a_deny_that_holds_them(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let store = &app.state.store;
    let root = caller(&app, &["**:**:**"]).await;
    // Mallory may edit every role and holds all of Shop, but the quarantine denies her orders.
    let mallory = caller(&app, &["AuthX:role.*:**", "Shop:**:*"]).await;
    let (s, p) = call(
        &app,
        &root,
        Method::POST,
        "/api/v1/roles",
        json!({"id": "quarantine", "name": "Quarantine", "deny": ["Shop:orders:*"]}),
    )
    .await;
    assert_eq!(s, 201, "{p}");
    let member = format!("/api/v1/roles/quarantine/members/{}", mallory.user_id);
    let (s, _) = call(&app, &root, Method::PUT, &member, Value::Null).await;
    assert_eq!(s, 204);
    assert!(!holds(&app, &mallory.user_id, "Shop:orders:read").await);

    for (method, path, body) in [
        (
            Method::PATCH,
            "/api/v1/roles/quarantine",
            json!({"enabled": false}),
        ),
        (
            Method::PATCH,
            "/api/v1/roles/quarantine",
            json!({"deny": []}),
        ),
        (
            Method::PATCH,
            "/api/v1/roles/quarantine",
            json!({"deny": ["Shop:orders:delete"]}),
        ),
        (Method::DELETE, "/api/v1/roles/quarantine", Value::Null),
        (Method::DELETE, member.as_str(), Value::Null),
    ] {
        let (s, p) = call(&app, &mallory, method.clone(), path, body.clone()).await;
        assert_eq!(s, 403, "{method} {path} {body}: {p}");
        assert_eq!(
            p["missing_scopes"],
            json!(["Shop:orders:*"]),
            "{path} {body}"
        );
    }
    // What she ends up holding: still no orders; the quarantine is as it was.
    assert!(!holds(&app, &mallory.user_id, "Shop:orders:read").await);
    assert!(holds(&app, &mallory.user_id, "Shop:catalog:read").await);
    let role = store.get_role("quarantine").await.unwrap().unwrap();
    assert!(role.enabled);
    assert_eq!(role.deny, ["Shop:orders:*"]);
    // Widening the deny is not lifting anything, and she may do it.
    let (s, p) = call(
        &app,
        &mallory,
        Method::PATCH,
        "/api/v1/roles/quarantine",
        json!({"deny": ["Shop:**:*"]}),
    )
    .await;
    assert_eq!(s, 200, "{p}");
    assert!(!holds(&app, &mallory.user_id, "Shop:catalog:read").await);

    // Someone who holds the patterns, and is not held back by them, may lift them.
    let ops = caller(&app, &["AuthX:role.*:**", "Shop:**:*"]).await;
    let (s, p) = call(&app, &ops, Method::DELETE, &member, Value::Null).await;
    assert_eq!(s, 204, "{p}");
    assert!(holds(&app, &mallory.user_id, "Shop:orders:read").await);
    app.stop().await.unwrap();
}
on_both_backends!(a_user_cannot_lift_a_deny_that_holds_them);

async fn a_deny_on_everyone_needs_its_patterns(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let store = &app.state.store;
    let root = caller(&app, &["**:**:**"]).await;
    let (s, _) = call(
        &app,
        &root,
        Method::POST,
        "/api/v1/roles",
        json!({"id": "everyone", "name": "Everyone", "default": true, "scopes": ["AuthX:me:read"]}),
    )
    .await;
    assert_eq!(s, 201);
    // May create and edit roles, holds nothing of users.
    let editor = caller(
        &app,
        &["AuthX:role:create", "AuthX:role.*:**", "AuthX:me:read"],
    )
    .await;
    let (s, p) = call(
        &app,
        &editor,
        Method::POST,
        "/api/v1/roles",
        json!({"id": "lockout", "name": "x", "default": true, "deny": ["AuthX:user:*"]}),
    )
    .await;
    assert_eq!(s, 403, "{p}");
    assert_eq!(p["missing_scopes"], json!(["AuthX:user:*"]));
    assert!(store.get_role("lockout").await.unwrap().is_none());
    for body in [
        json!({"deny": ["AuthX:user:*"]}),
        json!({"deny": ["AuthX:**:**"]}),
    ] {
        let (s, p) = call(
            &app,
            &editor,
            Method::PATCH,
            "/api/v1/roles/everyone",
            body.clone(),
        )
        .await;
        assert_eq!(s, 403, "{body}: {p}");
    }
    // A non-default role with a deny, then made default: the same rule.
    let (s, _) = call(
        &app,
        &editor,
        Method::POST,
        "/api/v1/roles",
        json!({"id": "later", "name": "x", "deny": ["AuthX:user:*"]}),
    )
    .await;
    assert_eq!(s, 201);
    let (s, p) = call(
        &app,
        &editor,
        Method::PATCH,
        "/api/v1/roles/later",
        json!({"default": true}),
    )
    .await;
    assert_eq!(s, 403, "{p}");
    // What everyone ends up with: root still administers users.
    assert!(holds(&app, &root.user_id, "AuthX:user:update").await);
    assert!(
        store
            .get_role("everyone")
            .await
            .unwrap()
            .unwrap()
            .deny
            .is_empty()
    );
    assert!(!store.get_role("later").await.unwrap().unwrap().is_default);
    app.stop().await.unwrap();
}
on_both_backends!(a_deny_on_everyone_needs_its_patterns);

async fn no_change_leaves_the_installation_without_an_administrator(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let store = &app.state.store;
    let admin = caller(&app, &["**:**:**"]).await;
    let role = format!("/api/v1/roles/{}", admin.role_id);
    let user = format!("/api/v1/users/{}", admin.user_id);
    let membership = format!("{role}/members/{}", admin.user_id);
    for (method, path, body) in [
        (Method::PATCH, role.as_str(), json!({"enabled": false})),
        (
            Method::PATCH,
            role.as_str(),
            json!({"scopes": ["AuthX:me:*"]}),
        ),
        (
            Method::PATCH,
            role.as_str(),
            json!({"deny": ["AuthX:user:*"]}),
        ),
        (Method::DELETE, role.as_str(), Value::Null),
        (Method::DELETE, membership.as_str(), Value::Null),
        (Method::PATCH, user.as_str(), json!({"status": "disabled"})),
        (Method::DELETE, user.as_str(), Value::Null),
    ] {
        let (s, p) = call(&app, &admin, method.clone(), path, body.clone()).await;
        assert_eq!(s, 409, "{method} {path} {body}: {p}");
        assert!(
            p["detail"]
                .as_str()
                .is_some_and(|d| d.contains("no active user who can administer")),
            "{p}"
        );
    }
    // A default role that denies administration to everyone is the same lock-out.
    let (s, p) = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/roles",
        json!({"id": "all", "name": "x", "default": true, "deny": ["AuthX:role.*:**"]}),
    )
    .await;
    assert_eq!(s, 409, "{p}");
    assert!(store.get_role("all").await.unwrap().is_none());
    // Still an administrator, with everything as it was.
    assert!(holds(&app, &admin.user_id, "AuthX:role.x:update.scopes").await);
    assert!(holds(&app, &admin.user_id, "AuthX:user:update").await);
    assert!(store.get_user(&admin.user_id).await.unwrap().is_some());

    // With a second administrator, the first may step down.
    let (s, p) = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/roles",
        json!({"id": "ops", "name": "Ops", "scopes": ["AuthX:**:**"]}),
    )
    .await;
    assert_eq!(s, 201, "{p}");
    // Their key may carry anything; it is narrowed to what their roles give them at each call.
    let other = caller_with(&app, &["AuthX:me:*"], Some(&["**:**:**"])).await;
    let (s, _) = call(
        &app,
        &admin,
        Method::PUT,
        &format!("/api/v1/roles/ops/members/{}", other.user_id),
        Value::Null,
    )
    .await;
    assert_eq!(s, 204);
    let (s, p) = call(&app, &admin, Method::DELETE, &membership, Value::Null).await;
    assert_eq!(s, 204, "{p}");
    assert!(!holds(&app, &admin.user_id, "AuthX:user:update").await);
    assert!(holds(&app, &other.user_id, "AuthX:user:update").await);
    // And the new one cannot remove themself in turn.
    let (s, _) = call(
        &app,
        &other,
        Method::DELETE,
        &format!("/api/v1/roles/ops/members/{}", other.user_id),
        Value::Null,
    )
    .await;
    assert_eq!(s, 409);
    assert!(holds(&app, &other.user_id, "AuthX:user:update").await);
    app.stop().await.unwrap();
}
on_both_backends!(no_change_leaves_the_installation_without_an_administrator);

/// A client's machine user can be the last administrator: switching that client off, or
/// deleting it, would end its access, so neither is allowed then.
async fn the_last_administrator_may_be_a_client(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let store = &app.state.store;
    let admin = caller(&app, &["**:**:**"]).await;
    let (s, c) = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/clients",
        json!({"id": "ops-bot", "name": "Ops bot", "type": "confidential",
               "scopes": ["AuthX:**:**"]}),
    )
    .await;
    assert_eq!(s, 201, "{c}");
    let bot = c["machine_user_id"].as_str().unwrap().to_owned();
    let (s, p) = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/roles",
        json!({"id": "bots", "name": "Bots", "scopes": ["AuthX:**:**"]}),
    )
    .await;
    assert_eq!(s, 201, "{p}");
    let (s, _) = call(
        &app,
        &admin,
        Method::PUT,
        &format!("/api/v1/roles/bots/members/{bot}"),
        Value::Null,
    )
    .await;
    assert_eq!(s, 204);
    // The human steps down; the bot is now the only administrator.
    let membership = format!("/api/v1/roles/{}/members/{}", admin.role_id, admin.user_id);
    let (s, p) = call(&app, &admin, Method::DELETE, &membership, Value::Null).await;
    assert_eq!(s, 204, "{p}");
    let keeper = caller(&app, &["AuthX:client.*:*"]).await;
    for (method, body) in [
        (Method::PATCH, json!({"enabled": false})),
        (Method::DELETE, Value::Null),
    ] {
        let (s, p) = call(
            &app,
            &keeper,
            method.clone(),
            "/api/v1/clients/ops-bot",
            body,
        )
        .await;
        assert_eq!(s, 409, "{method}: {p}");
    }
    let client = store.get_client("ops-bot").await.unwrap().unwrap();
    assert!(client.enabled);
    assert!(holds(&app, &bot, "AuthX:user:update").await);
    app.stop().await.unwrap();
}
on_both_backends!(the_last_administrator_may_be_a_client);

/// Every id and cursor `who` sees walking `path` one item at a time.
async fn walk(app: &TestApp, who: &crate::support::principals::Caller, path: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut url = format!("{path}?limit=1");
    for _ in 0..50 {
        let (s, page) = call(app, who, Method::GET, &url, Value::Null).await;
        assert_eq!(s, 200, "{url}: {page}");
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                seen.push(cursor.to_owned());
                url = format!("{path}?limit=1&cursor={cursor}");
            }
            None => return seen,
        }
    }
    panic!("{path} did not end");
}

async fn list_cursors_name_only_what_the_caller_may_read(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let root = caller(&app, &["**:**:**"]).await;
    for id in ["h0", "v1", "h2", "v2", "h3"] {
        let (s, _) = call(
            &app,
            &root,
            Method::POST,
            "/api/v1/roles",
            json!({"id": id, "name": id}),
        )
        .await;
        assert_eq!(s, 201);
        let (s, p) = call(
            &app,
            &root,
            Method::POST,
            "/api/v1/clients",
            json!({"id": format!("c{id}"), "name": id, "type": "public",
                   "redirect_uris": ["https://app.example/cb"]}),
        )
        .await;
        assert_eq!(s, 201, "{p}");
    }
    let reader = caller(
        &app,
        &[
            "AuthX:role.v1:read",
            "AuthX:role.v2:read",
            "AuthX:client.cv1:read",
            "AuthX:client.cv2:read",
        ],
    )
    .await;
    let roles = walk(&app, &reader, "/api/v1/roles").await;
    assert!(roles.iter().all(|id| id == "v1" || id == "v2"), "{roles:?}");
    assert!(roles.contains(&"v1".to_owned()) && roles.contains(&"v2".to_owned()));
    let clients = walk(&app, &reader, "/api/v1/clients").await;
    assert!(
        clients.iter().all(|id| id == "cv1" || id == "cv2"),
        "{clients:?}"
    );
    assert!(clients.contains(&"cv2".to_owned()));
    app.stop().await.unwrap();
}
on_both_backends!(list_cursors_name_only_what_the_caller_may_read);
