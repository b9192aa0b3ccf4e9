//! Conformance suite for OAuth 2.0 codes, refresh tokens and access-token records (the
//! `TokenStore`), and the sweeper: every test runs against SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use authx::domain::audit::{AuditFilter, NewAuditEvent};
use authx::domain::client::{ClientType, NewClient};
use authx::domain::now;
use authx::domain::token::{NewAccessToken, NewAuthorizationCode, NewRefreshToken};
use authx::domain::user::NewUser;
use authx::store::{Store, StoreError};

use crate::both_backends;

/// A user, a client and a grant between them; returns (user id, grant id).
async fn grant(store: &Arc<dyn Store>) -> (String, String) {
    let user = store.create_user(NewUser::human()).await.unwrap().id;
    match store
        .create_client(
            NewClient {
                id: "app".into(),
                name: "App".into(),
                client_type: ClientType::Public,
                redirect_uris: vec!["https://app.example/cb".into()],
                post_logout_redirect_uris: Vec::new(),
                scopes: vec!["x:**:*".into()],
                trusted: false,
                enabled: true,
                machine_user_id: None,
                id_token_alg: None,
            },
            None,
        )
        .await
    {
        Ok(_) | Err(StoreError::Conflict(_)) => {}
        Err(e) => panic!("{e}"),
    }
    let grant = store
        .upsert_grant(&user, "app", vec!["openid".into(), "x:a:read".into()])
        .await
        .unwrap();
    (user, grant.id)
}

fn code(hash: &str, user: &str, grant: &str, expires_at: i64) -> NewAuthorizationCode {
    NewAuthorizationCode {
        code_hash: hash.to_owned(),
        grant_id: grant.to_owned(),
        client_id: "app".into(),
        user_id: user.to_owned(),
        redirect_uri: "https://app.example/cb".into(),
        scopes: vec!["openid".into(), "x:a:read".into()],
        nonce: Some("n".into()),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        code_challenge_method: Some("S256".into()),
        auth_time: now() - 5,
        session_id: Some("session-hash".into()),
        expires_at,
    }
}

fn refresh(
    hash: &str,
    family: &str,
    user: &str,
    grant: &str,
    code: Option<&str>,
) -> NewRefreshToken {
    NewRefreshToken {
        token_hash: hash.to_owned(),
        family_id: family.to_owned(),
        grant_id: grant.to_owned(),
        client_id: "app".into(),
        user_id: user.to_owned(),
        scopes: vec!["offline_access".into(), "x:a:read".into()],
        parent_id: None,
        code_hash: code.map(str::to_owned),
        auth_time: Some(now() - 5),
        expires_at: now() + 3600,
    }
}

fn access(
    jti: &str,
    user: &str,
    grant: Option<&str>,
    family: Option<&str>,
    code: Option<&str>,
) -> NewAccessToken {
    NewAccessToken {
        jti: jti.to_owned(),
        grant_id: grant.map(str::to_owned),
        client_id: "app".into(),
        user_id: user.to_owned(),
        family_id: family.map(str::to_owned),
        code_hash: code.map(str::to_owned),
        expires_at: now() + 600,
        issued: None,
    }
}

