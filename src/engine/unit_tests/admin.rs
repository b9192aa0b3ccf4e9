//! Admin commands: authorize, validate, write, audit, without a server.

use super::fixture::{T0, actor, fixture};
use crate::domain::Page;
use crate::domain::audit::AuditFilter;
use crate::domain::client::ClientType;
use crate::domain::role::NewRole;
use crate::domain::user::{NewUser, Profile, UserKind, UserStatus};
use crate::engine::admin::{clients, roles, users};
use crate::engine::error::CommandError;

fn person(username: &str, email: &str) -> NewUser {
    NewUser {
        kind: UserKind::Human,
        status: UserStatus::Active,
        username: Some(username.to_owned()),
        email: Some(email.to_owned()),
        display_name: None,
        profile: Profile::default(),
    }
}

fn role(id: &str, scopes: &[&str]) -> NewRole {
    NewRole {
        id: id.to_owned(),
        name: id.to_owned(),
        description: None,
        is_default: false,
        enabled: true,
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        deny: Vec::new(),
    }
}

#[tokio::test]
async fn creating_a_user_normalises_and_is_audited() {
    let f = fixture().await;
    let user = users::create(&f.engine, &f.admin, person("Grace", "Grace@Example.COM"))
        .await
        .unwrap();
    assert_eq!(user.username.as_deref(), Some("grace"));
    assert_eq!(user.email.as_deref(), Some("grace@example.com"));
    let filter = AuditFilter {
        action: Some("user.create".to_owned()),
        target_id: Some(user.id.clone()),
        ..AuditFilter::default()
    };
    let events = f
        .engine
        .store
        .list_audit(&filter, &Page::first(10))
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].actor_id.as_deref(),
        Some(f.admin.user_id.as_str())
    );

    let bad = users::create(&f.engine, &f.admin, person("no spaces", "x@example.com"))
        .await
        .unwrap_err();
    assert!(
        matches!(&bad, CommandError::Invalid { field: Some(f), .. } if f == "username"),
        "{bad:?}"
    );
}

#[tokio::test]
async fn nobody_hands_out_more_than_they_hold() {
    let f = fixture().await;
    // A role administrator who holds only the shop's read scope.
    let helper = users::create(&f.engine, &f.admin, person("helper", "helper@example.com"))
        .await
        .unwrap();
    let admin_scopes = [
        "AuthX:role:create",
        "AuthX:role.*:read",
        "AuthX:role.*:update.assignments",
        "Shop:orders:read",
    ];
    roles::create(&f.engine, &f.admin, role("role-admins", &admin_scopes))
        .await
        .unwrap();
    roles::add_member(&f.engine, &f.admin, "role-admins", &helper.id)
        .await
        .unwrap();
    let helper = actor(&f.engine, &helper.id).await;

    // Within their access: allowed.
    roles::create(&f.engine, &helper, role("readers", &["Shop:orders:read"]))
        .await
        .unwrap();
    // Wider than their access: refused, naming what they lack, and nothing is created.
    let refused = roles::create(&f.engine, &helper, role("writers", &["Shop:orders:*"]))
        .await
        .unwrap_err();
    assert!(matches!(refused, CommandError::Forbidden(_)), "{refused:?}");
    let missing = roles::get(&f.engine, &f.admin, "writers")
        .await
        .unwrap_err();
    assert!(matches!(missing, CommandError::NotFound(_)), "{missing:?}");

    // Nor through a member: assigning `root` needs all of it.
    let victim = users::create(&f.engine, &f.admin, person("victim", "victim@example.com"))
        .await
        .unwrap();
    let refused = roles::add_member(&f.engine, &helper, "root", &victim.id)
        .await
        .unwrap_err();
    assert!(matches!(refused, CommandError::Forbidden(_)), "{refused:?}");
    let held = f.engine.store.roles_of_user(&victim.id).await.unwrap();
    assert!(held.iter().all(|r| r.id != "root"), "{held:?}");
}

