//! Signing in through an OpenID Connect provider (reference §3 google, §6), end to end: a real provider
//! (panva's oidc-provider on loopback, `support::oidc_provider`), an authority created through the
//! admin API, and a browser without JavaScript (a cookie jar, redirects followed by hand) that
//! clicks the login page's button, logs in at the provider, consents, and comes back to authx.
//!
//! Covered: a new user from the provider's profile, the credential reused on the next sign-in,
//! linking an existing user by a *verified* email only, the refusals (hosted domain, unlinked
//! identity, cancel, state mismatch, missing cookie, replayed callback, disabled authority) each
//! with a page, an audit event and nothing created, and linking from the account page.

use authx::domain::Page;
use authx::domain::audit::{AuditFilter, Outcome};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::db::TestDb;
use crate::support::oidc_provider::{AtProvider, Provider, drive};
use crate::support::principals::{Caller, caller};
use crate::support::upstream::{
    api, assert_refused_page, failures, location, set_cookie, user_count,
};
use crate::web_password::{Browser, person};

const CLIENT_ID: &str = "authx-rp";
const CLIENT_SECRET: &str = "authx-rp-secret-0123456789abcdef0123456789abcdef";
const AUTHORITY: &str = "acme";

/// The provider's accounts (log in with the `sub`).
fn accounts() -> Value {
    json!([
        {
            "sub": "ada", "email": "Ada@Example.com", "email_verified": true,
            "name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace",
            "hd": "example.com",
        },
        {
            "sub": "bob", "email": "bob@example.com", "email_verified": false,
            "name": "Bob Builder",
        },
        {
            "sub": "eve", "email": "eve@evil.example", "email_verified": true,
            "name": "Eve", "hd": "evil.example",
        },
    ])
}

/// A running authx, the provider (its client registered with authx's callback), and an admin
/// that created the `acme` authority through the API with `details` on top of the provider's
/// issuer and client. `None` when the provider can't run here (the test is skipped).
async fn setup(db: TestDb, details: Value) -> Option<(TestApp, Provider, Caller)> {
    let app = TestApp::spawn(db).await;
    let callback = app.url(&format!("/login/{AUTHORITY}/callback"));
    let provider = Provider::start(json!({
        "clients": [{
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [callback],
        }],
        "accounts": accounts(),
    }))
    .await;
    let Some(provider) = provider else {
        app.stop().await.unwrap();
        return None;
    };
    let admin = caller(&app, &["AuthX:authority:create", "AuthX:authority.*:*"]).await;
    let mut all = json!({
        "issuer": provider.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
    });
    for (k, v) in details.as_object().unwrap() {
        all[k] = v.clone();
    }
    let (s, a) = api(
        &app,
        &admin,
        Method::POST,
        "/api/v1/authorities",
        Some(json!({"id": AUTHORITY, "strategy": "google", "name": "Acme ID", "details": all})),
    )
    .await;
    assert_eq!(s, 201, "{a}");
    assert_eq!(a["details"]["client_secret_set"], true);
    assert!(!a.to_string().contains(CLIENT_SECRET));
    Some((app, provider, admin))
}

/// Starts at authx's `start` path, goes through the provider doing `action`, and returns the
/// callback URL the provider sent the browser to (not requested yet).
async fn to_callback(app: &TestApp, b: &Browser, start: &str, action: AtProvider<'_>) -> String {
    let r = b.get(start).await;
    assert_eq!(r.status(), 303, "GET {start}: {}", r.text().await.unwrap());
    let cookie = set_cookie(&r, "authx_upstream=").expect("the pending-login cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/login/"), "{cookie}");
    let provider_url = location(&r);
    assert!(
        provider_url.contains("code_challenge_method=S256"),
        "{provider_url}"
    );
    assert!(provider_url.contains("nonce="), "{provider_url}");
    let stop_at = app.url(&format!("/login/{AUTHORITY}/callback"));
    drive(&b.client, &provider_url, &stop_at, action).await
}

