//! Conformance suite for sessions, one-time email tokens and rate limits: every test runs against
//! SQLite and PostgreSQL (see `support::db::both_backends!`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use authx::domain::email_token::{EmailTokenPurpose, NewEmailToken};
use authx::domain::now;
use authx::domain::session::NewSession;
use authx::domain::user::NewUser;
use authx::store::{FailureRule, Store, StoreError};

use crate::both_backends;

async fn new_user(store: &Arc<dyn Store>) -> String {
    store.create_user(NewUser::human()).await.unwrap().id
}

fn session(id_hash: &str, user_id: &str, expires_at: i64, idle_expires_at: i64) -> NewSession {
    NewSession {
        id_hash: id_hash.to_owned(),
        user_id: user_id.to_owned(),
        authority_id: "password".to_owned(),
        auth_time: now(),
        expires_at,
        idle_expires_at,
        ip: Some("127.0.0.1".to_owned()),
        user_agent: Some("test-agent/1.0".to_owned()),
    }
}

fn token(hash: &str, purpose: EmailTokenPurpose, expires_at: i64) -> NewEmailToken {
    NewEmailToken {
        token_hash: hash.to_owned(),
        purpose,
        email: "Alice@Example.COM".to_owned(),
        user_id: None,
        authority_id: "email".to_owned(),
        expires_at,
        return_to: Some("/account".to_owned()),
    }
}

const RULE: FailureRule = FailureRule {
    threshold: 3,
    window_secs: 900,
    base_backoff_secs: 30,
    max_backoff_secs: 3_600,
};

// ---------------------------------------------------------------------------------------------
// sessions

both_backends!(
    async fn sessions_crud(store: Arc<dyn Store>) {
        let alice = new_user(&store).await;
        let bob = new_user(&store).await;
        let t = now();
        let created = store
            .create_session(session("h1", &alice, t + 3600, t + 600))
            .await
            .unwrap();
        assert_eq!(created.user_id, alice);
        assert_eq!(created.authority_id, "password");
        assert_eq!(created.expires_at, t + 3600);
        assert_eq!(created.idle_expires_at, t + 600);
        assert!(created.created_at >= t && created.last_seen_at == created.created_at);
        assert!(created.is_active(t));
        let got = store.get_session("h1").await.unwrap().unwrap();
        assert_eq!(got, created);
        assert!(store.get_session("nope").await.unwrap().is_none());

        // Duplicate hash, unknown user.
        assert!(matches!(
            store
                .create_session(session("h1", &alice, t + 1, t + 1))
                .await,
            Err(StoreError::Conflict(_))
        ));
        match store
            .create_session(session("h9", "no-such-user", t + 1, t + 1))
            .await
        {
            Err(StoreError::Reference(msg)) => assert!(msg.contains("user"), "{msg}"),
            other => panic!("expected Reference, got {other:?}"),
        }

        // Touch slides the idle expiry.
        store.touch_session("h1", t + 900, t + 5).await.unwrap();
        let got = store.get_session("h1").await.unwrap().unwrap();
        assert_eq!((got.idle_expires_at, got.last_seen_at), (t + 900, t + 5));
        assert!(matches!(
            store.touch_session("nope", 1, 1).await,
            Err(StoreError::NotFound)
        ));

        // More sessions; list and delete per user.
        store
            .create_session(session("h2", &alice, t + 3600, t + 600))
            .await
            .unwrap();
        store
            .create_session(session("h3", &bob, t + 3600, t + 600))
            .await
            .unwrap();
        let listed = store.list_user_sessions(&alice).await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().all(|s| s.user_id == alice));

        store.delete_session("h2").await.unwrap();
        assert!(matches!(
            store.delete_session("h2").await,
            Err(StoreError::NotFound)
        ));
        store
            .create_session(session("h4", &alice, t + 3600, t + 600))
            .await
            .unwrap();
        assert_eq!(store.delete_user_sessions(&alice).await.unwrap(), 2);
        assert_eq!(store.delete_user_sessions(&alice).await.unwrap(), 0);
        assert!(store.get_session("h1").await.unwrap().is_none());
        assert!(store.get_session("h3").await.unwrap().is_some());

        // Deleting the user deletes its sessions.
        store.delete_user(&bob).await.unwrap();
        assert!(store.get_session("h3").await.unwrap().is_none());
    }
);

