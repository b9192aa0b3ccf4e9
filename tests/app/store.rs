//! The store conformance suite: every test runs against SQLite and PostgreSQL (see
//! `support::db::both_backends!`), so both backends behave identically.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use authx::domain::Page;
use authx::domain::audit::{AuditFilter, NewAuditEvent, Outcome};
use authx::domain::authority::{AuthorityPatch, NewAuthority, Strategy};
use authx::domain::credential::{NewCredential, NewUserCredential};
use authx::domain::role::{NewRole, RolePatch};
use authx::domain::user::{
    NewUser, Profile, ProfileName, ProfileValue, UserFilter, UserKind, UserPatch, UserStatus,
};
use authx::store::{ConnectOptions, Store, StoreError};
use serde_json::json;

use crate::both_backends;
use crate::support::db::{TestDb, sealer};

// ---------------------------------------------------------------------------------------------
// helpers

fn user(username: &str, email: &str, display_name: &str) -> NewUser {
    NewUser {
        username: Some(username.to_owned()),
        email: Some(email.to_owned()),
        display_name: Some(display_name.to_owned()),
        ..NewUser::human()
    }
}

fn authority(id: &str, strategy: Strategy) -> NewAuthority {
    NewAuthority {
        id: id.to_owned(),
        strategy,
        name: format!("The {id} authority"),
        enabled: true,
        details: json!({"creates_users": true}),
    }
}