/// The whole round trip; returns authx's answer to the callback.
async fn sign_in(
    app: &TestApp,
    b: &Browser,
    start: &str,
    action: AtProvider<'_>,
) -> reqwest::Response {
    let callback = to_callback(app, b, start, action).await;
    b.client.get(callback).send().await.unwrap()
}

// ---------------------------------------------------------------------------------------------

async fn new_user_then_the_same_credential(db: TestDb) {
    let Some((app, provider, admin)) = setup(db, json!({"creates_users": true})).await else {
        return;
    };
    let before = user_count(&app).await;

    // The login page shows the button, which keeps return_to.
    let b = Browser::new(&app);
    let html = b.page("/login?return_to=/account").await;
    assert!(html.contains("Sign in with Acme ID"), "{html}");
    assert!(
        html.contains("href=\"/login/acme?return_to=/account\""),
        "{html}"
    );

    let r = sign_in(
        &app,
        &b,
        "/login/acme?return_to=/account",
        AtProvider::LogIn("ada"),
    )
    .await;
    assert_eq!(
        r.status(),
        303,
        "{}\n{}",
        r.text().await.unwrap(),
        provider.stderr()
    );
    assert_eq!(location(&r), "/account");
    assert!(set_cookie(&r, "authx_session=").is_some());
    let html = b.page("/account").await;
    assert!(html.contains("Ada Lovelace"), "{html}");

    // A new user with the provider's profile and the credential (authority, sub).
    assert_eq!(user_count(&app).await, before + 1);
    let store = &app.state.store;
    let credential = store
        .find_credential(AUTHORITY, "ada")
        .await
        .unwrap()
        .unwrap();
    let user = store.get_user(&credential.user_id).await.unwrap().unwrap();
    assert_eq!(user.display_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(user.email.as_deref(), Some("ada@example.com"));
    let name = user.profile.name.clone().unwrap();
    assert_eq!(name.given_name.as_deref(), Some("Ada"));
    assert_eq!(name.family_name.as_deref(), Some("Lovelace"));
    assert_eq!(user.profile.emails[0].value, "ada@example.com");
    let events = store
        .list_audit(
            &AuditFilter {
                actor_id: Some(user.id.clone()),
                ..Default::default()
            },
            &Page::first(100),
        )
        .await
        .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["login.success", "user.create"]);
    assert_eq!(events[0].details["authority"], AUTHORITY);
    assert_eq!(events[0].details["strategy"], "google");

    // The next sign-in (a new browser, return_to kept) reuses the credential.
    let b2 = Browser::new(&app);
    let r = sign_in(
        &app,
        &b2,
        "/login/acme?return_to=/account%3Fnotice%3Dprofile",
        AtProvider::LogIn("ada"),
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account?notice=profile");
    assert_eq!(user_count(&app).await, before + 1);
    let again = store
        .find_credential(AUTHORITY, "ada")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.id, credential.id);
    assert!(again.last_used_at.is_some());
    assert!(b2.page("/account").await.contains("Ada Lovelace"));
    // An open redirect in return_to falls back to the account page.
    let b3 = Browser::new(&app);
    let r = sign_in(
        &app,
        &b3,
        "/login/acme?return_to=//evil.example/x",
        AtProvider::LogIn("ada"),
    )
    .await;
    assert_eq!(location(&r), "/account");

    // The pending rows are gone (single use), and the API still shows no secret.
    assert_eq!(
        store
            .delete_expired_upstream_logins(i64::MAX)
            .await
            .unwrap(),
        0
    );
    let (s, a) = api(&app, &admin, Method::GET, "/api/v1/authorities/acme", None).await;
    assert_eq!(s, 200);
    assert!(!a.to_string().contains(CLIENT_SECRET));
    assert!(failures(&app, AUTHORITY).await.is_empty());
    app.stop().await.unwrap();
}
on_both_backends!(new_user_then_the_same_credential);

