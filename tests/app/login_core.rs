//! The login core against a running app state, on both backends: identity resolution (reference §3
//! steps 1–5), browser sessions, CSRF, rate limits and safe return paths.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use authx::domain::audit::AuditFilter;
use authx::domain::authority::{NewAuthority, Strategy};
use authx::domain::credential::NewCredential;
use authx::domain::now;
use authx::domain::role::NewRole;
use authx::domain::session::NewSession;
use authx::domain::user::{NewUser, UserPatch, UserStatus};
use authx::domain::{Page, authority::Authority};
use authx::engine::Engine;
use authx::engine::identity::{LoginError, VerifiedIdentity, resolve_identity};
use authx::engine::rate_limit::{self, Limit, RetryAfter};
use authx::engine::session::SESSION_ID_PREFIX;
use authx::http::web::csrf::{CSRF_COOKIE, csrf_token, verify_csrf};
use authx::http::web::return_to::safe_return_to;
use authx::http::web::session::{
    SESSION_COOKIE, current_session, end_session, end_user_sessions, start_session,
};
use authx::secret;
use poem::Request;
use poem::web::cookie::{Cookie, SameSite};
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::db::TestDb;

// ---------------------------------------------------------------------------------------------
// helpers

async fn authority(state: &Engine, id: &str, strategy: Strategy, details: Value) -> Authority {
    state
        .store
        .create_authority(NewAuthority {
            id: id.to_owned(),
            strategy,
            name: id.to_owned(),
            enabled: true,
            details,
        })
        .await
        .unwrap()
}

fn identity(sub: &str, email: Option<&str>, verified: bool) -> VerifiedIdentity {
    VerifiedIdentity {
        authority_user_id: sub.to_owned(),
        email: email.map(str::to_owned),
        email_verified: verified,
        display_name: None,
        given_name: Some("Ada".to_owned()),
        family_name: Some("Lovelace".to_owned()),
        picture: Some("https://img.example/ada.png".to_owned()),
    }
}

