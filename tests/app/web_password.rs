//! The password login, account and logout pages (reference §3, §6), end to end over HTTP with a cookie
//! jar, as a browser without JavaScript would use them.

use authx::domain::authority::{NewAuthority, Strategy};
use authx::domain::credential::{NewCredential, NewUserCredential};
use authx::domain::role::NewRole;
use authx::domain::user::{NewUser, UserPatch, UserStatus};
use authx::store::StoreError;
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::concurrency::join_all;
use crate::support::db::TestDb;

/// The one failure message of the login page.
const LOGIN_FAILED: &str = "The email address/username or password is incorrect.";

/// A person with a password, created straight through the store.
#[derive(Debug, Clone)]
pub struct Person {
    pub user_id: String,
    pub username: String,
    pub email: String,
    pub password: String,
    pub display_name: String,
}

/// Creates the `password` and `email` authorities and a `web-user` role with what the `default`
/// role of a bootstrap grants (`me:*`, own credentials, own API keys); each only once.
pub async fn setup_authorities(app: &TestApp) {
    let store = &app.state.store;
    for (id, strategy, name) in [
        ("password", Strategy::Password, "Password"),
        ("email", Strategy::Email, "Email"),
    ] {
        match store
            .create_authority(NewAuthority {
                id: id.to_owned(),
                strategy,
                name: name.to_owned(),
                enabled: true,
                details: json!({}),
            })
            .await
        {
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("authority {id}: {e}"),
        }
    }
    match store
        .create_role(NewRole {
            id: "web-user".to_owned(),
            name: "web user".to_owned(),
            description: None,
            is_default: false,
            enabled: true,
            scopes: vec![
                "AuthX:me:*".to_owned(),
                "AuthX:credential.*.me:*".to_owned(),
                "AuthX:apikey.me:*".to_owned(),
            ],
            deny: Vec::new(),
        })
        .await
    {
        Ok(_) | Err(StoreError::Conflict(_)) => {}
        Err(e) => panic!("role: {e}"),
    }
}

/// A user `name` with an email credential (`<name>@example.com`), a password credential and the
/// `web-user` role.
pub async fn person(app: &TestApp, name: &str) -> Person {
    setup_authorities(app).await;
    let store = &app.state.store;
    let email = format!("{name}@example.com");
    let password = format!("{name}-correct horse");
    let display_name = format!("{name} Lovelace");
    let user = store
        .create_user_with_credentials(
            NewUser {
                username: Some(name.to_owned()),
                email: Some(email.clone()),
                display_name: Some(display_name.clone()),
                ..NewUser::human()
            },
            vec![NewUserCredential {
                authority_id: "email".to_owned(),
                authority_user_id: email.clone(),
                // As the emailed link leaves it: the address is proven.
                details: authx::domain::credential::Verification::EmailLink { at: 1 }
                    .written_into(json!({})),
            }],
            vec!["web-user".to_owned()],
        )
        .await
        .unwrap();
    let hash = authx_strategy_password::hash_password(password.clone(), 4)
        .await
        .unwrap();
    store
        .create_credential(NewCredential {
            user_id: user.id.clone(),
            authority_id: "password".to_owned(),
            authority_user_id: user.id.clone(),
            details: json!({ "hash": hash }),
        })
        .await
        .unwrap();
    Person {
        user_id: user.id,
        username: name.to_owned(),
        email,
        password,
        display_name,
    }
}

/// A browser without JavaScript: a cookie jar, redirects followed by hand.
pub struct Browser {
    pub client: reqwest::Client,
    base: String,
}