both_backends!(
    async fn codes_are_redeemed_once(store: Arc<dyn Store>) {
        let (user, grant) = grant(&store).await;
        store
            .create_authorization_code(code("c1", &user, &grant, now() + 60))
            .await
            .unwrap();
        let stored = store.get_authorization_code("c1").await.unwrap().unwrap();
        assert_eq!(stored.scopes, vec!["openid", "x:a:read"]);
        assert_eq!(stored.nonce.as_deref(), Some("n"));
        assert!(stored.used_at.is_none());
        assert!(matches!(
            store
                .create_authorization_code(code("c1", &user, &grant, now() + 60))
                .await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store
                .create_authorization_code(code("c2", &user, "no-such-grant", now() + 60))
                .await,
            Err(StoreError::Reference(_))
        ));
        let t = now();
        let redeemed = store
            .redeem_authorization_code(
                "c1",
                t,
                Some(refresh("r1", "f1", &user, &grant, Some("c1"))),
                access("j1", &user, Some(&grant), Some("f1"), Some("c1")),
            )
            .await
            .unwrap();
        assert!(redeemed);
        assert_eq!(
            store
                .get_authorization_code("c1")
                .await
                .unwrap()
                .unwrap()
                .used_at,
            Some(t)
        );
        // The second redemption writes nothing.
        let again = store
            .redeem_authorization_code(
                "c1",
                t,
                Some(refresh("r2", "f2", &user, &grant, Some("c1"))),
                access("j2", &user, Some(&grant), Some("f2"), Some("c1")),
            )
            .await
            .unwrap();
        assert!(!again);
        assert!(store.find_refresh_token("r2").await.unwrap().is_none());
        assert!(store.get_access_token("j2").await.unwrap().is_none());
        assert!(store.find_refresh_token("r1").await.unwrap().is_some());
        // Replay: everything issued from the code is revoked.
        let revoked = store.revoke_tokens_of_code("c1", t + 1).await.unwrap();
        assert_eq!(revoked, 2);
        assert_eq!(
            store
                .find_refresh_token("r1")
                .await
                .unwrap()
                .unwrap()
                .revoked_at,
            Some(t + 1)
        );
        assert_eq!(
            store
                .get_access_token("j1")
                .await
                .unwrap()
                .unwrap()
                .revoked_at,
            Some(t + 1)
        );
    }
);

both_backends!(
    async fn refresh_tokens_rotate_once(store: Arc<dyn Store>) {
        let (user, grant) = grant(&store).await;
        store
            .redeem_authorization_code(
                "unused",
                now(),
                Some(refresh("r1", "f1", &user, &grant, None)),
                access("j1", &user, Some(&grant), Some("f1"), None),
            )
            .await
            .map(|r| assert!(!r, "no such code: nothing written"))
            .unwrap();
        store
            .create_authorization_code(code("c1", &user, &grant, now() + 60))
            .await
            .unwrap();
        assert!(
            store
                .redeem_authorization_code(
                    "c1",
                    now(),
                    Some(refresh("r1", "f1", &user, &grant, Some("c1"))),
                    access("j1", &user, Some(&grant), Some("f1"), Some("c1")),
                )
                .await
                .unwrap()
        );
        let first = store.find_refresh_token("r1").await.unwrap().unwrap();
        assert!(first.is_usable(now()));
        let mut successor = refresh("r2", "f1", &user, &grant, Some("c1"));
        successor.parent_id = Some(first.id.clone());
        let t = now();
        assert!(
            store
                .rotate_refresh_token(
                    &first.id,
                    t,
                    successor.clone(),
                    access("j2", &user, Some(&grant), Some("f1"), Some("c1")),
                    "plain-r2",
                )
                .await
                .unwrap()
        );
        let first = store.find_refresh_token("r1").await.unwrap().unwrap();
        assert_eq!(first.used_at, Some(t));
        assert!(!first.is_usable(t));
        let second = store.find_refresh_token("r2").await.unwrap().unwrap();
        assert_eq!(second.parent_id.as_deref(), Some(first.id.as_str()));
        assert_eq!(second.family_id, "f1");
        // A second rotation of the same token loses.
        let mut loser = refresh("r3", "f1", &user, &grant, Some("c1"));
        loser.parent_id = Some(first.id.clone());
        assert!(
            !store
                .rotate_refresh_token(
                    &first.id,
                    t,
                    loser,
                    access("j3", &user, Some(&grant), Some("f1"), Some("c1")),
                    "plain-r3",
                )
                .await
                .unwrap()
        );
        assert!(store.find_refresh_token("r3").await.unwrap().is_none());
        assert!(store.get_access_token("j3").await.unwrap().is_none());
        // The winner's successor is kept for a retry; the loser's is not.
        assert_eq!(
            store.refresh_successor(&first.id).await.unwrap().as_deref(),
            Some("plain-r2")
        );
        assert_eq!(store.refresh_successor(&second.id).await.unwrap(), None);
        assert_eq!(store.forget_refresh_successors(t).await.unwrap(), 0);
        // Revoking the family reaches every member and the access tokens issued with them.
        let revoked = store.revoke_refresh_family("f1", t + 1).await.unwrap();
        assert_eq!(revoked, 4);
        for jti in ["j1", "j2"] {
            assert!(
                store
                    .get_access_token(jti)
                    .await
                    .unwrap()
                    .unwrap()
                    .revoked_at
                    .is_some()
            );
        }
        // A revoked token cannot rotate.
        let mut after = refresh("r4", "f1", &user, &grant, Some("c1"));
        after.parent_id = Some(second.id.clone());
        assert!(
            !store
                .rotate_refresh_token(
                    &second.id,
                    t + 2,
                    after,
                    access("j4", &user, Some(&grant), Some("f1"), None),
                    "plain-r4",
                )
                .await
                .unwrap()
        );
        // The sweeper forgets kept successors once no grace window can be open.
        assert_eq!(store.forget_refresh_successors(t + 1).await.unwrap(), 1);
        assert_eq!(store.refresh_successor(&first.id).await.unwrap(), None);
    }
);