both_backends!(
    async fn expired_sessions_are_swept(store: Arc<dyn Store>) {
        let alice = new_user(&store).await;
        let t = now();
        store
            .create_session(session("live", &alice, t + 3600, t + 600))
            .await
            .unwrap();
        store
            .create_session(session("absolute", &alice, t - 1, t + 600))
            .await
            .unwrap();
        store
            .create_session(session("idle", &alice, t + 3600, t - 1))
            .await
            .unwrap();
        store
            .create_session(session("edge", &alice, t + 3600, t))
            .await
            .unwrap();
        let absolute = store.get_session("absolute").await.unwrap().unwrap();
        assert!(!absolute.is_active(t));
        let idle = store.get_session("idle").await.unwrap().unwrap();
        assert!(!idle.is_active(t));
        assert_eq!(store.delete_expired_sessions(t).await.unwrap(), 3);
        assert_eq!(store.delete_expired_sessions(t).await.unwrap(), 0);
        let left = store.list_user_sessions(&alice).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].id_hash, "live");
    }
);

// ---------------------------------------------------------------------------------------------
// email tokens

both_backends!(
    async fn email_tokens_are_single_use(store: Arc<dyn Store>) {
        let alice = new_user(&store).await;
        let t = now();
        let mut new = token("t1", EmailTokenPurpose::Login, t + 900);
        new.user_id = Some(alice.clone());
        let created = store.create_email_token(new).await.unwrap();
        assert_eq!(created.email, "alice@example.com");
        assert_eq!(created.purpose, EmailTokenPurpose::Login);
        assert!(created.used_at.is_none());
        assert!(matches!(
            store
                .create_email_token(token("t1", EmailTokenPurpose::Login, t + 900))
                .await,
            Err(StoreError::Conflict(_))
        ));
        let mut orphan = token("t-orphan", EmailTokenPurpose::Verify, t + 900);
        orphan.user_id = Some("no-such-user".to_owned());
        assert!(matches!(
            store.create_email_token(orphan).await,
            Err(StoreError::Reference(_))
        ));

        // Wrong purpose: nothing, and the token stays usable.
        assert!(
            store
                .consume_email_token("t1", EmailTokenPurpose::Reset, t)
                .await
                .unwrap()
                .is_none()
        );
        let used = store
            .consume_email_token("t1", EmailTokenPurpose::Login, t)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(used.used_at, Some(t));
        assert_eq!(used.user_id.as_deref(), Some(alice.as_str()));
        assert_eq!(used.return_to.as_deref(), Some("/account"));
        assert_eq!(used.authority_id, "email");
        // Second use: nothing.
        assert!(
            store
                .consume_email_token("t1", EmailTokenPurpose::Login, t)
                .await
                .unwrap()
                .is_none()
        );
        // Unknown: nothing.
        assert!(
            store
                .consume_email_token("nope", EmailTokenPurpose::Login, t)
                .await
                .unwrap()
                .is_none()
        );

        // Expired (expires_at is exclusive): nothing.
        store
            .create_email_token(token("t2", EmailTokenPurpose::Reset, t + 10))
            .await
            .unwrap();
        assert!(
            store
                .consume_email_token("t2", EmailTokenPurpose::Reset, t + 10)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .consume_email_token("t2", EmailTokenPurpose::Reset, t + 9)
                .await
                .unwrap()
                .is_some()
        );

        // Sweep.
        store
            .create_email_token(token("t3", EmailTokenPurpose::Verify, t + 5000))
            .await
            .unwrap();
        assert_eq!(
            store.delete_expired_email_tokens(t + 1000).await.unwrap(),
            2
        );
        assert!(
            store
                .consume_email_token("t3", EmailTokenPurpose::Verify, t)
                .await
                .unwrap()
                .is_some()
        );
    }
);

