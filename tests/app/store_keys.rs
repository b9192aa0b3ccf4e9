//! Conformance suite for clients (+ secrets), API keys and grants: every test runs against SQLite and
//! PostgreSQL (see `support::db::both_backends!`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use authx::domain::Page;
use authx::domain::api_key::{ApiKeyFilter, NewApiKey};
use authx::domain::client::{
    ClientPatch, ClientType, InitialClientSecret, NewClient, NewClientSecret,
};
use authx::domain::grant::GrantFilter;
use authx::domain::now;
use authx::domain::user::NewUser;
use authx::store::{Store, StoreError};

use crate::both_backends;
use crate::support::db::TestDb;

// ---------------------------------------------------------------------------------------------
// helpers

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn client(id: &str) -> NewClient {
    NewClient {
        id: id.to_owned(),
        name: format!("Client {id}"),
        client_type: ClientType::Confidential,
        redirect_uris: strings(&["https://app.example/cb", "http://127.0.0.1/cb"]),
        post_logout_redirect_uris: strings(&["https://app.example/bye"]),
        scopes: strings(&["app:*:read", "app:doc:write"]),
        trusted: false,
        enabled: true,
        machine_user_id: None,
        id_token_alg: None,
    }
}

fn first_secret(hash: &str) -> InitialClientSecret {
    InitialClientSecret {
        secret_hash: hash.to_owned(),
        description: Some("first".to_owned()),
        expires_at: None,
    }
}

fn secret(client_id: &str, hash: &str, expires_at: Option<i64>) -> NewClientSecret {
    NewClientSecret {
        client_id: client_id.to_owned(),
        secret_hash: hash.to_owned(),
        description: None,
        expires_at,
    }
}

fn api_key(user_id: &str, hash: &str, expires_at: i64) -> NewApiKey {
    NewApiKey {
        user_id: user_id.to_owned(),
        key_hash: hash.to_owned(),
        hint: "axk_abcd".to_owned(),
        description: Some("ci".to_owned()),
        scopes: strings(&["app:doc:read"]),
        clients: strings(&["web"]),
        expires_at,
    }
}