impl Browser {
    /// A browser already signed in as `user_id` (a session made straight through the store), for
    /// users who have no password to sign in with.
    pub async fn signed_in_as(app: &TestApp, user_id: &str) -> Self {
        let id = authx::secret::generate("axsn_");
        let at = authx::domain::now();
        app.state
            .store
            .create_session(authx::domain::session::NewSession {
                id_hash: authx::secret::hash(&id),
                user_id: user_id.to_owned(),
                authority_id: "email".to_owned(),
                auth_time: at,
                expires_at: at + 3600,
                idle_expires_at: at + 1800,
                ip: None,
                user_agent: None,
            })
            .await
            .unwrap();
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        jar.add_cookie_str(
            &format!("authx_session={id}; Path=/"),
            &app.base.parse().unwrap(),
        );
        Self {
            client: reqwest::Client::builder()
                .cookie_provider(jar)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
        }
    }

    pub fn new(app: &TestApp) -> Self {
        Self {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
        }
    }

    /// A browser behind a reverse proxy: every request carries `X-Forwarded-For: <client>`.
    pub fn forwarded_for(app: &TestApp, client: &str) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", client.parse().unwrap());
        Self {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .default_headers(headers)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    /// GETs `path` and returns the body (asserting 200).
    pub async fn page(&self, path: &str) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.text().await.unwrap()
    }

    /// The CSRF token of the forms on `path`.
    pub async fn csrf(&self, path: &str) -> String {
        csrf_in(&self.page(path).await)
    }

    /// POSTs a form as is (no token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// POSTs a form with the CSRF token taken from `from` (the page the form is on).
    pub async fn submit(
        &self,
        from: &str,
        path: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let token = self.csrf(from).await;
        let mut all = fields.to_vec();
        all.push(("csrf_token", &token));
        self.post_raw(path, &all).await
    }

    /// Signs in with a password through the login form.
    pub async fn login(&self, identifier: &str, password: &str) -> reqwest::Response {
        self.submit(
            "/login",
            "/login/password",
            &[("identifier", identifier), ("password", password)],
        )
        .await
    }
}

