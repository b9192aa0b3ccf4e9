//! Conformance suite for pending upstream logins and the SAML assertion replay cache: every test
//! runs against SQLite and PostgreSQL (see `support::db::both_backends!`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use authx::domain::authority::{NewAuthority, Strategy};
use authx::domain::now;
use authx::domain::user::NewUser;
use authx::store::{NewUpstreamLogin, Store, StoreError};
use serde_json::json;

use crate::both_backends;

async fn authority(store: &Arc<dyn Store>, id: &str) {
    store
        .create_authority(NewAuthority {
            id: id.to_owned(),
            strategy: Strategy::Google,
            name: id.to_owned(),
            enabled: true,
            details: json!({}),
        })
        .await
        .unwrap();
}

fn login(id_hash: &str, authority_id: &str, expires_at: i64) -> NewUpstreamLogin {
    NewUpstreamLogin {
        id_hash: id_hash.to_owned(),
        authority_id: authority_id.to_owned(),
        request_hash: None,
        data: json!({"state": "s", "nonce": "n", "pkce_verifier": "very-secret-verifier"}),
        return_to: Some("/oauth2/authorize?client_id=x".to_owned()),
        linking_user_id: None,
        expires_at,
    }
}

both_backends!(
    async fn pending_logins_are_single_use(store: Arc<dyn Store>) {
        authority(&store, "g").await;
        let user = store.create_user(NewUser::human()).await.unwrap().id;
        let t = now();
        let mut new = login("h1", "g", t + 600);
        new.linking_user_id = Some(user.clone());
        let created = store.create_upstream_login(new.clone()).await.unwrap();
        assert!(created.created_at >= t);
        assert_eq!(created.linking_user_id.as_deref(), Some(user.as_str()));
        // Debug output never shows the strategy's secrets.
        assert!(!format!("{created:?}{new:?}").contains("very-secret"));

        let taken = store
            .consume_upstream_login("h1", t)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(taken, created);
        assert_eq!(taken.data["pkce_verifier"], "very-secret-verifier");
        assert_eq!(
            taken.return_to.as_deref(),
            Some("/oauth2/authorize?client_id=x")
        );
        // Single use.
        assert!(
            store
                .consume_upstream_login("h1", t)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .consume_upstream_login("unknown", t)
                .await
                .unwrap()
                .is_none()
        );

        // Expired: reported as absent, and gone.
        store
            .create_upstream_login(login("old", "g", t - 1))
            .await
            .unwrap();
        assert!(
            store
                .consume_upstream_login("old", t)
                .await
                .unwrap()
                .is_none()
        );
        store
            .create_upstream_login(login("old", "g", t + 60))
            .await
            .unwrap();
    }
);

both_backends!(
    async fn pending_logins_by_request_id(store: Arc<dyn Store>) {
        authority(&store, "idp").await;
        authority(&store, "other").await;
        let t = now();
        let mut new = login("cookie-hash", "idp", t + 600);
        new.request_hash = Some("request-hash".to_owned());
        store.create_upstream_login(new.clone()).await.unwrap();
        // Another authority's ACS cannot take it.
        assert!(
            store
                .consume_upstream_login_by_request("other", "request-hash", t)
                .await
                .unwrap()
                .is_none()
        );
        let taken = store
            .consume_upstream_login_by_request("idp", "request-hash", t)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(taken.id_hash, "cookie-hash");
        // Either way of finding it, it is gone.
        assert!(
            store
                .consume_upstream_login_by_request("idp", "request-hash", t)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .consume_upstream_login("cookie-hash", t)
                .await
                .unwrap()
                .is_none()
        );
        // …and the other way round.
        store.create_upstream_login(new.clone()).await.unwrap();
        assert!(
            store
                .consume_upstream_login("cookie-hash", t)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            store
                .consume_upstream_login_by_request("idp", "request-hash", t)
                .await
                .unwrap()
                .is_none()
        );
        // Expired.
        let mut expired = new.clone();
        expired.expires_at = t;
        store.create_upstream_login(expired).await.unwrap();
        assert!(
            store
                .consume_upstream_login_by_request("idp", "request-hash", t)
                .await
                .unwrap()
                .is_none()
        );
        // Rows without a request id never clash with each other.
        for hash in ["a", "b"] {
            store
                .create_upstream_login(login(hash, "idp", t + 60))
                .await
                .unwrap();
        }
    }
);

