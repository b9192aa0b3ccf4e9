//! The authorities, credentials, clients, grants and audit-events resources of the admin API, end
//! to end over HTTP: happy paths, validation errors naming the field, and authorization matrices
//! (the exact scope lets a caller in; its neighbours do not).

use authx::domain::audit::AuditFilter;
use authx::domain::authority::Strategy;
use authx::domain::credential::NewCredential;
use authx::domain::user::NewUser;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::db::TestDb;
use crate::support::principals::{Caller, api_call, caller, stored_authority};

/// Sends a request as `who` and returns the status and the JSON body (`Null` when empty).
async fn call(
    app: &TestApp,
    who: &Caller,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    api_call(app, who, method, path, body).await
}

async fn get(app: &TestApp, who: &Caller, path: &str) -> (u16, Value) {
    call(app, who, Method::GET, path, None).await
}

async fn post(app: &TestApp, who: &Caller, path: &str, body: Value) -> (u16, Value) {
    call(app, who, Method::POST, path, Some(body)).await
}

async fn patch(app: &TestApp, who: &Caller, path: &str, body: Value) -> (u16, Value) {
    call(app, who, Method::PATCH, path, Some(body)).await
}

async fn delete(app: &TestApp, who: &Caller, path: &str) -> (u16, Value) {
    call(app, who, Method::DELETE, path, None).await
}

