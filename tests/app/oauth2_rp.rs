//! authx as an OpenID Connect provider for a strict, independent relying party: panva's
//! `openid-client` 6 (npm), run by `tests/peers/openid_client_rp.mjs`. The script does discovery,
//! the authorization code flow with PKCE S256, `state` and `nonce` through the real login and
//! consent pages (it plays the browser over HTTP), the code grant with the ID token validated by
//! openid-client (signature against the JWKS, `iss`, `aud`, `nonce`, `auth_time` with `max_age`,
//! the algorithm; RFC 9207 `iss` in the authorization response), userinfo, introspection, refresh
//! rotation, revocation and RP-initiated logout, then prints what it saw as JSON; this test checks
//! that and the server side (tokens inactive, the grant, audit events).
//!
//! Confidential (`client_secret_basic`, `client_secret_post`) and public clients, on both
//! backends, with ES256 (the default), RS256 and EdDSA signing keys.
//!
//! The npm packages are in `tests/peers/node_modules` (`npm ci` in `tests/peers`); without them, or
//! without `node`, the test is skipped locally and fails under `CI=true`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use authx::domain::signing_key::SigningAlg;
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::db::TestDb;
use crate::support::oauth::{ClientOptions, TestClient, client, grant_role, introspect};
use crate::web_password::{Person, person};

const NODE_MODULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/node_modules");
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/peers/openid_client_rp.mjs"
);

/// Registered with the RP: a loopback IP, so any port is accepted (RFC 8252 §7.3). Nothing listens
/// there; the script reads the code from the `Location` header.
const REGISTERED_REDIRECT: &str = "http://127.0.0.1/callback";
const REDIRECT: &str = "http://127.0.0.1:49152/callback";
const POST_LOGOUT: &str = "http://127.0.0.1:49152/signed-out";

const SCOPE: &str = "openid profile email offline_access Shop:orders:read";

/// `node` and openid-client, or `None` (skip) — a failure under `CI=true`.
fn node() -> Option<String> {
    let node = std::env::var("AUTHX_TEST_NODE").unwrap_or_else(|_| "node".to_owned());
    let has_node = Command::new(&node)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let has_modules = Path::new(NODE_MODULES)
        .join("openid-client/package.json")
        .exists();
    if has_node && has_modules {
        return Some(node);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "openid-client is required in CI: node on PATH (or AUTHX_TEST_NODE) and `npm ci` in \
         tests/peers (node found: {has_node}, {NODE_MODULES} found: {has_modules})"
    );
    eprintln!(
        "skipping: openid-client relying party (node found: {has_node}; run `npm ci` in \
         tests/peers for {NODE_MODULES})"
    );
    None
}

/// Runs the relying party with `config` (on stdin) and returns its JSON result; panics with its
/// stderr when it fails.
async fn run_rp(node: String, config: Value) -> Value {
    let output = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(node)
            .arg(SCRIPT)
            .current_dir(Path::new(SCRIPT).parent().unwrap())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node starts");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(config.to_string().as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "openid-client relying party failed ({}):\n{stderr}\n{stdout}",
        output.status
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not one JSON object ({e}):\n{stdout}\n{stderr}"))
}

/// How the relying party authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    Basic,
    Post,
    Public,
}