/// The value of the first `csrf_token` field in `html`.
pub fn csrf_in(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("a CSRF field") + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn session_cookie(r: &reqwest::Response) -> String {
    set_cookies(r)
        .into_iter()
        .find(|c| c.starts_with("authx_session="))
        .expect("a session cookie")
}

async fn audit_actions(app: &TestApp) -> Vec<(String, String, Value)> {
    let events = app
        .state
        .store
        .list_audit(&Default::default(), &Default::default())
        .await
        .unwrap();
    events
        .into_iter()
        .map(|e| (e.action, e.outcome.as_str().to_owned(), e.details))
        .collect()
}

async fn login_logout_and_redirects(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let ada = person(&app, "ada").await;
    let b = Browser::new(&app);

    // Signed out: `/` and `/account` lead to the login page.
    let r = b.get("/").await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login");
    let r = b.get("/account").await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login?return_to=/account");

    // The login page: both enabled authorities, security headers, a CSRF cookie.
    let r = b.get("/login").await;
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(
        h["content-security-policy"],
        "default-src 'self'; style-src 'self' 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    );
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    let csrf_cookie = set_cookies(&r)
        .into_iter()
        .find(|c| c.starts_with("authx_csrf="))
        .expect("a CSRF cookie");
    assert!(csrf_cookie.contains("HttpOnly"), "{csrf_cookie}");
    let html = r.text().await.unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("lang=\"en\""));
    assert!(html.contains("action=\"/login/password\""));
    assert!(html.contains("action=\"/login/email\""));
    assert!(html.contains("<label for=\"identifier\">"));
    assert!(!html.contains("<script"));

    // The API and health endpoints still route beside the pages.
    assert_eq!(b.get("/healthz").await.status(), 200);
    assert_eq!(b.get("/api/v1/users").await.status(), 401);

    // Sign in by username: a new session cookie, HttpOnly and SameSite=Lax, then the account page.
    let r = b.login("ada", &ada.password).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account");
    let cookie = session_cookie(&r);
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    let session_value = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("authx_session=")
        .to_owned();
    let account = b.page("/account").await;
    assert!(account.contains(&ada.display_name), "{account}");
    assert!(account.contains(&ada.email));
    let r = b.get("/").await;
    assert_eq!(location(&r), "/account");

    // Logout: GET only asks; POST ends the session and the old cookie no longer works.
    let confirm = b.page("/logout").await;
    assert!(confirm.contains("action=\"/logout\""));
    assert_eq!(
        b.get("/account").await.status(),
        200,
        "GET /logout changed nothing"
    );
    let r = b.submit("/account", "/logout", &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login");
    assert!(
        session_cookie(&r).contains("authx_session=;")
            || session_cookie(&r).contains("Max-Age=0")
            || session_cookie(&r).contains("Expires=")
    );
    assert_eq!(b.get("/account").await.status(), 303);
    let replay = app
        .client
        .get(app.url("/account"))
        .header("cookie", format!("authx_session={session_value}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 303, "the old session cookie is dead");

    // Sign in by email address (any case), with a local return_to kept.
    let b2 = Browser::new(&app);
    let token = b2
        .csrf("/login?return_to=/account%3Fnotice%3Dprofile")
        .await;
    let r = b2
        .post_raw(
            "/login/password",
            &[
                ("identifier", "ADA@example.com"),
                ("password", &ada.password),
                ("csrf_token", &token),
                ("return_to", "/account?notice=profile"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account?notice=profile");

    // return_to to another site stays local.
    for evil in ["//evil.com", "https://evil.com/x", "/\\evil.com"] {
        let b3 = Browser::new(&app);
        let token = b3.csrf(&format!("/login?return_to={evil}")).await;
        let r = b3
            .post_raw(
                "/login/password",
                &[
                    ("identifier", "ada"),
                    ("password", &ada.password),
                    ("csrf_token", &token),
                    ("return_to", evil),
                ],
            )
            .await;
        assert_eq!(r.status(), 303);
        assert_eq!(location(&r), "/account", "{evil}");
    }
    // And the login page does not echo it into its forms.
    let html = Browser::new(&app).page("/login?return_to=//evil.com").await;
    assert!(!html.contains("evil.com"));

    let actions = audit_actions(&app).await;
    assert!(
        actions.iter().any(|(a, o, d)| a == "login.success"
            && o == "success"
            && d["authority"] == "password")
    );
    assert!(actions.iter().any(|(a, _, _)| a == "logout"));
    app.stop().await.unwrap();
}
on_both_backends!(login_logout_and_redirects);

async fn failures_look_alike_and_lock_out(db: TestDb) {
    let app = TestApp::spawn_with(
        db,
        |c| {
            c.login.max_failures_per_account = 3;
        },
        Vec::new(),
    )
    .await;
    let ada = person(&app, "ada").await;
    let eve = person(&app, "eve").await;
    app.state
        .store
        .update_user(
            &eve.user_id,
            UserPatch {
                status: Some(UserStatus::Disabled),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let b = Browser::new(&app);

    let wrong = b.login("ada", "not the password").await;
    assert_eq!(wrong.status(), 401);
    let wrong = wrong.text().await.unwrap();
    let unknown = b.login("nobody@example.com", "not the password").await;
    assert_eq!(unknown.status(), 401);
    let unknown = unknown.text().await.unwrap();
    let disabled = b.login("eve", &eve.password).await;
    assert_eq!(disabled.status(), 401);
    let disabled = disabled.text().await.unwrap();
    assert!(wrong.contains(LOGIN_FAILED), "{wrong}");
    assert_eq!(wrong, unknown, "unknown user and wrong password look alike");
    assert_eq!(wrong, disabled, "a disabled account looks alike too");
    let reasons: Vec<String> = audit_actions(&app)
        .await
        .into_iter()
        .filter(|(a, _, _)| a == "login.failure")
        .map(|(_, _, d)| d["reason"].as_str().unwrap().to_owned())
        .collect();
    for reason in ["unknown_user", "bad_password", "disabled"] {
        assert!(reasons.iter().any(|r| r == reason), "{reasons:?}");
    }

    // Two more failures for ada (3 in all): blocked, even with the right password.
    for _ in 0..2 {
        assert_eq!(b.login("ada", "still wrong").await.status(), 401);
    }
    let r = b.login("ada", &ada.password).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert_eq!(r.headers()["cache-control"], "no-store");
    // The block is per account: another account still signs in from here.
    assert_eq!(
        b.login("ADA@example.com", &ada.password).await.status(),
        303
    );
    app.stop().await.unwrap();
}
on_both_backends!(failures_look_alike_and_lock_out);

/// An attacker who sends guesses in parallel gets no more of them checked than one who sends
/// them one by one: each attempt is counted before its password is, so only the first
/// `max_failures_per_account` are checked and the rest are refused unchecked. Successes do not
/// count against the IP.
async fn parallel_guesses_get_no_more_tries_than_serial_ones(db: TestDb) {
    let app = TestApp::spawn_with(
        db,
        |c| {
            c.login.max_failures_per_account = 3;
            c.login.max_failures_per_ip = 2;
            c.server.trusted_proxies = serde_json::from_value(json!(["127.0.0.0/8"])).unwrap();
        },
        Vec::new(),
    )
    .await;
    let ada = person(&app, "ada").await;
    // Successes from one address: the IP limit of 2 failures never trips.
    for _ in 0..3 {
        let b = Browser::new(&app);
        assert_eq!(b.login("ada", &ada.password).await.status(), 303);
    }

    // Twelve wrong guesses for grace at once, from twelve addresses.
    let grace = person(&app, "grace").await;
    let browsers: Vec<Browser> = (0..12)
        .map(|i| Browser::forwarded_for(&app, &format!("203.0.113.{i}")))
        .collect();
    let mut tokens = Vec::new();
    for b in &browsers {
        tokens.push(b.csrf("/login").await);
    }
    let guesses: Vec<String> = (0..12).map(|i| format!("guess {i}")).collect();
    let statuses = join_all(browsers.iter().zip(&tokens).zip(&guesses).map(
        |((b, token), guess)| async move {
            b.post_raw(
                "/login/password",
                &[
                    ("identifier", "grace"),
                    ("password", guess.as_str()),
                    ("csrf_token", token.as_str()),
                ],
            )
            .await
            .status()
            .as_u16()
        },
    ))
    .await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + refused, 12, "{statuses:?}");
    assert_eq!(checked, 3, "{checked} guesses were checked: {statuses:?}");
    let bad_password = audit_actions(&app)
        .await
        .into_iter()
        .filter(|(a, _, d)| a == "login.failure" && d["reason"] == "bad_password")
        .count();
    assert_eq!(bad_password, 3);
    // What the attacker holds after them: the right password is refused too, and no session.
    let b = Browser::forwarded_for(&app, "203.0.113.99");
    assert_eq!(b.login("grace", &grace.password).await.status(), 429);
    let sessions = app
        .state
        .store
        .list_user_sessions(&grace.user_id)
        .await
        .unwrap();
    assert!(sessions.is_empty(), "{sessions:?}");
    app.stop().await.unwrap();
}
on_both_backends!(parallel_guesses_get_no_more_tries_than_serial_ones);

async fn csrf_is_required(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let ada = person(&app, "ada").await;
    let b = Browser::new(&app);
    b.page("/login").await;
    // No token, and a wrong token: 403, nobody signed in.
    let r = b
        .post_raw(
            "/login/password",
            &[("identifier", "ada"), ("password", &ada.password)],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let r = b
        .post_raw(
            "/login/password",
            &[
                ("identifier", "ada"),
                ("password", &ada.password),
                ("csrf_token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(b.get("/account").await.status(), 303);

    assert_eq!(b.login("ada", &ada.password).await.status(), 303);
    // A forged password change: refused, the password unchanged.
    let r = b
        .post_raw(
            "/account/password",
            &[
                ("current_password", &ada.password),
                ("new_password", "a brand new password"),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);
    // A forged API key creation and logout: refused, nothing created, still signed in.
    let r = b
        .post_raw(
            "/account/api-keys",
            &[("scope", "AuthX:me:read"), ("csrf_token", "wrong")],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(b.post_raw("/logout", &[]).await.status(), 403);
    assert_eq!(b.get("/account").await.status(), 200);
    let keys = app
        .state
        .store
        .list_api_keys(
            &authx::domain::api_key::ApiKeyFilter {
                user_id: Some(ada.user_id.clone()),
                include_revoked: true,
            },
            &Default::default(),
        )
        .await
        .unwrap();
    assert!(keys.is_empty());
    let other = Browser::new(&app);
    assert_eq!(other.login("ada", &ada.password).await.status(), 303);
    app.stop().await.unwrap();
}
on_both_backends!(csrf_is_required);

async fn change_password(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let ada = person(&app, "ada").await;
    let b = Browser::new(&app);
    let elsewhere = Browser::new(&app);
    assert_eq!(b.login("ada", &ada.password).await.status(), 303);
    assert_eq!(elsewhere.login("ada", &ada.password).await.status(), 303);
    let page = b.page("/account").await;
    assert!(page.contains("Change password"));

    // Policy errors are named on the page; nothing changes.
    let long = "x".repeat(73);
    for (new, message) in [
        ("short", "at least 8 characters"),
        (long.as_str(), "at most 72 bytes"),
        ("Ada@Example.com", "must not be your email address"),
    ] {
        let r = b
            .submit(
                "/account",
                "/account/password",
                &[("current_password", &ada.password), ("new_password", new)],
            )
            .await;
        assert_eq!(r.status(), 400, "{new}");
        let html = r.text().await.unwrap();
        assert!(html.contains(message), "{message}: {html}");
    }
    // The current password is required.
    let r = b
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", "not it"),
                ("new_password", "a brand new password"),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("The current password is incorrect.")
    );

    let r = b
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", &ada.password),
                ("new_password", "a brand new password"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account?notice=password");
    session_cookie(&r);
    // This browser stays signed in (new session id); the other session is over.
    assert!(
        b.page("/account?notice=password")
            .await
            .contains("Your password was changed.")
    );
    assert_eq!(elsewhere.get("/account").await.status(), 303);
    // The new password works, the old one no longer does.
    let fresh = Browser::new(&app);
    assert_eq!(fresh.login("ada", &ada.password).await.status(), 401);
    assert_eq!(
        fresh.login("ada", "a brand new password").await.status(),
        303
    );
    assert!(
        audit_actions(&app)
            .await
            .iter()
            .any(|(a, o, _)| a == "password.change" && o == "success")
    );
    app.stop().await.unwrap();
}
on_both_backends!(change_password);

async fn api_keys_on_the_account_page(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let ada = person(&app, "ada").await;
    let b = Browser::new(&app);
    assert_eq!(b.login("ada", &ada.password).await.status(), 303);
    let page = b.page("/account").await;
    // The picker offers the user's effective scopes.
    assert!(page.contains("value=\"AuthX:me:*\""), "{page}");
    assert!(page.contains("value=\"AuthX:apikey.me:*\""));
    assert!(page.contains("You have no API keys."));

    // A scope beyond the user's access: 403, nothing issued.
    let r = b
        .submit(
            "/account",
            "/account/api-keys",
            &[("scope", "AuthX:user:read"), ("expires_in", "3600")],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("AuthX:user:read"));
    // No scope chosen: named.
    let r = b
        .submit("/account", "/account/api-keys", &[("expires_in", "3600")])
        .await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Choose at least one scope.")
    );

    let r = b
        .submit(
            "/account",
            "/account/api-keys",
            &[
                ("scope", "AuthX:me:*"),
                ("description", "laptop script"),
                ("expires_in", "3600"),
            ],
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    let start = html.find("axk_").expect("the secret is shown");
    let secret: String = html[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    assert_eq!(secret.len(), 4 + 43, "{secret}");
    assert!(html.contains("shown only this once"));

    // Shown once: the account page lists the key (hint, description) but not the secret.
    let page = b.page("/account").await;
    assert!(!page.contains(&secret));
    assert!(page.contains("laptop script"));
    assert!(page.contains(&secret[..10]), "the hint");

    // The key works on the API.
    let me = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["user"]["id"], ada.user_id.as_str());

    // Revoke it from the page: it stops working.
    let key = app
        .state
        .store
        .find_api_key_by_hash(&authx::secret::hash(&secret))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(key.expires_at - key.created_at, 3600);
    let r = b
        .submit(
            "/account",
            &format!("/account/api-keys/{}/revoke", key.id),
            &[],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account?notice=revoked");
    let me = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
    // Another user's key cannot be revoked from here.
    let eve = person(&app, "eve").await;
    let eve_browser = Browser::new(&app);
    assert_eq!(eve_browser.login("eve", &eve.password).await.status(), 303);
    let r = eve_browser
        .submit(
            "/account",
            "/account/api-keys",
            &[("scope", "AuthX:me:read")],
        )
        .await;
    assert_eq!(r.status(), 201);
    let eve_key = app
        .state
        .store
        .list_api_keys(
            &authx::domain::api_key::ApiKeyFilter {
                user_id: Some(eve.user_id.clone()),
                include_revoked: false,
            },
            &Default::default(),
        )
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        eve_key.expires_at - eve_key.created_at,
        86_400,
        "the default life"
    );
    let r = b
        .submit(
            "/account",
            &format!("/account/api-keys/{}/revoke", eve_key.id),
            &[],
        )
        .await;
    assert_eq!(r.status(), 404);
    assert!(
        app.state
            .store
            .get_api_key(&eve_key.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    app.stop().await.unwrap();
}
on_both_backends!(api_keys_on_the_account_page);

async fn profile_and_credentials(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let ada = person(&app, "ada").await;
    let b = Browser::new(&app);
    assert_eq!(b.login("ada", &ada.password).await.status(), 303);

    let r = b
        .submit(
            "/account",
            "/account/profile",
            &[("display_name", "Countess <Ada>")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let page = b.page("/account?notice=profile").await;
    assert!(page.contains("Countess &lt;Ada&gt;"), "escaped");
    assert!(page.contains("Your profile was saved."));

    // Two credentials: the email one can go; then the last one (the password) cannot.
    let creds = app
        .state
        .store
        .list_credentials_of_user(&ada.user_id)
        .await
        .unwrap();
    assert_eq!(creds.len(), 2);
    let email_cred = creds.iter().find(|c| c.authority_id == "email").unwrap();
    let password_cred = creds.iter().find(|c| c.authority_id == "password").unwrap();
    let r = b
        .submit(
            "/account",
            &format!("/account/credentials/{}/remove", email_cred.id),
            &[],
        )
        .await;
    assert_eq!(r.status(), 303);
    let page = b.page("/account").await;
    assert!(page.contains("Your only sign-in method"));
    let r = b
        .submit(
            "/account",
            &format!("/account/credentials/{}/remove", password_cred.id),
            &[],
        )
        .await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("only way to sign in"));
    assert_eq!(
        app.state
            .store
            .list_credentials_of_user(&ada.user_id)
            .await
            .unwrap()
            .len(),
        1
    );
    // Signing in by email address no longer finds her; by username it does.
    let fresh = Browser::new(&app);
    assert_eq!(fresh.login(&ada.email, &ada.password).await.status(), 401);
    assert_eq!(fresh.login("ada", &ada.password).await.status(), 303);
    app.stop().await.unwrap();
}
on_both_backends!(profile_and_credentials);

async fn set_a_first_password(db: TestDb) {
    let app = TestApp::spawn(db).await;
    setup_authorities(&app).await;
    let user = app
        .state
        .store
        .create_user_with_credentials(
            NewUser {
                email: Some("grace@example.com".to_owned()),
                ..NewUser::human()
            },
            vec![NewUserCredential {
                authority_id: "email".to_owned(),
                authority_user_id: "grace@example.com".to_owned(),
                details: json!({}),
            }],
            vec!["web-user".to_owned()],
        )
        .await
        .unwrap();
    let b = Browser::signed_in_as(&app, &user.id).await;
    let page = b.page("/account").await;
    assert!(page.contains("Set a password"), "{page}");
    assert!(!page.contains("Current password"));
    // The only credential cannot be removed (no button offered either).
    assert!(page.contains("Your only sign-in method"));

    let r = b
        .submit(
            "/account",
            "/account/password/set",
            &[("new_password", "grace@example.com")],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("must not be your email address")
    );
    let r = b
        .submit(
            "/account",
            "/account/password/set",
            &[("new_password", "hopper's compiler")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account?notice=password_set");
    assert!(b.page("/account").await.contains("Change password"));
    // A second "set" is refused: changing needs the current password.
    let r = b
        .submit(
            "/account",
            "/account/password/set",
            &[("new_password", "another password")],
        )
        .await;
    assert_eq!(r.status(), 400);
    let fresh = Browser::new(&app);
    assert_eq!(
        fresh
            .login("grace@example.com", "hopper's compiler")
            .await
            .status(),
        303
    );
    assert_eq!(
        fresh
            .login("grace@example.com", "another password")
            .await
            .status(),
        401
    );
    app.stop().await.unwrap();
}
on_both_backends!(set_a_first_password);

async fn sign_out_everywhere_and_revoke_every_key(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let store = &app.state.store;
    let ada = person(&app, "ada").await;
    let eve = person(&app, "eve").await;
    let here = Browser::new(&app);
    let there = Browser::new(&app);
    let eve_browser = Browser::new(&app);
    for (b, who) in [(&here, &ada), (&there, &ada), (&eve_browser, &eve)] {
        assert_eq!(b.login(&who.username, &who.password).await.status(), 303);
    }
    // Two keys of Ada's, one of Eve's.
    for (b, scope) in [
        (&here, "AuthX:me:read"),
        (&here, "AuthX:me:*"),
        (&eve_browser, "AuthX:me:read"),
    ] {
        let r = b
            .submit("/account", "/account/api-keys", &[("scope", scope)])
            .await;
        assert_eq!(r.status(), 201);
    }
    let keys_of = |user_id: String| async move {
        store
            .list_api_keys(
                &authx::domain::api_key::ApiKeyFilter {
                    user_id: Some(user_id),
                    include_revoked: false,
                },
                &Default::default(),
            )
            .await
            .unwrap()
    };
    assert_eq!(keys_of(ada.user_id.clone()).await.len(), 2);
    let page = here.page("/account").await;
    assert!(page.contains("Revoke all API keys"), "{page}");
    assert!(page.contains("Sign out everywhere"));

    // A forged "revoke all" (no CSRF token) does nothing.
    let r = here.post_raw("/account/api-keys/revoke-all", &[]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(keys_of(ada.user_id.clone()).await.len(), 2);
    let r = here
        .submit("/account", "/account/api-keys/revoke-all", &[])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account?notice=revoked_all");
    // What Ada ends up with: no working key; Eve's key untouched.
    assert!(keys_of(ada.user_id.clone()).await.is_empty());
    assert_eq!(keys_of(eve.user_id.clone()).await.len(), 1);
    assert!(!here.page("/account").await.contains("Revoke all API keys"));

    // An application holds a refresh token of Ada's; she signs out everywhere.
    let refresh = crate::support::tokens::issued_refresh_token(store, &ada.user_id).await;
    let r = here.post_raw("/account/sign-out-everywhere", &[]).await;
    assert_eq!(r.status(), 403, "CSRF first");
    assert_eq!(
        store.list_user_sessions(&ada.user_id).await.unwrap().len(),
        2
    );
    let r = here
        .submit("/account", "/account/sign-out-everywhere", &[])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login");
    assert!(
        store
            .list_user_sessions(&ada.user_id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        there.get("/account").await.status(),
        303,
        "the other browser is out"
    );
    assert_eq!(here.get("/account").await.status(), 303);
    let stored = store.find_refresh_token(&refresh).await.unwrap().unwrap();
    assert!(
        stored.revoked_at.is_some(),
        "the application's refresh family ended"
    );
    let access = store.get_access_token("reset-jti").await.unwrap().unwrap();
    assert!(access.revoked_at.is_some());
    // Eve is still signed in.
    assert_eq!(eve_browser.get("/account").await.status(), 200);
    assert!(
        audit_actions(&app)
            .await
            .iter()
            .any(|(a, o, _)| a == "session.end_everywhere" && o == "success")
    );
    app.stop().await.unwrap();
}
on_both_backends!(sign_out_everywhere_and_revoke_every_key);

/// Behind a trusted proxy (here: the loopback peer), failed logins count against the client the
/// proxy names, so one client cannot throttle everyone; without the setting the header is not
/// believed, so a client cannot dodge its own limit by writing it.
async fn rate_limits_key_on_the_client_behind_a_trusted_proxy(db: TestDb) {
    let app = TestApp::spawn_with(
        db,
        |c| {
            c.login.max_failures_per_ip = 3;
            c.server.trusted_proxies = serde_json::from_value(json!(["127.0.0.0/8"])).unwrap();
        },
        Vec::new(),
    )
    .await;
    let ada = person(&app, "ada").await;
    let attacker = Browser::forwarded_for(&app, "203.0.113.7");
    for i in 0..3 {
        let r = attacker.login(&format!("nobody{i}@example.com"), "x").await;
        assert_eq!(r.status(), 401);
    }
    assert_eq!(attacker.login("ada", &ada.password).await.status(), 429);
    // Another client behind the same proxy is not throttled; the attacker's spoofed hop does
    // not help the attacker either.
    let other = Browser::forwarded_for(&app, "198.51.100.2");
    assert_eq!(other.login("ada", &ada.password).await.status(), 303);
    let spoofing = Browser::forwarded_for(&app, "198.51.100.99, 203.0.113.7");
    assert_eq!(spoofing.login("ada", &ada.password).await.status(), 429);
    // The session and the audit trail record the client's address.
    let sessions = app
        .state
        .store
        .list_user_sessions(&ada.user_id)
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].ip.as_deref(), Some("198.51.100.2"));
    app.stop().await.unwrap();

    // Without trusted proxies the header is ignored: rotating it does not escape the limit.
    let app = TestApp::spawn_with(
        TestDb::sqlite().await,
        |c| c.login.max_failures_per_ip = 3,
        Vec::new(),
    )
    .await;
    let ada = person(&app, "ada").await;
    for i in 0..3 {
        let b = Browser::forwarded_for(&app, &format!("203.0.113.{i}"));
        assert_eq!(
            b.login(&format!("nobody{i}@example.com"), "x")
                .await
                .status(),
            401
        );
    }
    let b = Browser::forwarded_for(&app, "198.51.100.2");
    assert_eq!(b.login("ada", &ada.password).await.status(), 429);
    app.stop().await.unwrap();
}
on_both_backends!(rate_limits_key_on_the_client_behind_a_trusted_proxy);