both_backends!(
    async fn concurrent_consumers_one_wins(store: Arc<dyn Store>) {
        let t = now();
        for round in 0..3 {
            let hash = format!("race-{round}");
            store
                .create_email_token(token(&hash, EmailTokenPurpose::Login, t + 900))
                .await
                .unwrap();
            let tasks: Vec<_> = (0..10)
                .map(|_| {
                    let store = store.clone();
                    let hash = hash.clone();
                    tokio::spawn(async move {
                        store
                            .consume_email_token(&hash, EmailTokenPurpose::Login, now())
                            .await
                            .unwrap()
                            .is_some()
                    })
                })
                .collect();
            let mut wins = 0;
            for task in tasks {
                if task.await.unwrap() {
                    wins += 1;
                }
            }
            assert_eq!(wins, 1, "round {round}");
        }
    }
);

// ---------------------------------------------------------------------------------------------
// rate limits

both_backends!(
    async fn attempts_are_counted_only_while_not_blocked(store: Arc<dyn Store>) {
        let t = 2_000_000;
        let key = "login_account:attempts";
        // Up to the threshold (3): each counted; the third blocks for 30 s.
        for n in 1..=3 {
            let row = store.count_rate_limit_attempt(key, t, RULE).await.unwrap();
            assert_eq!(row.map(|r| r.count), Some(n));
        }
        let blocked = store.get_rate_limit(key).await.unwrap().unwrap();
        assert_eq!(blocked.blocked_until, Some(t + 30));
        // While blocked: nothing counted, the block not lengthened.
        for offset in [0, 1, 29] {
            let row = store.count_rate_limit_attempt(key, t + offset, RULE).await;
            assert_eq!(row.unwrap(), None);
        }
        assert_eq!(store.get_rate_limit(key).await.unwrap().unwrap(), blocked);
        // Once it ends, one attempt is counted and blocks again (doubled); the next is not.
        let row = store
            .count_rate_limit_attempt(key, t + 30, RULE)
            .await
            .unwrap();
        assert_eq!(
            row.map(|r| (r.count, r.blocked_until)),
            Some((4, Some(t + 90)))
        );
        assert_eq!(
            store
                .count_rate_limit_attempt(key, t + 31, RULE)
                .await
                .unwrap(),
            None
        );
        // Taking an attempt back: the count, and the block only when asked (the attempt set it).
        store
            .take_back_rate_limit_failure(key, false)
            .await
            .unwrap();
        let row = store.get_rate_limit(key).await.unwrap().unwrap();
        assert_eq!((row.count, row.blocked_until), (3, Some(t + 90)));
        store.take_back_rate_limit_failure(key, true).await.unwrap();
        let row = store.get_rate_limit(key).await.unwrap().unwrap();
        assert_eq!((row.count, row.blocked_until), (2, None));
        let none = "login_account:none";
        store
            .take_back_rate_limit_failure(none, true)
            .await
            .unwrap();
        assert!(store.get_rate_limit(none).await.unwrap().is_none());
    }
);

both_backends!(
    async fn failures_block_with_growing_backoff(store: Arc<dyn Store>) {
        let t = 1_000_000;
        let key = "login_account:abc";
        assert!(store.get_rate_limit(key).await.unwrap().is_none());
        // Below the threshold: counted, not blocked.
        for n in 1..=2 {
            let row = store.record_rate_limit_failure(key, t, RULE).await.unwrap();
            assert_eq!(
                (row.count, row.window_start, row.blocked_until),
                (n, t, None)
            );
        }
        // At the threshold: 30 s, then doubling per further failure, capped at 1 h.
        let expected = [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600];
        for (i, secs) in expected.iter().enumerate() {
            let now = t + i as i64;
            let row = store
                .record_rate_limit_failure(key, now, RULE)
                .await
                .unwrap();
            assert_eq!(row.count, 3 + i as i64);
            assert_eq!(row.window_start, t);
            assert_eq!(row.blocked_until, Some(now + secs), "failure {}", row.count);
        }
        let row = store.get_rate_limit(key).await.unwrap().unwrap();
        assert_eq!(row.count, 12);
        assert_eq!(row.key, key);

        // Reset forgets it; resetting again is fine.
        store.reset_rate_limit(key).await.unwrap();
        store.reset_rate_limit(key).await.unwrap();
        assert!(store.get_rate_limit(key).await.unwrap().is_none());

        // A threshold of 1 blocks at the first failure.
        let one = FailureRule {
            threshold: 1,
            ..RULE
        };
        let row = store
            .record_rate_limit_failure("login_ip:x", t, one)
            .await
            .unwrap();
        assert_eq!(row.blocked_until, Some(t + 30));
        let row = store
            .record_rate_limit_failure("login_ip:x", t, one)
            .await
            .unwrap();
        assert_eq!(row.blocked_until, Some(t + 60));
    }
);