/// A user with an `email` credential for `address`.
async fn email_user(state: &Engine, address: &str) -> String {
    let user = state.store.create_user(NewUser::human()).await.unwrap();
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

async fn credential_owner(state: &Engine, authority: &str, sub: &str) -> Option<String> {
    state
        .store
        .find_credential(authority, sub)
        .await
        .unwrap()
        .map(|c| c.user_id)
}

async fn audit_count(state: &Engine, action: &str, actor: &str) -> usize {
    state
        .store
        .list_audit(
            &AuditFilter {
                action: Some(action.to_owned()),
                actor_id: Some(actor.to_owned()),
                ..Default::default()
            },
            &Page::default(),
        )
        .await
        .unwrap()
        .len()
}

fn with_cookies(cookies: &[(&str, &str)]) -> Request {
    let header = cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    Request::builder()
        .header("cookie", header)
        .header("user-agent", "login-core-test/1.0")
        .finish()
}

fn session_request(cookie: &Cookie) -> Request {
    with_cookies(&[("theme", "dark"), (SESSION_COOKIE, cookie.value_str())])
}

// ---------------------------------------------------------------------------------------------
// identity resolution

async fn resolution_steps(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let state = &app.state;
    let store = &state.store;
    authority(state, "email", Strategy::Email, json!({})).await;
    let google = authority(
        state,
        "google",
        Strategy::Google,
        json!({"match_users_by_email": true, "creates_users": true, "role_ids": ["staff", "ghost"]}),
    )
    .await;
    let matcher = authority(
        state,
        "matcher",
        Strategy::Google,
        json!({"match_users_by_email": true, "creates_users": false}),
    )
    .await;
    let creator = authority(
        state,
        "creator",
        Strategy::Saml,
        json!({"match_users_by_email": false, "creates_users": true}),
    )
    .await;
    let closed = authority(state, "closed", Strategy::Saml, json!({})).await;
    store
        .create_role(NewRole {
            id: "staff".to_owned(),
            name: "Staff".to_owned(),
            description: None,
            is_default: false,
            enabled: true,
            scopes: vec!["app:doc:read".to_owned()],
            deny: Vec::new(),
        })
        .await
        .unwrap();

    // Step 4: a new user with the profile, both credentials and the existing role.
    let new = resolve_identity(
        state,
        &google,
        &identity("g-1", Some(" New@Example.COM"), true),
        None,
    )
    .await
    .unwrap();
    assert_eq!(new.email.as_deref(), Some("new@example.com"));
    assert_eq!(new.display_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(new.profile.photos[0].value, "https://img.example/ada.png");
    assert_eq!(
        new.profile.name.as_ref().unwrap().family_name.as_deref(),
        Some("Lovelace")
    );
    assert_eq!(
        credential_owner(state, "google", "g-1").await.as_deref(),
        Some(new.id.as_str())
    );
    assert_eq!(
        credential_owner(state, "email", "new@example.com")
            .await
            .as_deref(),
        Some(new.id.as_str())
    );
    let roles = store.roles_of_user(&new.id).await.unwrap();
    assert_eq!(
        roles.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["staff"]
    );
    assert_eq!(audit_count(state, "user.create", &new.id).await, 1);

    // Step 1: the same identity finds the same user and records the use.
    let again = resolve_identity(state, &google, &identity("g-1", None, false), None)
        .await
        .unwrap();
    assert_eq!(again.id, new.id);
    let credential = store
        .find_credential("google", "g-1")
        .await
        .unwrap()
        .unwrap();
    assert!(credential.last_used_at.is_some());
    assert_eq!(audit_count(state, "user.create", &new.id).await, 1);

    // Step 3: a verified email matches the owner of the email credential.
    let bob = email_user(state, "bob@example.com").await;
    let linked = resolve_identity(
        state,
        &matcher,
        &identity("m-1", Some("Bob@Example.com"), true),
        None,
    )
    .await
    .unwrap();
    assert_eq!(linked.id, bob);
    assert_eq!(
        credential_owner(state, "matcher", "m-1").await.as_deref(),
        Some(bob.as_str())
    );
    assert_eq!(audit_count(state, "login.link", &bob).await, 1);

    // Never on an unverified email: not linked (and nothing written) ...
    let err = resolve_identity(
        state,
        &matcher,
        &identity("m-2", Some("bob@example.com"), false),
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LoginError::NotLinked), "{err:?}");
    assert!(credential_owner(state, "matcher", "m-2").await.is_none());
    // ... and where users may be created, a separate user without the address.
    let stranger = resolve_identity(
        state,
        &google,
        &identity("g-2", Some("bob@example.com"), false),
        None,
    )
    .await
    .unwrap();
    assert_ne!(stranger.id, bob);
    assert_eq!(stranger.email, None);
    assert_eq!(
        store
            .list_credentials_of_user(&stranger.id)
            .await
            .unwrap()
            .len(),
        1
    );

    // match_users_by_email and creates_users together: matching comes first.
    let matched = resolve_identity(
        state,
        &google,
        &identity("g-3", Some("bob@example.com"), true),
        None,
    )
    .await
    .unwrap();
    assert_eq!(matched.id, bob);

    // Without match_users_by_email, a verified address does not link; a new user is created, and
    // the address (already someone's email credential) is not given a second credential.
    let created = resolve_identity(
        state,
        &creator,
        &identity("c-1", Some("bob@example.com"), true),
        None,
    )
    .await
    .unwrap();
    assert_ne!(created.id, bob);
    let creds = store.list_credentials_of_user(&created.id).await.unwrap();
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0].authority_id, "creator");

    // Step 5: neither matching nor creating: refused, with a message that reveals nothing.
    let err = resolve_identity(
        state,
        &closed,
        &identity("s-1", Some("bob@example.com"), true),
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LoginError::NotLinked));
    assert_eq!(err.to_string(), "this sign-in is not linked to an account");
    assert!(credential_owner(state, "closed", "s-1").await.is_none());

    // Step 2: a signed-in user links the closed authority.
    let alice = store.create_user(NewUser::human()).await.unwrap();
    let linked = resolve_identity(
        state,
        &closed,
        &identity("s-1", None, false),
        Some(&alice.id),
    )
    .await
    .unwrap();
    assert_eq!(linked.id, alice.id);
    assert_eq!(
        credential_owner(state, "closed", "s-1").await.as_deref(),
        Some(alice.id.as_str())
    );
    assert_eq!(audit_count(state, "login.link", &alice.id).await, 1);
    // Linking an identity that already belongs to someone returns that someone (step 1 first);
    // the caller compares.
    let other = resolve_identity(state, &closed, &identity("s-1", None, false), Some(&new.id))
        .await
        .unwrap();
    assert_eq!(other.id, alice.id);

    // Disabled users are refused, at step 1, when matched by email, and when linking.
    store
        .update_user(
            &bob,
            UserPatch {
                status: Some(UserStatus::Disabled),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let err = resolve_identity(state, &matcher, &identity("m-1", None, false), None)
        .await
        .unwrap_err();
    assert!(matches!(err, LoginError::Disabled), "{err:?}");
    assert!(!err.to_string().contains("bob"));
    let err = resolve_identity(
        state,
        &matcher,
        &identity("m-9", Some("bob@example.com"), true),
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LoginError::Disabled), "{err:?}");
    assert!(credential_owner(state, "matcher", "m-9").await.is_none());
    let err = resolve_identity(state, &closed, &identity("s-2", None, false), Some(&bob))
        .await
        .unwrap_err();
    assert!(matches!(err, LoginError::Disabled), "{err:?}");
    app.stop().await.unwrap();
}
on_both_backends!(resolution_steps);

