//! Attacks on identity, on both backends: claiming someone else's address or upstream subject,
//! making an unproven address one's primary email, and taking over (or switching off) a user who
//! holds more than the caller. Each test asserts what the attacker ends up holding: the
//! credentials stored, the account's state, the `email_verified` a relying party would read.

use authx::domain::authority::{NewAuthority, Strategy};
use authx::domain::credential::{NewCredential, Verification};
use authx::domain::user::{NewUser, UserStatus};
use authx::engine::identity::{VerifiedIdentity, proven_addresses, resolve_identity};
use authx::engine::oauth2::claims::user_claims;
use authx::engine::oauth2::scope::RequestedScope;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::db::TestDb;
use crate::support::principals::{api_json as call, caller, stored_authority};

/// A user with a proven email credential for `address` (as the emailed link leaves it).
async fn proven_user(app: &TestApp, address: &str) -> String {
    let store = &app.state.store;
    let mut user = NewUser::human();
    user.email = Some(address.to_owned());
    let user = store.create_user(user).await.unwrap();
    store
        .create_credential(NewCredential {
            user_id: user.id.clone(),
            authority_id: "email".to_owned(),
            authority_user_id: address.to_owned(),
            details: Verification::EmailLink { at: 1 }.written_into(json!({})),
        })
        .await
        .unwrap();
    user.id
}

async fn email_verified(app: &TestApp, user_id: &str) -> Value {
    let user = app.state.store.get_user(user_id).await.unwrap().unwrap();
    let scope = RequestedScope::parse(Some("openid email")).unwrap();
    let claims = user_claims(&app.state, &user, &scope).await.unwrap();
    claims.get("email_verified").cloned().unwrap_or(Value::Null)
}

async fn self_service_claims_need_the_flow(db: TestDb) {
    let app = TestApp::spawn(db).await;
    stored_authority(&app, "email", Strategy::Email).await;
    stored_authority(&app, "google", Strategy::Google).await;
    stored_authority(&app, "saml", Strategy::Saml).await;
    let victim = proven_user(&app, "victim@corp.example").await;
    // What the `default` role gives everybody.
    let attacker = caller(&app, &["AuthX:me:*", "AuthX:credential.*.me:*"]).await;
    let own = format!("/api/v1/users/{}/credentials", attacker.user_id);

    // Posting the victim's address, or any upstream subject, for oneself is refused and points
    // to the flow; the refusal is the same whether or not the identity is someone else's.
    let (s, taken) = call(
        &app,
        &attacker,
        Method::POST,
        &own,
        json!({"authority_id": "email", "authority_user_id": "victim@corp.example"}),
    )
    .await;
    assert_eq!(s, 403, "{taken}");
    let (s, free) = call(
        &app,
        &attacker,
        Method::POST,
        &own,
        json!({"authority_id": "email", "authority_user_id": "nobody@corp.example"}),
    )
    .await;
    assert_eq!(s, 403, "{free}");
    assert_eq!(
        taken, free,
        "the refusal must not reveal that the address is taken"
    );
    assert!(
        taken["detail"].as_str().unwrap().contains("/account"),
        "{taken}"
    );
    for authority_id in ["google", "saml"] {
        let (s, p) = call(
            &app,
            &attacker,
            Method::POST,
            &own,
            json!({"authority_id": authority_id, "authority_user_id": "victim-subject"}),
        )
        .await;
        assert_eq!(s, 403, "{authority_id}: {p}");
        assert!(p["detail"].as_str().unwrap().contains("signing in"), "{p}");
    }
    // The primary email cannot be set to an address the attacker has not proven.
    let (s, p) = call(
        &app,
        &attacker,
        Method::PATCH,
        "/api/v1/me",
        json!({"email": "victim@corp.example"}),
    )
    .await;
    assert_eq!(s, 403, "{p}");
    let (s, p2) = call(
        &app,
        &attacker,
        Method::PATCH,
        "/api/v1/me",
        json!({"email": "nobody@corp.example"}),
    )
    .await;
    assert_eq!(s, 403, "{p2}");
    assert_eq!(p, p2);
    // Nor through the user resource by id.
    let (s, _) = call(
        &app,
        &attacker,
        Method::PATCH,
        &format!("/api/v1/users/{}", attacker.user_id),
        json!({"email": "victim@corp.example"}),
    )
    .await;
    assert_eq!(s, 403);

    // What the attacker holds: no credential, the old address, nothing verified.
    let store = &app.state.store;
    assert!(
        store
            .list_credentials_of_user(&attacker.user_id)
            .await
            .unwrap()
            .is_empty()
    );
    let me = store.get_user(&attacker.user_id).await.unwrap().unwrap();
    assert_ne!(me.email.as_deref(), Some("victim@corp.example"));
    assert_eq!(email_verified(&app, &attacker.user_id).await, false);
    let holder = store
        .find_credential("email", "victim@corp.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(holder.user_id, victim);
    // A victim's later upstream login still lands in the victim's account, not the attacker's.
    assert_eq!(email_verified(&app, &victim).await, true);

    // Even the profile's current address must be proven before it can be set again; once the
    // emailed link has proven an address, it may become the primary email.
    let (s, p) = call(
        &app,
        &attacker,
        Method::PATCH,
        "/api/v1/me",
        json!({"email": me.email.clone().unwrap()}),
    )
    .await;
    assert_eq!(s, 403, "{p}");
    store
        .create_credential(NewCredential {
            user_id: attacker.user_id.clone(),
            authority_id: "email".to_owned(),
            authority_user_id: "mine@corp.example".to_owned(),
            details: Verification::EmailLink { at: 1 }.written_into(json!({})),
        })
        .await
        .unwrap();
    let (s, p) = call(
        &app,
        &attacker,
        Method::PATCH,
        "/api/v1/me",
        json!({"email": "Mine@Corp.Example"}),
    )
    .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["email"], "mine@corp.example");
    assert_eq!(email_verified(&app, &attacker.user_id).await, true);
    app.stop().await.unwrap();
}
on_both_backends!(self_service_claims_need_the_flow);

