//! Input the admin API does not understand is an error naming it, never silence: unknown JSON
//! fields (at any depth), malformed enum values, missing required fields, unknown query
//! parameters. Nothing is written on such a request. And the list filters people look for first:
//! users by email, username and status, roles by member.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::db::TestDb;
use crate::support::principals::{api_call as call, caller};

/// The first named field of a 400 problem.
fn field(problem: &Value) -> &str {
    assert_eq!(
        problem["type"], "urn:authx:problem:invalid-request",
        "{problem}"
    );
    problem["errors"][0]["field"].as_str().unwrap_or_default()
}

async fn unknown_and_malformed_input_is_named(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let admin = caller(&app, &["AuthX:**:**", "App:**:**"]).await;

    // A client: `type` misspelt, `type` missing, a field that does not exist.
    let (s, p) = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/clients",
        Some(json!({"id": "shop", "name": "Shop", "type": "pub"})),
    )
    .await;
    assert_eq!(s, 400, "{p}");
    assert_eq!(field(&p), "type");
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("confidential, public"),
        "{p}"
    );
    let (s, p) = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/clients",
        Some(json!({"id": "shop", "name": "Shop"})),
    )
    .await;
    assert_eq!(s, 400, "{p}");
    assert_eq!(field(&p), "type");
    assert_eq!(p["errors"][0]["message"], "is required");
    let (s, p) = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/clients",
        Some(json!({"id": "shop", "name": "Shop", "type": "public", "secret": "x"})),
    )
    .await;
    assert_eq!(s, 400, "{p}");
    assert_eq!(field(&p), "secret");
    let (s, _) = call(&app, &admin, Method::GET, "/api/v1/clients/shop", None).await;
    assert_eq!(s, 404, "nothing was created");

    // A user with a password in the body (passwords go through credentials) is refused whole.
    let (s, p) = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/users",
        Some(json!({"email": "ada@example.com", "password": "a long passphrase"})),
    )
    .await;
    assert_eq!(s, 400, "{p}");
    assert_eq!(field(&p), "password");
    let (s, list) = call(
        &app,
        &admin,
        Method::GET,
        "/api/v1/users?email=ada%40example.com",
        None,
    )
    .await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["items"], json!([]), "nothing was created");

    // A nested unknown field names its path: the profile's names live under `name`.
    let (s, p) = call(
        &app,
        &admin,
        Method::PATCH,
        "/api/v1/me",
        Some(json!({"profile": {"given_name": "Ada"}})),
    )
    .await;
    assert_eq!(s, 400, "{p}");
    assert_eq!(field(&p), "profile/given_name");
    let (s, p) = call(
        &app,
        &admin,
        Method::PATCH,
        "/api/v1/me",
        Some(json!({"profile": {"name": {"given_name": "Ada"}}})),
    )
    .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["profile"]["name"]["given_name"], "Ada");

    // A wrong type inside a list, and a body that is not JSON at all.
    let (s, p) = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/roles",
        Some(json!({"id": "r", "name": "R", "scopes": ["App:doc:read", 7]})),
    )
    .await;
    assert_eq!(s, 400, "{p}");
    assert_eq!(field(&p), "scopes/1");
    let r = app
        .client
        .post(app.url("/api/v1/roles"))
        .header("authorization", admin.bearer())
        .header("content-type", "application/json")
        .body("{\"id\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let p: Value = r.json().await.unwrap();
    assert!(
        p["detail"].as_str().unwrap().contains("not valid JSON"),
        "{p}"
    );

    // Unknown query parameters are refused, naming them and what the operation takes.
    let (s, p) = call(&app, &admin, Method::GET, "/api/v1/users?usrname=ada", None).await;
    assert_eq!(s, 400, "{p}");
    assert_eq!(field(&p), "usrname");
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("username"),
        "{p}"
    );
    let (s, p) = call(&app, &admin, Method::GET, "/api/v1/roles?sort=id", None).await;
    assert_eq!(s, 400, "{p}");
    assert_eq!(field(&p), "sort");
    let (s, p) = call(&app, &admin, Method::GET, "/api/v1/me?x=1", None).await;
    assert_eq!(s, 400, "{p}");
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("takes no query parameters"),
        "{p}"
    );
    app.stop().await.unwrap();
}
on_both_backends!(unknown_and_malformed_input_is_named);

async fn users_and_roles_have_the_filters_people_expect(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let admin = caller(&app, &["AuthX:**:**"]).await;
    let create = |body: Value| {
        let app = &app;
        let admin = &admin;
        async move {
            let (s, u) = call(app, admin, Method::POST, "/api/v1/users", Some(body)).await;
            assert_eq!(s, 201, "{u}");
            u["id"].as_str().unwrap().to_owned()
        }
    };
    let ada = create(json!({"username": "ada", "email": "ada@example.com"})).await;
    let bob = create(json!({"username": "bob", "status": "disabled"})).await;
    // Bob signs in with an email credential whose address is not his primary email.
    let (s, p) = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/authorities",
        Some(json!({"id": "email", "strategy": "email", "name": "Email"})),
    )
    .await;
    assert_eq!(s, 201, "{p}");
    let (s, p) = call(
        &app,
        &admin,
        Method::POST,
        &format!("/api/v1/users/{bob}/credentials"),
        Some(json!({"authority_id": "email", "authority_user_id": "bob@example.org"})),
    )
    .await;
    assert_eq!(s, 201, "{p}");
    let ids = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect()
    };

    let (_, list) = call(
        &app,
        &admin,
        Method::GET,
        "/api/v1/users?username=ada",
        None,
    )
    .await;
    assert_eq!(ids(&list), vec![ada.clone()], "{list}");
    let (_, list) = call(&app, &admin, Method::GET, "/api/v1/users?username=ad", None).await;
    assert!(ids(&list).is_empty(), "exact match: {list}");
    let (_, list) = call(
        &app,
        &admin,
        Method::GET,
        "/api/v1/users?email=ADA%40example.com",
        None,
    )
    .await;
    assert_eq!(ids(&list), vec![ada.clone()], "{list}");
    let (_, list) = call(
        &app,
        &admin,
        Method::GET,
        "/api/v1/users?status=disabled",
        None,
    )
    .await;
    assert_eq!(ids(&list), vec![bob.clone()], "{list}");
    let (_, list) = call(
        &app,
        &admin,
        Method::GET,
        "/api/v1/users?email=bob%40example.org",
        None,
    )
    .await;
    assert_eq!(ids(&list), vec![bob.clone()], "by sign-in address: {list}");

    // Roles by member.
    for id in ["editors", "viewers"] {
        let (s, r) = call(
            &app,
            &admin,
            Method::POST,
            "/api/v1/roles",
            Some(json!({"id": id, "name": id, "scopes": ["AuthX:me:read"]})),
        )
        .await;
        assert_eq!(s, 201, "{r}");
    }
    let (s, _) = call(
        &app,
        &admin,
        Method::PUT,
        &format!("/api/v1/roles/viewers/members/{ada}"),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, list) = call(
        &app,
        &admin,
        Method::GET,
        &format!("/api/v1/roles?member={ada}"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{list}");
    let role_ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(role_ids, ["viewers"], "{list}");
    let (_, list) = call(
        &app,
        &admin,
        Method::GET,
        &format!("/api/v1/roles?member={bob}"),
        None,
    )
    .await;
    assert_eq!(list["items"], json!([]), "{list}");
    app.stop().await.unwrap();
}
on_both_backends!(users_and_roles_have_the_filters_people_expect);
