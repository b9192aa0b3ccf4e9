//! The OpenID Connect and token-management endpoints around the token endpoint: discovery,
//! userinfo, introspection of every token kind, revocation (RFC 7009), RP-initiated logout, the
//! consent rules (trusted clients, `prompt`, `max_age`), the account page's grants, and the admin
//! API accepting access tokens as Bearer credentials.

use serde_json::Value;

use crate::support::app::TestApp;
use crate::support::db::TestDb;
use crate::support::oauth::{
    ClientOptions, REDIRECT_URI, TestClient, authorize_path, authorize_with, client, grant_role,
    hidden_field, introspect, jwt_claims, location, query_of, token_request,
};
use crate::web_password::{Browser, Person, person};

struct Fixture {
    app: TestApp,
    ada: Person,
    browser: Browser,
    shop: TestClient,
}

async fn fixture(db: TestDb, trusted: bool) -> Fixture {
    let app = TestApp::spawn(db).await;
    let ada = person(&app, "ada").await;
    grant_role(
        &app,
        "shopper",
        &ada.user_id,
        &["Shop:orders:*", "AuthX:me:read"],
    )
    .await;
    let shop = client(
        &app,
        "shop",
        ClientOptions {
            scopes: &["Shop:**:*", "AuthX:me:read"],
            trusted,
            post_logout_redirect_uris: &["https://app.example/bye"],
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
    }
}

impl Fixture {
    fn params<'a>(&'a self, scope: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("response_type", "code"),
            ("client_id", "shop"),
            ("redirect_uri", REDIRECT_URI),
            ("scope", scope),
            ("state", "s1"),
            ("nonce", "n1"),
        ]
    }

    async fn tokens(&self, scope: &str) -> Value {
        let back = authorize_with(
            &self.app,
            &self.browser.client,
            &self.params(scope),
            "allow",
        )
        .await;
        let code = query_of(&back)["code"].clone();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
        ];
        let (status, body) = token_request(
            &self.app,
            &form,
            Some(("shop", self.shop.secret.as_deref().unwrap())),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn revoke(&self, token: &str, hint: Option<&str>) -> u16 {
        let mut form = vec![("token", token)];
        if let Some(hint) = hint {
            form.push(("token_type_hint", hint));
        }
        self.app
            .client
            .post(self.app.url("/oauth2/revoke"))
            .basic_auth("shop", self.shop.secret.as_deref())
            .form(&form)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

async fn discovery_documents(db: TestDb) {
    let app = TestApp::spawn(db).await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let doc: Value = app.get(path).await.json().await.unwrap();
        assert_eq!(doc["issuer"], app.base);
        assert_eq!(doc["token_endpoint"], app.url("/oauth2/token"));
        assert_eq!(doc["jwks_uri"], app.url("/oauth2/jwks"));
        assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(
            doc["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        // Every advertised endpoint answers (not 404).
        for key in [
            "authorization_endpoint",
            "userinfo_endpoint",
            "end_session_endpoint",
        ] {
            let url = doc[key].as_str().unwrap();
            let r = app.client.get(url).send().await.unwrap();
            assert_ne!(r.status(), 404, "{key}");
        }
    }
}
on_both_backends!(discovery_documents);

async fn id_token_userinfo_and_claims(db: TestDb) {
    let fx = fixture(db, false).await;
    let tokens = fx.tokens("openid profile email Shop:orders:read").await;
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["iss"], fx.app.base);
    assert_eq!(id["aud"], "shop");
    assert_eq!(id["azp"], "shop");
    assert_eq!(id["sub"], fx.ada.user_id.as_str());
    assert_eq!(id["nonce"], "n1");
    assert_eq!(id["email"], fx.ada.email.as_str());
    assert_eq!(id["email_verified"], true, "ada has an email credential");
    assert_eq!(id["name"], fx.ada.display_name.as_str());
    assert!(id["auth_time"].as_i64().is_some() && id["at_hash"].as_str().is_some());
    let access = tokens["access_token"].as_str().unwrap();
    for post in [false, true] {
        let request = if post {
            fx.app
                .client
                .post(fx.app.url("/oauth2/userinfo"))
                .form(&[("access_token", access)])
        } else {
            fx.app
                .client
                .get(fx.app.url("/oauth2/userinfo"))
                .bearer_auth(access)
        };
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 200);
        let info: Value = r.json().await.unwrap();
        assert_eq!(info["sub"], fx.ada.user_id.as_str());
        assert_eq!(info["email"], fx.ada.email.as_str());
        assert_eq!(info["preferred_username"], "ada");
    }
    // Without profile/email scopes only `sub`; without openid, 403 insufficient_scope.
    let minimal = fx.tokens("openid").await;
    let r = fx
        .app
        .client
        .get(fx.app.url("/oauth2/userinfo"))
        .bearer_auth(minimal["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let info: Value = r.json().await.unwrap();
    assert_eq!(info.as_object().unwrap().len(), 1, "{info}");
    let plain = fx.tokens("Shop:orders:read").await;
    assert!(plain.get("id_token").is_none(), "no openid, no ID token");
    let r = fx
        .app
        .client
        .get(fx.app.url("/oauth2/userinfo"))
        .bearer_auth(plain["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    for bad in [None, Some("not.a.jwt"), Some("garbage")] {
        let mut request = fx.app.client.get(fx.app.url("/oauth2/userinfo"));
        if let Some(token) = bad {
            request = request.bearer_auth(token);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 401, "{bad:?}");
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
    }
}
on_both_backends!(id_token_userinfo_and_claims);

async fn introspection_and_revocation(db: TestDb) {
    let fx = fixture(db, false).await;
    let other = client(&fx.app, "other", ClientOptions::default()).await;
    let tokens = fx.tokens("offline_access Shop:orders:read").await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let info = introspect(&fx.app, &fx.shop, refresh).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["token_kind"], "refresh_token");
    assert!(info.get("token_type").is_none(), "{info}");
    // A refresh token is shown only to its client; an access token to any (resource servers).
    assert_eq!(introspect(&fx.app, &other, refresh).await["active"], false);
    assert_eq!(introspect(&fx.app, &other, access).await["active"], true);
    // Another client cannot revoke it (the answer is still 200, RFC 7009 §2.2).
    let r = fx
        .app
        .client
        .post(fx.app.url("/oauth2/revoke"))
        .basic_auth("other", other.secret.as_deref())
        .form(&[("token", refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(introspect(&fx.app, &fx.shop, refresh).await["active"], true);
    // Revoking the access token: introspection and the admin API refuse it.
    assert_eq!(fx.revoke(access, Some("access_token")).await, 200);
    assert_eq!(introspect(&fx.app, &fx.shop, access).await["active"], false);
    // Revoking the refresh token revokes its family.
    let (status, _) = token_request(
        &fx.app,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        Some(("shop", fx.shop.secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(status, 200);
    let tokens = fx.tokens("offline_access Shop:orders:read").await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        fx.revoke(tokens["refresh_token"].as_str().unwrap(), None)
            .await,
        200
    );
    assert_eq!(introspect(&fx.app, &fx.shop, access).await["active"], false);
    // Unknown tokens, or none: 200 / 400.
    assert_eq!(fx.revoke("axr_unknown", None).await, 200);
    let r = fx
        .app
        .client
        .post(fx.app.url("/oauth2/revoke"))
        .basic_auth("shop", fx.shop.secret.as_deref())
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let revocations = fx
        .app
        .state
        .store
        .list_audit(&Default::default(), &Default::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "oauth2.revoke")
        .count();
    assert_eq!(revocations, 2);
}
on_both_backends!(introspection_and_revocation);

/// A refresh token's introspection reports what it would yield now: after the role that gave
/// `Shop:orders:*` is gone, the application must not read it as still holding that scope.
async fn refresh_introspection_follows_current_access(db: TestDb) {
    let fx = fixture(db, false).await;
    let tokens = fx.tokens("offline_access Shop:orders:read").await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let info = introspect(&fx.app, &fx.shop, refresh).await;
    let scope = info["scope"].as_str().unwrap().to_owned();
    assert!(scope.split(' ').any(|s| s == "Shop:orders:read"), "{info}");
    assert!(scope.split(' ').any(|s| s == "offline_access"), "{info}");
    fx.app
        .state
        .store
        .remove_role_member("shopper", &fx.ada.user_id)
        .await
        .unwrap();
    fx.app.state.checks.clear();
    let info = introspect(&fx.app, &fx.shop, refresh).await;
    assert_eq!(info["active"], true, "{info}");
    let scope = info["scope"].as_str().unwrap_or_default().to_owned();
    assert!(
        !scope.contains("Shop:orders"),
        "narrowed to the user's access now: {info}"
    );
    assert!(scope.split(' ').any(|s| s == "offline_access"), "{info}");
    fx.app.stop().await.unwrap();
}
on_both_backends!(refresh_introspection_follows_current_access);

async fn consent_rules(db: TestDb) {
    let fx = fixture(db, true).await;
    // A trusted client gets a code without a consent page, and the grant is recorded.
    let r = fx
        .browser
        .get(&authorize_path(&fx.params("Shop:orders:read")))
        .await;
    assert_eq!(r.status(), 303);
    assert!(query_of(&location(&r)).contains_key("code"));
    let grant = fx
        .app
        .state
        .store
        .find_grant(&fx.ada.user_id, "shop")
        .await
        .unwrap()
        .expect("a grant");
    assert_eq!(grant.scopes, vec!["Shop:orders:read"]);
    // prompt=consent asks anyway.
    let mut params = fx.params("Shop:orders:read");
    params.push(("prompt", "consent"));
    let r = fx.browser.get(&authorize_path(&params)).await;
    assert_eq!(r.status(), 200);
    // Never framed (clickjacking, RFC 9700 §4.16), never cached, no Referer leaving the page.
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    assert!(
        html.contains("App shop wants to access your account"),
        "{html}"
    );
    assert!(html.contains("Shop:orders:read"));
    // The consent form's request cannot be swapped for another client's without the CSRF token.
    let request = hidden_field(&html, "request");
    let r = fx
        .browser
        .post_raw(
            "/oauth2/consent",
            &[("request", request.as_str()), ("decision", "allow")],
        )
        .await;
    assert_eq!(r.status(), 403);
    // prompt=login sends to the login page even with a session; it comes back without it.
    let mut params = fx.params("Shop:orders:read");
    params.push(("prompt", "login"));
    let r = fx.browser.get(&authorize_path(&params)).await;
    let loc = location(&r);
    assert!(loc.starts_with("/login?return_to="), "{loc}");
    let return_to = query_of(&format!("http://x{loc}"))["return_to"].clone();
    assert!(!return_to.contains("prompt"), "{return_to}");
    // max_age=0 after a sign-in a moment ago: also a fresh login.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut params = fx.params("Shop:orders:read");
    params.push(("max_age", "0"));
    let r = fx.browser.get(&authorize_path(&params)).await;
    assert!(location(&r).starts_with("/login?return_to="));
    // The user's access narrows what is offered: asking for more than she holds gives less.
    let r = fx
        .browser
        .get(&authorize_path(&fx.params("Shop:**:*")))
        .await;
    let code = query_of(&location(&r))["code"].clone();
    let (_, tokens) = token_request(
        &fx.app,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
        ],
        Some(("shop", fx.shop.secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(tokens["scope"], "Shop:orders:*");
}
on_both_backends!(consent_rules);

async fn access_tokens_on_the_admin_api(db: TestDb) {
    let fx = fixture(db, false).await;
    let tokens = fx.tokens("AuthX:me:read").await;
    let access = tokens["access_token"].as_str().unwrap();
    let me = |token: &str| {
        fx.app
            .client
            .get(fx.app.url("/api/v1/me"))
            .bearer_auth(token.to_owned())
            .send()
    };
    let r = me(access).await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["id"], fx.ada.user_id.as_str());
    assert_eq!(body["scopes"], serde_json::json!(["AuthX:me:read"]));
    // The token's scopes bound what it may do, even though ada may do more.
    let r = fx
        .app
        .client
        .get(fx.app.url("/api/v1/me/api-keys"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Revoked: refused at once.
    assert_eq!(fx.revoke(access, None).await, 200);
    assert_eq!(me(access).await.unwrap().status(), 401);
    // A token the user's access no longer covers: the role change applies at once.
    let tokens = fx.tokens("AuthX:me:read").await;
    let access = tokens["access_token"].as_str().unwrap();
    fx.app
        .state
        .store
        .remove_role_member("shopper", &fx.ada.user_id)
        .await
        .unwrap();
    // ada keeps AuthX:me:* from the web-user role, so the token still reads /me …
    assert_eq!(me(access).await.unwrap().status(), 200);
    fx.app
        .state
        .store
        .remove_role_member("web-user", &fx.ada.user_id)
        .await
        .unwrap();
    // … until that goes too.
    assert_eq!(me(access).await.unwrap().status(), 403);
}
on_both_backends!(access_tokens_on_the_admin_api);

async fn account_page_lists_and_withdraws_grants(db: TestDb) {
    let fx = fixture(db, false).await;
    grant_role(&fx.app, "grants", &fx.ada.user_id, &["AuthX:grant.*.me:*"]).await;
    let tokens = fx.tokens("offline_access Shop:orders:read").await;
    let html = fx.browser.page("/account").await;
    assert!(html.contains("App shop"), "{html}");
    assert!(html.contains("read orders in Shop"), "{html}");
    let grant = fx
        .app
        .state
        .store
        .find_grant(&fx.ada.user_id, "shop")
        .await
        .unwrap()
        .unwrap();
    let r = fx
        .browser
        .submit(
            "/account",
            &format!("/account/grants/{}/revoke", grant.id),
            &[],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account?notice=grant_revoked");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(introspect(&fx.app, &fx.shop, access).await["active"], false);
    let (status, _) = token_request(
        &fx.app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
        Some(("shop", fx.shop.secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(status, 400);
    assert!(!fx.browser.page("/account").await.contains("App shop"));
    // The next authorization asks again.
    let r = fx
        .browser
        .get(&authorize_path(&fx.params("Shop:orders:read")))
        .await;
    assert_eq!(r.status(), 200);
}
on_both_backends!(account_page_lists_and_withdraws_grants);

async fn rp_initiated_logout(db: TestDb) {
    let fx = fixture(db, false).await;
    let tokens = fx.tokens("openid").await;
    let id_token = tokens["id_token"].as_str().unwrap();
    // An unregistered post-logout URI is never redirected to.
    let r = fx
        .browser
        .get(&format!(
            "/oauth2/logout?id_token_hint={id_token}&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F"
        ))
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    // Without a hint: the user confirms first.
    let r = fx
        .browser
        .get("/oauth2/logout?client_id=shop&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye&state=z")
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("asks to sign you out"));
    assert_eq!(
        fx.browser.get("/account").await.status(),
        200,
        "still signed in"
    );
    // With the hint of the signed-in user: signed out and sent back with the state.
    let r = fx
        .browser
        .get(&format!(
            "/oauth2/logout?id_token_hint={id_token}&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye&state=z"
        ))
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "https://app.example/bye?state=z");
    assert_eq!(fx.browser.get("/account").await.status(), 303, "signed out");
    // A hint that is not ours.
    let r = fx
        .browser
        .get("/oauth2/logout?id_token_hint=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
        .await;
    assert_eq!(r.status(), 400);
}
on_both_backends!(rp_initiated_logout);
