//! The email strategy's browser flows end to end, on both backends, with mail going over real SMTP
//! to an aiosmtpd sink (`support::smtp`): passwordless login by link, single use, expiry,
//! tampering, unknown addresses, send limits, password reset and verification of an added
//! address. Without a python that has aiosmtpd the tests are skipped (outside CI).

use std::time::Duration;

use authx::config::Config;
use authx::domain::audit::AuditFilter;
use authx::domain::authority::{NewAuthority, Strategy};
use authx::domain::credential::NewCredential;
use authx::domain::email_token::{EmailTokenPurpose, NewEmailToken};
use authx::domain::user::NewUser;
use authx::domain::{Page, now};
use authx::engine::Engine;
use authx::startup::{App, StartupError};
use authx_strategy_email::{MailerConfig, SmtpConfig, SmtpTls, new_token};
use serde_json::{Value, json};

use crate::support::app::{TestApp, test_config};
use crate::support::db::TestDb;
use crate::support::smtp::{SmtpSink, extract_link};
use crate::support::tokens::issued_refresh_token;

const ADA: &str = "ada@example.com";
const OLD_PASSWORD: &str = "old password 1";
const MAIL_WAIT: Duration = Duration::from_secs(15);

/// A running app mailing to `sink`, with `email` and `password` authorities and Ada (an email
/// credential for [`ADA`] and a password).
struct Fixture {
    sink: SmtpSink,
    app: TestApp,
    ada: String,
}

fn smtp_to(sink: &SmtpSink) -> MailerConfig {
    let mut smtp = SmtpConfig::new("127.0.0.1");
    smtp.tls = SmtpTls::None;
    smtp.port = Some(sink.port());
    smtp.timeout_secs = 10;
    smtp.from = "authx <no-reply@authx.test>".to_owned();
    MailerConfig::Smtp(smtp)
}

async fn fixture(db: TestDb, configure: impl FnOnce(&mut Config)) -> Option<Fixture> {
    let sink = SmtpSink::start()?;
    let mailer = smtp_to(&sink);
    let app = TestApp::spawn_with(
        db,
        |c| {
            c.email = mailer;
            configure(c);
        },
        vec![],
    )
    .await;
    let state = &app.state;
    for (id, strategy) in [("email", Strategy::Email), ("password", Strategy::Password)] {
        state
            .store
            .create_authority(NewAuthority {
                id: id.to_owned(),
                strategy,
                name: id.to_owned(),
                enabled: true,
                details: json!({}),
            })
            .await
            .unwrap();
    }
    // What bootstrap-admin gives everybody: the `default` role (the account pages need its
    // `credential.*.me:*` to add an address, as the API would).
    state
        .store
        .create_role(authx::domain::role::NewRole {
            id: "default".to_owned(),
            name: "Default".to_owned(),
            description: None,
            is_default: true,
            enabled: true,
            scopes: authx::engine::bootstrap::default_role_scopes(&state.config.realm),
            deny: Vec::new(),
        })
        .await
        .unwrap();
    let ada = user_with_email(state, ADA).await;
    let hash = authx_strategy_password::hash_password(OLD_PASSWORD.to_owned(), 4)
        .await
        .unwrap();
    state
        .store
        .create_credential(NewCredential {
            user_id: ada.clone(),
            authority_id: "password".to_owned(),
            authority_user_id: ada.clone(),
            details: json!({ "hash": hash }),
        })
        .await
        .unwrap();
    Some(Fixture { sink, app, ada })
}

async fn user_with_email(state: &Engine, address: &str) -> String {
    let user = state
        .store
        .create_user(NewUser {
            email: Some(address.to_owned()),
            ..NewUser::human()
        })
        .await
        .unwrap();
    state
        .store
        .create_credential(NewCredential {
            user_id: user.id.clone(),
            authority_id: "email".to_owned(),
            authority_user_id: address.to_owned(),
            details: json!({}),
        })
        .await
        .unwrap();
    user.id
}

/// A browser: keeps cookies, does not follow redirects.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of the first `<input name="{name}" value="…">` in `html`.
fn field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].replace("&amp;", "&"))
}

/// Loads `path` and returns the CSRF token of its forms (the cookie lands in the jar).
async fn csrf(client: &reqwest::Client, app: &TestApp, path: &str) -> String {
    let r = client.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    let html = r.text().await.unwrap();
    field(&html, "csrf_token").unwrap_or_else(|| panic!("no CSRF field on {path}: {html}"))
}

