//! Personal API keys (reference §5) end to end: the `/api/v1/me/api-keys` and `/api/v1/api-keys`
//! resources, the token check through `POST /oauth2/introspect` (RFC 7662) and Ego's
//! `POST /o/check_api_key`, and `bootstrap-admin --issue-api-key` through the binary.

use authx::domain::api_key::NewApiKey;
use authx::domain::audit::AuditFilter;
use authx::domain::client::{ClientType, InitialClientSecret, NewClient};
use authx::domain::role::{NewRole, RolePatch};
use authx::domain::user::{NewUser, UserPatch, UserStatus};
use authx::domain::{Page, now};
use authx::secret;
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::binary::{authx, run, text};
use crate::support::db::TestDb;
use crate::support::principals::{caller, caller_with};

/// A confidential client of the checker, created through the store with a fresh secret.
struct TestClient {
    id: String,
    secret: String,
}

async fn make_client(app: &TestApp, id: &str) -> TestClient {
    let secret = secret::generate(secret::CLIENT_SECRET_PREFIX);
    app.state
        .store
        .create_client(
            NewClient {
                id: id.to_owned(),
                name: format!("client {id}"),
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
                secret_hash: secret::hash(&secret),
                description: None,
                expires_at: None,
            }),
        )
        .await
        .unwrap();
    TestClient {
        id: id.to_owned(),
        secret,
    }
}

/// A user holding exactly `scopes` minus `deny` through a role of their own; returns (user, role).
async fn user_with_role(app: &TestApp, scopes: &[&str], deny: &[&str]) -> (String, String) {
    let store = &app.state.store;
    let n = uuid::Uuid::new_v4().simple().to_string();
    let mut user = NewUser::human();
    user.email = Some(format!("holder-{}@example.com", &n[..12]));
    let user = store.create_user(user).await.unwrap();
    let role_id = format!("k{}", &n[..20]);
    store
        .create_role(NewRole {
            id: role_id.clone(),
            name: "key holder".into(),
            description: None,
            is_default: false,
            enabled: true,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
        })
        .await
        .unwrap();
    store.add_role_member(&role_id, &user.id).await.unwrap();
    (user.id, role_id)
}

/// A key for `user_id` stored directly (any expiry, any clients); returns (id, secret).
async fn store_key(
    app: &TestApp,
    user_id: &str,
    scopes: &[&str],
    clients: &[&str],
    expires_at: i64,
) -> (String, String) {
    let key = secret::generate(secret::API_KEY_PREFIX);
    let stored = app
        .state
        .store
        .create_api_key(NewApiKey {
            user_id: user_id.to_owned(),
            key_hash: secret::hash(&key),
            hint: secret::hint(&key),
            description: None,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            clients: clients.iter().map(|s| s.to_string()).collect(),
            expires_at,
        })
        .await
        .unwrap();
    (stored.id, key)
}