both_backends!(
    async fn an_issuance_event_is_written_with_its_token_or_not_at_all(store: Arc<dyn Store>) {
        let (user, grant) = grant(&store).await;
        let issued = |jti: &str| {
            let mut event = NewAuditEvent::new("client", Some("app"), "oauth2.token.issue");
            event.details = serde_json::json!({"jti": jti});
            Some(event)
        };
        let events = |jti: &'static str| {
            let store = store.clone();
            async move {
                store
                    .list_audit(
                        &AuditFilter {
                            action: Some("oauth2.token.issue".into()),
                            ..Default::default()
                        },
                        &Default::default(),
                    )
                    .await
                    .unwrap()
                    .into_iter()
                    .filter(|e| e.details["jti"] == jti)
                    .count()
            }
        };
        let mut cc = access("cc-audited", &user, None, None, None);
        cc.issued = issued("cc-audited");
        store.record_access_token(cc).await.unwrap();
        assert_eq!(events("cc-audited").await, 1);
        // A code redeemed once: its token and event are written; the losing redemption writes
        // neither.
        store
            .create_authorization_code(code("audited-code", &user, &grant, now() + 60))
            .await
            .unwrap();
        let mut first = access("won", &user, Some(&grant), None, Some("audited-code"));
        first.issued = issued("won");
        assert!(
            store
                .redeem_authorization_code("audited-code", now(), None, first)
                .await
                .unwrap()
        );
        let mut second = access("lost", &user, Some(&grant), None, Some("audited-code"));
        second.issued = issued("lost");
        assert!(
            !store
                .redeem_authorization_code("audited-code", now(), None, second)
                .await
                .unwrap()
        );
        assert_eq!(events("won").await, 1);
        assert_eq!(events("lost").await, 0);
        assert!(store.get_access_token("lost").await.unwrap().is_none());
    }
);