async fn links_by_verified_email_only(db: TestDb) {
    let Some((app, provider, admin)) = setup(db, json!({"match_users_by_email": true})).await
    else {
        return;
    };
    // Existing people with email credentials for ada@ and bob@example.com.
    let ada = person(&app, "ada").await;
    let bob = person(&app, "bob").await;
    let before = user_count(&app).await;
    let store = &app.state.store;

    // Ada's address is verified at the provider: her sign-in lands on her existing account.
    let b = Browser::new(&app);
    let r = sign_in(&app, &b, "/login/acme", AtProvider::LogIn("ada")).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let credential = store
        .find_credential(AUTHORITY, "ada")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(credential.user_id, ada.user_id);
    assert!(b.page("/account").await.contains(&ada.display_name));
    assert_eq!(user_count(&app).await, before);

    // Bob's is not verified: nothing links, and without creates_users the sign-in is refused.
    let b = Browser::new(&app);
    let r = sign_in(&app, &b, "/login/acme", AtProvider::LogIn("bob")).await;
    assert_refused_page(
        r,
        403,
        "This sign-in is not linked to an account.",
        "/login?return_to=/account",
    )
    .await;
    assert!(
        store
            .find_credential(AUTHORITY, "bob")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        failures(&app, AUTHORITY).await,
        [("not_linked".to_owned(), Outcome::Denied)]
    );

    // With creates_users (a PATCH without the write-only secret keeps it), Bob gets a new
    // account of his own — still not Bob's existing one, and no email credential.
    let (s, a) = api(
        &app,
        &admin,
        Method::PATCH,
        "/api/v1/authorities/acme",
        Some(
            json!({"details": {"issuer": provider.issuer, "client_id": CLIENT_ID,
                           "match_users_by_email": true, "creates_users": true}}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{a}");
    let b = Browser::new(&app);
    let r = sign_in(&app, &b, "/login/acme", AtProvider::LogIn("bob")).await;
    assert_eq!(r.status(), 303);
    let credential = store
        .find_credential(AUTHORITY, "bob")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(credential.user_id, bob.user_id);
    let new_bob = store.get_user(&credential.user_id).await.unwrap().unwrap();
    assert_eq!(new_bob.email, None);
    assert_eq!(new_bob.display_name.as_deref(), Some("Bob Builder"));
    let credentials = store.list_credentials_of_user(&new_bob.id).await.unwrap();
    assert_eq!(credentials.len(), 1);
    assert_eq!(user_count(&app).await, before + 1);
    app.stop().await.unwrap();
}
on_both_backends!(links_by_verified_email_only);

async fn refusals_create_nothing(db: TestDb) {
    let Some((app, provider, admin)) = setup(
        db,
        json!({"creates_users": true, "hosted_domains": ["example.com"]}),
    )
    .await
    else {
        return;
    };
    let before = user_count(&app).await;
    let back = "/login?return_to=/account";

    // An account of another Workspace domain.
    let b = Browser::new(&app);
    let r = sign_in(&app, &b, "/login/acme", AtProvider::LogIn("eve")).await;
    assert_refused_page(r, 403, "This account may not log in here.", back).await;

    // Cancelled at the provider.
    let b = Browser::new(&app);
    let r = sign_in(&app, &b, "/login/acme", AtProvider::Cancel).await;
    assert_refused_page(
        r,
        403,
        "The login was cancelled at the identity provider.",
        back,
    )
    .await;

    // A state that is not this browser's; the attempt is spent all the same.
    let b = Browser::new(&app);
    let callback = to_callback(&app, &b, "/login/acme", AtProvider::LogIn("ada")).await;
    let tampered = callback.replace("state=", "state=x");
    assert_ne!(tampered, callback);
    let r = b.client.get(&tampered).send().await.unwrap();
    assert_refused_page(r, 400, "please start again", back).await;
    let r = b.client.get(&callback).send().await.unwrap();
    assert_refused_page(
        r,
        400,
        "This sign-in attempt has expired or was already used.",
        "/login",
    )
    .await;

    // The callback in a browser that did not start the attempt (no cookie).
    let b = Browser::new(&app);
    let callback = to_callback(&app, &b, "/login/acme", AtProvider::LogIn("ada")).await;
    let stranger = Browser::new(&app);
    let r = stranger.client.get(&callback).send().await.unwrap();
    assert_refused_page(
        r,
        400,
        "This sign-in attempt has expired or was already used.",
        "/login",
    )
    .await;

    // A callback replayed with the cookie it came with: the row was used.
    let b = Browser::new(&app);
    let r = b.get("/login/acme").await;
    let pending = set_cookie(&r, "authx_upstream=").unwrap();
    let pending = pending.split(';').next().unwrap().to_owned();
    let stop_at = app.url(&format!("/login/{AUTHORITY}/callback"));
    let callback = drive(&b.client, &location(&r), &stop_at, AtProvider::LogIn("ada")).await;
    let r = b.client.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let signed_up = user_count(&app).await;
    assert_eq!(signed_up, before + 1);
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = replay
        .get(&callback)
        .header("cookie", &pending)
        .send()
        .await
        .unwrap();
    assert_refused_page(
        r,
        400,
        "This sign-in attempt has expired or was already used.",
        "/login",
    )
    .await;

    // A disabled authority: no button, and its start and callback refuse.
    let (s, _) = api(
        &app,
        &admin,
        Method::PATCH,
        "/api/v1/authorities/acme",
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(s, 200);
    let b = Browser::new(&app);
    assert!(!b.page("/login").await.contains("Acme ID"));
    let r = b.get("/login/acme").await;
    assert_eq!(r.status(), 403);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("This way of signing in is not available.")
    );
    // Unknown authorities and strategies without a round trip are not found.
    assert_eq!(b.get("/login/nope").await.status(), 404);

    assert_eq!(user_count(&app).await, signed_up);
    let reasons: Vec<(String, Outcome)> = failures(&app, AUTHORITY).await;
    assert_eq!(
        reasons,
        [
            ("hd_not_allowed".to_owned(), Outcome::Denied),
            ("access_denied".to_owned(), Outcome::Denied),
            ("state_mismatch".to_owned(), Outcome::Failure),
            ("no_pending_login".to_owned(), Outcome::Failure),
            ("no_pending_login".to_owned(), Outcome::Failure),
            ("no_pending_login".to_owned(), Outcome::Failure),
            ("authority_disabled".to_owned(), Outcome::Denied),
        ]
    );

    // A mistyped issuer is refused when saved, not at every login: a trailing slash (the
    // discovery document names the issuer without it), or nothing answering at all.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nobody = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    for issuer in [format!("{}/", provider.issuer), nobody] {
        let details = json!({"issuer": issuer, "client_id": CLIENT_ID, "client_secret": "x"});
        let (s, p) = api(
            &app,
            &admin,
            Method::POST,
            "/api/v1/authorities",
            Some(json!({"id": "typo", "strategy": "google", "name": "Typo", "details": details})),
        )
        .await;
        assert_eq!(s, 400, "{issuer}: {p}");
        assert_eq!(p["errors"][0]["field"], "details.issuer", "{p}");
        let message = p["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("discovery document"), "{message}");
        let (s, p) = api(
            &app,
            &admin,
            Method::PATCH,
            &format!("/api/v1/authorities/{AUTHORITY}"),
            Some(json!({"enabled": true, "details": {"issuer": issuer, "client_secret": "x"}})),
        )
        .await;
        assert_eq!(s, 400, "{issuer}: {p}");
    }
    assert!(
        app.state
            .store
            .get_authority("typo")
            .await
            .unwrap()
            .is_none()
    );
    let stored = app
        .state
        .store
        .get_authority(AUTHORITY)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.details["issuer"], provider.issuer);
    app.stop().await.unwrap();
}
on_both_backends!(refusals_create_nothing);

async fn linking_from_the_account_page(db: TestDb) {
    let Some((app, _provider, _admin)) = setup(db, json!({})).await else {
        return;
    };
    let carol = person(&app, "carol").await;
    let dave = person(&app, "dave").await;
    let store = &app.state.store;

    // Signed out, linking leads to the login page.
    let b = Browser::new(&app);
    let r = b.get("/account/link/acme").await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login?return_to=/account");

    // Carol links her Acme ID account.
    let r = b.login(&carol.username, &carol.password).await;
    assert_eq!(r.status(), 303);
    let html = b.page("/account").await;
    assert!(html.contains("href=\"/account/link/acme\""), "{html}");
    assert!(html.contains("Link Acme ID"), "{html}");
    let r = sign_in(&app, &b, "/account/link/acme", AtProvider::LogIn("ada")).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(location(&r), "/account?notice=linked");
    let credential = store
        .find_credential(AUTHORITY, "ada")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(credential.user_id, carol.user_id);
    let html = b.page("/account?notice=linked").await;
    assert!(
        html.contains("The sign-in method is linked to your account."),
        "{html}"
    );
    assert!(!html.contains("Link Acme ID"), "{html}");
    assert!(html.contains(&carol.display_name));
    let linked = store
        .list_audit(
            &AuditFilter {
                action: Some("login.link".into()),
                ..Default::default()
            },
            &Page::first(10),
        )
        .await
        .unwrap();
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0].actor_id.as_deref(), Some(carol.user_id.as_str()));

    // From now on Acme ID signs Carol in.
    let b2 = Browser::new(&app);
    let r = sign_in(&app, &b2, "/login/acme", AtProvider::LogIn("ada")).await;
    assert_eq!(r.status(), 303);
    assert!(b2.page("/account").await.contains(&carol.display_name));

    // Dave cannot take the same upstream account: refused, and it stays Carol's.
    let d = Browser::new(&app);
    d.login(&dave.username, &dave.password).await;
    let r = sign_in(&app, &d, "/account/link/acme", AtProvider::LogIn("ada")).await;
    assert_refused_page(
        r,
        403,
        "This Acme ID account cannot be linked to yours",
        "/account",
    )
    .await;
    let credential = store
        .find_credential(AUTHORITY, "ada")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(credential.user_id, carol.user_id);
    assert!(d.page("/account").await.contains(&dave.display_name));

    // A user whose access does not include `credential.acme.me:create` sees no button and is
    // refused.
    let plain = store
        .create_user(authx::domain::user::NewUser::human())
        .await
        .unwrap();
    let p = Browser::signed_in_as(&app, &plain.id).await;
    assert!(!p.page("/account").await.contains("Link Acme ID"));
    assert_eq!(p.get("/account/link/acme").await.status(), 403);

    // Signed out between start and callback: the link is refused.
    let e = Browser::new(&app);
    e.login(&dave.username, &dave.password).await;
    let callback = to_callback(&app, &e, "/account/link/acme", AtProvider::LogIn("bob")).await;
    let csrf = e.csrf("/account").await;
    e.post_raw("/logout", &[("csrf_token", &csrf)]).await;
    let r = e.client.get(&callback).send().await.unwrap();
    assert_refused_page(r, 403, "no longer signed in", "/account").await;
    assert!(
        store
            .find_credential(AUTHORITY, "bob")
            .await
            .unwrap()
            .is_none()
    );

    assert_eq!(
        failures(&app, AUTHORITY).await,
        [
            ("credential_in_use".to_owned(), Outcome::Denied),
            ("session_changed".to_owned(), Outcome::Denied),
        ]
    );
    app.stop().await.unwrap();
}
on_both_backends!(linking_from_the_account_page);