both_backends!(
    async fn failure_window_resets(store: Arc<dyn Store>) {
        let t = 2_000_000;
        let key = "login_account:window";
        for _ in 0..2 {
            store.record_rate_limit_failure(key, t, RULE).await.unwrap();
        }
        // Still inside the window (it ends at t + 900, exclusive).
        let row = store
            .record_rate_limit_failure(key, t + 899, RULE)
            .await
            .unwrap();
        assert_eq!(row.count, 3);
        assert_eq!(row.blocked_until, Some(t + 899 + 30));
        // The next window starts afresh: count 1, the old (expired) block is gone.
        let row = store
            .record_rate_limit_failure(key, t + 1000, RULE)
            .await
            .unwrap();
        assert_eq!(
            (row.count, row.window_start, row.blocked_until),
            (1, t + 1000, None)
        );

        // A block that outlives the window is kept when the window restarts.
        let long = "login_account:long";
        let mut last = None;
        for i in 0..8 {
            last = Some(
                store
                    .record_rate_limit_failure(long, t + i, RULE)
                    .await
                    .unwrap(),
            );
        }
        let until = last.unwrap().blocked_until.unwrap();
        assert!(until > t + 900, "{until}");
        let row = store
            .record_rate_limit_failure(long, t + 901, RULE)
            .await
            .unwrap();
        assert_eq!((row.count, row.blocked_until), (1, Some(until)));

        // Sweeping: rows of old windows that are not blocked go; blocked ones stay.
        store
            .record_rate_limit_failure("login_ip:old", t, RULE)
            .await
            .unwrap();
        let swept = store
            .delete_stale_rate_limits(t + 500, t + 902)
            .await
            .unwrap();
        assert_eq!(swept, 1);
        assert!(
            store
                .get_rate_limit("login_ip:old")
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.get_rate_limit(long).await.unwrap().is_some());
    }
);

both_backends!(
    async fn hits_block_until_the_window_ends(store: Arc<dyn Store>) {
        let t = 3_000_000;
        let key = "email_address:abc";
        for n in 1..=2 {
            let row = store.hit_rate_limit(key, t + n, 2, 100).await.unwrap();
            assert_eq!(
                (row.count, row.window_start, row.blocked_until),
                (n, t + 1, None)
            );
        }
        for n in 3..=5 {
            let row = store.hit_rate_limit(key, t + n, 2, 100).await.unwrap();
            assert_eq!(row.count, n);
            assert_eq!(row.blocked_until, Some(t + 1 + 100));
        }
        // The window ends at t + 101: a new one begins.
        let row = store.hit_rate_limit(key, t + 101, 2, 100).await.unwrap();
        assert_eq!(
            (row.count, row.window_start, row.blocked_until),
            (1, t + 101, None)
        );
    }
);

both_backends!(
    async fn concurrent_counting_loses_nothing(store: Arc<dyn Store>) {
        let t = now();
        let rule = FailureRule {
            threshold: 1_000,
            ..RULE
        };
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .record_rate_limit_failure("login_ip:busy", t, rule)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut counts = Vec::new();
        for task in tasks {
            counts.push(task.await.unwrap().count);
        }
        counts.sort_unstable();
        assert_eq!(counts, (1..=20).collect::<Vec<i64>>());
        let row = store
            .get_rate_limit("login_ip:busy")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.count, 20);

        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .hit_rate_limit("email_ip:busy", t, 5, 900)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut over = 0;
        for task in tasks {
            if task.await.unwrap().count > 5 {
                over += 1;
            }
        }
        assert_eq!(over, 15);
        let row = store
            .get_rate_limit("email_ip:busy")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.count, 20);
        assert_eq!(row.blocked_until, Some(t + 900));
    }
);
