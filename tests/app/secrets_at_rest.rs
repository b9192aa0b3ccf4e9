//! Secrets at rest, on both backends: what the database holds for JWT signing keys and upstream
//! client secrets (sealed, never the plaintext), that a sealed value opens only in its own row,
//! that secrets stored in the clear by an older version are sealed at start, and that a key
//! rotation moves every secret to the new key.

use std::sync::Arc;

use authx::domain::authority::{NewAuthority, Strategy};
use authx::sealing::{PREFIX, Reseal, SealError, Sealer};
use authx::store::{Store, StoreError};
use reqwest::Method;
use serde_json::json;

use crate::support::app::TestApp;
use crate::support::db::{SECRETS_KEY, TestDb};
use crate::support::principals::{api_json as call, caller};

const SECRET: &str = "upstream-client-secret-4f8a";

async fn secrets_are_sealed_in_the_database(db: TestDb) {
    let app = TestApp::spawn_on(&db).await;
    let root = caller(&app, &["**:**:**"]).await;
    let (s, a) = call(
        &app,
        &root,
        Method::POST,
        "/api/v1/authorities",
        json!({"id": "corp", "strategy": "google", "name": "Corp", "enabled": false,
               "details": {"client_id": "cid", "client_secret": SECRET}}),
    )
    .await;
    assert_eq!(s, 201, "{a}");
    assert_eq!(a["details"]["client_secret_set"], true);
    // The server reads it back in the clear; the database holds it sealed.
    let stored = app
        .state
        .store
        .get_authority("corp")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.details["client_secret"], SECRET);
    let raw = db
        .texts("SELECT details FROM authorities WHERE id = 'corp'")
        .await
        .remove(0);
    assert!(!raw.contains(SECRET), "{raw}");
    assert!(raw.contains(PREFIX), "{raw}");
    // The signing keys the server made at start are sealed too, and it signs with them.
    let keys = db.texts("SELECT private_key FROM signing_keys").await;
    assert!(!keys.is_empty());
    assert!(keys.iter().all(|k| k.starts_with(PREFIX)), "{keys:?}");
    assert_eq!(app.get("/oauth2/jwks").await.status(), 200);

    // A sealed secret copied into another authority's row does not open there.
    db.execute(&format!(
        "INSERT INTO authorities (id, strategy, name, enabled, details, created_at, updated_at) \
         VALUES ('copy', 'google', 'Copy', false, '{}', 0, 0)",
        raw.replace('\'', "''")
    ))
    .await;
    let copied = app.state.store.get_authority("copy").await;
    assert!(
        matches!(copied, Err(StoreError::Sealed(SealError::Open))),
        "{copied:?}"
    );
    app.stop().await.unwrap();
}
on_both_backends!(secrets_are_sealed_in_the_database);

/// A store on `db` sealing under `current`, opening also under `previous`.
async fn store_with(db: &TestDb, current: [u8; 32], previous: &[[u8; 32]]) -> Arc<dyn Store> {
    let sealer = Arc::new(Sealer::new(&current, previous).unwrap());
    let store = authx::store::connect(&db.connect_options(), sealer)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

async fn plaintext_is_sealed_and_keys_rotate(db: TestDb) {
    let old = SECRETS_KEY;
    let new = [0x77; 32];
    let store = store_with(&db, old, &[]).await;
    let key =
        authx::engine::oauth2::keys::Keys::generate(authx::domain::signing_key::SigningAlg::Es256)
            .unwrap();
    let private_key = key.private_key.clone();
    store.create_signing_key(key.clone()).await.unwrap();
    store
        .create_authority(NewAuthority {
            id: "corp".into(),
            strategy: Strategy::Google,
            name: "Corp".into(),
            enabled: false,
            details: json!({"client_id": "cid", "client_secret": SECRET}),
        })
        .await
        .unwrap();

    // What an older version wrote: the secrets in the clear. They still read, and the reseal
    // that runs at start seals them.
    db.execute(&format!(
        "UPDATE signing_keys SET private_key = '{private_key}' WHERE kid = '{}'",
        key.kid
    ))
    .await;
    db.execute(&format!(
        "UPDATE authorities SET details = '{}' WHERE id = 'corp'",
        json!({"client_id": "cid", "client_secret": SECRET})
    ))
    .await;
    let read = store.get_signing_key(&key.kid).await.unwrap().unwrap();
    assert_eq!(read.private_key, private_key);
    assert_eq!(store.reseal_secrets(Reseal::Plaintext).await.unwrap(), 2);
    assert_eq!(store.reseal_secrets(Reseal::Plaintext).await.unwrap(), 0);
    let raw = db.texts("SELECT private_key FROM signing_keys").await;
    assert!(raw.iter().all(|k| k.starts_with(PREFIX)), "{raw:?}");
    let raw = db.texts("SELECT details FROM authorities").await;
    assert!(!raw[0].contains(SECRET), "{raw:?}");

    // Rotation: the new key current, the old one previous. Start-up leaves values under the old
    // key alone (other nodes may not hold the new one yet); the reseal command moves them.
    let both = store_with(&db, new, &[old]).await;
    assert_eq!(both.reseal_secrets(Reseal::Plaintext).await.unwrap(), 0);
    assert_eq!(both.reseal_secrets(Reseal::All).await.unwrap(), 2);
    let only_new = store_with(&db, new, &[]).await;
    let read = only_new.get_signing_key(&key.kid).await.unwrap().unwrap();
    assert_eq!(read.private_key, private_key);
    let corp = only_new.get_authority("corp").await.unwrap().unwrap();
    assert_eq!(corp.details["client_secret"], SECRET);
    // A node still on the old key is told which key it lacks.
    let only_old = store_with(&db, old, &[]).await;
    match only_old.get_signing_key(&key.kid).await {
        Err(StoreError::Sealed(SealError::UnknownKey(id, _))) => {
            let new_id = Sealer::new(&new, &[]).unwrap();
            assert_eq!(Some(id.as_str()), new_id.current_key_id());
        }
        other => panic!("{other:?}"),
    }
    for store in [store, both, only_new, only_old] {
        store.close().await;
    }
}
on_both_backends!(plaintext_is_sealed_and_keys_rotate);