async fn new_user(store: &Arc<dyn Store>) -> String {
    store.create_user(NewUser::human()).await.unwrap().id
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
// clients

both_backends!(
    async fn client_crud_round_trip(store: Arc<dyn Store>) {
        let machine = new_user(&store).await;
        let (created, none) = store.create_client(client("web"), None).await.unwrap();
        assert!(none.is_none());
        assert_eq!(created.id, "web");
        assert_eq!(created.client_type, ClientType::Confidential);
        assert_eq!(
            created.redirect_uris,
            strings(&["https://app.example/cb", "http://127.0.0.1/cb"])
        );
        assert_eq!(store.get_client("web").await.unwrap().unwrap(), created);
        assert!(store.get_client("nope").await.unwrap().is_none());
        assert!(store.list_client_secrets("web").await.unwrap().is_empty());

        let mut public = client("spa");
        public.client_type = ClientType::Public;
        public.machine_user_id = Some(machine.clone());
        public.trusted = true;
        let (spa, _) = store.create_client(public, None).await.unwrap();
        assert_eq!(spa.machine_user_id.as_deref(), Some(machine.as_str()));

        // listing by id, with cursor
        let all = store.list_clients(&Page::default()).await.unwrap();
        assert_eq!(
            all.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            ["spa", "web"]
        );
        let next = store.list_clients(&Page::after(10, "spa")).await.unwrap();
        assert_eq!(next, vec![created.clone()]);
        assert_eq!(store.list_clients(&Page::first(1)).await.unwrap().len(), 1);

        // partial update
        let updated = store
            .update_client(
                "web",
                ClientPatch {
                    name: Some("Web app".to_owned()),
                    scopes: Some(strings(&["app:**:*"])),
                    enabled: Some(false),
                    machine_user_id: Some(Some(machine.clone())),
                    ..ClientPatch::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(updated.name, "Web app");
        assert_eq!(updated.scopes, strings(&["app:**:*"]));
        assert!(!updated.enabled);
        assert_eq!(updated.redirect_uris, created.redirect_uris, "untouched");
        assert_eq!(updated.client_type, ClientType::Confidential);
        assert_eq!(updated.machine_user_id.as_deref(), Some(machine.as_str()));
        assert_eq!(store.get_client("web").await.unwrap().unwrap(), updated);
        let cleared = store
            .update_client(
                "web",
                ClientPatch {
                    machine_user_id: Some(None),
                    client_type: Some(ClientType::Public),
                    redirect_uris: Some(vec![]),
                    ..ClientPatch::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(cleared.machine_user_id, None);
        assert_eq!(cleared.client_type, ClientType::Public);
        assert!(cleared.redirect_uris.is_empty());
        assert_eq!(cleared.name, "Web app");

        assert_not_found(store.update_client("nope", ClientPatch::default()).await);
        assert_reference(
            store
                .update_client(
                    "web",
                    ClientPatch {
                        machine_user_id: Some(Some("ghost".to_owned())),
                        ..ClientPatch::default()
                    },
                )
                .await,
            "no such user 'ghost'",
        );

        // deleting the machine user keeps the client, without a machine user
        store.delete_user(&machine).await.unwrap();
        assert_eq!(
            store
                .get_client("spa")
                .await
                .unwrap()
                .unwrap()
                .machine_user_id,
            None
        );

        store.delete_client("web").await.unwrap();
        assert!(store.get_client("web").await.unwrap().is_none());
        assert_not_found(store.delete_client("web").await);
    }
);

both_backends!(
    async fn client_conflicts_and_references(store: Arc<dyn Store>) {
        store.create_client(client("web"), None).await.unwrap();
        assert_conflict(
            store.create_client(client("web"), None).await,
            "client 'web' already exists",
        );
        let mut orphan = client("orphan");
        orphan.machine_user_id = Some("ghost".to_owned());
        assert_reference(
            store.create_client(orphan, None).await,
            "no such user 'ghost'",
        );
        assert!(store.get_client("orphan").await.unwrap().is_none());
        assert_reference(
            store.add_client_secret(secret("nope", "h-x", None)).await,
            "no such client 'nope'",
        );
        assert_reference(
            store
                .rotate_client_secret(secret("nope", "h-y", None), now())
                .await,
            "no such client 'nope'",
        );
    }
);

both_backends!(
    async fn create_client_with_first_secret_is_atomic(store: Arc<dyn Store>) {
        let (web, first) = store
            .create_client(client("web"), Some(first_secret("hash-web")))
            .await
            .unwrap();
        let first = first.expect("the first secret");
        assert_eq!(first.client_id, "web");
        assert_eq!(first.description.as_deref(), Some("first"));
        assert_eq!(first.expires_at, None);
        assert_eq!(first.last_used_at, None);
        assert_eq!(store.list_client_secrets("web").await.unwrap(), vec![first]);
        assert_eq!(
            store
                .authenticate_client("web", "hash-web", now())
                .await
                .unwrap(),
            Some(web)
        );

        // The second client's secret collides: neither the client nor its secret is written.
        assert_conflict(
            store
                .create_client(client("other"), Some(first_secret("hash-web")))
                .await,
            "client secret hash already exists",
        );
        assert!(store.get_client("other").await.unwrap().is_none());
        assert!(store.list_client_secrets("other").await.unwrap().is_empty());
        // The id is free again.
        store
            .create_client(client("other"), Some(first_secret("hash-other")))
            .await
            .unwrap();
    }
);

both_backends!(
    async fn authenticate_client_checks_hash_client_and_expiry(store: Arc<dyn Store>) {
        let t = now();
        let (web, _) = store
            .create_client(client("web"), Some(first_secret("hash-web")))
            .await
            .unwrap();
        store
            .create_client(client("api"), Some(first_secret("hash-api")))
            .await
            .unwrap();
        assert_eq!(
            store
                .authenticate_client("web", "hash-web", t)
                .await
                .unwrap(),
            Some(web.clone())
        );
        assert_eq!(
            store.authenticate_client("web", "wrong", t).await.unwrap(),
            None
        );
        assert_eq!(
            store
                .authenticate_client("web", "hash-api", t)
                .await
                .unwrap(),
            None,
            "another client's secret"
        );
        assert_eq!(
            store
                .authenticate_client("nope", "hash-web", t)
                .await
                .unwrap(),
            None
        );

        // An expired secret no longer authenticates (expires_at is exclusive).
        let expiring = store
            .add_client_secret(secret("web", "hash-exp", Some(t + 100)))
            .await
            .unwrap();
        assert_eq!(expiring.expires_at, Some(t + 100));
        assert!(
            store
                .authenticate_client("web", "hash-exp", t + 99)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            store
                .authenticate_client("web", "hash-exp", t + 100)
                .await
                .unwrap()
                .is_none()
        );

        // Disabled clients are still returned: the caller checks `enabled`.
        store
            .update_client(
                "web",
                ClientPatch {
                    enabled: Some(false),
                    ..ClientPatch::default()
                },
            )
            .await
            .unwrap();
        let found = store
            .authenticate_client("web", "hash-web", t)
            .await
            .unwrap()
            .expect("disabled clients are returned");
        assert!(!found.enabled);

        // The check writes nothing; the touch does.
        let before = store.list_client_secrets("web").await.unwrap();
        assert!(before.iter().all(|s| s.last_used_at.is_none()));
        store
            .touch_client_secret_by_hash("hash-web", t + 5)
            .await
            .unwrap();
        let after = store.list_client_secrets("web").await.unwrap();
        assert_eq!(after[0].last_used_at, Some(t + 5));
        assert_eq!(after[1].last_used_at, None);
        assert_not_found(store.touch_client_secret_by_hash("unknown", t).await);
    }
);

both_backends!(
    async fn rotate_client_secret_with_and_without_grace(store: Arc<dyn Store>) {
        let t = now();
        store
            .create_client(client("web"), Some(first_secret("old")))
            .await
            .unwrap();
        // A secret that already expires sooner than the grace period keeps its earlier expiry.
        let soon = store
            .add_client_secret(secret("web", "soon", Some(t + 10)))
            .await
            .unwrap();

        // With a grace period: the old secret keeps working until the retire time.
        let new = store
            .rotate_client_secret(secret("web", "new", None), t + 60)
            .await
            .unwrap();
        assert_eq!(new.expires_at, None);
        let secrets = store.list_client_secrets("web").await.unwrap();
        assert_eq!(secrets.len(), 3);
        let expiry = |id: &str| secrets.iter().find(|s| s.id == id).unwrap().expires_at;
        assert_eq!(expiry(&soon.id), Some(t + 10));
        assert_eq!(expiry(&new.id), None);
        assert!(
            store
                .authenticate_client("web", "old", t + 59)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            store
                .authenticate_client("web", "old", t + 60)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .authenticate_client("web", "new", t + 60)
                .await
                .unwrap()
                .is_some()
        );

        // Without grace: the others stop at once.
        store
            .rotate_client_secret(secret("web", "newer", None), t)
            .await
            .unwrap();
        assert!(
            store
                .authenticate_client("web", "new", t)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .authenticate_client("web", "old", t)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .authenticate_client("web", "newer", t)
                .await
                .unwrap()
                .is_some()
        );

        // Rotation touches only this client's secrets.
        store
            .create_client(client("api"), Some(first_secret("api-secret")))
            .await
            .unwrap();
        store
            .rotate_client_secret(secret("web", "newest", None), t)
            .await
            .unwrap();
        assert!(
            store
                .authenticate_client("api", "api-secret", t)
                .await
                .unwrap()
                .is_some()
        );

        // A colliding hash fails the whole rotation: the others keep working.
        assert_conflict(
            store
                .rotate_client_secret(secret("api", "newest", None), t)
                .await,
            "client secret hash already exists",
        );
        assert!(
            store
                .authenticate_client("api", "api-secret", t)
                .await
                .unwrap()
                .is_some()
        );
    }
);

both_backends!(
    async fn delete_client_secret_only_of_its_client(store: Arc<dyn Store>) {
        let (_, web_secret) = store
            .create_client(client("web"), Some(first_secret("hash-web")))
            .await
            .unwrap();
        let web_secret = web_secret.unwrap();
        store.create_client(client("api"), None).await.unwrap();
        assert_not_found(store.delete_client_secret("api", &web_secret.id).await);
        assert_not_found(store.delete_client_secret("web", "no-such-secret").await);
        assert_eq!(store.list_client_secrets("web").await.unwrap().len(), 1);
        store
            .delete_client_secret("web", &web_secret.id)
            .await
            .unwrap();
        assert!(store.list_client_secrets("web").await.unwrap().is_empty());
        assert!(
            store
                .authenticate_client("web", "hash-web", now())
                .await
                .unwrap()
                .is_none()
        );
    }
);

// ---------------------------------------------------------------------------------------------
// API keys

both_backends!(
    async fn api_key_lifecycle(store: Arc<dyn Store>) {
        let t = now();
        let alice = new_user(&store).await;
        let bob = new_user(&store).await;
        let a1 = store
            .create_api_key(api_key(&alice, "ka1", t + 3600))
            .await
            .unwrap();
        let a2 = store
            .create_api_key(api_key(&alice, "ka2", t + 3600))
            .await
            .unwrap();
        let b1 = store
            .create_api_key(api_key(&bob, "kb1", t + 3600))
            .await
            .unwrap();
        assert_eq!(a1.user_id, alice);
        assert_eq!(a1.hint, "axk_abcd");
        assert_eq!(a1.scopes, strings(&["app:doc:read"]));
        assert_eq!(a1.clients, strings(&["web"]));
        assert_eq!(a1.revoked_at, None);
        assert!(a1.is_active(t));
        assert!(!a1.is_active(t + 3600));

        assert_eq!(
            store.find_api_key_by_hash("ka1").await.unwrap(),
            Some(a1.clone())
        );
        assert_eq!(store.find_api_key_by_hash("nope").await.unwrap(), None);
        assert_eq!(store.get_api_key(&b1.id).await.unwrap(), Some(b1.clone()));
        assert_eq!(store.get_api_key("nope").await.unwrap(), None);

        assert_conflict(
            store.create_api_key(api_key(&bob, "ka1", t + 10)).await,
            "api key hash already exists",
        );
        assert_reference(
            store.create_api_key(api_key("ghost", "kg", t + 10)).await,
            "no such user 'ghost'",
        );

        // list: all, by user, paged
        let all = store
            .list_api_keys(&ApiKeyFilter::default(), &Page::default())
            .await
            .unwrap();
        assert_eq!(all, vec![a1.clone(), a2.clone(), b1.clone()]);
        let of_alice = ApiKeyFilter {
            user_id: Some(alice.clone()),
            include_revoked: false,
        };
        assert_eq!(
            store
                .list_api_keys(&of_alice, &Page::default())
                .await
                .unwrap(),
            vec![a1.clone(), a2.clone()]
        );
        assert_eq!(
            store
                .list_api_keys(&of_alice, &Page::after(10, a1.id.clone()))
                .await
                .unwrap(),
            vec![a2.clone()]
        );
        assert_eq!(
            store
                .list_api_keys(&of_alice, &Page::first(1))
                .await
                .unwrap(),
            vec![a1.clone()]
        );

        // revoke: sets revoked_at once, idempotent, NotFound for a missing key
        let revoked = store.revoke_api_key(&a1.id, t + 5).await.unwrap();
        assert_eq!(revoked.revoked_at, Some(t + 5));
        assert!(!revoked.is_active(t + 6));
        let again = store.revoke_api_key(&a1.id, t + 50).await.unwrap();
        assert_eq!(again.revoked_at, Some(t + 5), "the first revocation stands");
        assert_not_found(store.revoke_api_key("nope", t).await);
        assert_eq!(
            store
                .find_api_key_by_hash("ka1")
                .await
                .unwrap()
                .unwrap()
                .revoked_at,
            Some(t + 5),
            "revoked keys are still found (the caller checks is_active)"
        );
        assert_eq!(
            store
                .list_api_keys(&of_alice, &Page::default())
                .await
                .unwrap(),
            vec![a2.clone()],
            "revoked keys are excluded"
        );
        let with_revoked = ApiKeyFilter {
            include_revoked: true,
            ..of_alice.clone()
        };
        assert_eq!(
            store
                .list_api_keys(&with_revoked, &Page::default())
                .await
                .unwrap(),
            vec![revoked.clone(), a2.clone()]
        );
        assert_eq!(
            store
                .list_api_keys(&ApiKeyFilter::default(), &Page::default())
                .await
                .unwrap(),
            vec![a2.clone(), b1.clone()]
        );

        // sweeping
        let old = store
            .create_api_key(api_key(&bob, "kold", t - 100))
            .await
            .unwrap();
        let edge = store
            .create_api_key(api_key(&bob, "kedge", t))
            .await
            .unwrap();
        assert_eq!(store.delete_expired_api_keys(t).await.unwrap(), 1);
        assert_eq!(store.get_api_key(&old.id).await.unwrap(), None);
        assert!(store.get_api_key(&edge.id).await.unwrap().is_some());
        assert_eq!(store.delete_expired_api_keys(t).await.unwrap(), 0);
        assert_eq!(store.delete_expired_api_keys(t + 3601).await.unwrap(), 4);
        assert!(
            store
                .list_api_keys(&with_revoked, &Page::default())
                .await
                .unwrap()
                .is_empty()
        );
    }
);

// ---------------------------------------------------------------------------------------------
// grants

both_backends!(
    async fn grant_upsert_find_list_delete(store: Arc<dyn Store>) {
        let alice = new_user(&store).await;
        let bob = new_user(&store).await;
        store.create_client(client("web"), None).await.unwrap();
        store.create_client(client("api"), None).await.unwrap();

        let g1 = store
            .upsert_grant(&alice, "web", strings(&["app:doc:read"]))
            .await
            .unwrap();
        assert_eq!(g1.user_id, alice);
        assert_eq!(g1.client_id, "web");
        assert_eq!(g1.scopes, strings(&["app:doc:read"]));
        let g1b = store
            .upsert_grant(&alice, "web", strings(&["app:doc:read", "app:doc:write"]))
            .await
            .unwrap();
        assert_eq!(g1b.id, g1.id, "the same row");
        assert_eq!(g1b.created_at, g1.created_at);
        assert_eq!(g1b.scopes, strings(&["app:doc:read", "app:doc:write"]));
        assert_eq!(store.get_grant(&g1.id).await.unwrap(), Some(g1b.clone()));
        assert_eq!(
            store.find_grant(&alice, "web").await.unwrap(),
            Some(g1b.clone())
        );
        assert_eq!(store.find_grant(&alice, "api").await.unwrap(), None);
        assert_eq!(store.get_grant("nope").await.unwrap(), None);

        let g2 = store.upsert_grant(&alice, "api", vec![]).await.unwrap();
        let g3 = store
            .upsert_grant(&bob, "web", strings(&["x:y:z"]))
            .await
            .unwrap();

        let list = |user_id: Option<&str>, client_id: Option<&str>| GrantFilter {
            user_id: user_id.map(str::to_owned),
            client_id: client_id.map(str::to_owned),
        };
        assert_eq!(
            store
                .list_grants(&list(None, None), &Page::default())
                .await
                .unwrap(),
            vec![g1b.clone(), g2.clone(), g3.clone()]
        );
        assert_eq!(
            store
                .list_grants(&list(Some(&alice), None), &Page::default())
                .await
                .unwrap(),
            vec![g1b.clone(), g2.clone()]
        );
        assert_eq!(
            store
                .list_grants(&list(None, Some("web")), &Page::default())
                .await
                .unwrap(),
            vec![g1b.clone(), g3.clone()]
        );
        assert_eq!(
            store
                .list_grants(&list(Some(&bob), Some("web")), &Page::default())
                .await
                .unwrap(),
            vec![g3.clone()]
        );
        assert_eq!(
            store
                .list_grants(&list(None, None), &Page::after(1, g1.id.clone()))
                .await
                .unwrap(),
            vec![g2.clone()]
        );

        assert_reference(
            store.upsert_grant("ghost", "web", vec![]).await,
            "no such user 'ghost'",
        );
        assert_reference(
            store.upsert_grant(&alice, "nope", vec![]).await,
            "no such client 'nope'",
        );

        store.delete_grant(&g1.id).await.unwrap();
        assert_eq!(store.get_grant(&g1.id).await.unwrap(), None);
        assert_eq!(store.find_grant(&alice, "web").await.unwrap(), None);
        assert_not_found(store.delete_grant(&g1.id).await);
        // A new consent after deletion is a new grant.
        let fresh = store.upsert_grant(&alice, "web", vec![]).await.unwrap();
        assert_ne!(fresh.id, g1.id);
    }
);

// ---------------------------------------------------------------------------------------------
// cascades

both_backends!(
    async fn deleting_a_user_cascades_to_api_keys_and_grants(store: Arc<dyn Store>) {
        let t = now();
        let alice = new_user(&store).await;
        let bob = new_user(&store).await;
        store.create_client(client("web"), None).await.unwrap();
        let ka = store
            .create_api_key(api_key(&alice, "ka", t + 60))
            .await
            .unwrap();
        let kb = store
            .create_api_key(api_key(&bob, "kb", t + 60))
            .await
            .unwrap();
        let ga = store.upsert_grant(&alice, "web", vec![]).await.unwrap();
        let gb = store.upsert_grant(&bob, "web", vec![]).await.unwrap();

        store.delete_user(&alice).await.unwrap();
        assert_eq!(store.get_api_key(&ka.id).await.unwrap(), None);
        assert_eq!(store.find_api_key_by_hash("ka").await.unwrap(), None);
        assert_eq!(store.get_grant(&ga.id).await.unwrap(), None);
        assert_eq!(store.get_api_key(&kb.id).await.unwrap(), Some(kb));
        assert_eq!(store.get_grant(&gb.id).await.unwrap(), Some(gb));
        assert!(store.get_client("web").await.unwrap().is_some());
    }
);

both_backends!(
    async fn deleting_a_client_cascades_to_secrets_and_grants(store: Arc<dyn Store>) {
        let alice = new_user(&store).await;
        store
            .create_client(client("web"), Some(first_secret("hash-web")))
            .await
            .unwrap();
        store
            .create_client(client("api"), Some(first_secret("hash-api")))
            .await
            .unwrap();
        let gw = store.upsert_grant(&alice, "web", vec![]).await.unwrap();
        let ga = store.upsert_grant(&alice, "api", vec![]).await.unwrap();

        store.delete_client("web").await.unwrap();
        assert!(store.list_client_secrets("web").await.unwrap().is_empty());
        assert_eq!(store.get_grant(&gw.id).await.unwrap(), None);
        assert_eq!(store.get_grant(&ga.id).await.unwrap(), Some(ga));
        assert_eq!(store.list_client_secrets("api").await.unwrap().len(), 1);
        assert!(store.get_user(&alice).await.unwrap().is_some());
        // The secret's hash is free again.
        store
            .create_client(client("web2"), Some(first_secret("hash-web")))
            .await
            .unwrap();
    }
);

/// Deleting a grant removes its authorization codes and refresh tokens (the schema's cascading
/// foreign keys; their stores do not exist yet, so the rows are written with plain SQL).
async fn check_grant_deletion_cascades_to_codes_and_tokens(db: &TestDb) {
    let store = db.store().await;
    let alice = new_user(&store).await;
    store.create_client(client("web"), None).await.unwrap();
    let grant = store.upsert_grant(&alice, "web", vec![]).await.unwrap();
    let other = store.upsert_grant(&alice, "web", vec![]).await.unwrap();
    assert_eq!(grant.id, other.id);
    let t = now();
    let insert_code = "INSERT INTO authorization_codes (code_hash, grant_id, client_id, user_id, \
         redirect_uri, auth_time, created_at, expires_at) VALUES ($1, $2, 'web', $3, 'x', $4, $4, $4)";
    let insert_token = "INSERT INTO refresh_tokens (id, token_hash, family_id, grant_id, \
         client_id, user_id, created_at, expires_at) VALUES ($1, $1, 'f', $2, 'web', $3, $4, $4)";
    let count = "SELECT (SELECT COUNT(*) FROM authorization_codes) + \
         (SELECT COUNT(*) FROM refresh_tokens)";
    macro_rules! run {
        ($pool:expr) => {{
            let pool = $pool;
            sqlx::query(insert_code)
                .bind("code-1")
                .bind(&grant.id)
                .bind(&alice)
                .bind(t)
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query(insert_token)
                .bind("rt-1")
                .bind(&grant.id)
                .bind(&alice)
                .bind(t)
                .execute(&pool)
                .await
                .unwrap();
            let before: i64 = sqlx::query_scalar(count).fetch_one(&pool).await.unwrap();
            assert_eq!(before, 2);
            store.delete_grant(&grant.id).await.unwrap();
            let after: i64 = sqlx::query_scalar(count).fetch_one(&pool).await.unwrap();
            assert_eq!(after, 0, "codes and refresh tokens go with their grant");
            pool.close().await;
        }};
    }
    if db.url.starts_with("sqlite") {
        let options: sqlx::sqlite::SqliteConnectOptions = db.url.parse().unwrap();
        run!(
            sqlx::SqlitePool::connect_with(options.foreign_keys(true))
                .await
                .unwrap()
        );
    } else {
        run!(sqlx::PgPool::connect(&db.url).await.unwrap());
    }
    store.close().await;
}

#[tokio::test]
async fn grant_deletion_cascades_to_codes_and_tokens_sqlite() {
    check_grant_deletion_cascades_to_codes_and_tokens(&TestDb::sqlite().await).await;
}

#[tokio::test]
async fn grant_deletion_cascades_to_codes_and_tokens_postgres() {
    let Some(db) = TestDb::postgres().await else {
        eprintln!("skipped: AUTHX_TEST_POSTGRES_URL is not set");
        return;
    };
    check_grant_deletion_cascades_to_codes_and_tokens(&db).await;
}