async fn relying_party(db: TestDb, alg: SigningAlg, auth: Auth) {
    let Some(node) = node() else {
        return;
    };
    let app = TestApp::spawn_with(db, |c| c.tokens.signing_alg = alg, Vec::new()).await;
    let ada = person(&app, "ada").await;
    grant_role(
        &app,
        "shopper",
        &ada.user_id,
        &["Shop:orders:read", "Shop:cart:*"],
    )
    .await;
    let rp = client(
        &app,
        "rp",
        ClientOptions {
            public: auth == Auth::Public,
            scopes: &["Shop:**:*"],
            redirect_uris: &[REGISTERED_REDIRECT],
            post_logout_redirect_uris: &[POST_LOGOUT],
            // ES256 runs leave the ID-token algorithm unregistered on both sides: RS256.
            id_token_alg: (alg != SigningAlg::Es256).then_some(alg),
            ..Default::default()
        },
    )
    .await;
    // A resource server: introspects the RP's tokens (a public client cannot).
    let rs = client(
        &app,
        "resource-server",
        ClientOptions {
            redirect_uris: &[],
            ..Default::default()
        },
    )
    .await;
    let mut config = json!({
        "issuer": app.base,
        "client_id": rp.id,
        "redirect_uri": REDIRECT,
        "post_logout_redirect_uri": POST_LOGOUT,
        "identifier": ada.username,
        "password": ada.password,
        "scope": SCOPE,
    });
    if alg != SigningAlg::Es256 {
        config["id_token_signed_response_alg"] = json!(alg.as_str());
    }
    match auth {
        Auth::Basic | Auth::Post => {
            config["client_secret"] = json!(rp.secret);
            config["token_endpoint_auth_method"] = json!(if auth == Auth::Basic {
                "client_secret_basic"
            } else {
                "client_secret_post"
            });
        }
        Auth::Public => {
            config["introspection_client"] =
                json!({ "client_id": rs.id, "client_secret": rs.secret });
        }
    }
    let out = run_rp(node, config).await;

    check_output(&app, &ada, &rp, alg, auth, &out).await;
    check_server_side(&app, &ada, &rp, &rs, auth, &out).await;
    app.stop().await.unwrap();
}