/// The first invalid field a 400 problem names.
fn bad_field(status: u16, body: &Value) -> String {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["type"], "urn:authx:problem:invalid-request", "{body}");
    body["errors"][0]["field"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn human(app: &TestApp, email: &str) -> String {
    let mut user = NewUser::human();
    user.email = Some(email.to_owned());
    app.state.store.create_user(user).await.unwrap().id
}

// ----------------------------------------------------------------------------------------------
// Authorities

async fn authorities_crud_and_details(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let admin = caller(&app, &["AuthX:authority:create", "AuthX:authority.*:*"]).await;
    let (s, a) = post(
        &app,
        &admin,
        "/api/v1/authorities",
        json!({"id": "pw", "strategy": "password", "name": "Passwords", "details": {"min_length": 10}}),
    )
    .await;
    assert_eq!(s, 201, "{a}");
    assert_eq!(a["strategy"], "password");
    assert_eq!(a["enabled"], true);
    assert_eq!(a["details"], json!({"min_length": 10}));

    // Google: client_id required, the secret is write-only.
    let (s, p) = post(
        &app,
        &admin,
        "/api/v1/authorities",
        json!({"id": "google", "strategy": "google", "name": "Google", "details": {"client_secret": "s3cret"}}),
    )
    .await;
    assert_eq!(bad_field(s, &p), "details.client_id");
    let (s, p) = post(
        &app,
        &admin,
        "/api/v1/authorities",
        json!({"id": "google", "strategy": "google", "name": "Google", "details": {"client_id": "cid"}}),
    )
    .await;
    assert_eq!(bad_field(s, &p), "details.client_secret");
    let (s, p) = post(
        &app,
        &admin,
        "/api/v1/authorities",
        json!({"id": "google", "strategy": "google", "name": "Google",
               "details": {"client_id": "cid", "client_secret": "s3cret", "colour": "red"}}),
    )
    .await;
    assert_eq!(bad_field(s, &p), "details.colour");
    let (s, g) = post(
        &app,
        &admin,
        "/api/v1/authorities",
        json!({"id": "google", "strategy": "google", "name": "Google",
               "details": {"client_id": "cid", "client_secret": "s3cret", "hosted_domains": ["acme.example"]}}),
    )
    .await;
    assert_eq!(s, 201, "{g}");
    assert_eq!(g["details"]["issuer"], "https://accounts.google.com");
    assert_eq!(g["details"]["client_secret_set"], true);
    assert!(g["details"].get("client_secret").is_none(), "{g}");
    assert!(!g.to_string().contains("s3cret"));
    let (s, g) = get(&app, &admin, "/api/v1/authorities/google").await;
    assert_eq!(s, 200);
    assert!(!g.to_string().contains("s3cret"), "{g}");
    assert_eq!(g["details"]["client_secret_set"], true);

    // An update without client_secret keeps the stored one while the issuer and client id stay
    // (echoing the `client_secret_set` marker is fine).
    let (s, g) = patch(
        &app,
        &admin,
        "/api/v1/authorities/google",
        json!({"name": "Google Workspace", "enabled": false,
               "details": {"client_id": "cid", "client_secret_set": true,
                           "hosted_domains": ["acme.example", "b.example"]}}),
    )
    .await;
    assert_eq!(s, 200, "{g}");
    assert_eq!(g["name"], "Google Workspace");
    assert_eq!(g["enabled"], false);
    assert_eq!(g["details"]["client_id"], "cid");
    assert_eq!(g["details"]["client_secret_set"], true);
    assert_eq!(
        g["details"]["hosted_domains"],
        json!(["acme.example", "b.example"])
    );
    let stored = app
        .state
        .store
        .get_authority("google")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.details["client_secret"], "s3cret");
    // A partial update changes only what it names: the hosted-domain restriction stays (else any
    // account at the issuer could sign in), until it is removed explicitly with null.
    let (s, g) = patch(
        &app,
        &admin,
        "/api/v1/authorities/google",
        json!({"details": {"issuer": "https://accounts.google.com", "client_id": "cid"}}),
    )
    .await;
    assert_eq!(s, 200, "{g}");
    assert_eq!(
        g["details"]["hosted_domains"],
        json!(["acme.example", "b.example"])
    );
    assert_eq!(g["details"]["client_secret_set"], true);
    let stored = app
        .state
        .store
        .get_authority("google")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.details["hosted_domains"],
        json!(["acme.example", "b.example"])
    );
    // Another client id (or issuer) needs its own secret: the stored one never moves to another
    // client or provider.
    let (s, p) = patch(
        &app,
        &admin,
        "/api/v1/authorities/google",
        json!({"details": {"client_id": "cid2"}}),
    )
    .await;
    assert_eq!(bad_field(s, &p), "details.client_secret");
    let (s, p) = patch(
        &app,
        &admin,
        "/api/v1/authorities/google",
        json!({"details": {"client_id": "cid", "issuer": "https://login.other.example"}}),
    )
    .await;
    assert_eq!(bad_field(s, &p), "details.client_secret");
    let (s, g) = patch(
        &app,
        &admin,
        "/api/v1/authorities/google",
        json!({"details": {"client_id": "cid2", "client_secret": "n3w-s3cret"}}),
    )
    .await;
    assert_eq!(s, 200, "{g}");
    assert_eq!(g["details"]["client_id"], "cid2");
    assert!(!g.to_string().contains("n3w-s3cret"), "{g}");
    let stored = app
        .state
        .store
        .get_authority("google")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.details["client_secret"], "n3w-s3cret");
    // Plain http is only for loopback issuers; ids of the login page's own routes are reserved.
    let (s, p) = patch(
        &app,
        &admin,
        "/api/v1/authorities/google",
        json!({"details": {"client_id": "cid2", "client_secret": "x", "issuer": "http://idp.example"}}),
    )
    .await;
    assert_eq!(bad_field(s, &p), "details.issuer");
    let (s, p) = post(
        &app,
        &admin,
        "/api/v1/authorities",
        json!({"id": "email", "strategy": "google", "name": "Google",
               "details": {"client_id": "cid", "client_secret": "s3cret"}}),
    )
    .await;
    assert_eq!(bad_field(s, &p), "id");

    // Other validation errors name their field.
    let (s, p) = post(
        &app,
        &admin,
        "/api/v1/authorities",
        json!({"id": "Bad Id", "strategy": "password", "name": "x"}),
    )
    .await;
    assert_eq!(bad_field(s, &p), "id");
    let (s, p) = post(
        &app,
        &admin,
        "/api/v1/authorities",
        json!({"id": "mail", "strategy": "email", "name": "Email", "details": {"token_ttl_secs": 5}}),
    )
    .await;
    assert_eq!(bad_field(s, &p), "details.token_ttl_secs");
    let (s, p) = post(
        &app,
        &admin,
        "/api/v1/authorities",
        json!({"id": "idp", "strategy": "saml", "name": "IdP", "details": {"idp_metadata_url": "https://idp.example/md"}}),
    )
    .await;
    assert_eq!(bad_field(s, &p), "details.sp_entity_id");
    let (s, p) = post(
        &app,
        &admin,
        "/api/v1/authorities",
        json!({"id": "idp", "strategy": "saml", "name": "IdP",
               "details": {"idp_metadata_url": "https://idp.example/md", "sp_entity_id": "authx", "allowed_clock_skew_secs": 601}}),
    )
    .await;
    assert_eq!(bad_field(s, &p), "details.allowed_clock_skew_secs");
    // Metadata by URL is fetched when an enabled authority is saved: unreachable is refused
    // (naming the field), and a disabled authority is saved without fetching.
    let (s, p) = post(
        &app,
        &admin,
        "/api/v1/authorities",
        json!({"id": "idp", "strategy": "saml", "name": "IdP",
               "details": {"idp_metadata_url": "https://127.0.0.1:1/md", "sp_entity_id": "authx"}}),
    )
    .await;
    assert_eq!(bad_field(s, &p), "details.idp_metadata_url");
    let (s, idp) = post(
        &app,
        &admin,
        "/api/v1/authorities",
        json!({"id": "idp", "strategy": "saml", "name": "IdP", "enabled": false,
               "details": {"idp_metadata_url": "https://idp.example/md", "sp_entity_id": "authx"}}),
    )
    .await;
    assert_eq!(s, 201, "{idp}");
    // Normalised by the strategy crate: the defaults are filled in.
    assert_eq!(idp["details"]["allowed_clock_skew_secs"], 120);
    assert_eq!(idp["details"]["allow_idp_initiated"], false);
    let (s, p) = patch(
        &app,
        &admin,
        "/api/v1/authorities/idp",
        json!({"details": {"idp_metadata_url": "https://127.0.0.1:1/md", "sp_entity_id": "authx"},
               "enabled": true}),
    )
    .await;
    assert_eq!(bad_field(s, &p), "details.idp_metadata_url");
    // `details` merges (RFC 7396): switching to pasted metadata means removing the URL with null,
    // else both are set and the authority says so.
    let (s, p) = patch(
        &app,
        &admin,
        "/api/v1/authorities/idp",
        json!({"details": {"idp_metadata_xml": "<md/>", "sp_entity_id": "authx"}}),
    )
    .await;
    assert_eq!(bad_field(s, &p), "details.idp_metadata_url");
    // Pasted metadata must be metadata, with a signing certificate.
    let (s, p) = patch(
        &app,
        &admin,
        "/api/v1/authorities/idp",
        json!({"details": {"idp_metadata_xml": "<md/>", "idp_metadata_url": null,
                           "sp_entity_id": "authx"}}),
    )
    .await;
    assert_eq!(bad_field(s, &p), "details.idp_metadata_xml");
    let (s, p) = patch(
        &app,
        &admin,
        "/api/v1/authorities/pw",
        json!({"details": {"min_length": 0}}),
    )
    .await;
    assert_eq!(bad_field(s, &p), "details.min_length");
    // Duplicate id: 409, naming the field (the store reports which key clashed).
    let (s, p) = post(
        &app,
        &admin,
        "/api/v1/authorities",
        json!({"id": "pw", "strategy": "password", "name": "again"}),
    )
    .await;
    assert_eq!(s, 409);
    assert_eq!(p["errors"][0]["field"], "id", "{p}");
    assert!(p["detail"].as_str().unwrap().contains("'pw'"), "{p}");

    let (s, list) = get(&app, &admin, "/api/v1/authorities").await;
    assert_eq!(s, 200);
    assert_eq!(ids(&list), ["google", "idp", "pw"]);
    let (s, list) = get(&app, &admin, "/api/v1/authorities?limit=2").await;
    assert_eq!(s, 200);
    assert_eq!(ids(&list), ["google", "idp"]);
    let cursor = list["next_cursor"].as_str().unwrap().to_owned();
    let (_, list) = get(
        &app,
        &admin,
        &format!("/api/v1/authorities?limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(ids(&list), ["pw"]);
    assert!(list["next_cursor"].is_null());

    // Deleting an authority with credentials: 409; without: 204, then 404.
    let user = human(&app, "someone@example.com").await;
    app.state
        .store
        .create_credential(NewCredential {
            user_id: user,
            authority_id: "pw".into(),
            authority_user_id: "x".into(),
            details: json!({}),
        })
        .await
        .unwrap();
    let (s, p) = delete(&app, &admin, "/api/v1/authorities/pw").await;
    assert_eq!(s, 409, "{p}");
    assert_eq!(p["detail"], "authority has credentials");
    let (s, _) = delete(&app, &admin, "/api/v1/authorities/idp").await;
    assert_eq!(s, 204);
    let (s, _) = get(&app, &admin, "/api/v1/authorities/idp").await;
    assert_eq!(s, 404);
    let (s, _) = delete(&app, &admin, "/api/v1/authorities/idp").await;
    assert_eq!(s, 404);

    let events = app
        .state
        .store
        .list_audit(
            &AuditFilter {
                target_id: Some("google".into()),
                ..Default::default()
            },
            &Default::default(),
        )
        .await
        .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "authority.update",
            "authority.update",
            "authority.update",
            "authority.create"
        ]
    );
    app.stop().await.unwrap();
}
on_both_backends!(authorities_crud_and_details);