both_backends!(
    async fn pending_login_constraints(store: Arc<dyn Store>) {
        authority(&store, "g").await;
        let t = now();
        let mut first = login("dup", "g", t + 600);
        first.request_hash = Some("rq".to_owned());
        store.create_upstream_login(first).await.unwrap();
        assert!(matches!(
            store
                .create_upstream_login(login("dup", "g", t + 600))
                .await,
            Err(StoreError::Conflict(_))
        ));
        let mut same_request = login("other", "g", t + 600);
        same_request.request_hash = Some("rq".to_owned());
        assert!(matches!(
            store.create_upstream_login(same_request).await,
            Err(StoreError::Conflict(_))
        ));
        match store
            .create_upstream_login(login("x", "no-such-authority", t + 600))
            .await
        {
            Err(StoreError::Reference(msg)) => assert!(msg.contains("authority"), "{msg}"),
            other => panic!("expected Reference, got {other:?}"),
        }
        let mut linking = login("y", "g", t + 600);
        linking.linking_user_id = Some("no-such-user".to_owned());
        match store.create_upstream_login(linking).await {
            Err(StoreError::Reference(msg)) => assert!(msg.contains("user"), "{msg}"),
            other => panic!("expected Reference, got {other:?}"),
        }

        // Deleting the linking user or the authority deletes its pending logins.
        let user = store.create_user(NewUser::human()).await.unwrap().id;
        let mut linking = login("linking", "g", t + 600);
        linking.linking_user_id = Some(user.clone());
        store.create_upstream_login(linking).await.unwrap();
        store.delete_user(&user).await.unwrap();
        assert!(
            store
                .consume_upstream_login("linking", t)
                .await
                .unwrap()
                .is_none()
        );
        authority(&store, "gone").await;
        store
            .create_upstream_login(login("of-gone", "gone", t + 600))
            .await
            .unwrap();
        assert!(
            store
                .record_saml_assertion("gone", "a1", t + 600)
                .await
                .unwrap()
        );
        store.delete_authority("gone").await.unwrap();
        assert!(
            store
                .consume_upstream_login("of-gone", t)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .record_saml_assertion("gone", "a1", t + 600)
                .await
                .is_err()
        );
    }
);

both_backends!(
    async fn concurrent_callbacks_get_one_row(store: Arc<dyn Store>) {
        authority(&store, "g").await;
        let t = now();
        for round in 0..5 {
            let hash = format!("race-{round}");
            let mut new = login(&hash, "g", t + 600);
            new.request_hash = Some(format!("rq-{round}"));
            store.create_upstream_login(new).await.unwrap();
            let mut tasks = Vec::new();
            for i in 0..8 {
                let store = store.clone();
                let hash = hash.clone();
                let request = format!("rq-{round}");
                tasks.push(tokio::spawn(async move {
                    // Half come with the cookie, half through the request id.
                    if i % 2 == 0 {
                        store.consume_upstream_login(&hash, t).await
                    } else {
                        store
                            .consume_upstream_login_by_request("g", &request, t)
                            .await
                    }
                }));
            }
            let mut winners = 0;
            for task in tasks {
                if task.await.unwrap().unwrap().is_some() {
                    winners += 1;
                }
            }
            assert_eq!(winners, 1, "round {round}");
        }
    }
);

both_backends!(
    async fn saml_assertions_are_accepted_once(store: Arc<dyn Store>) {
        authority(&store, "idp").await;
        authority(&store, "idp2").await;
        let t = now();
        assert!(
            store
                .record_saml_assertion("idp", "_a1", t + 300)
                .await
                .unwrap()
        );
        assert!(
            !store
                .record_saml_assertion("idp", "_a1", t + 300)
                .await
                .unwrap()
        );
        assert!(
            !store
                .record_saml_assertion("idp", "_a1", t + 900)
                .await
                .unwrap()
        );
        // Per authority: another IdP may use the same id.
        assert!(
            store
                .record_saml_assertion("idp2", "_a1", t + 300)
                .await
                .unwrap()
        );
        // An expired, not yet swept record does not block (the assertion is dead anyway).
        assert!(
            store
                .record_saml_assertion("idp", "_old", t - 5)
                .await
                .unwrap()
        );
        assert!(
            store
                .record_saml_assertion("idp", "_old", t + 300)
                .await
                .unwrap()
        );
        assert!(
            !store
                .record_saml_assertion("idp", "_old", t + 300)
                .await
                .unwrap()
        );
        match store.record_saml_assertion("nope", "_a1", t + 300).await {
            Err(StoreError::Reference(msg)) => assert!(msg.contains("authority"), "{msg}"),
            other => panic!("expected Reference, got {other:?}"),
        }

        // Concurrent deliveries of one assertion: exactly one is accepted.
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.record_saml_assertion("idp", "_race", t + 300).await
            }));
        }
        let mut accepted = 0;
        for task in tasks {
            if task.await.unwrap().unwrap() {
                accepted += 1;
            }
        }
        assert_eq!(accepted, 1);
    }
);

both_backends!(
    async fn expired_upstream_rows_are_swept(store: Arc<dyn Store>) {
        authority(&store, "g").await;
        let t = now();
        store
            .create_upstream_login(login("live", "g", t + 600))
            .await
            .unwrap();
        store
            .create_upstream_login(login("dead", "g", t - 1))
            .await
            .unwrap();
        assert!(
            store
                .record_saml_assertion("g", "_live", t + 600)
                .await
                .unwrap()
        );
        assert!(
            store
                .record_saml_assertion("g", "_dead", t - 1)
                .await
                .unwrap()
        );
        assert_eq!(store.delete_expired_upstream_logins(t).await.unwrap(), 2);
        assert_eq!(store.delete_expired_upstream_logins(t).await.unwrap(), 0);
        assert!(
            store
                .consume_upstream_login("live", t)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            !store
                .record_saml_assertion("g", "_live", t + 600)
                .await
                .unwrap()
        );

        // The server's sweeper includes them.
        store
            .create_upstream_login(login("dead2", "g", t - 10))
            .await
            .unwrap();
        assert!(authx::engine::sweeper::sweep(store.as_ref()).await.unwrap() >= 1);
        store
            .create_upstream_login(login("dead2", "g", t + 10))
            .await
            .unwrap();
    }
);