both_backends!(
    async fn access_token_records_and_grant_deletion(store: Arc<dyn Store>) {
        let (user, grant) = grant(&store).await;
        store
            .record_access_token(access("cc1", &user, None, None, None))
            .await
            .unwrap();
        let record = store.get_access_token("cc1").await.unwrap().unwrap();
        assert!(record.grant_id.is_none() && record.revoked_at.is_none());
        assert!(store.revoke_access_token("cc1", now()).await.unwrap());
        let revoked_at = store
            .get_access_token("cc1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at;
        assert!(revoked_at.is_some());
        // Revoking again keeps the first time.
        assert!(store.revoke_access_token("cc1", now() + 100).await.unwrap());
        assert_eq!(
            store
                .get_access_token("cc1")
                .await
                .unwrap()
                .unwrap()
                .revoked_at,
            revoked_at
        );
        assert!(!store.revoke_access_token("nope", now()).await.unwrap());
        // Deleting a grant takes its codes and refresh tokens and revokes its access tokens.
        store
            .create_authorization_code(code("c1", &user, &grant, now() + 60))
            .await
            .unwrap();
        assert!(
            store
                .redeem_authorization_code(
                    "c1",
                    now(),
                    Some(refresh("r1", "f1", &user, &grant, Some("c1"))),
                    access("j1", &user, Some(&grant), Some("f1"), Some("c1")),
                )
                .await
                .unwrap()
        );
        store.delete_grant(&grant).await.unwrap();
        assert!(store.get_authorization_code("c1").await.unwrap().is_none());
        assert!(store.find_refresh_token("r1").await.unwrap().is_none());
        assert!(
            store
                .get_access_token("j1")
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        );
        assert!(matches!(
            store.delete_grant(&grant).await,
            Err(StoreError::NotFound)
        ));
    }
);

both_backends!(
    async fn sweeping_removes_only_what_expired(store: Arc<dyn Store>) {
        let (user, grant) = grant(&store).await;
        let t = now();
        store
            .create_authorization_code(code("old", &user, &grant, t - 90_000))
            .await
            .unwrap();
        store
            .create_authorization_code(code("recent", &user, &grant, t - 10))
            .await
            .unwrap();
        let mut expired = access("expired", &user, None, None, None);
        expired.expires_at = t - 10;
        store.record_access_token(expired).await.unwrap();
        store
            .record_access_token(access("live", &user, None, None, None))
            .await
            .unwrap();
        let deleted = authx::engine::sweeper::sweep(store.as_ref()).await.unwrap();
        assert!(deleted >= 2, "{deleted}");
        // Codes are kept a day past expiry (replay detection); live tokens stay.
        assert!(store.get_authorization_code("old").await.unwrap().is_none());
        assert!(
            store
                .get_authorization_code("recent")
                .await
                .unwrap()
                .is_some()
        );
        assert!(store.get_access_token("expired").await.unwrap().is_none());
        assert!(store.get_access_token("live").await.unwrap().is_some());
        assert_eq!(
            authx::engine::sweeper::sweep(store.as_ref()).await.unwrap(),
            0
        );
    }
);

both_backends!(
    async fn revoking_a_users_tokens_spares_everyone_else(store: Arc<dyn Store>) {
        let (ada, ada_grant) = grant(&store).await;
        let (bob, bob_grant) = grant(&store).await;
        for (user, grant, n) in [(&ada, &ada_grant, "a"), (&bob, &bob_grant, "b")] {
            let c = format!("code-{n}");
            store
                .create_authorization_code(code(&c, user, grant, now() + 60))
                .await
                .unwrap();
            let family = format!("family-{n}");
            let redeemed = store
                .redeem_authorization_code(
                    &c,
                    now(),
                    Some(refresh(&format!("rt-{n}"), &family, user, grant, Some(&c))),
                    access(
                        &format!("jti-{n}"),
                        user,
                        Some(grant),
                        Some(&family),
                        Some(&c),
                    ),
                )
                .await
                .unwrap();
            assert!(redeemed);
        }
        assert_eq!(store.revoke_tokens_of_user(&ada, now()).await.unwrap(), 2);
        assert_eq!(store.revoke_tokens_of_user(&ada, now()).await.unwrap(), 0);
        let ada_rt = store.find_refresh_token("rt-a").await.unwrap().unwrap();
        assert!(ada_rt.revoked_at.is_some());
        assert!(
            store
                .get_access_token("jti-a")
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        );
        let bob_rt = store.find_refresh_token("rt-b").await.unwrap().unwrap();
        assert!(bob_rt.revoked_at.is_none());
        assert!(
            store
                .get_access_token("jti-b")
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_none()
        );
    }
);
