//! The roles resource: CRUD, members, the authorization matrix of reference §2.6 and no self-escalation.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::db::TestDb;
use crate::support::principals::{api_call as call, caller};

async fn roles_crud_and_members(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let admin = caller(&app, &["AuthX:**:**", "App:**:**"]).await;
    let (s, role) = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/roles",
        Some(json!({"id": "editors", "name": "Editors", "scopes": ["App:doc.*:read", "App:doc.*:*", "App:doc.*:read"], "deny": ["App:doc.secret:*"]})),
    )
    .await;
    assert_eq!(s, 201, "{role}");
    // Stored simplified: the covered pattern and the duplicate are gone.
    assert_eq!(role["scopes"], json!(["App:doc.*:*"]));
    assert_eq!(role["deny"], json!(["App:doc.secret:*"]));
    let (s, p) = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/roles",
        Some(json!({"id": "x", "name": "X", "scopes": ["ok:a:b", "bad scope"]})),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(p["errors"][0]["field"], "scopes/1");
    let (s, _) = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/roles",
        Some(json!({"id": "editors", "name": "Again"})),
    )
    .await;
    assert_eq!(s, 409);
    let (s, p) = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/roles",
        Some(json!({"id": "Bad Id", "name": "X"})),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(p["errors"][0]["field"], "id");

    let member = caller(&app, &[]).await;
    let (s, _) = call(
        &app,
        &admin,
        Method::PUT,
        &format!("/api/v1/roles/editors/members/{}", member.user_id),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, list) = call(
        &app,
        &admin,
        Method::GET,
        "/api/v1/roles/editors/members",
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(list["items"], json!([member.user_id]));
    let access = app
        .state
        .store
        .access_of_user(&member.user_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(access.scopes, vec!["App:doc.*:*"]);
    let (s, _) = call(
        &app,
        &admin,
        Method::PUT,
        "/api/v1/roles/editors/members/no-such-user",
        None,
    )
    .await;
    assert_eq!(s, 404);

    let (s, role) = call(
        &app,
        &admin,
        Method::PATCH,
        "/api/v1/roles/editors",
        Some(json!({"scopes": ["App:doc.*:read"], "description": "readers now"})),
    )
    .await;
    assert_eq!(s, 200, "{role}");
    assert_eq!(role["scopes"], json!(["App:doc.*:read"]));
    assert_eq!(role["description"], "readers now");

    let (s, _) = call(
        &app,
        &admin,
        Method::DELETE,
        &format!("/api/v1/roles/editors/members/{}", member.user_id),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, _) = call(
        &app,
        &admin,
        Method::DELETE,
        &format!("/api/v1/roles/editors/members/{}", member.user_id),
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = call(&app, &admin, Method::DELETE, "/api/v1/roles/editors", None).await;
    assert_eq!(s, 204);
    let (s, _) = call(&app, &admin, Method::GET, "/api/v1/roles/editors", None).await;
    assert_eq!(s, 404);
    app.stop().await.unwrap();
}
on_both_backends!(roles_crud_and_members);

/// (method, path, body, the scopes that allow it, neighbouring scopes that must be refused)
type Case<'a> = (Method, String, Option<Value>, Vec<&'a str>, Vec<&'a str>);

/// Each operation: the exact scope lets the caller in; neighbouring scopes are refused with 403.
async fn roles_authorization_matrix(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let admin = caller(&app, &["AuthX:**:**", "App:**:**"]).await;
    for id in ["target", "other"] {
        let (s, _) = call(
            &app,
            &admin,
            Method::POST,
            "/api/v1/roles",
            Some(json!({"id": id, "name": id, "scopes": ["App:thing:read"]})),
        )
        .await;
        assert_eq!(s, 201);
    }
    let someone = caller(&app, &[]).await;
    let member_path = format!("/api/v1/roles/target/members/{}", someone.user_id);
    let cases: Vec<Case> = vec![
        (
            Method::GET,
            "/api/v1/roles/target".into(),
            None,
            vec!["AuthX:role.target:read"],
            vec![
                "AuthX:role.other:read",
                "AuthX:role.target:update",
                "Other:role.target:read",
                "AuthX:role:read",
                "AuthX:me:read",
            ],
        ),
        (
            Method::PATCH,
            "/api/v1/roles/target".into(),
            Some(json!({"name": "renamed"})),
            vec!["AuthX:role.target:update"],
            vec![
                "AuthX:role.target:read",
                "AuthX:role.other:update",
                "Other:role.target:update",
            ],
        ),
        (
            Method::PATCH,
            "/api/v1/roles/target".into(),
            Some(json!({"scopes": ["App:thing:read"]})),
            vec![
                "AuthX:role.target:update",
                "AuthX:role.target:update.scopes",
                "App:thing:read",
            ],
            vec![
                "AuthX:role.target:update",
                "AuthX:role.target:update.scopes",
            ],
        ),
        (
            Method::GET,
            "/api/v1/roles/target/members".into(),
            None,
            vec!["AuthX:role.target:read"],
            vec![
                "AuthX:role.other:read",
                "AuthX:role.target:update.assignments",
            ],
        ),
        (
            Method::PUT,
            member_path.clone(),
            None,
            vec!["AuthX:role.target:update.assignments", "App:thing:read"],
            vec![
                "AuthX:role.target:update",
                "AuthX:role.other:update.assignments",
                "AuthX:role.target:update.scopes",
            ],
        ),
        (
            Method::DELETE,
            member_path.clone(),
            None,
            vec!["AuthX:role.target:update.assignments"],
            vec!["AuthX:role.target:update", "AuthX:role.target:delete"],
        ),
        (
            Method::POST,
            "/api/v1/roles".into(),
            Some(json!({"id": "fresh", "name": "f"})),
            vec!["AuthX:role:create"],
            vec![
                "AuthX:role:read",
                "AuthX:role.fresh:create",
                "Other:role:create",
            ],
        ),
        (
            Method::DELETE,
            "/api/v1/roles/fresh".into(),
            None,
            vec!["AuthX:role.fresh:delete"],
            vec!["AuthX:role.fresh:update", "AuthX:role.target:delete"],
        ),
    ];
    for (method, path, body, allowed, refused) in cases {
        for neighbour in refused {
            // A neighbour plus the App scope (so escalation is not what refuses it).
            let who = caller(&app, &[neighbour, "App:thing:read"]).await;
            let (s, p) = call(&app, &who, method.clone(), &path, body.clone()).await;
            assert_eq!(s, 403, "{method} {path} with {neighbour}: {p}");
            assert_eq!(p["type"], "urn:authx:problem:forbidden");
        }
        let who = caller(&app, &allowed).await;
        let (s, p) = call(&app, &who, method.clone(), &path, body.clone()).await;
        assert!(
            (200..300).contains(&s),
            "{method} {path} with {allowed:?}: {s} {p}"
        );
    }
    // Lists: only readable roles; nothing readable → 403.
    let reader = caller(&app, &["AuthX:role.target:read"]).await;
    let (s, list) = call(&app, &reader, Method::GET, "/api/v1/roles", None).await;
    assert_eq!(s, 200);
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["target"]);
    let nobody = caller(&app, &["AuthX:user:read"]).await;
    let (s, _) = call(&app, &nobody, Method::GET, "/api/v1/roles", None).await;
    assert_eq!(s, 403);
    app.stop().await.unwrap();
}
on_both_backends!(roles_authorization_matrix);

/// Nobody can bestow scopes they do not hold: not by creating, editing, defaulting or assigning.
async fn no_self_escalation(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let admin = caller(&app, &["AuthX:**:**", "App:**:**"]).await;
    let (s, _) = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/roles",
        Some(json!({"id": "powerful", "name": "p", "scopes": ["App:**:**"]})),
    )
    .await;
    assert_eq!(s, 201);
    // `role.*:**`, not `role.*:*`: `*` is exactly one segment and `update.scopes` has two.
    let limited = caller(
        &app,
        &["AuthX:role:create", "AuthX:role.*:**", "App:doc:read"],
    )
    .await;

    let (s, p) = call(&app, &limited, Method::POST, "/api/v1/roles", Some(json!({"id": "mine", "name": "m", "scopes": ["App:doc:read", "App:doc:write", "AuthX:**:**"]}))).await;
    assert_eq!(s, 403);
    assert_eq!(p["missing_scopes"], json!(["App:doc:write", "AuthX:**:**"]));
    assert!(
        app.state.store.get_role("mine").await.unwrap().is_none(),
        "nothing created"
    );

    let (s, _) = call(
        &app,
        &limited,
        Method::POST,
        "/api/v1/roles",
        Some(json!({"id": "mine", "name": "m", "scopes": ["App:doc:read"]})),
    )
    .await;
    assert_eq!(s, 201);
    let (s, p) = call(
        &app,
        &limited,
        Method::PATCH,
        "/api/v1/roles/mine",
        Some(json!({"scopes": ["App:**:**"]})),
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(p["missing_scopes"], json!(["App:**:**"]));
    // Assigning oneself (or anyone) to a role bestowing more than one holds.
    let (s, p) = call(
        &app,
        &limited,
        Method::PUT,
        &format!("/api/v1/roles/powerful/members/{}", limited.user_id),
        None,
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(p["missing_scopes"], json!(["App:**:**"]));
    // Making the powerful role default would bestow it on everyone, the caller included.
    let (s, _) = call(
        &app,
        &limited,
        Method::PATCH,
        "/api/v1/roles/powerful",
        Some(json!({"default": true})),
    )
    .await;
    assert_eq!(s, 403);
    assert!(
        !app.state
            .store
            .get_role("powerful")
            .await
            .unwrap()
            .unwrap()
            .is_default
    );
    // A deny the caller is under also limits what they can bestow.
    let denied = caller(&app, &["AuthX:role:create", "App:**:**"]).await;
    app.state
        .store
        .update_role(
            &denied.role_id,
            authx::domain::role::RolePatch {
                deny: Some(vec!["App:secret:*".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (s, p) = call(
        &app,
        &denied,
        Method::POST,
        "/api/v1/roles",
        Some(json!({"id": "sneaky", "name": "s", "scopes": ["App:**:**"]})),
    )
    .await;
    assert_eq!(s, 403, "{p}");
    app.stop().await.unwrap();
}
on_both_backends!(no_self_escalation);

/// A key's power follows its owner's roles live: a removed scope is refused on the next call.
async fn access_follows_live_role_changes(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let who = caller(&app, &["AuthX:user:read"]).await;
    let (s, _) = call(&app, &who, Method::GET, "/api/v1/users", None).await;
    assert_eq!(s, 200);
    app.state
        .store
        .update_role(
            &who.role_id,
            authx::domain::role::RolePatch {
                scopes: Some(vec!["AuthX:me:read".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (s, _) = call(
        &app,
        &who,
        Method::GET,
        &format!("/api/v1/users/{}", uuid::Uuid::now_v7()),
        None,
    )
    .await;
    assert_eq!(s, 403);
    app.state
        .store
        .update_user(
            &who.user_id,
            authx::domain::user::UserPatch {
                status: Some(authx::domain::user::UserStatus::Disabled),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (s, _) = call(&app, &who, Method::GET, "/api/v1/me", None).await;
    assert_eq!(s, 401, "a disabled user's key stops working at once");
    app.stop().await.unwrap();
}
on_both_backends!(access_follows_live_role_changes);