async fn email_verified_only_for_a_proven_address(db: TestDb) {
    let app = TestApp::spawn(db).await;
    stored_authority(&app, "email", Strategy::Email).await;
    let store = &app.state.store;
    let admin = caller(&app, &["AuthX:credential.*.user:*", "AuthX:user:*"]).await;
    let mut ada = NewUser::human();
    ada.email = Some("ada@corp.example".to_owned());
    let ada = store.create_user(ada).await.unwrap().id;

    // An administrator's credential is their assertion: recorded as such, proving nothing.
    let (s, c) = call(
        &app,
        &admin,
        Method::POST,
        &format!("/api/v1/users/{ada}/credentials"),
        json!({"authority_id": "email", "authority_user_id": "ada@corp.example"}),
    )
    .await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["verification"]["method"], "admin");
    assert_eq!(c["verification"]["by"], admin.user_id.as_str());
    assert_eq!(email_verified(&app, &ada).await, false);
    assert!(proven_addresses(&app.state, &ada).await.unwrap().is_empty());

    // Signing in with the emailed link proves it (what the email strategy hands the resolver).
    let email = store.get_authority("email").await.unwrap().unwrap();
    let identity = VerifiedIdentity {
        authority_user_id: "ada@corp.example".to_owned(),
        email: Some("ada@corp.example".to_owned()),
        email_verified: true,
        ..VerifiedIdentity::default()
    };
    let user = resolve_identity(&app.state, &email, &identity, None)
        .await
        .unwrap();
    assert_eq!(user.id, ada);
    assert_eq!(email_verified(&app, &ada).await, true);
    let (s, c) = call(
        &app,
        &admin,
        Method::GET,
        &format!("/api/v1/credentials/{}", c["id"].as_str().unwrap()),
        Value::Null,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(c["verification"]["method"], "email_link");
    app.stop().await.unwrap();
}
on_both_backends!(email_verified_only_for_a_proven_address);

