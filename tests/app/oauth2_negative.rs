//! The OAuth 2.0 endpoints refusing what they must refuse (RFC 6749, RFC 7636, RFC 9700): bad
//! redirect URIs (a page, never a redirect), bad authorization requests (an error sent back with
//! `state` and `iss`), PKCE, code replay and the revocation it causes, codes of other clients,
//! expired codes, refresh-token reuse (with and without the grace window), concurrent races with
//! exactly one winner, invalid scopes, disabled clients and users, `prompt=none` without a session,
//! and client authentication.

use std::collections::HashMap;

use authx::domain::client::ClientPatch;
use authx::domain::user::{UserPatch, UserStatus};
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::concurrency::join_all;
use crate::support::db::TestDb;
use crate::support::oauth::{
    ClientOptions, REDIRECT_URI, TestClient, authorize_path, authorize_with, client, grant_role,
    introspect, location, pkce_pair, query_of, token_request,
};
use crate::web_password::{Browser, Person, person};

/// A signed-in user with a confidential and a public client.
struct Fixture {
    app: TestApp,
    ada: Person,
    browser: Browser,
    shop: TestClient,
    spa: TestClient,
}

async fn fixture(db: TestDb, configure: impl FnOnce(&mut authx::config::Config)) -> Fixture {
    let app = TestApp::spawn_with(db, configure, Vec::new()).await;
    let ada = person(&app, "ada").await;
    grant_role(&app, "shopper", &ada.user_id, &["Shop:orders:*"]).await;
    let shop = client(
        &app,
        "shop",
        ClientOptions {
            scopes: &["Shop:**:*"],
            ..Default::default()
        },
    )
    .await;
    let spa = client(
        &app,
        "spa",
        ClientOptions {
            public: true,
            scopes: &["Shop:**:*"],
            ..Default::default()
        },
    )
    .await;
    let browser = Browser::new(&app);
    assert_eq!(
        browser.login(&ada.username, &ada.password).await.status(),
        303
    );
    Fixture {
        app,
        ada,
        browser,
        shop,
        spa,
    }
}

impl Fixture {
    /// A code for `client` (consent given), with PKCE when `challenge` is given.
    async fn code(&self, client: &TestClient, scope: &str, challenge: Option<&str>) -> String {
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("scope", scope),
            ("state", "xyz"),
        ];
        if let Some(challenge) = challenge {
            params.push(("code_challenge", challenge));
            params.push(("code_challenge_method", "S256"));
        }
        let back = authorize_with(&self.app, &self.browser.client, &params, "allow").await;
        let answer = query_of(&back);
        assert!(answer.contains_key("code"), "{back}");
        answer["code"].clone()
    }

    /// Exchanges `code` as `client` (Basic for a confidential one).
    async fn exchange(
        &self,
        client: &TestClient,
        code: &str,
        verifier: Option<&str>,
    ) -> (u16, Value) {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
        ];
        if let Some(verifier) = verifier {
            form.push(("code_verifier", verifier));
        }
        match &client.secret {
            Some(secret) => token_request(&self.app, &form, Some((&client.id, secret))).await,
            None => {
                form.push(("client_id", client.id.as_str()));
                token_request(&self.app, &form, None).await
            }
        }
    }

    async fn refresh(&self, client: &TestClient, token: &str) -> (u16, Value) {
        let form = [("grant_type", "refresh_token"), ("refresh_token", token)];
        token_request(
            &self.app,
            &form,
            Some((&client.id, client.secret.as_deref().unwrap_or_default())),
        )
        .await
    }

    /// The authorization endpoint's answer to `params`, without following it.
    async fn authorize(&self, params: &[(&str, &str)]) -> reqwest::Response {
        self.browser.get(&authorize_path(params)).await
    }

    async fn audit_actions(&self) -> Vec<(String, Value)> {
        self.app
            .state
            .store
            .list_audit(&Default::default(), &Default::default())
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.action, e.details))
            .collect()
    }
}

fn error_of(r: &reqwest::Response) -> HashMap<String, String> {
    query_of(&location(r))
}