#[tokio::test]
async fn a_client_secret_expires_when_the_time_given_says() {
    let f = fixture().await;
    let input = clients::ClientInput {
        id: "billing".to_owned(),
        name: "Billing".to_owned(),
        client_type: ClientType::Confidential,
        redirect_uris: vec!["https://billing.example/cb".to_owned()],
        post_logout_redirect_uris: Vec::new(),
        scopes: vec!["Billing:invoices:read".to_owned()],
        trusted: false,
        enabled: None,
        id_token_alg: None,
    };
    let created = clients::create(&f.engine, &f.admin, input).await.unwrap();
    assert!(created.secret.is_some());
    let secret = clients::SecretInput {
        description: Some("deploy".to_owned()),
        expires_in_secs: Some(3600),
    };
    let issued = clients::add_secret(&f.engine, &f.admin, "billing", secret, T0)
        .await
        .unwrap();
    assert!(issued.secret.starts_with("axs_"));
    assert_eq!(issued.metadata.expires_at, Some(T0 + 3600));
    // A public client cannot hold one.
    let public = clients::ClientInput {
        id: "spa".to_owned(),
        name: "SPA".to_owned(),
        client_type: ClientType::Public,
        redirect_uris: vec!["https://spa.example/cb".to_owned()],
        post_logout_redirect_uris: Vec::new(),
        scopes: Vec::new(),
        trusted: false,
        enabled: None,
        id_token_alg: None,
    };
    clients::create(&f.engine, &f.admin, public).await.unwrap();
    let refused = clients::add_secret(
        &f.engine,
        &f.admin,
        "spa",
        clients::SecretInput::default(),
        T0,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&refused, CommandError::Invalid { field: Some(f), .. } if f == "type"),
        "{refused:?}"
    );
    // A redirect URI that is not https: refused naming the entry.
    let change = clients::ClientChange {
        redirect_uris: Some(vec!["http://billing.example/cb".to_owned()]),
        ..clients::ClientChange::default()
    };
    let refused = clients::update(&f.engine, &f.admin, "billing", change)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, CommandError::Invalid { field: Some(f), .. } if f == "redirect_uris/0"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_disabled_clients_machine_user_is_no_administrator() {
    let f = fixture().await;
    // A client whose machine user holds `root`.
    let input = clients::ClientInput {
        id: "ops-robot".to_owned(),
        name: "Ops robot".to_owned(),
        client_type: ClientType::Confidential,
        redirect_uris: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        scopes: vec!["**:**:**".to_owned()],
        trusted: false,
        enabled: None,
        id_token_alg: None,
    };
    let robot = clients::create(&f.engine, &f.admin, input)
        .await
        .unwrap()
        .client;
    let machine = robot.machine_user_id.clone().unwrap();
    roles::add_member(&f.engine, &f.admin, "root", &machine)
        .await
        .unwrap();
    // Switched off, it can no longer act: the human administrator is the last one that can.
    let off = clients::ClientChange {
        enabled: Some(false),
        ..clients::ClientChange::default()
    };
    clients::update(&f.engine, &f.admin, "ops-robot", off)
        .await
        .unwrap();
    let disable_self = crate::domain::user::UserPatch {
        status: Some(UserStatus::Disabled),
        ..Default::default()
    };
    let admin_id = f.admin.user_id.clone();
    let refused = users::update(&f.engine, &f.admin, &admin_id, disable_self.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, CommandError::Conflict { .. }),
        "{refused:?}"
    );
    let admin = f.engine.store.get_user(&admin_id).await.unwrap().unwrap();
    assert_eq!(admin.status, UserStatus::Active);

    // Switched back on, the robot administers again, and the human may step down.
    let on = clients::ClientChange {
        enabled: Some(true),
        ..clients::ClientChange::default()
    };
    clients::update(&f.engine, &f.admin, "ops-robot", on)
        .await
        .unwrap();
    users::update(&f.engine, &f.admin, &admin_id, disable_self)
        .await
        .unwrap();
}