/// What openid-client saw.
async fn check_output(
    app: &TestApp,
    ada: &Person,
    rp: &TestClient,
    alg: SigningAlg,
    auth: Auth,
    out: &Value,
) {
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["issuer"], app.base);
    let method = match auth {
        Auth::Basic => "client_secret_basic",
        Auth::Post => "client_secret_post",
        Auth::Public => "none",
    };
    assert_eq!(out["token_endpoint_auth_method"], method);

    // The authorization response: state and RFC 9207 iss (openid-client compared both).
    let response = &out["authorization_response"];
    assert_eq!(response["iss"], app.base, "{response}");
    assert!(response["state"].as_str().is_some_and(|s| !s.is_empty()));

    // The token response.
    let tokens = &out["token_response"];
    assert_eq!(tokens["token_type"], "bearer");
    assert_eq!(tokens["scope"], SCOPE);
    assert_eq!(tokens["expires_in"], 600);
    assert_eq!(tokens["has_refresh_token"], true);

    // The ID token: signed with the active key of the client's algorithm (RS256 when it
    // registered none, whatever the access tokens use), which the JWKS publishes.
    let header = &out["id_token_header"];
    let id_alg = if alg == SigningAlg::Es256 {
        SigningAlg::Rs256
    } else {
        alg
    };
    assert_eq!(header["alg"], id_alg.as_str());
    assert_eq!(header["typ"], "JWT");
    let active = app
        .state
        .store
        .active_signing_key(id_alg)
        .await
        .unwrap()
        .expect("an active signing key");
    assert_eq!(header["kid"], active.kid.as_str());
    let jwks: Value = app.get("/oauth2/jwks").await.json().await.unwrap();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == active.kid.as_str() && k["alg"] == id_alg.as_str()),
        "{jwks}"
    );
    let claims = &out["id_token_claims"];
    assert_eq!(claims["iss"], app.base);
    assert_eq!(claims["sub"], ada.user_id.as_str());
    assert_eq!(claims["aud"], rp.id.as_str());
    assert_eq!(claims["azp"], rp.id.as_str());
    assert!(claims["nonce"].as_str().is_some_and(|n| !n.is_empty()));
    assert!(claims["at_hash"].as_str().is_some());
    let auth_time = claims["auth_time"].as_i64().expect("auth_time");
    let iat = claims["iat"].as_i64().unwrap();
    assert!(auth_time <= iat && iat - auth_time < 120, "{claims}");
    assert_eq!(claims["exp"].as_i64().unwrap() - iat, 600);
    assert_eq!(claims["email"], ada.email.as_str());
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["name"], ada.display_name.as_str());
    assert_eq!(claims["preferred_username"], ada.username.as_str());

    // Userinfo: the same person, from the current profile.
    let userinfo = &out["userinfo"];
    assert_eq!(userinfo["sub"], ada.user_id.as_str());
    assert_eq!(userinfo["email"], ada.email.as_str());
    assert_eq!(userinfo["email_verified"], true);
    assert_eq!(userinfo["name"], ada.display_name.as_str());
    assert_eq!(userinfo["preferred_username"], ada.username.as_str());
    assert!(userinfo["updated_at"].as_i64().is_some());
    assert!(userinfo.get("nonce").is_none() && userinfo.get("aud").is_none());

    // Introspection (by the client itself, or by the resource server for a public client).
    let at = &out["introspection"]["access_token"];
    assert_eq!(at["active"], true, "{at}");
    assert_eq!(at["scope"], SCOPE);
    assert_eq!(at["client_id"], rp.id.as_str());
    assert_eq!(at["token_type"], "Bearer");
    assert_eq!(at["token_kind"], "access_token");
    assert_eq!(at["auth_time"], auth_time);
    assert_eq!(
        out["introspection"]["access_token_after_revocation"],
        json!({ "active": false })
    );
    if auth == Auth::Public {
        assert!(out["introspection"].get("refresh_token").is_none());
    } else {
        let rt = &out["introspection"]["refresh_token"];
        assert_eq!(rt["active"], true, "{rt}");
        assert_eq!(rt["token_kind"], "refresh_token");
        assert_eq!(rt["scope"], SCOPE);
    }

    // Refresh: rotated; a retry within the grace window gets the same successor, and once that
    // is used the old token is refused; the new ID token repeats sub and auth_time.
    let refresh = &out["refresh"];
    assert_eq!(refresh["scope"], SCOPE);
    assert_eq!(refresh["retry_same_successor"], true);
    assert_eq!(refresh["old_refresh_token"], "invalid_grant");
    assert_ne!(refresh["refresh_token"], out["tokens"]["refresh_token"]);
    let refreshed = &refresh["id_token_claims"];
    assert_eq!(refreshed["sub"], ada.user_id.as_str());
    assert_eq!(refreshed["auth_time"], auth_time);
    assert!(refreshed.get("nonce").is_none(), "{refreshed}");
    assert_eq!(out["revoked_refresh_token"], "invalid_grant");

    // Logout: back to the registered URI with the state.
    let back = out["end_session"]["redirect"].as_str().unwrap();
    assert!(back.starts_with(&format!("{POST_LOGOUT}?state=")), "{back}");

    let checks: Vec<&str> = out["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for expected in [
        "discovery",
        "password login through the login page",
        "consent page answered",
        "authorization code grant (state, iss, PKCE, ID token signature, nonce, auth_time)",
        "userinfo (expected subject)",
        "introspection: access token active",
        "refresh token rotated",
        "rotated refresh token refused (invalid_grant)",
        "revoked access token inactive",
        "revoked refresh token refused",
        "RP-initiated logout redirects back with state",
        "signed out after logout",
    ] {
        assert!(checks.contains(&expected), "{expected} not in {checks:?}");
    }
}