// ---------------------------------------------------------------------------------------------
// sessions

async fn session_lifecycle(db: TestDb) {
    let app = TestApp::spawn_with(
        db,
        |c| {
            c.session.idle_timeout_secs = 600;
            c.session.absolute_timeout_secs = 3600;
        },
        vec![],
    )
    .await;
    let state = &app.state;
    let store = &state.store;
    let user = store.create_user(NewUser::human()).await.unwrap();

    // Login without a cookie: a session row and a browser-session cookie.
    let (session, cookie) =
        start_session(state, &Request::builder().finish(), &user.id, "password")
            .await
            .unwrap();
    assert_eq!(cookie.name(), SESSION_COOKIE);
    assert!(cookie.value_str().starts_with(SESSION_ID_PREFIX));
    assert_eq!(cookie.value_str().len(), SESSION_ID_PREFIX.len() + 43);
    assert!(cookie.http_only());
    assert_eq!(cookie.same_site(), Some(SameSite::Lax));
    assert_eq!(cookie.path(), Some("/"));
    assert!(!cookie.secure(), "http issuer");
    assert!(cookie.max_age().is_none() && cookie.expires().is_none());
    assert_eq!(session.id_hash, secret::hash(cookie.value_str()));
    assert_eq!(session.user_id, user.id);
    assert_eq!(session.authority_id, "password");
    assert_eq!(session.expires_at - session.created_at, 3600);
    assert_eq!(session.idle_expires_at - session.created_at, 600);
    let row = store.get_session(&session.id_hash).await.unwrap().unwrap();
    assert_eq!(row.user_agent, None);

    // The cookie finds it.
    let current = current_session(state, &session_request(&cookie))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current.id_hash, session.id_hash);
    // No cookie, a malformed one or an unknown one: nobody.
    assert!(
        current_session(state, &Request::builder().finish())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        current_session(state, &with_cookies(&[(SESSION_COOKIE, "junk")]))
            .await
            .unwrap()
            .is_none()
    );
    let unknown = secret::generate(SESSION_ID_PREFIX);
    assert!(
        current_session(state, &with_cookies(&[(SESSION_COOKIE, &unknown)]))
            .await
            .unwrap()
            .is_none()
    );

    // A new login always gets a new id; the presented session ends (no fixation).
    let (second, cookie2) = start_session(state, &session_request(&cookie), &user.id, "email")
        .await
        .unwrap();
    assert_ne!(cookie2.value_str(), cookie.value_str());
    assert_ne!(second.id_hash, session.id_hash);
    assert_eq!(
        second.ip, None,
        "requests built without a socket have no address"
    );
    assert_eq!(second.user_agent.as_deref(), Some("login-core-test/1.0"));
    assert!(store.get_session(&session.id_hash).await.unwrap().is_none());
    assert!(
        current_session(state, &session_request(&cookie))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        current_session(state, &session_request(&cookie2))
            .await
            .unwrap()
            .is_some()
    );

    // Sliding: a session last seen over a minute ago gets a new idle expiry.
    let t = now();
    store
        .touch_session(&second.id_hash, t + 10, t - 120)
        .await
        .unwrap();
    let slid = current_session(state, &session_request(&cookie2))
        .await
        .unwrap()
        .unwrap();
    assert!(slid.idle_expires_at >= t + 600, "{}", slid.idle_expires_at);
    let row = store.get_session(&second.id_hash).await.unwrap().unwrap();
    assert_eq!(row.idle_expires_at, slid.idle_expires_at);
    assert!(row.last_seen_at >= t);
    // Seen just now: no write.
    store
        .touch_session(&second.id_hash, t + 10, t)
        .await
        .unwrap();
    let kept = current_session(state, &session_request(&cookie2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.idle_expires_at, t + 10);

    // Idle timeout: over, and the row is deleted.
    store
        .touch_session(&second.id_hash, t - 1, t - 700)
        .await
        .unwrap();
    assert!(
        current_session(state, &session_request(&cookie2))
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.get_session(&second.id_hash).await.unwrap().is_none());

    // Absolute timeout: over even while in use.
    let token = secret::generate(SESSION_ID_PREFIX);
    store
        .create_session(NewSession {
            id_hash: secret::hash(&token),
            user_id: user.id.clone(),
            authority_id: "password".to_owned(),
            auth_time: t - 3600,
            expires_at: t - 1,
            idle_expires_at: t + 600,
            ip: None,
            user_agent: None,
        })
        .await
        .unwrap();
    assert!(
        current_session(state, &with_cookies(&[(SESSION_COOKIE, &token)]))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_session(&secret::hash(&token))
            .await
            .unwrap()
            .is_none()
    );

    // A disabled owner has no session.
    let (_, cookie3) = start_session(state, &Request::builder().finish(), &user.id, "password")
        .await
        .unwrap();
    store
        .update_user(
            &user.id,
            UserPatch {
                status: Some(UserStatus::Disabled),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        current_session(state, &session_request(&cookie3))
            .await
            .unwrap()
            .is_none()
    );
    store
        .update_user(
            &user.id,
            UserPatch {
                status: Some(UserStatus::Active),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        current_session(state, &session_request(&cookie3))
            .await
            .unwrap()
            .is_some()
    );

    // Logout: the row goes and the cookie is removed.
    let removal = end_session(state, &session_request(&cookie3))
        .await
        .unwrap();
    assert_eq!(removal.name(), SESSION_COOKIE);
    assert_eq!(removal.value_str(), "");
    assert_eq!(removal.max_age(), Some(std::time::Duration::ZERO));
    assert!(removal.http_only());
    assert_eq!(removal.path(), Some("/"));
    assert!(
        current_session(state, &session_request(&cookie3))
            .await
            .unwrap()
            .is_none()
    );
    // Logging out without a session is fine.
    end_session(state, &Request::builder().finish())
        .await
        .unwrap();

    // All of a user's sessions end at once.
    for _ in 0..3 {
        start_session(state, &Request::builder().finish(), &user.id, "password")
            .await
            .unwrap();
    }
    assert_eq!(end_user_sessions(state, &user.id).await.unwrap(), 3);
    assert_eq!(end_user_sessions(state, &user.id).await.unwrap(), 0);
    app.stop().await.unwrap();
}
on_both_backends!(session_lifecycle);

async fn cookies_are_secure_over_https(db: TestDb) {
    let app = TestApp::spawn_with(
        db,
        |c| c.issuer = Some("https://id.example.com".to_owned()),
        vec![],
    )
    .await;
    let state = &app.state;
    let user = state.store.create_user(NewUser::human()).await.unwrap();
    let (_, cookie) = start_session(state, &Request::builder().finish(), &user.id, "password")
        .await
        .unwrap();
    assert!(cookie.secure());
    let removal = end_session(state, &session_request(&cookie)).await.unwrap();
    assert!(removal.secure());
    let mut req = Request::builder().finish();
    req.set_data(state.clone());
    let (_, csrf) = csrf_token(&req);
    assert!(csrf.unwrap().secure());
    app.stop().await.unwrap();
}
on_both_backends!(cookies_are_secure_over_https);

// ---------------------------------------------------------------------------------------------
// CSRF

#[test]
fn csrf_double_submit() {
    // No cookie yet: a new token and the cookie carrying it.
    let (token, cookie) = csrf_token(&Request::builder().finish());
    let cookie = cookie.unwrap();
    assert_eq!(cookie.name(), CSRF_COOKIE);
    assert_eq!(cookie.value_str(), token);
    assert_eq!(token.len(), 43);
    assert!(cookie.http_only());
    assert_eq!(cookie.same_site(), Some(SameSite::Lax));
    let (other, _) = csrf_token(&Request::builder().finish());
    assert_ne!(other, token);

    // With the cookie: the same token, nothing to set.
    let req = with_cookies(&[("a", "b"), (CSRF_COOKIE, &token)]);
    let (same, none) = csrf_token(&req);
    assert_eq!(same, token);
    assert!(none.is_none());

    // Matching, mismatching, missing.
    assert!(verify_csrf(&req, &token));
    assert!(!verify_csrf(&req, &other));
    assert!(!verify_csrf(&req, ""));
    assert!(!verify_csrf(&req, &token[..42]));
    assert!(!verify_csrf(&Request::builder().finish(), &token));
    assert!(!verify_csrf(&with_cookies(&[(CSRF_COOKIE, "")]), ""));
    assert!(!verify_csrf(&with_cookies(&[("other", &token)]), &token));
}

// ---------------------------------------------------------------------------------------------
// rate limits through the app

async fn rate_limits(db: TestDb) {
    let app = TestApp::spawn_with(
        db,
        |c| {
            c.login.max_failures_per_account = 2;
            c.login.max_failures_per_ip = 4;
            c.login.max_emails_per_address = 1;
            c.login.max_emails_per_ip = 3;
        },
        vec![],
    )
    .await;
    let state = &app.state;
    let account = Limit::LoginAccount("Alice@Example.com".to_owned());
    let ip = Limit::LoginIp("192.0.2.1".to_owned());
    let both = [account.clone(), ip.clone()];
    assert_eq!(rate_limit::check(state, &both).await, Ok(()));
    // Each attempt is counted as it begins, before any password is checked.
    assert!(rate_limit::begin_attempt(state, &both).await.is_ok());
    assert_eq!(rate_limit::check(state, &both).await, Ok(()));
    // The second reaches the account's 2: it is still checked, and blocks what follows for
    // about 30 s; the IP (2 of 4) alone is not blocked.
    let second = rate_limit::begin_attempt(state, &both).await.ok().unwrap();
    let RetryAfter(wait) = rate_limit::check(state, &both).await.unwrap_err();
    assert!((29..=30).contains(&wait), "{wait}");
    assert_eq!(
        rate_limit::check(state, std::slice::from_ref(&ip)).await,
        Ok(())
    );
    // The same account typed differently is the same key.
    let shouted = Limit::LoginAccount("ALICE@example.com ".to_owned());
    assert!(rate_limit::check(state, &[shouted]).await.is_err());
    // An attempt while blocked is refused and not counted.
    let RetryAfter(wait) = rate_limit::begin_attempt(state, &both).await.err().unwrap();
    assert!((29..=30).contains(&wait), "{wait}");
    let count = |limit: &Limit| {
        let key = limit.key();
        async move {
            state
                .store
                .get_rate_limit(&key)
                .await
                .unwrap()
                .map_or(0, |row| row.count)
        }
    };
    assert_eq!(count(&account).await, 2);
    assert_eq!(count(&ip).await, 2);
    // A further failure (counted by a concurrent attempt) doubles the block.
    state
        .store
        .record_rate_limit_failure(
            &account.key(),
            authx::domain::now(),
            authx::store::FailureRule {
                threshold: 2,
                window_secs: 900,
                base_backoff_secs: rate_limit::BASE_BACKOFF_SECS,
                max_backoff_secs: rate_limit::MAX_BACKOFF_SECS,
            },
        )
        .await
        .unwrap();
    let RetryAfter(wait) = rate_limit::check(state, &both).await.unwrap_err();
    assert!((59..=60).contains(&wait), "{wait}");
    // The plain address is not stored.
    let row = state
        .store
        .get_rate_limit(&account.key())
        .await
        .unwrap()
        .unwrap();
    assert!(!row.key.contains("alice"));
    // A successful login forgets the account and takes its attempt back from the IP.
    second.succeeded(state, 1).await;
    assert_eq!(
        rate_limit::check(state, std::slice::from_ref(&account)).await,
        Ok(())
    );
    assert_eq!(count(&account).await, 0);
    assert_eq!(count(&ip).await, 1);

    // Email sends: every call counts; beyond the limit, refused until the window ends.
    let sends = [
        Limit::EmailAddress("bob@example.com".to_owned()),
        Limit::EmailIp("192.0.2.1".to_owned()),
    ];
    assert_eq!(rate_limit::hit(state, &sends).await, Ok(()));
    let RetryAfter(wait) = rate_limit::hit(state, &sends).await.unwrap_err();
    assert!((899..=900).contains(&wait), "{wait}");
    assert!(rate_limit::check(state, &sends[..1]).await.is_err());
    // Another address from the same IP: the IP allows 3 (this is its third).
    let other = [
        Limit::EmailAddress("carol@example.com".to_owned()),
        Limit::EmailIp("192.0.2.1".to_owned()),
    ];
    assert_eq!(rate_limit::hit(state, &other).await, Ok(()));
    assert!(rate_limit::hit(state, &other).await.is_err());
    app.stop().await.unwrap();
}
on_both_backends!(rate_limits);

// ---------------------------------------------------------------------------------------------
// return_to

#[test]
fn return_to_is_local() {
    for ok in [
        "/account",
        "/oauth2/authorize?client_id=x&state=%2F%2Fy",
        "/",
    ] {
        assert_eq!(safe_return_to(Some(ok)), ok);
    }
    for bad in [
        "//evil.com",
        "/\\evil.com",
        "https://evil.com",
        "javascript:alert(1)",
        "\t//evil.com",
        "/%2F%2Fevil.com",
        "/%5Cevil.com",
        "",
    ] {
        assert_eq!(safe_return_to(Some(bad)), "/account", "{bad:?}");
    }
    assert_eq!(safe_return_to(None), "/account");
    assert_eq!(
        safe_return_to(Some(&format!("/{}", "x".repeat(2000)))),
        "/account"
    );
    assert_eq!(
        safe_return_to(Some(&format!("/{}", "x".repeat(1999)))).len(),
        2000
    );
}
