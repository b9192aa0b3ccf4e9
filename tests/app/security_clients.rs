//! Attacks through clients and authorities, and hostile input, on both backends. A caller who may
//! only edit a client tries to put themselves in its place (a secret, a redirect URI, trust,
//! re-enabling) to obtain tokens they do not hold; an authority editor tries to make sign-up
//! bestow root. Each test asserts what the attacker ends up with: the stored client, its secrets,
//! the authority's roles.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::db::TestDb;
use crate::support::principals::{Caller, api_json as call, caller};

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

/// A NUL character (which PostgreSQL cannot store) is a 400 naming the parameter or field on
/// every adapter — OAuth 2.0, the admin API, the pages — never a 500, and nothing is written.
async fn nul_characters_are_refused_not_server_errors(db: TestDb) {
    let app = TestApp::spawn(db).await;
    for body in [
        "grant_type=client_credentials&client_id=%00",
        "grant_type=authorization_code&code=a%00b&client_id=shop",
        "grant_type=refresh_token&refresh_token=axr_%00",
    ] {
        let r = app
            .client
            .post(app.url("/oauth2/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["error"], "invalid_request", "{body}: {answer}");
        assert!(
            answer["error_description"]
                .as_str()
                .unwrap()
                .contains("NUL"),
            "{answer}"
        );
    }
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode("sh%00op:secret");
    let r = app
        .client
        .post(app.url("/oauth2/token"))
        .header("authorization", format!("Basic {basic}"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .client
        .get(app.url("/oauth2/authorize?client_id=%00&response_type=code"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // The admin API: a JSON string, a JSON key, a query parameter, a path segment. Each is a
    // problem document naming the field, and nothing is written.
    let admin = caller(&app, &["**:**:**"]).await;
    let store = &app.state.store;
    let before = store.get_user(&admin.user_id).await.unwrap().unwrap();
    for (method, path, body, field) in [
        (
            Method::PATCH,
            "/api/v1/me",
            json!({"profile": {"given_name": "Ada\u{0}"}}),
            "profile/given_name",
        ),
        (
            Method::POST,
            "/api/v1/roles",
            json!({"id": "evil", "name": "Evil", "scopes": ["a:b:c", "x\u{0}:*:*"]}),
            "scopes/1",
        ),
        (
            Method::POST,
            "/api/v1/roles",
            json!({"id": "evil", "name": "Evil", "scopes": [], "k\u{0}": 1}),
            "k",
        ),
    ] {
        let (s, p) = call(&app, &admin, method, path, body).await;
        assert_eq!(s, 400, "{path}: {p}");
        assert_eq!(p["errors"][0]["field"], field, "{p}");
        assert!(
            p["errors"][0]["message"].as_str().unwrap().contains("NUL"),
            "{p}"
        );
    }
    assert!(store.get_role("evil").await.unwrap().is_none());
    let after = store.get_user(&admin.user_id).await.unwrap().unwrap();
    assert_eq!(after.profile, before.profile);
    for path in [
        "/api/v1/users?cursor=a%00b",
        "/api/v1/users/a%00b",
        "/api/v1/roles/%00",
    ] {
        let r = app
            .client
            .get(app.url(path))
            .header("authorization", admin.bearer())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path}");
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
        let p: Value = r.json().await.unwrap();
        assert!(
            p["detail"].to_string().contains("NUL") || p["errors"][0]["field"] == "cursor",
            "{p}"
        );
    }

    // The pages: a form field and a query parameter are a 400 page, never a 500.
    for (path, body) in [
        ("/login", Some("username=a%00b&password=x&csrf_token=t")),
        ("/login/email", Some("email=a%00@example.com&csrf_token=t")),
        ("/login?return_to=/acc%00ount", None),
    ] {
        let req = match body {
            Some(body) => app
                .client
                .post(app.url(path))
                .header("content-type", "application/x-www-form-urlencoded")
                // A CSRF cookie, or the form is refused before its body is read.
                .header(
                    "cookie",
                    "authx_csrf=0123456789abcdef0123456789abcdef0123456789a",
                )
                .body(body),
            None => app.client.get(app.url(path)),
        };
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
        assert!(r.text().await.unwrap().contains("NUL"), "{path}");
    }
    app.stop().await.unwrap();
}
on_both_backends!(nul_characters_are_refused_not_server_errors);

/// An authority's `role_ids` go to every user it creates: configuring them needs the caller to
/// hold what those roles bestow, else an authority editor could sign up as root.
async fn an_authority_bestows_only_what_its_editor_holds(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let store = &app.state.store;
    let root = caller(&app, &["**:**:**"]).await;
    let editor = caller(&app, &["AuthX:authority:create", "AuthX:authority.*:*"]).await;
    let google = |role_ids: Value| {
        json!({"id": "corp", "strategy": "google", "name": "Corp",
               "details": {"client_id": "cid", "client_secret": "s3cret",
                           "creates_users": true, "role_ids": role_ids}})
    };
    let (s, p) = call(
        &app,
        &editor,
        Method::POST,
        "/api/v1/authorities",
        google(json!([root.role_id])),
    )
    .await;
    assert_eq!(s, 403, "{p}");
    assert_eq!(p["missing_scopes"], json!(["**:**:**"]));
    assert!(store.get_authority("corp").await.unwrap().is_none());
    // Without roles it may create the authority, but not add them afterwards.
    let (s, p) = call(
        &app,
        &editor,
        Method::POST,
        "/api/v1/authorities",
        google(json!([])),
    )
    .await;
    assert_eq!(s, 201, "{p}");
    let (s, p) = call(
        &app,
        &editor,
        Method::PATCH,
        "/api/v1/authorities/corp",
        json!({"details": {"role_ids": [root.role_id]}}),
    )
    .await;
    assert_eq!(s, 403, "{p}");
    let stored = store.get_authority("corp").await.unwrap().unwrap();
    assert_eq!(stored.details["role_ids"], json!([]));
    // Someone who holds the role's scopes may.
    let (s, p) = call(
        &app,
        &root,
        Method::PATCH,
        "/api/v1/authorities/corp",
        json!({"details": {"role_ids": [root.role_id]}}),
    )
    .await;
    assert_eq!(s, 200, "{p}");
    // And now a plain rename by the editor is fine, but switching it back on after a switch-off
    // puts the roles in force again and is refused.
    let (s, _) = call(
        &app,
        &root,
        Method::PATCH,
        "/api/v1/authorities/corp",
        json!({"enabled": false}),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = call(
        &app,
        &editor,
        Method::PATCH,
        "/api/v1/authorities/corp",
        json!({"name": "Corp SSO"}),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = call(
        &app,
        &editor,
        Method::PATCH,
        "/api/v1/authorities/corp",
        json!({"enabled": true}),
    )
    .await;
    assert_eq!(s, 403);
    assert!(!store.get_authority("corp").await.unwrap().unwrap().enabled);
    app.stop().await.unwrap();
}
on_both_backends!(an_authority_bestows_only_what_its_editor_holds);

/// Settings that let an upstream sign in as existing people need the editor to cover them: an
/// editor of one authority tries to make it match by email, or point it at an issuer they
/// control, while an administrator signs in through it.
async fn an_authority_reaches_only_people_its_editor_covers(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let store = &app.state.store;
    let root = caller(&app, &["**:**:**"]).await;
    let (s, p) = call(
        &app,
        &root,
        Method::POST,
        "/api/v1/authorities",
        json!({"id": "corp", "strategy": "google", "name": "Corp",
               "details": {"issuer": "https://accounts.google.com", "client_id": "cid",
                           "client_secret": "s3cret", "hosted_domains": ["corp.example"]}}),
    )
    .await;
    assert_eq!(s, 201, "{p}");
    // The administrator signs in through it.
    store
        .create_credential(authx::domain::credential::NewCredential {
            user_id: root.user_id.clone(),
            authority_id: "corp".into(),
            authority_user_id: "google-sub-of-root".into(),
            details: json!({}),
        })
        .await
        .unwrap();
    let editor = caller(&app, &["AuthX:authority.*:update", "AuthX:me:*"]).await;
    for details in [
        json!({"match_users_by_email": true}),
        json!({"issuer": "https://idp.attacker.example", "client_secret": "mine"}),
        json!({"client_id": "attacker-app", "client_secret": "mine"}),
    ] {
        let (s, p) = call(
            &app,
            &editor,
            Method::PATCH,
            "/api/v1/authorities/corp",
            json!({ "details": details }),
        )
        .await;
        assert_eq!(s, 403, "{details}: {p}");
        assert_eq!(p["missing_scopes"], json!(["**:**:**"]), "{details}");
    }
    // Harmless settings are the editor's to change.
    let (s, p) = call(
        &app,
        &editor,
        Method::PATCH,
        "/api/v1/authorities/corp",
        json!({"name": "Corp SSO", "details": {"hosted_domains": ["corp.example", "corp.test"]}}),
    )
    .await;
    assert_eq!(s, 200, "{p}");
    // What the upstream can now reach: the same issuer and client, no matching by email.
    let corp = store.get_authority("corp").await.unwrap().unwrap();
    assert_eq!(corp.details["issuer"], "https://accounts.google.com");
    assert_eq!(corp.details["client_id"], "cid");
    assert_eq!(corp.details["match_users_by_email"], false);
    // Switched off and on again: on again needs the holders' reach.
    let (s, _) = call(
        &app,
        &editor,
        Method::PATCH,
        "/api/v1/authorities/corp",
        json!({"enabled": false}),
    )
    .await;
    assert_eq!(s, 200);
    let (s, p) = call(
        &app,
        &editor,
        Method::PATCH,
        "/api/v1/authorities/corp",
        json!({"enabled": true}),
    )
    .await;
    assert_eq!(s, 403, "{p}");
    assert!(!store.get_authority("corp").await.unwrap().unwrap().enabled);
    // A new authority that matches by email reaches everyone, so the editor cannot create one.
    let creator = caller(&app, &["AuthX:authority:create", "AuthX:me:*"]).await;
    let (s, p) = call(
        &app,
        &creator,
        Method::POST,
        "/api/v1/authorities",
        json!({"id": "evil", "strategy": "google", "name": "Evil",
               "details": {"issuer": "https://idp.attacker.example", "client_id": "x",
                           "client_secret": "y", "match_users_by_email": true}}),
    )
    .await;
    assert_eq!(s, 403, "{p}");
    assert!(store.get_authority("evil").await.unwrap().is_none());
    // The administrator may do all of it.
    let (s, p) = call(
        &app,
        &root,
        Method::PATCH,
        "/api/v1/authorities/corp",
        json!({"enabled": true, "details": {"match_users_by_email": true}}),
    )
    .await;
    assert_eq!(s, 200, "{p}");
    app.stop().await.unwrap();
}
on_both_backends!(an_authority_reaches_only_people_its_editor_covers);

/// Creating the authority `body` is a 400 naming `field` as not a public address, and nothing is
/// stored.
async fn refused_on_save(app: &TestApp, who: &Caller, body: Value, field: &str) {
    let (s, p) = call(app, who, Method::POST, "/api/v1/authorities", body.clone()).await;
    assert_eq!(s, 400, "{body}: {p}");
    assert_eq!(p["errors"][0]["field"], field, "{p}");
    let message = p["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("not a public address"), "{message}");
    let id = body["id"].as_str().unwrap();
    assert!(app.state.store.get_authority(id).await.unwrap().is_none());
}

/// An authority editor points authx at internal addresses (server-side request forgery): the
/// cloud metadata endpoint, the private network, authx's own loopback. Each URL is refused when
/// saved, naming the field, nothing is stored, and a login through an authority that names one
/// anyway (stored before this rule) sends nothing there.
async fn upstream_urls_reach_only_permitted_addresses(db: TestDb) {
    // The tests' own servers allow loopback (their IdPs run there); nothing else non-public.
    let app = TestApp::spawn_on(&db).await;
    let root = caller(&app, &["**:**:**"]).await;
    let saml = |url: &str| {
        json!({"id": "internal", "strategy": "saml", "name": "Internal",
               "details": {"sp_entity_id": "https://authx.example/sp", "idp_metadata_url": url}})
    };
    let google = |issuer: &str| {
        json!({"id": "internal", "strategy": "google", "name": "Internal",
               "details": {"issuer": issuer, "client_id": "cid", "client_secret": "s"}})
    };
    for (body, field) in [
        (
            saml("https://169.254.169.254/latest/meta-data"),
            "details.idp_metadata_url",
        ),
        (
            saml("https://10.1.2.3/metadata"),
            "details.idp_metadata_url",
        ),
        (
            saml("https://[::ffff:a9fe:a9fe]/metadata"),
            "details.idp_metadata_url",
        ),
        (google("https://169.254.169.254"), "details.issuer"),
        (google("https://192.168.0.10"), "details.issuer"),
    ] {
        refused_on_save(&app, &root, body, field).await;
    }
    app.stop().await.unwrap();

    // With the default policy, loopback is internal too: authx's own port, or any local service.
    let app = TestApp::spawn_with(db, |c| c.outbound = Default::default(), Vec::new()).await;
    let store = &app.state.store;
    let root = caller(&app, &["**:**:**"]).await;
    let local = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    local.set_nonblocking(true).unwrap();
    let port = local.local_addr().unwrap().port();
    for (body, field) in [
        (
            saml(&format!("http://127.0.0.1:{port}/metadata")),
            "details.idp_metadata_url",
        ),
        (
            saml(&format!("http://localhost:{port}/metadata")),
            "details.idp_metadata_url",
        ),
        (
            google(&format!("http://127.0.0.1:{port}")),
            "details.issuer",
        ),
        (
            google(&format!("http://localhost:{port}")),
            "details.issuer",
        ),
    ] {
        refused_on_save(&app, &root, body, field).await;
    }
    // An authority stored with such an issuer (before the rule, or by hand): its login fails
    // without a single connection to the address.
    store
        .create_authority(authx::domain::authority::NewAuthority {
            id: "legacy".into(),
            strategy: authx::domain::authority::Strategy::Google,
            name: "Legacy".into(),
            enabled: true,
            details: json!({"issuer": format!("http://127.0.0.1:{port}"), "client_id": "cid",
                            "client_secret": "s"}),
        })
        .await
        .unwrap();
    let r = app.get("/login/legacy").await;
    assert!(
        r.status().is_client_error() || r.status().is_server_error(),
        "{}",
        r.status()
    );
    assert!(r.headers().get("location").is_none());
    assert_eq!(
        local.accept().map_err(|e| e.kind()).err(),
        Some(std::io::ErrorKind::WouldBlock),
        "authx connected to the loopback address"
    );
    app.stop().await.unwrap();
}
on_both_backends!(upstream_urls_reach_only_permitted_addresses);