/// What the server recorded and now answers.
async fn check_server_side(
    app: &TestApp,
    ada: &Person,
    rp: &TestClient,
    rs: &TestClient,
    auth: Auth,
    out: &Value,
) {
    let tokens = &out["tokens"];
    let first_access = tokens["access_token"].as_str().unwrap();
    let first_refresh = tokens["refresh_token"].as_str().unwrap();
    let last_access = out["refresh"]["access_token"].as_str().unwrap();
    let last_refresh = out["refresh"]["refresh_token"].as_str().unwrap();
    // Revoking the refresh token took its family with it: the first access token too.
    for token in [first_access, last_access] {
        assert_eq!(introspect(app, rs, token).await, json!({ "active": false }));
    }
    if auth != Auth::Public {
        for token in [first_refresh, last_refresh] {
            assert_eq!(introspect(app, rp, token).await, json!({ "active": false }));
        }
    }
    // Userinfo refuses the revoked access token.
    let r = app
        .client
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(first_access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // The grant holds what was consented to.
    let grant = app
        .state
        .store
        .find_grant(&ada.user_id, &rp.id)
        .await
        .unwrap()
        .expect("a grant");
    for scope in [
        "openid",
        "profile",
        "email",
        "offline_access",
        "Shop:orders:read",
    ] {
        assert!(
            grant.scopes.iter().any(|s| s == scope),
            "{scope} in {:?}",
            grant.scopes
        );
    }

    // The audit trail of the whole run.
    let events = app
        .state
        .store
        .list_audit(&Default::default(), &Default::default())
        .await
        .unwrap();
    let find = |action: &str| {
        events
            .iter()
            .filter(|e| e.action == action)
            .collect::<Vec<_>>()
    };
    let login = find("login.success");
    assert_eq!(login.len(), 1, "{events:?}");
    assert_eq!(login[0].actor_id.as_deref(), Some(ada.user_id.as_str()));
    assert!(find("login.failure").is_empty());
    let consent = find("grant.consent");
    assert_eq!(consent.len(), 1);
    assert_eq!(consent[0].target_id.as_deref(), Some(rp.id.as_str()));
    let codes = find("oauth2.code.issue");
    assert_eq!(codes.len(), 1);
    assert_eq!(codes[0].details["pkce"], true);
    let mut issued: Vec<String> = find("oauth2.token.issue")
        .iter()
        .map(|e| {
            assert_eq!(e.actor_id.as_deref(), Some(rp.id.as_str()));
            assert_eq!(e.target_id.as_deref(), Some(ada.user_id.as_str()));
            e.details["grant_type"].as_str().unwrap().to_owned()
        })
        .collect();
    issued.sort();
    // The code, the refresh, its retry (same successor) and the successor's own refresh.
    assert_eq!(
        issued,
        [
            "authorization_code",
            "refresh_token",
            "refresh_token",
            "refresh_token"
        ]
    );
    let retries = find("oauth2.token.issue")
        .iter()
        .filter(|e| e.details["retry"] == true)
        .count();
    assert_eq!(retries, 1);
    let reuse = find("oauth2.refresh.reuse");
    assert_eq!(reuse.len(), 1, "the rotated token came back once");
    assert_eq!(reuse[0].outcome.as_str(), "denied");
    let mut revoked: Vec<String> = find("oauth2.revoke")
        .iter()
        .map(|e| e.details["token_type"].as_str().unwrap().to_owned())
        .collect();
    revoked.sort();
    assert_eq!(revoked, ["access_token", "refresh_token"]);
    let logout = find("logout");
    assert_eq!(logout.len(), 1);
    assert_eq!(logout[0].details["via"], "end_session_endpoint");
    assert_eq!(logout[0].actor_id.as_deref(), Some(ada.user_id.as_str()));
    assert!(find("oauth2.code.replay").is_empty());
}

async fn confidential_basic_es256(db: TestDb) {
    relying_party(db, SigningAlg::Es256, Auth::Basic).await;
}
on_both_backends!(confidential_basic_es256);

async fn public_pkce_es256(db: TestDb) {
    relying_party(db, SigningAlg::Es256, Auth::Public).await;
}
on_both_backends!(public_pkce_es256);

async fn confidential_post_rs256(db: TestDb) {
    relying_party(db, SigningAlg::Rs256, Auth::Post).await;
}
on_both_backends!(confidential_post_rs256);

async fn public_pkce_eddsa(db: TestDb) {
    relying_party(db, SigningAlg::EdDsa, Auth::Public).await;
}
on_both_backends!(public_pkce_eddsa);