async fn authorities_authorization(db: TestDb) {
    let app = TestApp::spawn(db).await;
    stored_authority(&app, "pw", Strategy::Password).await;
    stored_authority(&app, "mail", Strategy::Email).await;
    let create = caller(&app, &["AuthX:authority:create"]).await;
    let read_pw = caller(&app, &["AuthX:authority.pw:read"]).await;
    let update_pw = caller(&app, &["AuthX:authority.pw:update"]).await;
    let delete_mail = caller(&app, &["AuthX:authority.mail:delete"]).await;
    let other_realm = caller(&app, &["Other:authority:create", "Other:authority.*:read"]).await;
    let nothing = caller(&app, &["AuthX:me:read"]).await;
    let body = json!({"id": "new", "strategy": "email", "name": "New"});

    // create
    let (s, p) = post(&app, &other_realm, "/api/v1/authorities", body.clone()).await;
    assert_eq!(s, 403);
    assert_eq!(p["missing_scopes"], json!(["AuthX:authority:create"]));
    let (s, _) = post(&app, &read_pw, "/api/v1/authorities", body.clone()).await;
    assert_eq!(s, 403);
    let (s, _) = post(&app, &create, "/api/v1/authorities", body).await;
    assert_eq!(s, 201);

    // read: exactly the id
    let (s, _) = get(&app, &read_pw, "/api/v1/authorities/pw").await;
    assert_eq!(s, 200);
    let (s, p) = get(&app, &read_pw, "/api/v1/authorities/mail").await;
    assert_eq!(s, 403);
    assert_eq!(p["missing_scopes"], json!(["AuthX:authority.mail:read"]));
    // An unknown id is a 403 too for a caller who could not read it: nothing is revealed.
    let (s, _) = get(&app, &read_pw, "/api/v1/authorities/nope").await;
    assert_eq!(s, 403);
    let (s, _) = get(&app, &update_pw, "/api/v1/authorities/pw").await;
    assert_eq!(s, 403);
    let (s, _) = get(&app, &other_realm, "/api/v1/authorities/pw").await;
    assert_eq!(s, 403);

    // list: only readable items; 403 when nothing is readable.
    let (s, list) = get(&app, &read_pw, "/api/v1/authorities").await;
    assert_eq!(s, 200);
    assert_eq!(ids(&list), ["pw"]);
    for who in [&nothing, &other_realm, &update_pw] {
        let (s, p) = get(&app, who, "/api/v1/authorities").await;
        assert_eq!(s, 403, "{p}");
    }

    // update: read is not enough; another id is not enough.
    let change = json!({"name": "Passwords"});
    let (s, p) = patch(&app, &read_pw, "/api/v1/authorities/pw", change.clone()).await;
    assert_eq!(s, 403);
    assert_eq!(p["missing_scopes"], json!(["AuthX:authority.pw:update"]));
    let (s, _) = patch(&app, &update_pw, "/api/v1/authorities/mail", change.clone()).await;
    assert_eq!(s, 403);
    let (s, a) = patch(&app, &update_pw, "/api/v1/authorities/pw", change).await;
    assert_eq!(s, 200, "{a}");

    // delete
    let (s, _) = delete(&app, &update_pw, "/api/v1/authorities/pw").await;
    assert_eq!(s, 403);
    let (s, _) = delete(&app, &delete_mail, "/api/v1/authorities/pw").await;
    assert_eq!(s, 403);
    let (s, _) = delete(&app, &delete_mail, "/api/v1/authorities/mail").await;
    assert_eq!(s, 204);
    app.stop().await.unwrap();
}
on_both_backends!(authorities_authorization);

// ----------------------------------------------------------------------------------------------
// Credentials

async fn credentials_crud(db: TestDb) {
    let app = TestApp::spawn(db).await;
    stored_authority(&app, "pw", Strategy::Password).await;
    stored_authority(&app, "mail", Strategy::Email).await;
    stored_authority(&app, "google", Strategy::Google).await;
    let admin = caller(&app, &["AuthX:credential.*.user:*"]).await;
    let user = human(&app, "ada@example.com").await;
    let base = format!("/api/v1/users/{user}/credentials");

    // Validation names the field.
    let (s, p) = post(&app, &admin, &base, json!({"authority_id": "pw"})).await;
    assert_eq!(bad_field(s, &p), "password");
    let (s, p) = post(
        &app,
        &admin,
        &base,
        json!({"authority_id": "pw", "password": "short"}),
    )
    .await;
    assert_eq!(bad_field(s, &p), "password");
    let (s, p) = post(
        &app,
        &admin,
        &base,
        json!({"authority_id": "pw", "password": "ada@example.com"}),
    )
    .await;
    assert_eq!(bad_field(s, &p), "password");
    let (s, p) = post(
        &app,
        &admin,
        &base,
        json!({"authority_id": "pw", "authority_user_id": "someone-else", "password": "correct horse"}),
    )
    .await;
    assert_eq!(bad_field(s, &p), "authority_user_id");
    let (s, p) = post(
        &app,
        &admin,
        &base,
        json!({"authority_id": "mail", "authority_user_id": "not an address"}),
    )
    .await;
    assert_eq!(bad_field(s, &p), "authority_user_id");
    let (s, p) = post(
        &app,
        &admin,
        &base,
        json!({"authority_id": "ghost", "authority_user_id": "x"}),
    )
    .await;
    assert_eq!(bad_field(s, &p), "authority_id");
    let (s, _) = post(
        &app,
        &admin,
        "/api/v1/users/00000000-0000-7000-8000-000000000000/credentials",
        json!({"authority_id": "mail", "authority_user_id": "x@example.com"}),
    )
    .await;
    assert_eq!(s, 404);

    // A password credential: the hash is stored, never shown.
    let (s, pw) = post(
        &app,
        &admin,
        &base,
        json!({"authority_id": "pw", "password": "correct horse"}),
    )
    .await;
    assert_eq!(s, 201, "{pw}");
    assert_eq!(pw["authority_user_id"], user.as_str());
    assert_eq!(pw["user_id"], user.as_str());
    assert!(pw.get("details").is_none());
    let pw_id = pw["id"].as_str().unwrap().to_owned();
    let stored = app
        .state
        .store
        .get_credential(&pw_id)
        .await
        .unwrap()
        .unwrap();
    let hash = stored.details["hash"].as_str().unwrap().to_owned();
    assert!(hash.starts_with("$2"), "{hash}");
    assert!(authx::password::verify("correct horse".into(), hash.clone()).await);

    let (s, mail) = post(
        &app,
        &admin,
        &base,
        json!({"authority_id": "mail", "authority_user_id": "Ada@Example.COM"}),
    )
    .await;
    assert_eq!(s, 201, "{mail}");
    assert_eq!(mail["authority_user_id"], "ada@example.com");
    let mail_id = mail["id"].as_str().unwrap().to_owned();
    // The same upstream identity cannot map to a second user.
    let other = human(&app, "other@example.com").await;
    let (s, _) = post(
        &app,
        &admin,
        &format!("/api/v1/users/{other}/credentials"),
        json!({"authority_id": "mail", "authority_user_id": "ada@example.com"}),
    )
    .await;
    assert_eq!(s, 409);

    let (s, list) = get(&app, &admin, &base).await;
    assert_eq!(s, 200);
    assert_eq!(ids(&list), [pw_id.as_str(), mail_id.as_str()]);
    assert!(!list.to_string().contains(&hash));
    let (s, c) = get(&app, &admin, &format!("/api/v1/credentials/{pw_id}")).await;
    assert_eq!(s, 200);
    assert!(!c.to_string().contains(&hash), "{c}");
    assert!(c.get("details").is_none());
    let (s, _) = get(
        &app,
        &admin,
        "/api/v1/credentials/00000000-0000-7000-8000-000000000000",
    )
    .await;
    assert_eq!(s, 404);

    // Delete one; the last one is refused.
    let (s, _) = delete(&app, &admin, &format!("/api/v1/credentials/{pw_id}")).await;
    assert_eq!(s, 204);
    let (s, p) = delete(&app, &admin, &format!("/api/v1/credentials/{mail_id}")).await;
    assert_eq!(s, 409, "{p}");
    assert_eq!(p["type"], "urn:authx:problem:conflict");
    let (s, list) = get(&app, &admin, &base).await;
    assert_eq!(s, 200);
    assert_eq!(ids(&list), [mail_id.as_str()]);

    let events = app
        .state
        .store
        .list_audit(
            &AuditFilter {
                target_id: Some(pw_id.clone()),
                ..Default::default()
            },
            &Default::default(),
        )
        .await
        .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["credential.delete", "credential.create"]);
    app.stop().await.unwrap();
}
on_both_backends!(credentials_crud);