fn role(id: &str, scopes: &[&str], deny: &[&str]) -> NewRole {
    NewRole {
        id: id.to_owned(),
        name: format!("Role {id}"),
        description: None,
        is_default: false,
        enabled: true,
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        deny: deny.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn cred(authority_id: &str, authority_user_id: &str) -> NewUserCredential {
    NewUserCredential {
        authority_id: authority_id.to_owned(),
        authority_user_id: authority_user_id.to_owned(),
        details: json!({"hash": "$2b$12$x"}),
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[track_caller]
fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, needle: &str) {
    match result {
        Err(StoreError::Conflict(msg)) => assert!(msg.contains(needle), "{msg:?} lacks {needle:?}"),
        other => panic!("expected Conflict({needle}), got {other:?}"),
    }
}

#[track_caller]
fn assert_reference<T: std::fmt::Debug>(result: Result<T, StoreError>, needle: &str) {
    match result {
        Err(StoreError::Reference(msg)) => {
            assert!(msg.contains(needle), "{msg:?} lacks {needle:?}")
        }
        other => panic!("expected Reference({needle}), got {other:?}"),
    }
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "expected NotFound, got {result:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// migrations and connection

fn migration_files(backend: &str) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn migration_trees_have_identical_file_lists() {
    let sqlite = migration_files("sqlite");
    let postgres = migration_files("postgres");
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite, postgres,
        "migrations/sqlite and migrations/postgres differ"
    );
    for name in &sqlite {
        let (version, rest) = name.split_once('_').expect("<version>_<name>.sql");
        assert!(version.chars().all(|c| c.is_ascii_digit()), "{name}");
        assert!(rest.ends_with(".sql"), "{name}");
    }
}

async fn check_fresh_migration(db: &TestDb, backend: &str) {
    let store = db.connect().await;
    assert_eq!(store.backend(), backend);
    let applied = store.migrate().await.unwrap();
    assert_eq!(applied, migration_files(backend).len());
    assert_eq!(
        store.migrate().await.unwrap(),
        0,
        "re-running applies nothing"
    );
    store.ping().await.unwrap();
    let stats = store.pool_stats();
    assert!(stats.size >= 1 && stats.idle <= stats.size, "{stats:?}");
    // A second connection (another node) sees the migrations as applied too.
    let other = db.connect().await;
    assert_eq!(other.migrate().await.unwrap(), 0);
    other.close().await;
    store.close().await;
    assert!(
        matches!(store.ping().await, Err(StoreError::Unavailable(_))),
        "a closed pool is unavailable"
    );
}

#[tokio::test]
async fn migrations_apply_then_rerun_idempotently_sqlite() {
    let db = TestDb::sqlite().await;
    check_fresh_migration(&db, "sqlite").await;
}

#[tokio::test]
async fn migrations_apply_then_rerun_idempotently_postgres() {
    let Some(db) = TestDb::postgres().await else {
        eprintln!("skipped: AUTHX_TEST_POSTGRES_URL is not set");
        return;
    };
    check_fresh_migration(&db, "postgres").await;
}

#[tokio::test]
async fn connect_reports_bad_urls_and_unreachable_databases() {
    let err = authx::store::connect(&ConnectOptions::new("mysql://root:secret@h/db"), sealer())
        .await
        .err()
        .expect("mysql is not supported");
    assert!(matches!(&err, StoreError::InvalidUrl(m) if m.contains("mysql")));
    assert!(!err.to_string().contains("secret"));

    let opts = ConnectOptions {
        url: "postgres://nobody:secret@127.0.0.1:1/none".to_owned(),
        max_connections: 1,
        acquire_timeout: Duration::from_secs(5),
    };
    let err = authx::store::connect(&opts, sealer())
        .await
        .err()
        .expect("unreachable");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(!err.to_string().contains("secret"));
}

#[tokio::test]
async fn in_memory_sqlite_keeps_its_single_connection() {
    let store = authx::store::connect(&ConnectOptions::new("sqlite::memory:"), sealer())
        .await
        .unwrap();
    assert_eq!(
        store.migrate().await.unwrap(),
        migration_files("sqlite").len()
    );
    let created = store.create_user(NewUser::human()).await.unwrap();
    assert_eq!(store.get_user(&created.id).await.unwrap().unwrap(), created);
    assert_eq!(store.pool_stats().size, 1);
}

/// Writes garbage into JSON and enum columns behind the store's back: reads report `Corrupt`
/// (naming the column, never the content) instead of failing obscurely or panicking.
async fn check_corrupt_columns_are_reported(db: &TestDb) {
    let store = db.store().await;
    let u = store.create_user(NewUser::human()).await.unwrap();
    store
        .create_authority(authority("email", Strategy::Email))
        .await
        .unwrap();
    let sabotage = [
        "UPDATE users SET profile = 'secret-not-json'",
        "UPDATE authorities SET details = '{'",
    ];
    if db.url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        for sql in sabotage {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        for sql in sabotage {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        pool.close().await;
    }
    match store.get_user(&u.id).await {
        Err(StoreError::Corrupt(msg)) => {
            assert!(msg.contains("users.profile"), "{msg}");
            assert!(!msg.contains("secret"), "{msg}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(matches!(
        store.list_authorities().await,
        Err(StoreError::Corrupt(_))
    ));
    store.close().await;
}

#[tokio::test]
async fn corrupt_columns_are_reported_sqlite() {
    check_corrupt_columns_are_reported(&TestDb::sqlite().await).await;
}

#[tokio::test]
async fn corrupt_columns_are_reported_postgres() {
    let Some(db) = TestDb::postgres().await else {
        eprintln!("skipped: AUTHX_TEST_POSTGRES_URL is not set");
        return;
    };
    check_corrupt_columns_are_reported(&db).await;
}

// ---------------------------------------------------------------------------------------------
// users

both_backends!(
    async fn user_crud_round_trip(store: Arc<dyn Store>) {
        let profile = Profile {
            display_name: Some("Ada L.".to_owned()),
            name: Some(ProfileName {
                formatted: None,
                given_name: Some("Ada".to_owned()),
                family_name: Some("Lovelace".to_owned()),
            }),
            emails: vec![ProfileValue {
                value: "Ada@Example.org".to_owned(),
                kind: Some("work".to_owned()),
                primary: true,
            }],
            photos: vec![],
        };
        let created = store
            .create_user(NewUser {
                profile: profile.clone(),
                ..user("ada", "Ada@Example.ORG", "Ada Lovelace")
            })
            .await
            .unwrap();
        assert_eq!(created.email.as_deref(), Some("ada@example.org"));
        assert_eq!(created.kind, UserKind::Human);
        assert_eq!(created.status, UserStatus::Active);
        assert!(uuid::Uuid::parse_str(&created.id).is_ok());

        let got = store.get_user(&created.id).await.unwrap().unwrap();
        assert_eq!(got, created);
        assert_eq!(got.profile, profile);
        let by_name = store.find_user_by_username("ada").await.unwrap().unwrap();
        assert_eq!(by_name.id, created.id);
        assert!(
            store
                .find_user_by_username("nobody")
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.get_user("missing").await.unwrap().is_none());

        // Patch: change status and email, clear the username, keep the rest.
        let updated = store
            .update_user(
                &created.id,
                UserPatch {
                    status: Some(UserStatus::Disabled),
                    username: Some(None),
                    email: Some(Some("ADA@new.example".to_owned())),
                    ..UserPatch::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(updated.status, UserStatus::Disabled);
        assert_eq!(updated.username, None);
        assert_eq!(updated.email.as_deref(), Some("ada@new.example"));
        assert_eq!(updated.display_name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(updated.profile, profile);
        assert_eq!(store.get_user(&created.id).await.unwrap().unwrap(), updated);
        // An empty patch changes nothing but updated_at.
        let same = store
            .update_user(&created.id, UserPatch::default())
            .await
            .unwrap();
        assert_eq!(same.email, updated.email);
        assert_eq!(same.status, updated.status);

        let machine = store
            .create_user(NewUser {
                kind: UserKind::Machine,
                ..NewUser::human()
            })
            .await
            .unwrap();
        assert_eq!(machine.kind, UserKind::Machine);
        assert_eq!(machine.username, None);
        assert!(machine.id > created.id, "UUIDv7 ids sort by creation");

        store.delete_user(&created.id).await.unwrap();
        assert!(store.get_user(&created.id).await.unwrap().is_none());
        assert_not_found(store.delete_user(&created.id).await);
        assert_not_found(store.update_user(&created.id, UserPatch::default()).await);
    }
);

both_backends!(
    async fn duplicate_username_is_a_conflict(store: Arc<dyn Store>) {
        store
            .create_user(user("bob", "b@x.org", "Bob"))
            .await
            .unwrap();
        assert_conflict(
            store.create_user(user("bob", "other@x.org", "Bob 2")).await,
            "username",
        );
        // Emails are not unique; missing usernames do not clash.
        store
            .create_user(user("bob2", "b@x.org", "Bob"))
            .await
            .unwrap();
        store.create_user(NewUser::human()).await.unwrap();
        store.create_user(NewUser::human()).await.unwrap();
        let other = store
            .create_user(user("carol", "c@x.org", "C"))
            .await
            .unwrap();
        assert_conflict(
            store
                .update_user(
                    &other.id,
                    UserPatch {
                        username: Some(Some("bob".to_owned())),
                        ..UserPatch::default()
                    },
                )
                .await,
            "username",
        );
    }
);

both_backends!(
    async fn list_users_filters_and_paginates(store: Arc<dyn Store>) {
        let mut ids = Vec::new();
        for i in 0..7 {
            let u = store
                .create_user(user(
                    &format!("user{i}"),
                    &format!("u{}@example.org", i % 2),
                    &format!("Person Number {i}"),
                ))
                .await
                .unwrap();
            ids.push(u.id);
        }
        let special = store
            .create_user(user("zed", "zed@example.org", "100% Zed_Smith"))
            .await
            .unwrap();
        ids.push(special.id.clone());

        // Pagination: ordered by id, `after` continues, limit clamped.
        let all = store
            .list_users(&UserFilter::default(), &Page::first(100))
            .await
            .unwrap();
        assert_eq!(all.iter().map(|u| u.id.clone()).collect::<Vec<_>>(), ids);
        let first = store
            .list_users(&UserFilter::default(), &Page::first(3))
            .await
            .unwrap();
        assert_eq!(first.len(), 3);
        let second = store
            .list_users(&UserFilter::default(), &Page::after(3, first[2].id.clone()))
            .await
            .unwrap();
        assert_eq!(
            second.iter().map(|u| u.id.clone()).collect::<Vec<_>>(),
            ids[3..6].to_vec()
        );
        let last = store
            .list_users(&UserFilter::default(), &Page::after(3, ids[6].clone()))
            .await
            .unwrap();
        assert_eq!(last.len(), 1);
        let zero = store
            .list_users(&UserFilter::default(), &Page::first(0))
            .await
            .unwrap();
        assert_eq!(zero.len(), 1, "limit 0 is clamped to 1");
        let huge = store
            .list_users(&UserFilter::default(), &Page::first(10_000))
            .await
            .unwrap();
        assert_eq!(huge.len(), 8);

        // Email: exact, case-insensitive.
        let by_email = store
            .list_users(
                &UserFilter {
                    email: Some("U1@EXAMPLE.org".to_owned()),
                    ..UserFilter::default()
                },
                &Page::first(100),
            )
            .await
            .unwrap();
        assert_eq!(
            by_email.iter().map(|u| u.id.clone()).collect::<Vec<_>>(),
            vec![ids[1].clone(), ids[3].clone(), ids[5].clone()]
        );
        // Email with pagination.
        let by_email_page = store
            .list_users(
                &UserFilter {
                    email: Some("u1@example.org".to_owned()),
                    ..UserFilter::default()
                },
                &Page::after(1, ids[1].clone()),
            )
            .await
            .unwrap();
        assert_eq!(by_email_page.len(), 1);
        assert_eq!(by_email_page[0].id, ids[3]);

        // Name: case-insensitive substring of display name or username; LIKE wildcards literal.
        let by_name = store
            .list_users(
                &UserFilter {
                    name: Some("number 4".to_owned()),
                    ..UserFilter::default()
                },
                &Page::first(100),
            )
            .await
            .unwrap();
        assert_eq!(by_name.len(), 1);
        assert_eq!(by_name[0].id, ids[4]);
        let by_username = store
            .list_users(
                &UserFilter {
                    name: Some("USER".to_owned()),
                    ..UserFilter::default()
                },
                &Page::first(100),
            )
            .await
            .unwrap();
        assert_eq!(by_username.len(), 7);
        for literal in ["100%", "zed_smith", "%"] {
            let found = store
                .list_users(
                    &UserFilter {
                        name: Some(literal.to_owned()),
                        ..UserFilter::default()
                    },
                    &Page::first(100),
                )
                .await
                .unwrap();
            assert_eq!(
                found.iter().map(|u| u.id.clone()).collect::<Vec<_>>(),
                vec![special.id.clone()],
                "{literal}"
            );
        }
        let none = store
            .list_users(
                &UserFilter {
                    name: Some("_erson".to_owned()),
                    ..UserFilter::default()
                },
                &Page::first(100),
            )
            .await
            .unwrap();
        assert!(none.is_empty(), "_ is not a wildcard");

        // Status.
        store
            .update_user(
                &ids[2],
                UserPatch {
                    status: Some(UserStatus::Disabled),
                    ..UserPatch::default()
                },
            )
            .await
            .unwrap();
        let disabled = store
            .list_users(
                &UserFilter {
                    status: Some(UserStatus::Disabled),
                    ..UserFilter::default()
                },
                &Page::first(100),
            )
            .await
            .unwrap();
        assert_eq!(disabled.len(), 1);
        assert_eq!(disabled[0].id, ids[2]);

        // Role (explicit members), combined with other filters.
        store
            .create_role(role("staff", &["a:b:c"], &[]))
            .await
            .unwrap();
        for id in [&ids[0], &ids[1], &ids[5]] {
            store.add_role_member("staff", id).await.unwrap();
        }
        let staff = store
            .list_users(
                &UserFilter {
                    role_id: Some("staff".to_owned()),
                    ..UserFilter::default()
                },
                &Page::first(100),
            )
            .await
            .unwrap();
        assert_eq!(
            staff.iter().map(|u| u.id.clone()).collect::<Vec<_>>(),
            vec![ids[0].clone(), ids[1].clone(), ids[5].clone()]
        );
        let staff_u1 = store
            .list_users(
                &UserFilter {
                    role_id: Some("staff".to_owned()),
                    email: Some("u1@example.org".to_owned()),
                    name: Some("person".to_owned()),
                    status: Some(UserStatus::Active),
                    ..Default::default()
                },
                &Page::after(10, ids[1].clone()),
            )
            .await
            .unwrap();
        assert_eq!(
            staff_u1.iter().map(|u| u.id.clone()).collect::<Vec<_>>(),
            vec![ids[5].clone()]
        );
    }
);

// ---------------------------------------------------------------------------------------------
// authorities and credentials

both_backends!(
    async fn authority_crud_round_trip(store: Arc<dyn Store>) {
        let created = store
            .create_authority(authority("google", Strategy::Google))
            .await
            .unwrap();
        assert_eq!(created.strategy, Strategy::Google);
        assert_eq!(
            store.get_authority("google").await.unwrap().unwrap(),
            created
        );
        assert!(store.get_authority("nope").await.unwrap().is_none());
        assert_conflict(
            store
                .create_authority(authority("google", Strategy::Saml))
                .await,
            "authority 'google' already exists",
        );
        store
            .create_authority(authority("password", Strategy::Password))
            .await
            .unwrap();
        let listed = store.list_authorities().await.unwrap();
        assert_eq!(
            listed.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
            vec!["google", "password"]
        );

        let updated = store
            .update_authority(
                "google",
                AuthorityPatch {
                    enabled: Some(false),
                    details: Some(json!({"hd": ["example.org"], "nested": {"a": [1, 2]}})),
                    ..AuthorityPatch::default()
                },
            )
            .await
            .unwrap();
        assert!(!updated.enabled);
        assert_eq!(updated.name, created.name);
        assert_eq!(updated.details["nested"]["a"][1], 2);
        assert_eq!(
            store.get_authority("google").await.unwrap().unwrap(),
            updated
        );
        assert_not_found(
            store
                .update_authority("nope", AuthorityPatch::default())
                .await,
        );

        // An authority in use cannot be deleted.
        let u = store.create_user(NewUser::human()).await.unwrap();
        let c = store
            .create_credential(cred("google", "sub-1").for_user(&u.id))
            .await
            .unwrap();
        assert_reference(store.delete_authority("google").await, "google");
        store.delete_credential(&c.id).await.unwrap();
        store.delete_authority("google").await.unwrap();
        assert!(store.get_authority("google").await.unwrap().is_none());
        assert_not_found(store.delete_authority("google").await);
    }
);

both_backends!(
    async fn credential_crud_round_trip(store: Arc<dyn Store>) {
        store
            .create_authority(authority("password", Strategy::Password))
            .await
            .unwrap();
        store
            .create_authority(authority("email", Strategy::Email))
            .await
            .unwrap();
        let u = store
            .create_user(user("dan", "dan@x.org", "Dan"))
            .await
            .unwrap();

        let pw = store
            .create_credential(cred("password", &u.id).for_user(&u.id))
            .await
            .unwrap();
        let em = store
            .create_credential(cred("email", "dan@x.org").for_user(&u.id))
            .await
            .unwrap();
        assert_eq!(pw.last_used_at, None);
        assert_eq!(store.get_credential(&pw.id).await.unwrap().unwrap(), pw);
        assert_eq!(
            store
                .find_credential("email", "dan@x.org")
                .await
                .unwrap()
                .unwrap(),
            em
        );
        assert!(
            store
                .find_credential("email", "DAN@x.org")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .find_credential("password", "dan@x.org")
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.get_credential("nope").await.unwrap().is_none());
        assert_eq!(
            store.list_credentials_of_user(&u.id).await.unwrap(),
            vec![pw.clone(), em.clone()]
        );

        let details = json!({"hash": "$2b$12$new", "changed": true});
        let updated = store
            .update_credential_details(&pw.id, details.clone())
            .await
            .unwrap();
        assert_eq!(updated.details, details);
        assert_eq!(updated.authority_user_id, pw.authority_user_id);
        store.touch_credential(&pw.id, 1_700_000_000).await.unwrap();
        let touched = store.get_credential(&pw.id).await.unwrap().unwrap();
        assert_eq!(touched.last_used_at, Some(1_700_000_000));
        assert_eq!(touched.details, details);

        // Unique key, foreign keys, missing rows.
        let other = store.create_user(NewUser::human()).await.unwrap();
        assert_conflict(
            store
                .create_credential(cred("email", "dan@x.org").for_user(&other.id))
                .await,
            "credential (authority_id, authority_user_id) already exists",
        );
        assert_reference(
            store
                .create_credential(cred("nope", "x").for_user(&other.id))
                .await,
            "no such authority 'nope'",
        );
        assert_reference(
            store
                .create_credential(NewCredential {
                    user_id: "ghost".to_owned(),
                    authority_id: "email".to_owned(),
                    authority_user_id: "ghost@x.org".to_owned(),
                    details: json!({}),
                })
                .await,
            "no such user 'ghost'",
        );
        assert_not_found(store.update_credential_details("nope", json!({})).await);
        assert_not_found(store.touch_credential("nope", 1).await);

        store.delete_credential(&em.id).await.unwrap();
        assert_not_found(store.delete_credential(&em.id).await);
        assert!(
            store
                .find_credential("email", "dan@x.org")
                .await
                .unwrap()
                .is_none()
        );
        // The key is free again.
        store
            .create_credential(cred("email", "dan@x.org").for_user(&other.id))
            .await
            .unwrap();
    }
);

both_backends!(
    async fn create_user_with_credentials_is_all_or_nothing(store: Arc<dyn Store>) {
        store
            .create_authority(authority("password", Strategy::Password))
            .await
            .unwrap();
        store
            .create_authority(authority("email", Strategy::Email))
            .await
            .unwrap();
        store
            .create_role(role("default", &["AuthX:me:*"], &[]))
            .await
            .unwrap();
        store
            .create_role(role("root", &["AuthX:**:**"], &[]))
            .await
            .unwrap();

        let admin = store
            .create_user_with_credentials(
                user("admin", "admin@x.org", "Admin"),
                vec![cred("password", "admin"), cred("email", "admin@x.org")],
                strings(&["root", "default", "root"]),
            )
            .await
            .unwrap();
        assert_eq!(store.get_user(&admin.id).await.unwrap().unwrap(), admin);
        let creds = store.list_credentials_of_user(&admin.id).await.unwrap();
        assert_eq!(creds.len(), 2);
        assert!(creds.iter().all(|c| c.user_id == admin.id));
        let roles = store.roles_of_user(&admin.id).await.unwrap();
        assert_eq!(
            roles.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            vec!["default", "root"]
        );

        let users_before = store
            .list_users(&UserFilter::default(), &Page::first(100))
            .await
            .unwrap();

        // The second credential clashes with the admin's: nothing of the new user remains.
        assert_conflict(
            store
                .create_user_with_credentials(
                    user("eve", "eve@x.org", "Eve"),
                    vec![cred("password", "eve"), cred("email", "admin@x.org")],
                    strings(&["default"]),
                )
                .await,
            "credential (authority_id, authority_user_id) already exists",
        );
        // An unknown role or authority: the same, with the missing row named.
        assert_reference(
            store
                .create_user_with_credentials(
                    user("eve", "eve@x.org", "Eve"),
                    vec![cred("password", "eve")],
                    strings(&["default", "nope"]),
                )
                .await,
            "no such role 'nope'",
        );
        assert_reference(
            store
                .create_user_with_credentials(
                    user("eve", "eve@x.org", "Eve"),
                    vec![cred("password", "eve"), cred("saml", "eve")],
                    vec![],
                )
                .await,
            "no such authority 'saml'",
        );
        // A clashing username: the same.
        assert_conflict(
            store
                .create_user_with_credentials(
                    user("admin", "eve@x.org", "Eve"),
                    vec![cred("password", "eve")],
                    vec![],
                )
                .await,
            "username",
        );

        let users_after = store
            .list_users(&UserFilter::default(), &Page::first(100))
            .await
            .unwrap();
        assert_eq!(users_after, users_before, "no user row left behind");
        assert!(store.find_user_by_username("eve").await.unwrap().is_none());
        assert!(
            store
                .find_credential("password", "eve")
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            store
                .list_role_members("default", &Page::first(100))
                .await
                .unwrap(),
            vec![admin.id.clone()]
        );

        // And it still works afterwards (the failed transactions released their locks).
        let eve = store
            .create_user_with_credentials(
                user("eve", "eve@x.org", "Eve"),
                vec![cred("password", "eve")],
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            store.list_credentials_of_user(&eve.id).await.unwrap().len(),
            1
        );
    }
);

// ---------------------------------------------------------------------------------------------
// roles

both_backends!(
    async fn role_crud_round_trip(store: Arc<dyn Store>) {
        let created = store
            .create_role(NewRole {
                description: Some("Can do things".to_owned()),
                ..role("editor", &["b:c:d", "a:b:c", "b:c:d"], &["x:y:z"])
            })
            .await
            .unwrap();
        assert_eq!(
            created.scopes,
            strings(&["a:b:c", "b:c:d"]),
            "sorted, deduplicated"
        );
        assert_eq!(created.deny, strings(&["x:y:z"]));
        assert_eq!(store.get_role("editor").await.unwrap().unwrap(), created);
        assert!(store.get_role("nope").await.unwrap().is_none());
        assert_conflict(
            store.create_role(role("editor", &[], &[])).await,
            "role 'editor' already exists",
        );
        // The failed create left the original intact.
        assert_eq!(store.get_role("editor").await.unwrap().unwrap(), created);

        // Scopes replaced atomically, deny untouched, description cleared.
        let updated = store
            .update_role(
                "editor",
                RolePatch {
                    description: Some(None),
                    scopes: Some(strings(&["q:r:s"])),
                    enabled: Some(false),
                    ..RolePatch::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(updated.scopes, strings(&["q:r:s"]));
        assert_eq!(updated.deny, strings(&["x:y:z"]));
        assert_eq!(updated.description, None);
        assert!(!updated.enabled);
        assert_eq!(updated.name, created.name);
        assert_eq!(store.get_role("editor").await.unwrap().unwrap(), updated);
        let cleared = store
            .update_role(
                "editor",
                RolePatch {
                    deny: Some(vec![]),
                    name: Some("Editors".to_owned()),
                    is_default: Some(true),
                    ..RolePatch::default()
                },
            )
            .await
            .unwrap();
        assert!(cleared.deny.is_empty());
        assert_eq!(cleared.scopes, strings(&["q:r:s"]));
        assert_eq!(cleared.name, "Editors");
        assert!(cleared.is_default);
        assert_not_found(store.update_role("nope", RolePatch::default()).await);

        // Pagination over roles (with and without patterns).
        for id in ["a-role", "b_role", "c0", "zz"] {
            store.create_role(role(id, &[], &[])).await.unwrap();
        }
        let page1 = store.list_roles(&Page::first(2)).await.unwrap();
        assert_eq!(
            page1.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            vec!["a-role", "b_role"]
        );
        let page2 = store.list_roles(&Page::after(2, "b_role")).await.unwrap();
        assert_eq!(
            page2.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            vec!["c0", "editor"]
        );
        assert_eq!(page2[1], cleared);
        let page3 = store.list_roles(&Page::after(2, "editor")).await.unwrap();
        assert_eq!(
            page3.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            vec!["zz"]
        );

        store.delete_role("editor").await.unwrap();
        assert!(store.get_role("editor").await.unwrap().is_none());
        assert_not_found(store.delete_role("editor").await);
        // Its patterns went with it: a new role of the same id starts empty.
        let again = store.create_role(role("editor", &[], &[])).await.unwrap();
        assert_eq!(store.get_role("editor").await.unwrap().unwrap(), again);
        assert!(again.scopes.is_empty() && again.deny.is_empty());
    }
);

both_backends!(
    async fn role_membership(store: Arc<dyn Store>) {
        store
            .create_role(role("ops", &["o:p:s"], &[]))
            .await
            .unwrap();
        store.create_role(role("dev", &[], &[])).await.unwrap();
        let mut ids = Vec::new();
        for _ in 0..5 {
            let u = store.create_user(NewUser::human()).await.unwrap();
            store.add_role_member("ops", &u.id).await.unwrap();
            ids.push(u.id);
        }
        // Idempotent.
        store.add_role_member("ops", &ids[0]).await.unwrap();
        store.add_role_member("dev", &ids[0]).await.unwrap();

        let all = store
            .list_role_members("ops", &Page::first(100))
            .await
            .unwrap();
        assert_eq!(all, ids);
        let first = store
            .list_role_members("ops", &Page::first(2))
            .await
            .unwrap();
        assert_eq!(first, ids[..2].to_vec());
        let rest = store
            .list_role_members("ops", &Page::after(10, ids[1].clone()))
            .await
            .unwrap();
        assert_eq!(rest, ids[2..].to_vec());
        assert!(
            store
                .list_role_members("nope", &Page::first(10))
                .await
                .unwrap()
                .is_empty()
        );

        let roles = store.roles_of_user(&ids[0]).await.unwrap();
        assert_eq!(
            roles.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            vec!["dev", "ops"]
        );
        assert_eq!(roles[1].scopes, strings(&["o:p:s"]));
        assert!(store.roles_of_user(&ids[1]).await.unwrap().len() == 1);
        assert!(store.roles_of_user("ghost").await.unwrap().is_empty());

        store.remove_role_member("ops", &ids[0]).await.unwrap();
        assert_not_found(store.remove_role_member("ops", &ids[0]).await);
        assert_eq!(
            store
                .list_role_members("ops", &Page::first(100))
                .await
                .unwrap(),
            ids[1..].to_vec()
        );

        assert_reference(
            store.add_role_member("nope", &ids[0]).await,
            "no such role 'nope'",
        );
        assert_reference(
            store.add_role_member("ops", "ghost").await,
            "no such user 'ghost'",
        );

        // Deleting a role removes its memberships.
        store.delete_role("ops").await.unwrap();
        assert!(
            store
                .list_role_members("ops", &Page::first(100))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store
                .roles_of_user(&ids[0])
                .await
                .unwrap()
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>(),
            vec!["dev"]
        );
    }
);

both_backends!(
    async fn access_of_user_collects_enabled_explicit_and_default_roles(store: Arc<dyn Store>) {
        store
            .create_role(NewRole {
                is_default: true,
                ..role("default", &["AuthX:me:*", "shared:x:y"], &[])
            })
            .await
            .unwrap();
        store
            .create_role(role(
                "writer",
                &["app:doc:write", "shared:x:y"],
                &["app:doc.secret:*"],
            ))
            .await
            .unwrap();
        store
            .create_role(NewRole {
                enabled: false,
                ..role("disabled", &["app:**:**"], &["never:seen:here"])
            })
            .await
            .unwrap();
        store
            .create_role(NewRole {
                enabled: false,
                is_default: true,
                ..role("disabled-default", &["off:off:off"], &[])
            })
            .await
            .unwrap();
        store
            .create_role(role("other", &["other:x:y"], &[]))
            .await
            .unwrap();

        let alice = store
            .create_user(user("alice", "a@x.org", "Alice"))
            .await
            .unwrap();
        let bob = store
            .create_user(user("bob", "b@x.org", "Bob"))
            .await
            .unwrap();
        store.add_role_member("writer", &alice.id).await.unwrap();
        store.add_role_member("disabled", &alice.id).await.unwrap();

        let access = store.access_of_user(&alice.id).await.unwrap().unwrap();
        assert_eq!(access.status, UserStatus::Active);
        assert_eq!(
            access.scopes,
            strings(&["AuthX:me:*", "app:doc:write", "shared:x:y"])
        );
        assert_eq!(access.deny, strings(&["app:doc.secret:*"]));

        // Only the default role.
        let access = store.access_of_user(&bob.id).await.unwrap().unwrap();
        assert_eq!(access.scopes, strings(&["AuthX:me:*", "shared:x:y"]));
        assert!(access.deny.is_empty());

        // A disabled user: the status says so (the domain grants nothing then).
        store
            .update_user(
                &bob.id,
                UserPatch {
                    status: Some(UserStatus::Disabled),
                    ..UserPatch::default()
                },
            )
            .await
            .unwrap();
        let access = store.access_of_user(&bob.id).await.unwrap().unwrap();
        assert_eq!(access.status, UserStatus::Disabled);

        // No roles at all: the user still exists.
        store.delete_role("default").await.unwrap();
        store.remove_role_member("writer", &alice.id).await.unwrap();
        let access = store.access_of_user(&alice.id).await.unwrap().unwrap();
        assert_eq!(access.status, UserStatus::Active);
        assert!(access.scopes.is_empty() && access.deny.is_empty());

        // Enabling a role takes effect at once.
        store
            .update_role(
                "disabled",
                RolePatch {
                    enabled: Some(true),
                    ..RolePatch::default()
                },
            )
            .await
            .unwrap();
        let access = store.access_of_user(&alice.id).await.unwrap().unwrap();
        assert_eq!(access.scopes, strings(&["app:**:**"]));
        assert_eq!(access.deny, strings(&["never:seen:here"]));

        assert!(store.access_of_user("ghost").await.unwrap().is_none());
    }
);

// ---------------------------------------------------------------------------------------------
// cascades

both_backends!(
    async fn deleting_a_user_cascades_to_credentials_and_memberships(store: Arc<dyn Store>) {
        store
            .create_authority(authority("email", Strategy::Email))
            .await
            .unwrap();
        store
            .create_role(role("team", &["t:e:am"], &[]))
            .await
            .unwrap();
        let keep = store
            .create_user_with_credentials(
                user("keep", "keep@x.org", "Keep"),
                vec![cred("email", "keep@x.org")],
                strings(&["team"]),
            )
            .await
            .unwrap();
        let gone = store
            .create_user_with_credentials(
                user("gone", "gone@x.org", "Gone"),
                vec![cred("email", "gone@x.org")],
                strings(&["team"]),
            )
            .await
            .unwrap();
        let gone_cred = store.list_credentials_of_user(&gone.id).await.unwrap()[0].clone();

        store.delete_user(&gone.id).await.unwrap();

        assert!(store.get_credential(&gone_cred.id).await.unwrap().is_none());
        assert!(
            store
                .find_credential("email", "gone@x.org")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .list_credentials_of_user(&gone.id)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store
                .list_role_members("team", &Page::first(100))
                .await
                .unwrap(),
            vec![keep.id.clone()]
        );
        assert!(store.roles_of_user(&gone.id).await.unwrap().is_empty());
        assert!(store.access_of_user(&gone.id).await.unwrap().is_none());
        // The other user, the role and the authority are untouched.
        assert_eq!(
            store
                .list_credentials_of_user(&keep.id)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(store.get_role("team").await.unwrap().is_some());
        assert!(store.get_authority("email").await.unwrap().is_some());
        // The identity can be claimed again.
        store
            .create_credential(cred("email", "gone@x.org").for_user(&keep.id))
            .await
            .unwrap();
    }
);

// ---------------------------------------------------------------------------------------------
// audit

both_backends!(
    async fn audit_filters_and_newest_first_pagination(store: Arc<dyn Store>) {
        let base = 1_700_000_000;
        let mut appended = Vec::new();
        for i in 0..6_i64 {
            let mut event = NewAuditEvent::new(
                "user",
                Some(if i % 2 == 0 { "alice" } else { "bob" }),
                if i < 3 { "user.update" } else { "login" },
            );
            event.at = Some(base + i * 60);
            event.target_type = Some("user".to_owned());
            event.target_id = Some(format!("target-{}", i % 3));
            event.outcome = if i == 5 {
                Outcome::Failure
            } else {
                Outcome::Success
            };
            event.ip = Some("192.0.2.1".to_owned());
            event.user_agent = Some("test/1.0".to_owned());
            event.request_id = Some(format!("req-{i}"));
            event.details = json!({"i": i, "fields": ["email"]});
            appended.push(store.append_audit(event).await.unwrap());
        }
        // An event "now", with defaults.
        let now_event = store
            .append_audit(NewAuditEvent::new("system", None, "keys.rotate"))
            .await
            .unwrap();
        assert!(now_event.at >= authx::domain::now() - 5);
        assert_eq!(now_event.actor_id, None);

        let ids = |events: &[authx::domain::audit::AuditEvent]| {
            events.iter().map(|e| e.id.clone()).collect::<Vec<_>>()
        };
        let newest_first: Vec<String> = std::iter::once(now_event.id.clone())
            .chain(appended.iter().rev().map(|e| e.id.clone()))
            .collect();

        let all = store
            .list_audit(&AuditFilter::default(), &Page::first(100))
            .await
            .unwrap();
        assert_eq!(ids(&all), newest_first);
        assert_eq!(all[1], appended[5], "round trip of every field");
        assert_eq!(all[1].outcome, Outcome::Failure);

        // Pagination: the cursor is the last id seen.
        let p1 = store
            .list_audit(&AuditFilter::default(), &Page::first(3))
            .await
            .unwrap();
        let p2 = store
            .list_audit(&AuditFilter::default(), &Page::after(3, p1[2].id.clone()))
            .await
            .unwrap();
        let p3 = store
            .list_audit(&AuditFilter::default(), &Page::after(3, p2[2].id.clone()))
            .await
            .unwrap();
        assert_eq!(
            [ids(&p1), ids(&p2), ids(&p3)].concat(),
            newest_first,
            "pages cover everything once, in order"
        );

        let filtered = |filter: AuditFilter| {
            let store = store.clone();
            async move {
                store
                    .list_audit(&filter, &Page::first(100))
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|e| e.request_id.unwrap_or_default())
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            filtered(AuditFilter {
                actor_id: Some("alice".to_owned()),
                ..AuditFilter::default()
            })
            .await,
            strings(&["req-4", "req-2", "req-0"])
        );
        assert_eq!(
            filtered(AuditFilter {
                target_id: Some("target-1".to_owned()),
                ..AuditFilter::default()
            })
            .await,
            strings(&["req-4", "req-1"])
        );
        assert_eq!(
            filtered(AuditFilter {
                action: Some("login".to_owned()),
                ..AuditFilter::default()
            })
            .await,
            strings(&["req-5", "req-4", "req-3"])
        );
        // Time range: from inclusive, to exclusive.
        assert_eq!(
            filtered(AuditFilter {
                from: Some(base + 60),
                to: Some(base + 240),
                ..AuditFilter::default()
            })
            .await,
            strings(&["req-3", "req-2", "req-1"])
        );
        assert_eq!(
            filtered(AuditFilter {
                actor_id: Some("bob".to_owned()),
                action: Some("login".to_owned()),
                from: Some(base),
                to: Some(base + 301),
                target_id: None,
            })
            .await,
            strings(&["req-5", "req-3"])
        );
        assert!(
            filtered(AuditFilter {
                actor_id: Some("carol".to_owned()),
                ..AuditFilter::default()
            })
            .await
            .is_empty()
        );
        // Filters with pagination.
        let alice_p = store
            .list_audit(
                &AuditFilter {
                    actor_id: Some("alice".to_owned()),
                    ..AuditFilter::default()
                },
                &Page::after(1, appended[4].id.clone()),
            )
            .await
            .unwrap();
        assert_eq!(ids(&alice_p), vec![appended[2].id.clone()]);
    }
);

// ---------------------------------------------------------------------------------------------
// concurrency (SQLite: BEGIN IMMEDIATE + busy timeout; PostgreSQL: row locks)

both_backends!(
    async fn concurrent_transactional_writes_do_not_deadlock(store: Arc<dyn Store>) {
        store
            .create_authority(authority("email", Strategy::Email))
            .await
            .unwrap();
        store.create_role(role("r", &["a:b:c"], &[])).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..16 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                // Half of them race for the same identity: exactly one of those may win.
                let key = if i % 2 == 0 {
                    "same@x.org".to_owned()
                } else {
                    format!("u{i}@x.org")
                };
                let created = store
                    .create_user_with_credentials(
                        NewUser::human(),
                        vec![cred("email", &key)],
                        strings(&["r"]),
                    )
                    .await;
                let updated = store
                    .update_role(
                        "r",
                        RolePatch {
                            scopes: Some(vec![format!("a:b:c{i}")]),
                            ..RolePatch::default()
                        },
                    )
                    .await;
                (
                    created.is_ok(),
                    matches!(created, Err(StoreError::Conflict(_))),
                    updated.is_ok(),
                )
            }));
        }
        let mut ok = 0;
        let mut conflicts = 0;
        for task in tasks {
            let (created, conflict, updated) = task.await.unwrap();
            assert!(created || conflict);
            assert!(updated);
            ok += usize::from(created);
            conflicts += usize::from(conflict);
        }
        assert_eq!(ok, 9);
        assert_eq!(conflicts, 7);
        let members = store
            .list_role_members("r", &Page::first(100))
            .await
            .unwrap();
        assert_eq!(members.len(), 9);
        assert_eq!(store.get_role("r").await.unwrap().unwrap().scopes.len(), 1);
    }
);