/// `POST /oauth2/introspect` with Basic client authentication; (status, body text).
async fn introspect_raw(app: &TestApp, client: &TestClient, token: &str) -> (u16, String) {
    let r = app
        .client
        .post(app.url("/oauth2/introspect"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    assert_eq!(
        r.headers()["cache-control"],
        "no-store",
        "introspection answers must not be cached"
    );
    (status, r.text().await.unwrap())
}

/// Introspects and returns the JSON answer, asserting 200 and that the token is not echoed.
async fn introspect(app: &TestApp, client: &TestClient, token: &str) -> Value {
    let (status, body) = introspect_raw(app, client, token).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !body.contains(token),
        "the token must never be echoed: {body}"
    );
    serde_json::from_str(&body).unwrap()
}

fn assert_inactive(answer: &Value) {
    assert_eq!(answer, &json!({"active": false}));
}

async fn create_key(app: &TestApp, bearer: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/me/api-keys"))
        .header("authorization", bearer)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn get_json(app: &TestApp, bearer: &str, path: &str) -> (u16, Value) {
    let r = app
        .client
        .get(app.url(path))
        .header("authorization", bearer)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn issue_list_get_revoke(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let alice = caller(&app, &["AuthX:apikey.me:*", "AuthX:user:read"]).await;
    let bob = caller(&app, &["AuthX:apikey.me:*"]).await;
    let checker = make_client(&app, "song").await;

    let r = create_key(
        &app,
        &alice.bearer(),
        json!({"scopes": ["AuthX:user:read"], "description": "for song"}),
    )
    .await;
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let issued: Value = r.json().await.unwrap();
    let secret = issued["secret"].as_str().unwrap().to_owned();
    let id = issued["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("axk_"), "{secret}");
    assert_eq!(secret.len(), 4 + 43, "256 bits in base64url");
    assert_eq!(issued["scopes"], json!(["AuthX:user:read"]));
    assert_eq!(issued["clients"], json!([]));
    assert_eq!(issued["description"], "for song");
    assert_eq!(issued["user_id"], alice.user_id.as_str());
    assert!(secret.starts_with(issued["hint"].as_str().unwrap().trim_end_matches('…')));
    // Default life: 24 hours.
    let stored = app.state.store.get_api_key(&id).await.unwrap().unwrap();
    assert_eq!(stored.expires_at - stored.created_at, 86_400);
    // Stored as a hash, findable by it.
    let by_hash = app
        .state
        .store
        .find_api_key_by_hash(&secret::hash(&secret))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_hash.id, id);

    // The secret is shown once: never in lists or gets.
    let r = app
        .client
        .get(app.url("/api/v1/me/api-keys"))
        .header("authorization", alice.bearer())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(!text.contains(&secret), "{text}");
    assert!(!text.contains("\"secret\""), "{text}");
    let list: Value = serde_json::from_str(&text).unwrap();
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&id.as_str()), "{list}");
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["user_id"] == alice.user_id.as_str())
    );
    let (status, got) = get_json(&app, &alice.bearer(), &format!("/api/v1/me/api-keys/{id}")).await;
    assert_eq!(status, 200);
    assert!(got.get("secret").is_none(), "{got}");
    assert_eq!(got["scopes"], json!(["AuthX:user:read"]));
    assert!(got["revoked_at"].is_null());

    // Another user's key is simply not found, and not revocable.
    let (status, _) = get_json(&app, &bob.bearer(), &format!("/api/v1/me/api-keys/{id}")).await;
    assert_eq!(status, 404);
    let r = app
        .client
        .delete(app.url(&format!("/api/v1/me/api-keys/{id}")))
        .header("authorization", bob.bearer())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // The new key works at the checker.
    let answer = introspect(&app, &checker, &secret).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["scope"], "AuthX:user:read");

    // Revoke: 204, at once inactive, hidden from the default list, shown with include_revoked.
    let r = app
        .client
        .delete(app.url(&format!("/api/v1/me/api-keys/{id}")))
        .header("authorization", alice.bearer())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_inactive(&introspect(&app, &checker, &secret).await);
    let (_, list) = get_json(&app, &alice.bearer(), "/api/v1/me/api-keys").await;
    assert!(!list.to_string().contains(&id), "{list}");
    let (_, list) = get_json(
        &app,
        &alice.bearer(),
        "/api/v1/me/api-keys?include_revoked=true",
    )
    .await;
    let revoked = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap();
    assert!(revoked["revoked_at"].is_string(), "{revoked}");

    // Audited: issue and revoke, never the secret.
    for action in ["apikey.issue", "apikey.revoke"] {
        let events = app
            .state
            .store
            .list_audit(
                &AuditFilter {
                    action: Some(action.into()),
                    target_id: Some(id.clone()),
                    ..Default::default()
                },
                &Page::first(10),
            )
            .await
            .unwrap();
        assert_eq!(events.len(), 1, "{action}");
        assert_eq!(events[0].actor_id.as_deref(), Some(alice.user_id.as_str()));
        assert!(!events[0].details.to_string().contains(&secret));
    }

    // Without apikey.me:read the own list is refused.
    let nobody = caller(&app, &["AuthX:user:read"]).await;
    let (status, problem) = get_json(&app, &nobody.bearer(), "/api/v1/me/api-keys").await;
    assert_eq!(status, 403);
    assert_eq!(problem["missing_scopes"], json!(["AuthX:apikey.me:read"]));
    // The admin list shows a caller without apikey.user:read their own keys only.
    let (status, list) = get_json(
        &app,
        &alice.bearer(),
        "/api/v1/api-keys?include_revoked=true",
    )
    .await;
    assert_eq!(status, 200);
    let items = list["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(
        items.iter().all(|k| k["user_id"] == alice.user_id.as_str()),
        "{list}"
    );
    let (status, list) = get_json(
        &app,
        &alice.bearer(),
        &format!("/api/v1/api-keys?user_id={}", bob.user_id),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["items"], json!([]));
    let (status, _) = get_json(&app, &alice.bearer(), &format!("/api/v1/api-keys/{id}")).await;
    assert_eq!(status, 200, "one's own key through the admin path");
    let (status, _) = get_json(&app, &bob.bearer(), &format!("/api/v1/api-keys/{id}")).await;
    assert_eq!(status, 403, "another user's key needs apikey.user:read");
    let (status, _) = get_json(&app, &nobody.bearer(), "/api/v1/api-keys").await;
    assert_eq!(status, 403);
    app.stop().await.unwrap();
}
on_both_backends!(issue_list_get_revoke);