async fn post(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    client.post(app.url(path)).form(form).send().await.unwrap()
}

/// The token of the next link to `to` whose path is `path`.
async fn mailed_token(fx: &Fixture, to: &str, path: &str) -> String {
    let raw = fx.sink.wait_for_message(to, MAIL_WAIT).await;
    let prefix = format!("{}{path}?token=", fx.app.state.config.issuer_url());
    let link = extract_link(&raw, &prefix).unwrap_or_else(|| panic!("no {prefix} link in {raw}"));
    link.strip_prefix(&prefix).unwrap().to_owned()
}

/// Asks for a login link for `address` from `client`.
async fn request_login(
    client: &reqwest::Client,
    app: &TestApp,
    address: &str,
    return_to: &str,
) -> reqwest::Response {
    let token = csrf(client, app, "/login").await;
    post(
        client,
        app,
        "/login/email",
        &[
            ("email", address),
            ("csrf_token", &token),
            ("return_to", return_to),
        ],
    )
    .await
}

/// Opens the mailed link (GET: the confirm form) and submits it; returns the POST's response.
async fn follow_link(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
    token: &str,
) -> reqwest::Response {
    let r = client
        .get(app.url(&format!("{path}?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    let html = r.text().await.unwrap();
    assert_eq!(field(&html, "token").as_deref(), Some(token), "{html}");
    let csrf = field(&html, "csrf_token").unwrap();
    post(
        client,
        app,
        path,
        &[("token", token), ("csrf_token", &csrf)],
    )
    .await
}

async fn audit_count(state: &Engine, action: &str, actor: Option<&str>) -> usize {
    state
        .store
        .list_audit(
            &AuditFilter {
                action: Some(action.to_owned()),
                actor_id: actor.map(str::to_owned),
                ..Default::default()
            },
            &Page::default(),
        )
        .await
        .unwrap()
        .len()
}

fn location(r: &reqwest::Response) -> &str {
    r.headers()["location"].to_str().unwrap()
}

// ---------------------------------------------------------------------------------------------

async fn login_link_end_to_end(db: TestDb) {
    let Some(fx) = fixture(db, |_| {}).await else {
        return;
    };
    let app = &fx.app;
    let client = browser();
    let r = request_login(&client, app, "  Ada@Example.COM ", "/account?from=mail").await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Check your email"));
    let token = mailed_token(&fx, ADA, "/login/email/verify").await;
    // Not signed in yet.
    let r = client.get(app.url("/account")).send().await.unwrap();
    assert_eq!(r.status(), 303);

    let r = follow_link(&client, app, "/login/email/verify", &token).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account?from=mail");
    let sessions = app.state.store.list_user_sessions(&fx.ada).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].authority_id, "email");
    let r = client.get(app.url("/account")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        audit_count(&app.state, "login.success", Some(&fx.ada)).await,
        1
    );

    // The same link again: refused.
    let other = browser();
    let r = follow_link(&other, app, "/login/email/verify", &token).await;
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(html.contains("invalid or has expired"), "{html}");
    assert!(html.contains("href=\"/login\""), "{html}");

    // A tampered token is refused and does not spend the real one.
    let r = request_login(&other, app, ADA, "").await;
    assert_eq!(r.status(), 200);
    let token = mailed_token(&fx, ADA, "/login/email/verify").await;
    let last = token.chars().last().unwrap();
    let tampered = format!(
        "{}{}",
        &token[..token.len() - 1],
        if last == 'A' { 'B' } else { 'A' }
    );
    let r = follow_link(&other, app, "/login/email/verify", &tampered).await;
    assert_eq!(r.status(), 400);
    assert!(audit_count(&app.state, "login.failure", None).await >= 2);
    let r = follow_link(&other, app, "/login/email/verify", &token).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account");
    // A malformed token never reaches the form.
    let r = other
        .get(app.url("/login/email/verify?token=nonsense"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // The CSRF field is checked.
    let r = post(
        &browser(),
        app,
        "/login/email/verify",
        &[("token", &token), ("csrf_token", "x")],
    )
    .await;
    assert_eq!(r.status(), 403);
}
on_both_backends!(login_link_end_to_end);

async fn expired_and_wrong_purpose_tokens_are_refused(db: TestDb) {
    let Some(fx) = fixture(db, |_| {}).await else {
        return;
    };
    let app = &fx.app;
    let store = &app.state.store;
    let expired = new_token();
    let valid_reset = new_token();
    for (token, purpose, expires_at) in [
        (&expired, EmailTokenPurpose::Login, now() - 10),
        (&valid_reset, EmailTokenPurpose::Reset, now() + 600),
    ] {
        store
            .create_email_token(NewEmailToken {
                token_hash: token.hash.clone(),
                purpose,
                email: ADA.to_owned(),
                user_id: Some(fx.ada.clone()),
                authority_id: "email".to_owned(),
                expires_at,
                return_to: None,
            })
            .await
            .unwrap();
    }
    let client = browser();
    let r = follow_link(&client, app, "/login/email/verify", &expired.token).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("invalid or has expired"));
    // A reset token does not log anyone in.
    let r = follow_link(&client, app, "/login/email/verify", &valid_reset.token).await;
    assert_eq!(r.status(), 400);
    assert!(store.list_user_sessions(&fx.ada).await.unwrap().is_empty());
}
on_both_backends!(expired_and_wrong_purpose_tokens_are_refused);

async fn unknown_address_gets_the_same_answer_and_no_mail(db: TestDb) {
    let Some(fx) = fixture(db, |_| {}).await else {
        return;
    };
    let app = &fx.app;
    let client = browser();
    let unknown = request_login(&client, app, "nobody@example.com", "").await;
    assert_eq!(unknown.status(), 200);
    let unknown = unknown.text().await.unwrap();
    let known = request_login(&client, app, ADA, "").await;
    assert_eq!(known.status(), 200);
    let known = known.text().await.unwrap();
    assert_eq!(unknown, known);
    fx.sink.wait_for_message(ADA, MAIL_WAIT).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let strays: Vec<_> = fx
        .sink
        .messages()
        .into_iter()
        .filter(|(to, _)| to.iter().any(|t| t.contains("nobody")))
        .collect();
    assert!(strays.is_empty(), "mail sent to an unknown address");
    // An invalid address is the login page with a message; a missing CSRF field is refused.
    let r = request_login(&client, app, "not an address", "").await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("valid email address"));
    let r = post(&browser(), app, "/login/email", &[("email", ADA)]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(fx.sink.messages().len(), 1);
}
on_both_backends!(unknown_address_gets_the_same_answer_and_no_mail);

async fn creating_authority_signs_up_new_addresses(db: TestDb) {
    let Some(fx) = fixture(db, |_| {}).await else {
        return;
    };
    let app = &fx.app;
    app.state
        .store
        .update_authority(
            "email",
            authx::domain::authority::AuthorityPatch {
                details: Some(json!({ "creates_users": true })),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let client = browser();
    let r = request_login(&client, app, "new@example.com", "").await;
    assert_eq!(r.status(), 200);
    let token = mailed_token(&fx, "new@example.com", "/login/email/verify").await;
    let r = follow_link(&client, app, "/login/email/verify", &token).await;
    assert_eq!(r.status(), 303);
    let credential = app
        .state
        .store
        .find_credential("email", "new@example.com")
        .await
        .unwrap()
        .expect("the new user's email credential");
    assert_ne!(credential.user_id, fx.ada);
}
on_both_backends!(creating_authority_signs_up_new_addresses);

async fn sends_are_limited_per_address(db: TestDb) {
    let Some(fx) = fixture(db, |c| c.login.max_emails_per_address = 2).await else {
        return;
    };
    let app = &fx.app;
    let client = browser();
    for _ in 0..2 {
        assert_eq!(request_login(&client, app, ADA, "").await.status(), 200);
    }
    let r = request_login(&client, app, ADA, "").await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 900, "{retry}");
    // The reset form counts against the same address.
    let token = csrf(&client, app, "/password/reset").await;
    let r = post(
        &client,
        app,
        "/password/reset",
        &[("email", ADA), ("csrf_token", &token)],
    )
    .await;
    assert_eq!(r.status(), 429);
    // Another address is not affected.
    assert_eq!(
        request_login(&client, app, "other@example.com", "")
            .await
            .status(),
        200
    );
    fx.sink.wait_for_message(ADA, MAIL_WAIT).await;
    fx.sink.wait_for_message(ADA, MAIL_WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fx.sink.messages().len(), 2);
}
on_both_backends!(sends_are_limited_per_address);

async fn password_reset_end_to_end(db: TestDb) {
    let Some(fx) = fixture(db, |_| {}).await else {
        return;
    };
    let app = &fx.app;
    let store = &app.state.store;
    // Ada is signed in somewhere: the reset ends that session.
    let elsewhere = browser();
    let token = csrf(&elsewhere, app, "/login").await;
    let r = post(
        &elsewhere,
        app,
        "/login/password",
        &[
            ("identifier", ADA),
            ("password", OLD_PASSWORD),
            ("csrf_token", &token),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(store.list_user_sessions(&fx.ada).await.unwrap().len(), 1);
    // An application holds a refresh token of Ada's (as a code redemption leaves it).
    let refresh = issued_refresh_token(store, &fx.ada).await;

    let client = browser();
    let token = csrf(&client, app, "/password/reset").await;
    let r = post(
        &client,
        app,
        "/password/reset",
        &[("email", ADA), ("csrf_token", &token)],
    )
    .await;
    assert_eq!(r.status(), 200);
    let known = r.text().await.unwrap();
    let r = post(
        &client,
        app,
        "/password/reset",
        &[("email", "nobody@example.com"), ("csrf_token", &token)],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), known);
    let link = mailed_token(&fx, ADA, "/password/reset/confirm").await;

    let r = client
        .get(app.url(&format!("/password/reset/confirm?token={link}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert_eq!(field(&html, "token").as_deref(), Some(link.as_str()));
    let csrf_field = field(&html, "csrf_token").unwrap();
    let submit = |token: String, new: &'static str, again: &'static str| {
        let client = client.clone();
        let csrf_field = csrf_field.clone();
        let url = app.url("/password/reset/confirm");
        async move {
            client
                .post(url)
                .form(&[
                    ("token", token.as_str()),
                    ("new_password", new),
                    ("confirm_password", again),
                    ("csrf_token", csrf_field.as_str()),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    // Mismatch and a too-short password: refused, and the link still works afterwards.
    let r = submit(link.clone(), "new password 1", "new password 2").await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("not the same"));
    let r = submit(link.clone(), "short", "short").await;
    assert_eq!(r.status(), 400);
    // The account's own address: refused after the token is spent, with a fresh token in the form.
    let r = submit(link.clone(), ADA, ADA).await;
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(html.contains("not your email address"), "{html}");
    let fresh = field(&html, "token").unwrap();
    assert_ne!(fresh, link);
    let r = submit(link.clone(), "new password 1", "new password 1").await;
    assert_eq!(r.status(), 400, "the first link is spent");

    let r = submit(fresh.clone(), "new password 1", "new password 1").await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Your password was changed"), "{html}");
    assert!(html.contains("href=\"/login\""), "{html}");
    // Single use.
    let r = submit(fresh, "new password 2", "new password 2").await;
    assert_eq!(r.status(), 400);

    let credential = store
        .find_credential("password", &fx.ada)
        .await
        .unwrap()
        .unwrap();
    let hash = credential.details["hash"].as_str().map(str::to_owned);
    assert!(!authx_strategy_password::verify_password(OLD_PASSWORD.into(), hash.clone()).await);
    assert!(authx_strategy_password::verify_password("new password 1".into(), hash).await);
    assert!(store.list_user_sessions(&fx.ada).await.unwrap().is_empty());
    // The application's refresh token and access token are dead too.
    let stored = store.find_refresh_token(&refresh).await.unwrap().unwrap();
    assert!(
        stored.revoked_at.is_some(),
        "the refresh family ends with the reset"
    );
    let access = store.get_access_token("reset-jti").await.unwrap().unwrap();
    assert!(access.revoked_at.is_some());
    let r = elsewhere.get(app.url("/account")).send().await.unwrap();
    assert_eq!(r.status(), 303, "the old session ended");
    assert_eq!(
        audit_count(&app.state, "password.reset", Some(&fx.ada)).await,
        1
    );

    // The new password signs in.
    let browser = browser();
    let token = csrf(&browser, app, "/login").await;
    let r = post(
        &browser,
        app,
        "/login/password",
        &[
            ("identifier", ADA),
            ("password", "new password 1"),
            ("csrf_token", &token),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
}
on_both_backends!(password_reset_end_to_end);

async fn reset_sets_a_password_for_a_user_without_one(db: TestDb) {
    let Some(fx) = fixture(db, |_| {}).await else {
        return;
    };
    let app = &fx.app;
    let bob = user_with_email(&app.state, "bob@example.com").await;
    let client = browser();
    let token = csrf(&client, app, "/password/reset").await;
    let r = post(
        &client,
        app,
        "/password/reset",
        &[("email", "Bob@example.com"), ("csrf_token", &token)],
    )
    .await;
    assert_eq!(r.status(), 200);
    let link = mailed_token(&fx, "bob@example.com", "/password/reset/confirm").await;
    let r = post(
        &client,
        app,
        "/password/reset/confirm",
        &[
            ("token", &link),
            ("new_password", "bobs password"),
            ("confirm_password", "bobs password"),
            ("csrf_token", &token),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let credential = app
        .state
        .store
        .find_credential("password", &bob)
        .await
        .unwrap()
        .unwrap();
    let hash = credential.details.get("hash").and_then(Value::as_str);
    assert!(
        authx_strategy_password::verify_password("bobs password".into(), hash.map(str::to_owned))
            .await
    );
}
on_both_backends!(reset_sets_a_password_for_a_user_without_one);

async fn adding_an_address_verifies_it(db: TestDb) {
    let Some(fx) = fixture(db, |_| {}).await else {
        return;
    };
    let app = &fx.app;
    let store = &app.state.store;
    let bob = user_with_email(&app.state, "bob@example.com").await;
    // Not signed in: sent to the login page.
    let client = browser();
    let r = client.get(app.url("/account/emails")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/login?return_to="));
    // Ada signs in by link.
    request_login(&client, app, ADA, "").await;
    let token = mailed_token(&fx, ADA, "/login/email/verify").await;
    assert_eq!(
        follow_link(&client, app, "/login/email/verify", &token)
            .await
            .status(),
        303
    );

    let token = csrf(&client, app, "/account/emails").await;
    let r = post(
        &client,
        app,
        "/account/emails",
        &[("email", "Ada.Work@Example.com"), ("csrf_token", &token)],
    )
    .await;
    assert_eq!(r.status(), 200);
    let link = mailed_token(&fx, "ada.work@example.com", "/account/emails/verify").await;
    // Someone else (not signed in as Ada) cannot use it.
    let stranger = browser();
    let r = stranger
        .get(app.url(&format!("/account/emails/verify?token={link}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/login?return_to="));
    let r = follow_link(&client, app, "/account/emails/verify", &link).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account");
    let credential = store
        .find_credential("email", "ada.work@example.com")
        .await
        .unwrap()
        .expect("the verified address is a credential");
    assert_eq!(credential.user_id, fx.ada);
    let r = follow_link(&client, app, "/account/emails/verify", &link).await;
    assert_eq!(r.status(), 400, "single use");

    // Bob's address cannot be added to Ada's account.
    let r = post(
        &client,
        app,
        "/account/emails",
        &[("email", "bob@example.com"), ("csrf_token", &token)],
    )
    .await;
    assert_eq!(r.status(), 200);
    let link = mailed_token(&fx, "bob@example.com", "/account/emails/verify").await;
    let r = follow_link(&client, app, "/account/emails/verify", &link).await;
    assert_eq!(r.status(), 409);
    let credential = store
        .find_credential("email", "bob@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(credential.user_id, bob);

    // Without `credential.email.me:create` the page refuses, as the API does, and sends nothing.
    store
        .update_role(
            "default",
            authx::domain::role::RolePatch {
                enabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let r = post(
        &client,
        app,
        "/account/emails",
        &[("email", "ada.home@example.com"), ("csrf_token", &token)],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert!(
        store
            .find_credential("email", "ada.home@example.com")
            .await
            .unwrap()
            .is_none()
    );
}
on_both_backends!(adding_an_address_verifies_it);

#[test]
fn the_default_transport_is_the_log() {
    let config = Config::default();
    assert_eq!(config.email, MailerConfig::default());
    assert_eq!(config.email.transport(), "log");
}

#[tokio::test]
async fn a_bad_mailer_configuration_stops_start_up() {
    let db = TestDb::sqlite().await;
    let mut config = test_config(&db);
    let mut smtp = SmtpConfig::new("127.0.0.1");
    smtp.from = "not an address".to_owned();
    config.email = MailerConfig::Smtp(smtp);
    match App::build(config).await {
        Err(error @ StartupError::Mailer(_)) => {
            assert!(error.to_string().contains("from"), "{error}");
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("started with an invalid sender"),
    }
}
