//! The users and me resources of the admin API, end to end over HTTP.

use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::db::TestDb;
use crate::support::principals::caller;

async fn users_crud_and_problems(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let admin = caller(&app, &["AuthX:user:*"]).await;
    let c = &app.client;
    // No credentials: 401 problem with a bearer challenge.
    let r = c.get(app.url("/api/v1/users")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/problem+json")
    );
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let r = c
        .get(app.url("/api/v1/users"))
        .bearer_auth("axk_nonsense")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let r = c
        .post(app.url("/api/v1/users"))
        .header("authorization", admin.bearer())
        .json(&json!({"email": "Ada@Example.com", "username": "Ada", "display_name": "Ada L"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let ada: Value = r.json().await.unwrap();
    assert_eq!(ada["email"], "ada@example.com");
    assert_eq!(ada["username"], "ada");
    let id = ada["id"].as_str().unwrap();

    // Invalid field named in a problem document.
    let r = c
        .post(app.url("/api/v1/users"))
        .header("authorization", admin.bearer())
        .json(&json!({"email": "not an address"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:authx:problem:invalid-request");
    assert_eq!(p["errors"][0]["field"], "email");

    // Duplicate username: 409.
    let r = c
        .post(app.url("/api/v1/users"))
        .header("authorization", admin.bearer())
        .json(&json!({"username": "ada"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "username", "{p}");

    let r = c
        .patch(app.url(&format!("/api/v1/users/{id}")))
        .header("authorization", admin.bearer())
        .json(&json!({"display_name": null, "status": "disabled"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let patched: Value = r.json().await.unwrap();
    assert_eq!(patched["status"], "disabled");
    assert!(patched["display_name"].is_null());

    let r = c
        .get(app.url("/api/v1/users?status=disabled&limit=10"))
        .header("authorization", admin.bearer())
        .send()
        .await
        .unwrap();
    let list: Value = r.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // limit above 100: a documented 400 problem.
    let r = c
        .get(app.url("/api/v1/users?limit=101"))
        .header("authorization", admin.bearer())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/problem+json")
    );

    // Wrong method: 405 with Allow, as a problem.
    let r = c
        .put(app.url(&format!("/api/v1/users/{id}")))
        .header("authorization", admin.bearer())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let allow = r.headers()["allow"].to_str().unwrap().to_owned();
    assert!(
        allow.contains("PATCH") && allow.contains("DELETE"),
        "{allow}"
    );
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/problem+json")
    );

    let r = c
        .delete(app.url(&format!("/api/v1/users/{id}")))
        .header("authorization", admin.bearer())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = c
        .get(app.url(&format!("/api/v1/users/{id}")))
        .header("authorization", admin.bearer())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    app.stop().await.unwrap();
}
on_both_backends!(users_crud_and_problems);

async fn me_variants(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let me_only = caller(&app, &["AuthX:me:*"]).await;
    let other = caller(&app, &["AuthX:me:*"]).await;
    let c = &app.client;
    let r = c
        .get(app.url("/api/v1/me"))
        .header("authorization", me_only.bearer())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["user"]["id"], me_only.user_id.as_str());
    assert_eq!(me["scopes"], json!(["AuthX:me:*"]));
    // me:read reads oneself through /users/{id} too, but nobody else.
    let r = c
        .get(app.url(&format!("/api/v1/users/{}", me_only.user_id)))
        .header("authorization", me_only.bearer())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(app.url(&format!("/api/v1/users/{}", other.user_id)))
        .header("authorization", me_only.bearer())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["missing_scopes"], json!(["AuthX:user:read"]));
    // The list shows only oneself.
    let r = c
        .get(app.url("/api/v1/users"))
        .header("authorization", me_only.bearer())
        .send()
        .await
        .unwrap();
    let list: Value = r.json().await.unwrap();
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![me_only.user_id.as_str()]);
    // Refusals are audited.
    let denied = app
        .state
        .store
        .list_audit(
            &authx::domain::audit::AuditFilter {
                actor_id: Some(me_only.user_id.clone()),
                ..Default::default()
            },
            &authx::domain::Page::first(10),
        )
        .await
        .unwrap();
    assert!(
        denied
            .iter()
            .any(|e| e.action == "user.read" && e.outcome == authx::domain::audit::Outcome::Denied)
    );
    app.stop().await.unwrap();
}
on_both_backends!(me_variants);