async fn issuing_is_bounded(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let alice = caller(&app, &["AuthX:apikey.me:*", "AuthX:user:read"]).await;
    let keys_of_alice = |app: &TestApp| {
        let store = app.state.store.clone();
        let user = alice.user_id.clone();
        async move {
            store
                .list_api_keys(
                    &authx::domain::api_key::ApiKeyFilter {
                        user_id: Some(user),
                        include_revoked: true,
                    },
                    &Page::first(100),
                )
                .await
                .unwrap()
                .len()
        }
    };
    let before = keys_of_alice(&app).await;

    // Scopes the caller does not hold: 403 listing exactly those, and nothing issued.
    let r = create_key(
        &app,
        &alice.bearer(),
        json!({"scopes": ["AuthX:user:read", "AuthX:user:delete", "AuthX:role.x:read"]}),
    )
    .await;
    assert_eq!(r.status(), 403);
    let problem: Value = r.json().await.unwrap();
    let mut missing: Vec<String> =
        serde_json::from_value(problem["missing_scopes"].clone()).unwrap();
    missing.sort();
    assert_eq!(missing, ["AuthX:role.x:read", "AuthX:user:delete"]);
    assert_eq!(keys_of_alice(&app).await, before, "nothing may be stored");
    let (_, list) = get_json(
        &app,
        &alice.bearer(),
        "/api/v1/me/api-keys?include_revoked=true",
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), before);

    // A key can only mint keys within itself: the role allows user:delete, the key does not.
    let narrow = caller_with(
        &app,
        &["AuthX:apikey.me:*", "AuthX:user:*"],
        Some(&["AuthX:apikey.me:*", "AuthX:user:read"]),
    )
    .await;
    let r = create_key(
        &app,
        &narrow.bearer(),
        json!({"scopes": ["AuthX:user:delete"]}),
    )
    .await;
    assert_eq!(r.status(), 403);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["missing_scopes"], json!(["AuthX:user:delete"]));
    let r = create_key(
        &app,
        &narrow.bearer(),
        json!({"scopes": ["AuthX:user:read"]}),
    )
    .await;
    assert_eq!(r.status(), 201);

    // Validation names the field.
    let r = create_key(
        &app,
        &alice.bearer(),
        json!({"scopes": ["AuthX:user:read", "AuthX:me:read", "not a scope"]}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "scopes/2");
    let r = create_key(&app, &alice.bearer(), json!({"scopes": []})).await;
    assert_eq!(r.status(), 400);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "scopes");
    let r = create_key(&app, &alice.bearer(), json!({"description": "no scopes"})).await;
    assert_eq!(r.status(), 400);
    let r = create_key(
        &app,
        &alice.bearer(),
        json!({"scopes": ["AuthX:user:read"], "description": "x".repeat(201)}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = create_key(
        &app,
        &alice.bearer(),
        json!({"scopes": ["AuthX:user:read"], "clients": ["no-such-client"]}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "clients/0");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("no-such-client")
    );

    // Expiry: 1..=max_ttl (30 days by default).
    let max = 2_592_000;
    for bad in [0, -5, max + 1] {
        let r = create_key(
            &app,
            &alice.bearer(),
            json!({"scopes": ["AuthX:user:read"], "expires_in": bad}),
        )
        .await;
        assert_eq!(r.status(), 400, "expires_in {bad}");
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], "expires_in");
    }
    assert_eq!(keys_of_alice(&app).await, before, "nothing may be stored");
    let r = create_key(
        &app,
        &alice.bearer(),
        json!({"scopes": ["AuthX:user:read"], "expires_in": max}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let issued: Value = r.json().await.unwrap();
    let key = app
        .state
        .store
        .get_api_key(issued["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(key.expires_at - key.created_at, max);

    // Without apikey.me:create: 403.
    let reader = caller(&app, &["AuthX:user:read"]).await;
    let r = create_key(
        &app,
        &reader.bearer(),
        json!({"scopes": ["AuthX:user:read"]}),
    )
    .await;
    assert_eq!(r.status(), 403);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["missing_scopes"], json!(["AuthX:apikey.me:create"]));
    app.stop().await.unwrap();
}
on_both_backends!(issuing_is_bounded);

async fn admin_lists_and_revokes(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let admin = caller(&app, &["AuthX:apikey.user:*"]).await;
    let (user, _) = user_with_role(&app, &["AuthX:user:read"], &[]).await;
    let (id, _) = store_key(&app, &user, &["AuthX:user:read"], &[], now() + 600).await;
    let (status, list) = get_json(
        &app,
        &admin.bearer(),
        &format!("/api/v1/api-keys?user_id={user}"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["id"], id.as_str());
    let (status, all) = get_json(&app, &admin.bearer(), "/api/v1/api-keys?limit=1").await;
    assert_eq!(status, 200);
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    assert!(all["next_cursor"].is_string());
    let (status, got) = get_json(&app, &admin.bearer(), &format!("/api/v1/api-keys/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(got["user_id"], user.as_str());
    let r = app
        .client
        .delete(app.url(&format!("/api/v1/api-keys/{id}")))
        .header("authorization", admin.bearer())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let key = app.state.store.get_api_key(&id).await.unwrap().unwrap();
    assert!(key.revoked_at.is_some());
    let r = app
        .client
        .delete(app.url("/api/v1/api-keys/does-not-exist"))
        .header("authorization", admin.bearer())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    app.stop().await.unwrap();
}
on_both_backends!(admin_lists_and_revokes);

async fn introspection_follows_current_access(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let checker = make_client(&app, "score").await;
    let (user, role) = user_with_role(&app, &["AuthX:user:read"], &[]).await;
    let (_, key) = store_key(&app, &user, &["AuthX:**:read"], &[], now() + 3600).await;
    let store = &app.state.store;

    // key.scopes ∩ the owner's access.
    let a = introspect(&app, &checker, &key).await;
    assert_eq!(a["active"], true);
    assert_eq!(a["scope"], "AuthX:user:read");
    assert_eq!(a["sub"], user.as_str());
    assert_eq!(a["token_type"], "Bearer");
    assert_eq!(a["token_kind"], "api_key");
    assert_eq!(a["iss"], app.state.config.issuer_url());
    assert!(a["exp"].as_i64().unwrap() > now() + 3500);
    assert!(a["iat"].as_i64().unwrap() <= now());
    assert!(a.get("deny").is_none(), "{a}");
    assert!(a.get("client_id").is_none(), "{a}");

    // The role gains a scope: visible at once.
    let patch = |scopes: &[&str], deny: &[&str]| RolePatch {
        scopes: Some(scopes.iter().map(|s| s.to_string()).collect()),
        deny: Some(deny.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    };
    store
        .update_role(&role, patch(&["AuthX:user:read", "AuthX:role.*:read"], &[]))
        .await
        .unwrap();
    let a = introspect(&app, &checker, &key).await;
    assert_eq!(a["scope"], "AuthX:role.*:read AuthX:user:read");

    // A deny that partly overlaps a carried pattern travels with it.
    store
        .update_role(
            &role,
            patch(
                &["AuthX:user:read", "AuthX:role.*:read"],
                &["AuthX:role.root:*"],
            ),
        )
        .await
        .unwrap();
    let a = introspect(&app, &checker, &key).await;
    assert_eq!(a["scope"], "AuthX:role.*:read AuthX:user:read");
    assert_eq!(a["deny"], json!(["AuthX:role.root:*"]));
    // Ego's check says the same.
    let e = ego(&app, &checker, &key, Where::Form).await;
    assert_eq!(e.0, 207);
    assert_eq!(
        e.1["scope"],
        json!(["AuthX:role.*:read", "AuthX:user:read"])
    );
    assert_eq!(e.1["deny"], json!(["AuthX:role.root:*"]));

    // A deny covering a pattern entirely drops it (and is not carried: nothing left to overlap).
    store
        .update_role(
            &role,
            patch(
                &["AuthX:user:read", "AuthX:role.*:read"],
                &["AuthX:role.*:*"],
            ),
        )
        .await
        .unwrap();
    let a = introspect(&app, &checker, &key).await;
    assert_eq!(a["scope"], "AuthX:user:read");
    assert!(a.get("deny").is_none(), "{a}");

    // The role loses a scope: the check narrows immediately.
    store
        .update_role(&role, patch(&["AuthX:role.*:read"], &[]))
        .await
        .unwrap();
    let a = introspect(&app, &checker, &key).await;
    assert_eq!(a["scope"], "AuthX:role.*:read");
    app.stop().await.unwrap();
}
on_both_backends!(introspection_follows_current_access);

async fn inactive_answers_reveal_nothing(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let checker = make_client(&app, "song").await;
    let other = make_client(&app, "dms").await;
    let (user, _) = user_with_role(&app, &["AuthX:user:read"], &[]).await;
    let store = &app.state.store;
    let scopes = ["AuthX:user:read"];

    // Revoked.
    let (id, revoked) = store_key(&app, &user, &scopes, &[], now() + 3600).await;
    assert_eq!(introspect(&app, &checker, &revoked).await["active"], true);
    store.revoke_api_key(&id, now()).await.unwrap();
    assert_inactive(&introspect(&app, &checker, &revoked).await);
    // Expired.
    let (_, expired) = store_key(&app, &user, &scopes, &[], now() - 10).await;
    assert_inactive(&introspect(&app, &checker, &expired).await);
    // Unknown, and not an API key at all.
    assert_inactive(&introspect(&app, &checker, "axk_unknownkeyunknownkey").await);
    assert_inactive(&introspect(&app, &checker, "eyJhbGciOiJFUzI1NiJ9.e30.sig").await);
    // Limited to another client: inactive for this one, active (naming the caller) for that one.
    let (_, limited) = store_key(&app, &user, &scopes, &["dms"], now() + 3600).await;
    assert_inactive(&introspect(&app, &checker, &limited).await);
    let a = introspect(&app, &other, &limited).await;
    assert_eq!(a["active"], true);
    assert_eq!(a["client_id"], "dms");
    // Disabled owner: every key dies with them.
    let (_, live) = store_key(&app, &user, &scopes, &[], now() + 3600).await;
    assert_eq!(introspect(&app, &checker, &live).await["active"], true);
    store
        .update_user(
            &user,
            UserPatch {
                status: Some(UserStatus::Disabled),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_inactive(&introspect(&app, &checker, &live).await);
    assert_inactive(&introspect(&app, &other, &limited).await);

    // Client authentication failures: 401 invalid_client with a Basic challenge, the same for a
    // wrong secret and an unknown client.
    let mut bodies = Vec::new();
    for bad in [
        TestClient {
            id: "song".into(),
            secret: "axs_wrong".into(),
        },
        TestClient {
            id: "nobody".into(),
            secret: checker.secret.clone(),
        },
    ] {
        let r = app
            .client
            .post(app.url("/oauth2/introspect"))
            .basic_auth(&bad.id, Some(&bad.secret))
            .form(&[("token", live.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"authx\"");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
        bodies.push(body);
    }
    assert_eq!(bodies[0], bodies[1]);
    // No client authentication at all.
    let r = app
        .client
        .post(app.url("/oauth2/introspect"))
        .form(&[("token", live.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A disabled client is refused the same way.
    store
        .update_client(
            "dms",
            authx::domain::client::ClientPatch {
                enabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (status, body) = introspect_raw(&app, &other, &live).await;
    assert_eq!(status, 401, "{body}");

    // client_secret_post works; both methods at once and a missing token are invalid_request.
    let (_, fresh_user_key) = {
        let (u, _) = user_with_role(&app, &["AuthX:user:read"], &[]).await;
        store_key(&app, &u, &scopes, &[], now() + 3600).await
    };
    let r = app
        .client
        .post(app.url("/oauth2/introspect"))
        .form(&[
            ("token", fresh_user_key.as_str()),
            ("client_id", "song"),
            ("client_secret", checker.secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["active"], true);
    let r = app
        .client
        .post(app.url("/oauth2/introspect"))
        .basic_auth("song", Some(&checker.secret))
        .form(&[
            ("token", fresh_user_key.as_str()),
            ("client_secret", checker.secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    let r = app
        .client
        .post(app.url("/oauth2/introspect"))
        .basic_auth("song", Some(&checker.secret))
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    app.stop().await.unwrap();
}
on_both_backends!(inactive_answers_reveal_nothing);

#[derive(Clone, Copy)]
enum Where {
    Form,
    Query,
}

/// `POST /o/check_api_key` with Basic client authentication; (status, JSON, raw body).
async fn ego_raw(app: &TestApp, client: &TestClient, key: &str, at: Where) -> (u16, String) {
    let request = app
        .client
        .post(app.url("/o/check_api_key"))
        .basic_auth(&client.id, Some(&client.secret));
    let request = match at {
        Where::Form => request.form(&[("apiKey", key)]),
        Where::Query => request.query(&[("apiKey", key)]),
    };
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

async fn ego(app: &TestApp, client: &TestClient, key: &str, at: Where) -> (u16, Value) {
    let (status, body) = ego_raw(app, client, key, at).await;
    assert!(!body.contains(key), "the key must never be echoed: {body}");
    (status, serde_json::from_str(&body).unwrap())
}

async fn ego_check_api_key(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let checker = make_client(&app, "song").await;
    let alice = caller(
        &app,
        &["AuthX:apikey.me:*", "AuthX:user:read", "AuthX:role.*:read"],
    )
    .await;
    let r = create_key(
        &app,
        &alice.bearer(),
        json!({"scopes": ["AuthX:user:read", "AuthX:role.*:read"]}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let issued: Value = r.json().await.unwrap();
    let key = issued["secret"].as_str().unwrap().to_owned();

    for at in [Where::Form, Where::Query] {
        let (status, body) = ego(&app, &checker, &key, at).await;
        assert_eq!(status, 207, "{body}");
        assert_eq!(body["user_id"], alice.user_id.as_str());
        let exp = body["exp"].as_i64().unwrap();
        assert!(exp <= 86_400 && exp > 86_000, "{exp}");
        assert_eq!(
            body["scope"],
            json!(["AuthX:role.*:read", "AuthX:user:read"])
        );
        assert!(body.get("deny").is_none(), "{body}");
    }

    // Inactive: 401, the key not echoed.
    let id = issued["id"].as_str().unwrap();
    app.state.store.revoke_api_key(id, now()).await.unwrap();
    for at in [Where::Form, Where::Query] {
        let (status, body) = ego(&app, &checker, &key, at).await;
        assert_eq!(status, 401);
        assert_eq!(body, json!({"error": "invalid or expired API key"}));
    }
    let (status, body) = ego(&app, &checker, "axk_madeup", Where::Query).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid or expired API key");

    // Missing apiKey: 400.
    let r = app
        .client
        .post(app.url("/o/check_api_key"))
        .basic_auth("song", Some(&checker.secret))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({"error": "apiKey is required"}));

    // Bad client credentials: 401 with a Basic challenge.
    let wrong = TestClient {
        id: "song".into(),
        secret: "axs_nope".into(),
    };
    let r = app
        .client
        .post(app.url("/o/check_api_key"))
        .basic_auth(&wrong.id, Some(&wrong.secret))
        .query(&[("apiKey", key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let text = r.text().await.unwrap();
    assert!(!text.contains(&key));
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body, json!({"error": "invalid client credentials"}));
    app.stop().await.unwrap();
}
on_both_backends!(ego_check_api_key);

async fn bootstrap_issues_a_working_key(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let bootstrap = |extra: &[&str]| {
        let mut cmd = authx(dir.path());
        cmd.args([
            "--database-url",
            &db.url,
            "bootstrap-admin",
            "--email",
            "admin@example.com",
        ])
        .args(extra);
        run(&mut cmd)
    };
    // A life beyond the maximum is refused before anything happens.
    let out = bootstrap(&["--issue-api-key", "--expires-in", "99999999"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("--expires-in"), "{stderr}");
    assert!(!stdout.contains("axk_"), "{stdout}");

    let out = bootstrap(&["--issue-api-key", "--expires-in", "600"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("shown only"), "{stdout}");
    let keys: Vec<&str> = stdout
        .split_whitespace()
        .filter(|w| w.starts_with("axk_"))
        .collect();
    assert_eq!(keys.len(), 1, "the key is printed exactly once: {stdout}");
    let key = keys[0].to_owned();
    assert!(!stderr.contains(&key));

    let app = TestApp::spawn(db).await;
    let (status, me) = get_json(&app, &format!("Bearer {key}"), "/api/v1/me").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["user"]["email"], "admin@example.com");
    assert!(
        me["scopes"]
            .as_array()
            .unwrap()
            .contains(&json!("**:**:**")),
        "{me}"
    );
    let stored = app
        .state
        .store
        .find_api_key_by_hash(&secret::hash(&key))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.scopes, ["**:**:**"]);
    assert_eq!(stored.expires_at - stored.created_at, 600);
    app.stop().await.unwrap();
}
on_both_backends!(bootstrap_issues_a_working_key);

/// With the node's check cache on (reference §5: changes visible within 1 s): a change made behind the
/// node's back shows within the cache's life; a change made through the node shows at once.
async fn check_cache_bounds_staleness(db: TestDb) {
    let app = TestApp::spawn_with(db, |c| c.api_keys.check_cache_ms = 900, Vec::new()).await;
    let client = make_client(&app, "cached-checker").await;
    let (user, _) = user_with_role(&app, &["App:doc:read"], &[]).await;
    let (key_id, key) = store_key(&app, &user, &["App:doc:read"], &[], now() + 3600).await;
    assert_eq!(introspect(&app, &client, &key).await["active"], true);
    // Revoked directly in the database (as another node would): gone within the cache's life.
    app.state
        .store
        .revoke_api_key(&key_id, now())
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert_inactive(&introspect(&app, &client, &key).await);

    // Revoked through this node's admin API: gone on the very next check.
    let owner = caller(&app, &["AuthX:apikey.me:*", "App:doc:read"]).await;
    let r = create_key(&app, &owner.bearer(), json!({"scopes": ["App:doc:read"]})).await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert_eq!(introspect(&app, &client, &secret).await["active"], true);
    let r = app
        .client
        .delete(app.url(&format!(
            "/api/v1/me/api-keys/{}",
            created["id"].as_str().unwrap()
        )))
        .header("authorization", owner.bearer())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_inactive(&introspect(&app, &client, &secret).await);
    app.stop().await.unwrap();
}
on_both_backends!(check_cache_bounds_staleness);