async fn credentials_authorization(db: TestDb) {
    let app = TestApp::spawn(db).await;
    stored_authority(&app, "mail", Strategy::Email).await;
    stored_authority(&app, "google", Strategy::Google).await;
    let me = caller(&app, &["AuthX:credential.mail.me:*"]).await;
    let mail_reader = caller(&app, &["AuthX:credential.mail.user:read"]).await;
    let mail_creator = caller(&app, &["AuthX:credential.mail.user:create"]).await;
    let other_realm = caller(&app, &["Other:credential.*.user:*"]).await;
    let victim = human(&app, "victim@example.com").await;
    let store = &app.state.store;
    let new = |user: &str, authority: &str, sub: &str| NewCredential {
        user_id: user.to_owned(),
        authority_id: authority.to_owned(),
        authority_user_id: sub.to_owned(),
        details: json!({"profile": "secret-ish"}),
    };
    let v_mail = store
        .create_credential(new(&victim, "mail", "victim@example.com"))
        .await
        .unwrap()
        .id;
    let v_google = store
        .create_credential(new(&victim, "google", "sub-1"))
        .await
        .unwrap()
        .id;
    let my_mail = store
        .create_credential(new(&me.user_id, "mail", "me@example.com"))
        .await
        .unwrap()
        .id;
    let my_google = store
        .create_credential(new(&me.user_id, "google", "sub-2"))
        .await
        .unwrap()
        .id;

    // `me` scopes reach one's own credentials at that authority only.
    let (s, list) = get(
        &app,
        &me,
        &format!("/api/v1/users/{}/credentials", me.user_id),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(ids(&list), [my_mail.as_str()]);
    let (s, _) = get(&app, &me, &format!("/api/v1/credentials/{my_mail}")).await;
    assert_eq!(s, 200);
    let (s, p) = get(&app, &me, &format!("/api/v1/credentials/{my_google}")).await;
    assert_eq!(s, 403);
    assert_eq!(
        p["missing_scopes"],
        json!(["AuthX:credential.google.user:read"])
    );
    // ... and never another user's.
    let (s, _) = get(&app, &me, &format!("/api/v1/users/{victim}/credentials")).await;
    assert_eq!(s, 403);
    let (s, _) = get(&app, &me, &format!("/api/v1/credentials/{v_mail}")).await;
    assert_eq!(s, 403);
    let (s, _) = delete(&app, &me, &format!("/api/v1/credentials/{v_mail}")).await;
    assert_eq!(s, 403);
    let (s, _) = post(
        &app,
        &me,
        &format!("/api/v1/users/{victim}/credentials"),
        json!({"authority_id": "mail", "authority_user_id": "evil@example.com"}),
    )
    .await;
    assert_eq!(s, 403);
    // One's own address comes only from the emailed link: posting it is refused, pointing there.
    let (s, p) = post(
        &app,
        &me,
        &format!("/api/v1/users/{}/credentials", me.user_id),
        json!({"authority_id": "mail", "authority_user_id": "me2@example.com"}),
    )
    .await;
    assert_eq!(s, 403, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("link"), "{p}");
    assert!(
        store
            .find_credential("mail", "me2@example.com")
            .await
            .unwrap()
            .is_none()
    );
    // Deleting one's own works (it is not the last one).
    let (s, _) = delete(&app, &me, &format!("/api/v1/credentials/{my_mail}")).await;
    assert_eq!(s, 204);
    // An unknown id: 403 to a caller who may not read anyone's.
    let (s, _) = get(
        &app,
        &me,
        "/api/v1/credentials/00000000-0000-7000-8000-000000000000",
    )
    .await;
    assert_eq!(s, 403);

    // A reader of one authority's credentials sees only those.
    let (s, list) = get(
        &app,
        &mail_reader,
        &format!("/api/v1/users/{victim}/credentials"),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(ids(&list), [v_mail.as_str()]);
    let (s, _) = get(
        &app,
        &mail_reader,
        &format!("/api/v1/credentials/{v_google}"),
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = delete(&app, &mail_reader, &format!("/api/v1/credentials/{v_mail}")).await;
    assert_eq!(s, 403);
    let (s, _) = post(
        &app,
        &mail_reader,
        &format!("/api/v1/users/{victim}/credentials"),
        json!({"authority_id": "mail", "authority_user_id": "v2@example.com"}),
    )
    .await;
    assert_eq!(s, 403);

    // Creating needs create at that authority.
    let (s, _) = post(
        &app,
        &mail_creator,
        &format!("/api/v1/users/{victim}/credentials"),
        json!({"authority_id": "google", "authority_user_id": "sub-9"}),
    )
    .await;
    assert_eq!(s, 403);
    let (s, c) = post(
        &app,
        &mail_creator,
        &format!("/api/v1/users/{victim}/credentials"),
        json!({"authority_id": "mail", "authority_user_id": "v2@example.com"}),
    )
    .await;
    assert_eq!(s, 201, "{c}");
    let (s, _) = get(
        &app,
        &mail_creator,
        &format!("/api/v1/users/{victim}/credentials"),
    )
    .await;
    assert_eq!(s, 403);

    // Another realm is nothing.
    let (s, _) = get(
        &app,
        &other_realm,
        &format!("/api/v1/users/{victim}/credentials"),
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = get(&app, &other_realm, &format!("/api/v1/credentials/{v_mail}")).await;
    assert_eq!(s, 403);
    app.stop().await.unwrap();
}
on_both_backends!(credentials_authorization);

// ----------------------------------------------------------------------------------------------
// Clients

async fn clients_crud_and_secrets(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let admin = caller(
        &app,
        &["AuthX:client:create", "AuthX:client.*:**", "Api:**:**"],
    )
    .await;
    let store = &app.state.store;
    let (s, created) = post(
        &app,
        &admin,
        "/api/v1/clients",
        json!({
            "id": "app", "name": "The App", "type": "confidential",
            "redirect_uris": ["https://app.example/cb", "http://127.0.0.1:8080/cb"],
            "post_logout_redirect_uris": ["https://app.example/bye"],
            "scopes": ["Api:orders:read", "Api:orders.*:write"],
        }),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["id"], "app");
    assert_eq!(created["type"], "confidential");
    assert_eq!(created["enabled"], true);
    assert_eq!(created["trusted"], false);
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("axs_") && secret.len() >= 4 + 43,
        "{secret}"
    );
    // The machine user exists, is a machine, and carries the client's name.
    let machine = created["machine_user_id"].as_str().unwrap().to_owned();
    let user = store.get_user(&machine).await.unwrap().unwrap();
    assert_eq!(user.kind, authx::domain::user::UserKind::Machine);
    assert_eq!(user.display_name.as_deref(), Some("The App"));
    // The stored hash authenticates; the secret itself is never shown again.
    let now = authx::domain::now();
    let hash = authx::secret::hash(&secret);
    assert!(
        store
            .authenticate_client("app", &hash, now)
            .await
            .unwrap()
            .is_some()
    );
    let (s, got) = get(&app, &admin, "/api/v1/clients/app").await;
    assert_eq!(s, 200);
    assert!(got.get("secret").is_none(), "{got}");
    assert!(!got.to_string().contains(&secret));
    assert_eq!(
        got["scopes"],
        json!(["Api:orders:read", "Api:orders.*:write"])
    );
    let (s, secrets) = get(&app, &admin, "/api/v1/clients/app/secrets").await;
    assert_eq!(s, 200);
    assert_eq!(secrets["items"].as_array().unwrap().len(), 1);
    assert!(!secrets.to_string().contains(&secret));
    assert!(!secrets.to_string().contains(&hash));

    // A public client: no secret, no machine user, and it cannot get secrets.
    let (s, spa) = post(
        &app,
        &admin,
        "/api/v1/clients",
        json!({"id": "spa", "name": "SPA", "type": "public", "redirect_uris": ["http://localhost:3000/cb"]}),
    )
    .await;
    assert_eq!(s, 201, "{spa}");
    assert!(spa["secret"].is_null());
    assert!(spa["machine_user_id"].is_null());
    let (s, p) = post(&app, &admin, "/api/v1/clients/spa/secrets", json!({})).await;
    assert_eq!(s, 400, "{p}");
    let (s, _) = post(
        &app,
        &admin,
        "/api/v1/clients/spa/secrets/rotate",
        json!({}),
    )
    .await;
    assert_eq!(s, 400);

    let (s, list) = get(&app, &admin, "/api/v1/clients").await;
    assert_eq!(s, 200);
    assert_eq!(ids(&list), ["app", "spa"]);
    assert!(!list.to_string().contains(&secret));
    let (s, list) = get(&app, &admin, "/api/v1/clients?limit=1").await;
    assert_eq!(s, 200);
    assert_eq!(ids(&list), ["app"]);
    assert_eq!(list["next_cursor"], "app");

    // Update.
    let (s, upd) = patch(
        &app,
        &admin,
        "/api/v1/clients/app",
        json!({"name": "App 2", "trusted": true, "redirect_uris": ["https://app.example/cb2"], "scopes": ["Api:orders:read"]}),
    )
    .await;
    assert_eq!(s, 200, "{upd}");
    assert_eq!(upd["name"], "App 2");
    assert_eq!(upd["trusted"], true);
    assert_eq!(upd["redirect_uris"], json!(["https://app.example/cb2"]));
    assert_eq!(upd["scopes"], json!(["Api:orders:read"]));
    assert_eq!(
        upd["post_logout_redirect_uris"],
        json!(["https://app.example/bye"])
    );

    // Add a secret: shown once; both work.
    let (s, added) = post(
        &app,
        &admin,
        "/api/v1/clients/app/secrets",
        json!({"description": "ci", "expires_in_secs": 3600}),
    )
    .await;
    assert_eq!(s, 201, "{added}");
    let second = added["secret"].as_str().unwrap().to_owned();
    assert!(second.starts_with("axs_"));
    assert_eq!(added["description"], "ci");
    assert!(added["expires_at"].is_string());
    let second_id = added["id"].as_str().unwrap().to_owned();
    let (_, secrets) = get(&app, &admin, "/api/v1/clients/app/secrets").await;
    assert_eq!(secrets["items"].as_array().unwrap().len(), 2);
    assert!(!secrets.to_string().contains(&second));
    let now = authx::domain::now();
    for s in [&secret, &second] {
        let found = store
            .authenticate_client("app", &authx::secret::hash(s), now)
            .await
            .unwrap();
        assert!(found.is_some());
    }
    // Delete that secret.
    let (s, _) = delete(
        &app,
        &admin,
        &format!("/api/v1/clients/app/secrets/{second_id}"),
    )
    .await;
    assert_eq!(s, 204);
    let (s, _) = delete(
        &app,
        &admin,
        &format!("/api/v1/clients/app/secrets/{second_id}"),
    )
    .await;
    assert_eq!(s, 404);
    assert!(
        store
            .authenticate_client("app", &authx::secret::hash(&second), now)
            .await
            .unwrap()
            .is_none()
    );

    // Rotate with a grace period: both work for now.
    let (s, rotated) = post(
        &app,
        &admin,
        "/api/v1/clients/app/secrets/rotate",
        json!({"grace_secs": 600}),
    )
    .await;
    assert_eq!(s, 201, "{rotated}");
    let third = rotated["secret"].as_str().unwrap().to_owned();
    let now = authx::domain::now();
    for s in [&secret, &third] {
        let found = store
            .authenticate_client("app", &authx::secret::hash(s), now)
            .await
            .unwrap();
        assert!(found.is_some());
    }
    assert!(
        store
            .authenticate_client("app", &authx::secret::hash(&secret), now + 601)
            .await
            .unwrap()
            .is_none()
    );
    // Rotate with grace 0: every older secret retires at once.
    let (s, rotated) = post(
        &app,
        &admin,
        "/api/v1/clients/app/secrets/rotate",
        json!({"grace_secs": 0}),
    )
    .await;
    assert_eq!(s, 201, "{rotated}");
    let fourth = rotated["secret"].as_str().unwrap().to_owned();
    let now = authx::domain::now();
    for old in [&secret, &third] {
        let found = store
            .authenticate_client("app", &authx::secret::hash(old), now)
            .await
            .unwrap();
        assert!(found.is_none());
    }
    assert!(
        store
            .authenticate_client("app", &authx::secret::hash(&fourth), now)
            .await
            .unwrap()
            .is_some()
    );
    let (s, p) = post(
        &app,
        &admin,
        "/api/v1/clients/app/secrets/rotate",
        json!({"grace_secs": 604801}),
    )
    .await;
    assert_eq!(s, 400, "{p}");

    // Delete: the client and its machine user are gone.
    let (s, _) = delete(&app, &admin, "/api/v1/clients/app").await;
    assert_eq!(s, 204);
    let (s, _) = get(&app, &admin, "/api/v1/clients/app").await;
    assert_eq!(s, 404);
    assert!(store.get_user(&machine).await.unwrap().is_none());
    let (s, _) = delete(&app, &admin, "/api/v1/clients/app").await;
    assert_eq!(s, 404);
    let (s, _) = get(&app, &admin, "/api/v1/clients/app/secrets").await;
    assert_eq!(s, 404);

    // Every write is audited.
    let events = store
        .list_audit(
            &AuditFilter {
                target_id: Some("app".into()),
                actor_id: Some(admin.user_id.clone()),
                ..Default::default()
            },
            &Default::default(),
        )
        .await
        .unwrap();
    let mut actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    actions.reverse();
    assert_eq!(
        actions,
        [
            "client.create",
            "client.update",
            "client.secret.add",
            "client.secret.delete",
            "client.secret.rotate",
            "client.secret.rotate",
            "client.delete"
        ]
    );
    app.stop().await.unwrap();
}
on_both_backends!(clients_crud_and_secrets);

async fn clients_validation(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let admin = caller(&app, &["AuthX:client:create", "AuthX:client.*:**"]).await;
    let ok = json!({"id": "app", "name": "App", "type": "confidential", "redirect_uris": ["https://app.example/cb"]});
    let with = |key: &str, value: Value| {
        let mut body = ok.clone();
        body[key] = value;
        body
    };
    let cases = [
        (with("id", json!("Not A Slug")), "id"),
        (with("name", json!("  ")), "name"),
        (
            with(
                "redirect_uris",
                json!(["https://a.example/cb", "http://app.example/cb"]),
            ),
            "redirect_uris/1",
        ),
        (
            with("redirect_uris", json!(["https://app.example/cb#frag"])),
            "redirect_uris/0",
        ),
        (
            with("redirect_uris", json!(["/relative"])),
            "redirect_uris/0",
        ),
        (
            with("post_logout_redirect_uris", json!(["ftp://x.example/"])),
            "post_logout_redirect_uris/0",
        ),
        (
            with("scopes", json!(["AuthX:client.app:read", "not-a-scope"])),
            "scopes/1",
        ),
    ];
    for (body, field) in cases {
        let (s, p) = post(&app, &admin, "/api/v1/clients", body.clone()).await;
        assert_eq!(bad_field(s, &p), field, "{body}");
    }
    // A wrong type is a 400 too.
    let (s, _) = post(
        &app,
        &admin,
        "/api/v1/clients",
        with("type", json!("secretive")),
    )
    .await;
    assert_eq!(s, 400);
    // Nothing was created by any of those (no client, no machine user).
    assert!(app.state.store.get_client("app").await.unwrap().is_none());
    let users = app
        .state
        .store
        .list_users(&Default::default(), &Default::default())
        .await
        .unwrap();
    assert_eq!(users.len(), 1, "only the caller exists");

    let (s, c) = post(&app, &admin, "/api/v1/clients", ok.clone()).await;
    assert_eq!(s, 201, "{c}");
    // A duplicate id is a 409, and the machine user made for it is removed again.
    let (s, _) = post(&app, &admin, "/api/v1/clients", ok).await;
    assert_eq!(s, 409);
    let users = app
        .state
        .store
        .list_users(&Default::default(), &Default::default())
        .await
        .unwrap();
    assert_eq!(users.len(), 2, "the caller and one machine user");

    let (s, p) = patch(
        &app,
        &admin,
        "/api/v1/clients/app",
        json!({"redirect_uris": ["https://ok.example/", "https://x.example/#f"]}),
    )
    .await;
    assert_eq!(bad_field(s, &p), "redirect_uris/1");
    let (s, p) = patch(
        &app,
        &admin,
        "/api/v1/clients/app",
        json!({"scopes": ["a:b"]}),
    )
    .await;
    assert_eq!(bad_field(s, &p), "scopes/0");
    let (s, _) = patch(&app, &admin, "/api/v1/clients/nope", json!({"name": "x"})).await;
    assert_eq!(s, 404);
    app.stop().await.unwrap();
}
on_both_backends!(clients_validation);

async fn clients_authorization_and_escalation(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let store = &app.state.store;
    let creator = caller(&app, &["AuthX:client:create", "Api:orders:read"]).await;
    let reader = caller(&app, &["AuthX:client.app:read"]).await;
    let other_reader = caller(&app, &["AuthX:client.other:read"]).await;
    let updater = caller(&app, &["AuthX:client.app:update", "Api:**:**"]).await;
    let scoper = caller(
        &app,
        &[
            "AuthX:client.app:update",
            "AuthX:client.app:update.scopes",
            "Api:orders:*",
        ],
    )
    .await;
    let deleter = caller(&app, &["AuthX:client.app:delete"]).await;
    let other_realm = caller(&app, &["Other:client:create", "Other:client.*:*"]).await;

    // Escalation: scopes the caller does not hold are refused, listed, and nothing is created.
    let (s, p) = post(
        &app,
        &creator,
        "/api/v1/clients",
        json!({"id": "app", "name": "App", "type": "confidential",
               "scopes": ["Api:orders:read", "Api:orders:write", "AuthX:**:**"]}),
    )
    .await;
    assert_eq!(s, 403, "{p}");
    assert_eq!(
        p["missing_scopes"],
        json!(["Api:orders:write", "AuthX:**:**"])
    );
    assert!(store.get_client("app").await.unwrap().is_none());
    let users = store
        .list_users(&Default::default(), &Default::default())
        .await
        .unwrap();
    assert!(
        users
            .iter()
            .all(|u| u.kind == authx::domain::user::UserKind::Human),
        "no machine user was left behind"
    );
    // The wrong realm and a read scope cannot create.
    let body = json!({"id": "app", "name": "App", "type": "public", "scopes": ["Api:orders:read"]});
    let (s, p) = post(&app, &other_realm, "/api/v1/clients", body.clone()).await;
    assert_eq!(s, 403);
    assert_eq!(p["missing_scopes"], json!(["AuthX:client:create"]));
    let (s, _) = post(&app, &reader, "/api/v1/clients", body.clone()).await;
    assert_eq!(s, 403);
    let (s, c) = post(&app, &creator, "/api/v1/clients", body).await;
    assert_eq!(s, 201, "{c}");
    let (s, c) = post(
        &app,
        &updater,
        "/api/v1/clients",
        json!({"id": "other", "name": "Other", "type": "public"}),
    )
    .await;
    assert_eq!(s, 403, "{c}");
    store
        .create_client(
            authx::domain::client::NewClient {
                id: "other".into(),
                name: "Other".into(),
                client_type: authx::domain::client::ClientType::Public,
                redirect_uris: vec![],
                post_logout_redirect_uris: vec![],
                scopes: vec![],
                trusted: false,
                enabled: true,
                machine_user_id: None,
                id_token_alg: None,
            },
            None,
        )
        .await
        .unwrap();

    // Read: exactly the id.
    let (s, _) = get(&app, &reader, "/api/v1/clients/app").await;
    assert_eq!(s, 200);
    let (s, p) = get(&app, &other_reader, "/api/v1/clients/app").await;
    assert_eq!(s, 403);
    assert_eq!(p["missing_scopes"], json!(["AuthX:client.app:read"]));
    for who in [&updater, &deleter, &other_realm, &creator] {
        let (s, _) = get(&app, who, "/api/v1/clients/app").await;
        assert_eq!(s, 403);
    }
    // Unknown id: 403 without the scope, whether it exists or not.
    let (s, _) = get(&app, &reader, "/api/v1/clients/ghost").await;
    assert_eq!(s, 403);
    // Lists show only readable clients; 403 when none.
    let (s, list) = get(&app, &reader, "/api/v1/clients").await;
    assert_eq!(s, 200);
    assert_eq!(ids(&list), ["app"]);
    let (s, list) = get(&app, &other_reader, "/api/v1/clients").await;
    assert_eq!(s, 200);
    assert_eq!(ids(&list), ["other"]);
    for who in [&updater, &creator, &other_realm] {
        let (s, _) = get(&app, who, "/api/v1/clients").await;
        assert_eq!(s, 403);
    }

    // Update: read is not enough; scopes need update.scopes and covering access.
    let (s, p) = patch(&app, &reader, "/api/v1/clients/app", json!({"name": "x"})).await;
    assert_eq!(s, 403);
    assert_eq!(p["missing_scopes"], json!(["AuthX:client.app:update"]));
    let (s, _) = patch(
        &app,
        &updater,
        "/api/v1/clients/other",
        json!({"name": "x"}),
    )
    .await;
    assert_eq!(s, 403);
    let (s, c) = patch(
        &app,
        &updater,
        "/api/v1/clients/app",
        json!({"name": "Renamed"}),
    )
    .await;
    assert_eq!(s, 200, "{c}");
    let (s, p) = patch(
        &app,
        &updater,
        "/api/v1/clients/app",
        json!({"scopes": ["Api:orders:write"]}),
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(
        p["missing_scopes"],
        json!(["AuthX:client.app:update.scopes"])
    );
    let (s, p) = patch(
        &app,
        &scoper,
        "/api/v1/clients/app",
        json!({"scopes": ["Api:orders:write", "Api:users:read"]}),
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(p["missing_scopes"], json!(["Api:users:read"]));
    assert_eq!(
        store.get_client("app").await.unwrap().unwrap().scopes,
        ["Api:orders:read"]
    );
    let (s, c) = patch(
        &app,
        &scoper,
        "/api/v1/clients/app",
        json!({"scopes": ["Api:orders:write"]}),
    )
    .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["scopes"], json!(["Api:orders:write"]));

    // Secrets need update on that client.
    let (s, _) = get(&app, &reader, "/api/v1/clients/app/secrets").await;
    assert_eq!(s, 403);
    let (s, _) = post(&app, &reader, "/api/v1/clients/app/secrets", json!({})).await;
    assert_eq!(s, 403);
    let (s, _) = post(
        &app,
        &reader,
        "/api/v1/clients/app/secrets/rotate",
        json!({}),
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = get(&app, &updater, "/api/v1/clients/other/secrets").await;
    assert_eq!(s, 403);
    let (s, _) = get(&app, &updater, "/api/v1/clients/app/secrets").await;
    assert_eq!(s, 200);

    // Delete.
    for who in [&reader, &updater, &other_realm] {
        let (s, _) = delete(&app, who, "/api/v1/clients/app").await;
        assert_eq!(s, 403);
    }
    let (s, _) = delete(&app, &deleter, "/api/v1/clients/other").await;
    assert_eq!(s, 403);
    let (s, _) = delete(&app, &deleter, "/api/v1/clients/app").await;
    assert_eq!(s, 204);
    app.stop().await.unwrap();
}
on_both_backends!(clients_authorization_and_escalation);

// ----------------------------------------------------------------------------------------------
// Grants

async fn grants_crud_and_authorization(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let store = &app.state.store;
    for id in ["app", "other"] {
        store
            .create_client(
                authx::domain::client::NewClient {
                    id: id.into(),
                    name: id.into(),
                    client_type: authx::domain::client::ClientType::Public,
                    redirect_uris: vec!["https://app.example/cb".into()],
                    post_logout_redirect_uris: vec![],
                    scopes: vec!["Api:**:**".into()],
                    trusted: false,
                    enabled: true,
                    machine_user_id: None,
                    id_token_alg: None,
                },
                None,
            )
            .await
            .unwrap();
    }
    let me = caller(&app, &["AuthX:grant.app.me:*"]).await;
    let app_admin = caller(
        &app,
        &["AuthX:grant.app.user:read", "AuthX:grant.app.user:delete"],
    )
    .await;
    let app_reader = caller(&app, &["AuthX:grant.app.user:read"]).await;
    let other_realm = caller(&app, &["Other:grant.*.user:*"]).await;
    let victim = human(&app, "victim@example.com").await;
    let grant = |user: String, client: &'static str| async move {
        store
            .upsert_grant(&user, client, vec!["Api:orders:read".into()])
            .await
            .unwrap()
            .id
    };
    let my_app = grant(me.user_id.clone(), "app").await;
    let my_other = grant(me.user_id.clone(), "other").await;
    let v_app = grant(victim.clone(), "app").await;
    let v_other = grant(victim.clone(), "other").await;

    // One's own grants with `me` scopes, only for that client.
    let (s, list) = get(&app, &me, &format!("/api/v1/users/{}/grants", me.user_id)).await;
    assert_eq!(s, 200);
    assert_eq!(ids(&list), [my_app.as_str()]);
    assert_eq!(list["items"][0]["client_id"], "app");
    assert_eq!(list["items"][0]["scopes"], json!(["Api:orders:read"]));
    let (s, g) = get(&app, &me, &format!("/api/v1/grants/{my_app}")).await;
    assert_eq!(s, 200, "{g}");
    assert_eq!(g["user_id"], me.user_id.as_str());
    let (s, p) = get(&app, &me, &format!("/api/v1/grants/{my_other}")).await;
    assert_eq!(s, 403);
    assert_eq!(p["missing_scopes"], json!(["AuthX:grant.other.user:read"]));
    // Never another user's.
    let (s, _) = get(&app, &me, &format!("/api/v1/users/{victim}/grants")).await;
    assert_eq!(s, 403);
    let (s, _) = get(&app, &me, &format!("/api/v1/grants/{v_app}")).await;
    assert_eq!(s, 403);
    let (s, _) = delete(&app, &me, &format!("/api/v1/grants/{v_app}")).await;
    assert_eq!(s, 403);

    // Per-client user scopes.
    let (s, list) = get(&app, &app_reader, &format!("/api/v1/users/{victim}/grants")).await;
    assert_eq!(s, 200);
    assert_eq!(ids(&list), [v_app.as_str()]);
    let (s, _) = get(&app, &app_reader, &format!("/api/v1/grants/{v_other}")).await;
    assert_eq!(s, 403);
    let (s, _) = delete(&app, &app_reader, &format!("/api/v1/grants/{v_app}")).await;
    assert_eq!(s, 403);
    let (s, _) = delete(&app, &app_admin, &format!("/api/v1/grants/{v_other}")).await;
    assert_eq!(s, 403);
    for path in [
        format!("/api/v1/users/{victim}/grants"),
        format!("/api/v1/grants/{v_app}"),
    ] {
        let (s, _) = get(&app, &other_realm, &path).await;
        assert_eq!(s, 403);
    }

    // Revoking.
    let (s, _) = delete(&app, &app_admin, &format!("/api/v1/grants/{v_app}")).await;
    assert_eq!(s, 204);
    assert!(store.get_grant(&v_app).await.unwrap().is_none());
    let (s, _) = get(&app, &app_admin, &format!("/api/v1/grants/{v_app}")).await;
    assert_eq!(s, 404);
    let (s, _) = delete(&app, &me, &format!("/api/v1/grants/{my_app}")).await;
    assert_eq!(s, 204);
    let (s, list) = get(&app, &me, &format!("/api/v1/users/{}/grants", me.user_id)).await;
    assert_eq!(s, 200);
    assert!(ids(&list).is_empty());
    let (s, _) = get(
        &app,
        &app_admin,
        "/api/v1/users/00000000-0000-7000-8000-000000000000/grants",
    )
    .await;
    assert_eq!(s, 404);

    let events = store
        .list_audit(
            &AuditFilter {
                action: Some("grant.delete".into()),
                ..Default::default()
            },
            &Default::default(),
        )
        .await
        .unwrap();
    let targets: Vec<&str> = events
        .iter()
        .filter(|e| e.outcome == authx::domain::audit::Outcome::Success)
        .filter_map(|e| e.target_id.as_deref())
        .collect();
    assert_eq!(targets, [my_app.as_str(), v_app.as_str()]);
    app.stop().await.unwrap();
}
on_both_backends!(grants_crud_and_authorization);

// ----------------------------------------------------------------------------------------------
// Audit events

async fn audit_events_filters(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let auditor = caller(&app, &["AuthX:audit:read"]).await;
    let a = caller(&app, &["AuthX:client:create"]).await;
    let b = caller(&app, &["AuthX:client:create"]).await;
    let no = caller(&app, &["AuthX:audit.x:read", "Other:audit:read"]).await;
    for (who, id) in [(&a, "a1"), (&a, "a2"), (&b, "b1")] {
        let (s, _) = post(
            &app,
            who,
            "/api/v1/clients",
            json!({"id": id, "name": id, "type": "public"}),
        )
        .await;
        assert_eq!(s, 201);
    }
    // A refusal is audited too.
    let (s, _) = get(&app, &b, "/api/v1/clients/a1").await;
    assert_eq!(s, 403);

    let (s, list) = get(
        &app,
        &auditor,
        &format!(
            "/api/v1/audit-events?actor={}&action=client.create",
            a.user_id
        ),
    )
    .await;
    assert_eq!(s, 200, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    // Newest first.
    assert_eq!(items[0]["target_id"], "a2");
    assert_eq!(items[1]["target_id"], "a1");
    assert!(items.iter().all(|e| e["actor_id"] == a.user_id.as_str()
        && e["outcome"] == "success"
        && e["actor_type"] == "user"));

    let (s, list) = get(
        &app,
        &auditor,
        &format!("/api/v1/audit-events?actor={}", b.user_id),
    )
    .await;
    assert_eq!(s, 200);
    let actions: Vec<(&str, &str)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [("client.read", "denied"), ("client.create", "success")]
    );
    let (_, list) = get(&app, &auditor, "/api/v1/audit-events?target=b1").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // Pagination and time filters.
    let (s, page1) = get(
        &app,
        &auditor,
        "/api/v1/audit-events?action=client.create&limit=2",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(page1["items"].as_array().unwrap().len(), 2);
    let cursor = page1["next_cursor"].as_str().unwrap().to_owned();
    let (_, page2) = get(
        &app,
        &auditor,
        &format!("/api/v1/audit-events?action=client.create&limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(ids(&page2).len(), 1);
    assert!(page2["next_cursor"].is_null());
    let (_, list) = get(
        &app,
        &auditor,
        "/api/v1/audit-events?action=client.create&from=2000-01-01T00:00:00Z&to=2999-01-01T00:00:00Z",
    )
    .await;
    assert_eq!(ids(&list).len(), 3);
    let (_, list) = get(
        &app,
        &auditor,
        "/api/v1/audit-events?action=client.create&from=2999-01-01T00:00:00Z",
    )
    .await;
    assert!(ids(&list).is_empty());
    let (s, p) = get(&app, &auditor, "/api/v1/audit-events?from=yesterday").await;
    assert_eq!(bad_field(s, &p), "from");
    let (s, p) = get(&app, &auditor, "/api/v1/audit-events?to=2026-13-01").await;
    assert_eq!(bad_field(s, &p), "to");
    let (s, _) = get(&app, &auditor, "/api/v1/audit-events?limit=0").await;
    assert_eq!(s, 400);

    // Only audit:read.
    for who in [&a, &no] {
        let (s, p) = get(&app, who, "/api/v1/audit-events").await;
        assert_eq!(s, 403);
        assert_eq!(p["missing_scopes"], json!(["AuthX:audit:read"]));
    }
    app.stop().await.unwrap();
}
on_both_backends!(audit_events_filters);