async fn an_upstream_vouches_only_when_trusted(db: TestDb) {
    let app = TestApp::spawn(db).await;
    stored_authority(&app, "email", Strategy::Email).await;
    let store = &app.state.store;
    for (id, trusted) in [("idp-untrusted", false), ("idp-trusted", true)] {
        store
            .create_authority(NewAuthority {
                id: id.to_owned(),
                strategy: Strategy::Google,
                name: id.to_owned(),
                enabled: true,
                details: json!({"creates_users": true}),
            })
            .await
            .unwrap();
        let authority = store.get_authority(id).await.unwrap().unwrap();
        let identity = VerifiedIdentity {
            authority_user_id: format!("sub-{id}"),
            email: Some(format!("{id}@corp.example")),
            email_verified: trusted,
            ..VerifiedIdentity::default()
        };
        let user = resolve_identity(&app.state, &authority, &identity, None)
            .await
            .unwrap();
        let proven = proven_addresses(&app.state, &user.id).await.unwrap();
        assert_eq!(
            proven.contains(&format!("{id}@corp.example")),
            trusted,
            "{id}"
        );
        let credential = store
            .find_credential(id, &format!("sub-{id}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            Verification::of(&credential.details).map(|v| v.proves_email()),
            Some(trusted),
            "{id}"
        );
    }
    app.stop().await.unwrap();
}
on_both_backends!(an_upstream_vouches_only_when_trusted);

async fn acting_on_a_user_needs_their_access(db: TestDb) {
    let app = TestApp::spawn(db).await;
    stored_authority(&app, "pw", Strategy::Password).await;
    stored_authority(&app, "email", Strategy::Email).await;
    let store = &app.state.store;
    let root = caller(&app, &["**:**:**"]).await;
    let shopper = caller(&app, &["Shop:orders:read"]).await;
    let attacker = caller(&app, &["AuthX:user:*", "AuthX:credential.*.user:*"]).await;

    for victim in [&root.user_id, &shopper.user_id] {
        let (s, p) = call(
            &app,
            &attacker,
            Method::PATCH,
            &format!("/api/v1/users/{victim}"),
            json!({"status": "disabled"}),
        )
        .await;
        assert_eq!(s, 403, "{p}");
        assert!(!p["missing_scopes"].as_array().unwrap().is_empty(), "{p}");
        let (s, _) = call(
            &app,
            &attacker,
            Method::POST,
            &format!("/api/v1/users/{victim}/credentials"),
            json!({"authority_id": "pw", "password": "attacker-knows-this"}),
        )
        .await;
        assert_eq!(s, 403);
        let (s, _) = call(
            &app,
            &attacker,
            Method::POST,
            &format!("/api/v1/users/{victim}/credentials"),
            json!({"authority_id": "email", "authority_user_id": "attacker@evil.example"}),
        )
        .await;
        assert_eq!(s, 403);
        let (s, _) = call(
            &app,
            &attacker,
            Method::DELETE,
            &format!("/api/v1/users/{victim}"),
            Value::Null,
        )
        .await;
        assert_eq!(s, 403);
        // The victim is untouched: active, and without a credential the attacker could use.
        let user = store.get_user(victim).await.unwrap().unwrap();
        assert_eq!(user.status, UserStatus::Active);
        assert!(
            store
                .list_credentials_of_user(victim)
                .await
                .unwrap()
                .is_empty()
        );
    }
    let (s, p) = call(
        &app,
        &attacker,
        Method::PATCH,
        &format!("/api/v1/users/{}", shopper.user_id),
        json!({"status": "disabled"}),
    )
    .await;
    assert_eq!(p["missing_scopes"], json!(["Shop:orders:read"]), "{s}");

    // Someone who holds at least as much as the target may act on them.
    let keeper = caller(
        &app,
        &["AuthX:user:*", "AuthX:credential.*.user:*", "Shop:**:*"],
    )
    .await;
    let (s, c) = call(
        &app,
        &keeper,
        Method::POST,
        &format!("/api/v1/users/{}/credentials", shopper.user_id),
        json!({"authority_id": "pw", "password": "a fine password"}),
    )
    .await;
    assert_eq!(s, 201, "{c}");
    let (s, u) = call(
        &app,
        &keeper,
        Method::PATCH,
        &format!("/api/v1/users/{}", shopper.user_id),
        json!({"status": "disabled"}),
    )
    .await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(
        store
            .get_user(&shopper.user_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        UserStatus::Disabled
    );
    app.stop().await.unwrap();
}
on_both_backends!(acting_on_a_user_needs_their_access);