async fn redirect_uri_problems_are_shown_not_redirected(db: TestDb) {
    let fx = fixture(db, |_| {}).await;
    let base = |client: &str, redirect: &str| {
        vec![
            ("response_type".to_owned(), "code".to_owned()),
            ("client_id".to_owned(), client.to_owned()),
            ("redirect_uri".to_owned(), redirect.to_owned()),
            ("state".to_owned(), "s".to_owned()),
        ]
    };
    for (client, redirect) in [
        ("shop", "https://evil.example/callback"),
        ("shop", "https://app.example/callback/../evil"),
        ("shop", "https://app.example/callbackx"),
        ("nobody", REDIRECT_URI),
    ] {
        let params = base(client, redirect);
        let params: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = fx.authorize(&params).await;
        assert_eq!(r.status(), 400, "{client} {redirect}");
        assert!(r.headers().get("location").is_none());
        let html = r.text().await.unwrap();
        assert!(html.contains("Invalid authorization request"), "{html}");
    }
    // No redirect_uri, no client_id, a repeated parameter.
    for path in [
        "/oauth2/authorize?response_type=code&client_id=shop",
        "/oauth2/authorize?response_type=code&redirect_uri=https%3A%2F%2Fapp.example%2Fcallback",
        "/oauth2/authorize?client_id=shop&client_id=spa&redirect_uri=https%3A%2F%2Fapp.example%2Fcallback",
    ] {
        let r = fx.browser.get(path).await;
        assert_eq!(r.status(), 400, "{path}");
        assert!(r.headers().get("location").is_none());
    }
    // A disabled client is unknown to the endpoint.
    fx.app
        .state
        .store
        .update_client(
            "shop",
            ClientPatch {
                enabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let params = base("shop", REDIRECT_URI);
    let params: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(fx.authorize(&params).await.status(), 400);
}
on_both_backends!(redirect_uri_problems_are_shown_not_redirected);

async fn bad_requests_are_sent_back_with_state_and_iss(db: TestDb) {
    let fx = fixture(db, |_| {}).await;
    let (_, challenge) = pkce_pair();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("client_id", "shop"), ("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("client_id", "shop")], "invalid_request"),
        (
            vec![("client_id", "spa"), ("response_type", "code")],
            "invalid_request", // public client without PKCE
        ),
        (
            vec![
                ("client_id", "spa"),
                ("response_type", "code"),
                (
                    "code_challenge",
                    "plain-challenge-plain-challenge-plain-challenge",
                ),
                ("code_challenge_method", "plain"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("client_id", "shop"),
                ("response_type", "code"),
                ("code_challenge", challenge.as_str()),
            ],
            "invalid_request", // method missing
        ),
        (
            vec![
                ("client_id", "shop"),
                ("response_type", "code"),
                ("scope", "openid bogus"),
            ],
            "invalid_scope",
        ),
        (
            vec![
                ("client_id", "shop"),
                ("response_type", "code"),
                ("scope", "Other:x:read"),
            ],
            "invalid_scope",
        ),
        (
            vec![
                ("client_id", "shop"),
                ("response_type", "code"),
                ("prompt", "none login"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("client_id", "shop"),
                ("response_type", "code"),
                ("request", "eyJ.x.y"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("client_id", "shop"),
                ("response_type", "code"),
                ("prompt", "none"),
            ],
            "consent_required",
        ),
    ];
    for (mut params, expected) in cases {
        params.push(("redirect_uri", REDIRECT_URI));
        params.push(("state", "st4te"));
        let r = fx.authorize(&params).await;
        assert_eq!(r.status(), 303, "{params:?}");
        let loc = location(&r);
        assert!(loc.starts_with(REDIRECT_URI), "{loc}");
        let q = error_of(&r);
        assert_eq!(q["error"], expected, "{params:?}: {q:?}");
        assert_eq!(q["state"], "st4te");
        assert_eq!(q["iss"], fx.app.base);
        assert!(!q.contains_key("code"));
    }
    // prompt=none without a session: login_required, never the login page.
    let anonymous = Browser::new(&fx.app);
    let r = anonymous
        .get(&authorize_path(&[
            ("client_id", "shop"),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT_URI),
            ("prompt", "none"),
            ("state", "s"),
        ]))
        .await;
    assert_eq!(error_of(&r)["error"], "login_required");
    // Without a session (and no prompt): the login page, which will come back here.
    let r = anonymous
        .get(&authorize_path(&[
            ("client_id", "shop"),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT_URI),
            ("state", "s"),
        ]))
        .await;
    let loc = location(&r);
    assert!(
        loc.starts_with("/login?return_to=%2Foauth2%2Fauthorize%3F"),
        "{loc}"
    );
    // The user says no.
    let back = authorize_with(
        &fx.app,
        &fx.browser.client,
        &[
            ("client_id", "shop"),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "Shop:orders:read"),
            ("state", "s"),
        ],
        "deny",
    )
    .await;
    let q = query_of(&back);
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "s");
    assert!(
        fx.audit_actions()
            .await
            .iter()
            .any(|(a, _)| a == "grant.deny")
    );
}
on_both_backends!(bad_requests_are_sent_back_with_state_and_iss);

async fn pkce_is_enforced(db: TestDb) {
    let fx = fixture(db, |_| {}).await;
    let (verifier, challenge) = pkce_pair();
    let code = fx.code(&fx.spa, "Shop:orders:read", Some(&challenge)).await;
    let (other_verifier, _) = pkce_pair();
    for bad in [None, Some(other_verifier.as_str()), Some("too-short")] {
        let (status, body) = fx.exchange(&fx.spa, &code, bad).await;
        assert_eq!(status, 400, "{bad:?}");
        assert_eq!(body["error"], "invalid_grant", "{body}");
    }
    // A failed attempt does not burn the code.
    let (status, body) = fx.exchange(&fx.spa, &code, Some(&verifier)).await;
    assert_eq!(status, 200, "{body}");
    // A verifier for a code issued without a challenge (PKCE downgrade, RFC 9700 §4.8.2).
    let code = fx.code(&fx.shop, "Shop:orders:read", None).await;
    let (status, body) = fx.exchange(&fx.shop, &code, Some(&verifier)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // The redirect_uri must be repeated exactly.
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "https://app.example/other"),
    ];
    let (status, body) = token_request(
        &fx.app,
        &form,
        Some(("shop", fx.shop.secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = fx.exchange(&fx.shop, &code, None).await;
    assert_eq!(status, 200);
}
on_both_backends!(pkce_is_enforced);

async fn code_replay_revokes_what_it_issued(db: TestDb) {
    let fx = fixture(db, |_| {}).await;
    let code = fx
        .code(&fx.shop, "offline_access Shop:orders:read", None)
        .await;
    let (status, tokens) = fx.exchange(&fx.shop, &code, None).await;
    assert_eq!(status, 200);
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(introspect(&fx.app, &fx.shop, access).await["active"], true);
    // Rotate once, so the family has more than the first token.
    let (status, rotated) = fx.refresh(&fx.shop, refresh).await;
    assert_eq!(status, 200);
    let rotated_access = rotated["access_token"].as_str().unwrap();
    let (status, body) = fx.exchange(&fx.shop, &code, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    for token in [access, rotated_access] {
        assert_eq!(introspect(&fx.app, &fx.shop, token).await["active"], false);
    }
    let (status, body) = fx
        .refresh(&fx.shop, rotated["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let replay = fx
        .audit_actions()
        .await
        .into_iter()
        .find(|(a, _)| a == "oauth2.code.replay")
        .expect("a replay event");
    assert!(
        replay.1["revoked_tokens"].as_u64().unwrap() >= 4,
        "{}",
        replay.1
    );
}
on_both_backends!(code_replay_revokes_what_it_issued);

async fn codes_are_bound_to_their_client_and_expire(db: TestDb) {
    // Three seconds: long enough for the first redemptions on a loaded machine, short enough to
    // wait out below.
    let fx = fixture(db, |c| c.tokens.authorization_code_ttl_secs = 3).await;
    let other = client(
        &fx.app,
        "other",
        ClientOptions {
            scopes: &["Shop:**:*"],
            ..Default::default()
        },
    )
    .await;
    let code = fx.code(&fx.shop, "Shop:orders:read", None).await;
    let (status, body) = fx.exchange(&other, &code, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // The code's own client can still use it: the other client's attempt did not burn it.
    let (status, _) = fx.exchange(&fx.shop, &code, None).await;
    assert_eq!(status, 200);
    let code = fx.code(&fx.shop, "Shop:orders:read", None).await;
    tokio::time::sleep(std::time::Duration::from_millis(4100)).await;
    let (status, body) = fx.exchange(&fx.shop, &code, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}
on_both_backends!(codes_are_bound_to_their_client_and_expire);

async fn refresh_reuse_revokes_the_family(db: TestDb) {
    let fx = fixture(db, |c| c.tokens.refresh_reuse_grace_secs = 0).await;
    let code = fx
        .code(&fx.shop, "offline_access Shop:orders:read", None)
        .await;
    let (_, first) = fx.exchange(&fx.shop, &code, None).await;
    let old = first["refresh_token"].as_str().unwrap();
    let (status, second) = fx.refresh(&fx.shop, old).await;
    assert_eq!(status, 200);
    // The stolen, already rotated token comes back.
    let (status, body) = fx.refresh(&fx.shop, old).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // The whole family is gone: the legitimate holder's newer token and its access tokens too.
    let (status, _) = fx
        .refresh(&fx.shop, second["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 400);
    for t in [&first, &second] {
        let access = t["access_token"].as_str().unwrap();
        assert_eq!(introspect(&fx.app, &fx.shop, access).await["active"], false);
    }
    let reuse = fx
        .audit_actions()
        .await
        .into_iter()
        .find(|(a, _)| a == "oauth2.refresh.reuse")
        .expect("a reuse event");
    assert_eq!(reuse.1["family_revoked"], true);
    // A refresh token of another client is refused without touching it.
    let code = fx.code(&fx.shop, "offline_access", None).await;
    let (_, fresh) = fx.exchange(&fx.shop, &code, None).await;
    let other = client(&fx.app, "other", ClientOptions::default()).await;
    let (status, _) = fx
        .refresh(&other, fresh["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 400);
    let (status, _) = fx
        .refresh(&fx.shop, fresh["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200);
}
on_both_backends!(refresh_reuse_revokes_the_family);

async fn a_refresh_retried_within_the_grace_window_gets_the_same_successor(db: TestDb) {
    let fx = fixture(db, |c| c.tokens.refresh_reuse_grace_secs = 30).await;
    let code = fx
        .code(&fx.shop, "offline_access Shop:orders:read", None)
        .await;
    let (_, first) = fx.exchange(&fx.shop, &code, None).await;
    let old = first["refresh_token"].as_str().unwrap();
    let (status, second) = fx.refresh(&fx.shop, old).await;
    assert_eq!(status, 200, "{second}");
    let successor = second["refresh_token"].as_str().unwrap();
    // The answer was lost; the client retries with the same token and gets the same successor,
    // with an access token of its own.
    let (status, retried) = fx.refresh(&fx.shop, old).await;
    assert_eq!(status, 200, "a retry within the grace window: {retried}");
    assert_eq!(retried["refresh_token"], successor);
    assert_ne!(retried["access_token"], second["access_token"]);
    assert_eq!(retried["scope"], second["scope"]);
    for t in [&second, &retried] {
        let access = t["access_token"].as_str().unwrap();
        assert_eq!(introspect(&fx.app, &fx.shop, access).await["active"], true);
    }
    // Another client presenting it gets nothing, and changes nothing.
    let other = client(&fx.app, "other", ClientOptions::default()).await;
    let (status, body) = fx.refresh(&other, old).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // Once the successor is used, a retry of the old token is refused, and the family is kept
    // (still within the window).
    let (status, third) = fx.refresh(&fx.shop, successor).await;
    assert_eq!(status, 200, "{third}");
    let (status, body) = fx.refresh(&fx.shop, old).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = fx
        .refresh(&fx.shop, third["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200, "but the family survives");
    let retries: Vec<Value> = fx
        .audit_actions()
        .await
        .into_iter()
        .filter(|(a, d)| a == "oauth2.token.issue" && d["grant_type"] == "refresh_token")
        .map(|(_, d)| d["retry"].clone())
        .collect();
    assert_eq!(
        retries.iter().filter(|r| **r == json!(true)).count(),
        1,
        "{retries:?}"
    );
    // Asking for more than the token carries.
    let code = fx
        .code(&fx.shop, "offline_access Shop:orders:read", None)
        .await;
    let (_, t) = fx.exchange(&fx.shop, &code, None).await;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", t["refresh_token"].as_str().unwrap()),
        ("scope", "Shop:orders:*"),
    ];
    let (status, body) = token_request(
        &fx.app,
        &form,
        Some(("shop", fx.shop.secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
}
on_both_backends!(a_refresh_retried_within_the_grace_window_gets_the_same_successor);

async fn concurrent_refreshes_have_exactly_one_winner(db: TestDb) {
    let fx = fixture(db, |_| {}).await;
    let code = fx
        .code(&fx.shop, "offline_access Shop:orders:read", None)
        .await;
    let (_, first) = fx.exchange(&fx.shop, &code, None).await;
    let refresh = first["refresh_token"].as_str().unwrap().to_owned();
    let attempts = (0..8).map(|_| fx.refresh(&fx.shop, &refresh));
    let results = join_all(attempts).await;
    // One rotation wins; the others are retries within the default grace window and get its
    // successor: one refresh token lives on, whoever answers.
    let successors: std::collections::BTreeSet<&str> = results
        .iter()
        .map(|(s, b)| {
            assert_eq!(*s, 200, "{results:?}");
            b["refresh_token"].as_str().unwrap()
        })
        .collect();
    assert_eq!(successors.len(), 1, "{results:?}");
    let winner = successors.first().unwrap();
    let (status, _) = fx.refresh(&fx.shop, winner).await;
    assert_eq!(status, 200);
    // The same race on a code: one winner — and since the losers are replays, what the winner
    // got is revoked (RFC 9700 §4.5.3).
    let code = fx
        .code(&fx.shop, "offline_access Shop:orders:read", None)
        .await;
    let results = join_all((0..6).map(|_| fx.exchange(&fx.shop, &code, None))).await;
    let winners: Vec<&Value> = results
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let access = winners[0]["access_token"].as_str().unwrap();
    assert_eq!(introspect(&fx.app, &fx.shop, access).await["active"], false);
}
on_both_backends!(concurrent_refreshes_have_exactly_one_winner);

async fn disabled_users_and_clients_get_nothing(db: TestDb) {
    let fx = fixture(db, |_| {}).await;
    let code = fx
        .code(&fx.shop, "openid offline_access Shop:orders:read", None)
        .await;
    let (_, tokens) = fx.exchange(&fx.shop, &code, None).await;
    let access = tokens["access_token"].as_str().unwrap();
    let pending_code = fx.code(&fx.shop, "Shop:orders:read", None).await;
    fx.app
        .state
        .store
        .update_user(
            &fx.ada.user_id,
            UserPatch {
                status: Some(UserStatus::Disabled),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(introspect(&fx.app, &fx.shop, access).await["active"], false);
    let r = fx
        .app
        .client
        .get(fx.app.url("/oauth2/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (status, body) = fx
        .refresh(&fx.shop, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = fx.exchange(&fx.shop, &pending_code, None).await;
    assert_eq!(status, 400);
    // A disabled client cannot authenticate at all.
    fx.app
        .state
        .store
        .update_client(
            "shop",
            ClientPatch {
                enabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let form = [("grant_type", "client_credentials")];
    let (status, body) = token_request(
        &fx.app,
        &form,
        Some(("shop", fx.shop.secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
}
on_both_backends!(disabled_users_and_clients_get_nothing);

async fn client_authentication_and_grant_types(db: TestDb) {
    let fx = fixture(db, |_| {}).await;
    let secret = fx.shop.secret.as_deref().unwrap();
    let cc = [("grant_type", "client_credentials")];
    let (status, body) = token_request(&fx.app, &cc, Some(("shop", "axs_wrong"))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let r = fx
        .app
        .client
        .post(fx.app.url("/oauth2/token"))
        .basic_auth("shop", Some("axs_wrong"))
        .form(&cc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"authx\"");
    let (status, body) = token_request(&fx.app, &cc, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // Two methods at once.
    let both = [
        ("grant_type", "client_credentials"),
        ("client_secret", secret),
    ];
    let (status, body) = token_request(&fx.app, &both, Some(("shop", secret))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    // client_secret_post works.
    let post = [
        ("grant_type", "client_credentials"),
        ("client_id", "shop"),
        ("client_secret", secret),
    ];
    let (status, _) = token_request(&fx.app, &post, None).await;
    assert_eq!(status, 200);
    // Grant types.
    for (form, expected) in [
        (vec![("grant_type", "password")], "unsupported_grant_type"),
        (vec![("grant_type", "implicit")], "unsupported_grant_type"),
        (vec![], "invalid_request"),
        (
            vec![("grant_type", "client_credentials"), ("scope", "openid")],
            "invalid_scope",
        ),
        (
            vec![("grant_type", "client_credentials"), ("scope", "Other:a:b")],
            "invalid_scope",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("scope", "not a scope"),
            ],
            "invalid_scope",
        ),
        (
            vec![("grant_type", "authorization_code")],
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", "axc_unknown"),
                ("redirect_uri", REDIRECT_URI),
            ],
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", "axr_nope"),
            ],
            "invalid_grant",
        ),
    ] {
        let (status, body) = token_request(&fx.app, &form, Some(("shop", secret))).await;
        assert_eq!(status, 400, "{form:?}");
        assert_eq!(body["error"], expected, "{form:?}: {body}");
    }
    // A public client names itself but cannot use client_credentials.
    let form = [("grant_type", "client_credentials"), ("client_id", "spa")];
    let (status, body) = token_request(&fx.app, &form, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    // A confidential client cannot pass itself off as public.
    let form = [("grant_type", "client_credentials"), ("client_id", "shop")];
    let (status, body) = token_request(&fx.app, &form, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // A body that is not a form.
    let r = fx
        .app
        .client
        .post(fx.app.url("/oauth2/token"))
        .basic_auth("shop", Some(secret))
        .header("content-type", "application/json")
        .body(r#"{"grant_type":"client_credentials"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}
on_both_backends!(client_authentication_and_grant_types);

/// Two nodes on one database, as behind a load balancer (the issuer is shared): an access token
/// revoked through one is inactive on the other at once, and of refreshes of one token raced
/// across both nodes exactly one rotates; every racer gets its successor.
async fn two_nodes_share_revocation_and_refresh_races(db: TestDb) {
    let fx = fixture(db, |_| {}).await;
    let url = fx.app.db.url.clone();
    let issuer = fx.app.state.config.issuer_url();
    let other = TestApp::spawn_with(
        TestDb::sqlite().await,
        move |c| {
            c.database.url = url;
            c.issuer = Some(issuer);
        },
        Vec::new(),
    )
    .await;
    let code = fx
        .code(&fx.shop, "offline_access Shop:orders:read", None)
        .await;
    let (status, tokens) = fx.exchange(&fx.shop, &code, None).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(introspect(&other, &fx.shop, access).await["active"], true);
    let r = fx
        .app
        .client
        .post(fx.app.url("/oauth2/revoke"))
        .basic_auth("shop", fx.shop.secret.as_deref())
        .form(&[("token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(introspect(&other, &fx.shop, access).await["active"], false);

    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let secret = fx.shop.secret.clone().unwrap();
    let race = (0..8).map(|i| {
        let node = if i % 2 == 0 { &fx.app } else { &other };
        let refresh = refresh.clone();
        let secret = secret.clone();
        async move {
            token_request(
                node,
                &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
                Some(("shop", &secret)),
            )
            .await
        }
    });
    let results = join_all(race).await;
    let successors: std::collections::BTreeSet<&str> = results
        .iter()
        .map(|(s, b)| {
            assert_eq!(*s, 200, "{results:?}");
            b["refresh_token"].as_str().unwrap()
        })
        .collect();
    assert_eq!(successors.len(), 1, "{results:?}");
    let rotations = fx
        .audit_actions()
        .await
        .into_iter()
        .filter(|(a, d)| a == "oauth2.token.issue" && d["grant_type"] == "refresh_token")
        .filter(|(_, d)| d["retry"] == false)
        .count();
    assert_eq!(rotations, 1, "one rotation, the rest retries");
    let (status, _) = token_request(
        &other,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", successors.first().unwrap()),
        ],
        Some(("shop", &secret)),
    )
    .await;
    assert_eq!(status, 200);
    other.stop().await.unwrap();
}
on_both_backends!(two_nodes_share_revocation_and_refresh_races);
