//! JWT signing keys (reference §4): signing and verification with each algorithm, the JWKS checked
//! independently with jsonwebtoken, forged and stale tokens refused, rotation, the first-key race,
//! `authx keys rotate`, and the admin API.

use std::sync::Arc;

use authx::domain::audit::AuditFilter;
use authx::domain::now;
use authx::domain::signing_key::{KeyStatus, SigningAlg};
use authx::engine::oauth2::keys::{KeyError, Keys, Pace, Rejection, ensure_active_in};
use authx::store::Store;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::binary::{authx, run, text};
use crate::support::db::TestDb;
use crate::support::principals::{api_call as call, caller};

const AT_JWT: &str = "at+jwt";
const AUDIENCE: &str = "https://api.example.com";

fn claims(app: &TestApp, iat: i64, exp: i64) -> Value {
    json!({
        "iss": app.state.config.issuer_url(),
        "sub": "user-1",
        "aud": AUDIENCE,
        "client_id": "client-a",
        "scope": "App:doc:read",
        "jti": uuid::Uuid::now_v7().to_string(),
        "iat": iat,
        "exp": exp,
    })
}

fn fresh_claims(app: &TestApp) -> Value {
    let t = now();
    claims(app, t, t + 300)
}

async fn verify(app: &TestApp, token: &str) -> Result<Value, KeyError> {
    app.state
        .keys
        .verify::<Value>(
            token,
            AT_JWT,
            &app.state.config.issuer_url(),
            Some(AUDIENCE),
        )
        .await
}

fn rejected(result: Result<Value, KeyError>) -> Rejection {
    match result {
        Err(KeyError::Rejected(r)) => r,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

async fn jwks(app: &TestApp) -> Vec<Value> {
    let r = app.get("/oauth2/jwks").await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["cache-control"].to_str().unwrap(),
        "public, max-age=60"
    );
    let body: Value = r.json().await.unwrap();
    body["keys"].as_array().unwrap().clone()
}

fn kids(keys: &[Value]) -> Vec<String> {
    keys.iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn header_of(token: &str) -> Header {
    jsonwebtoken::decode_header(token).unwrap()
}

fn jwt_alg(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::Es256 => Algorithm::ES256,
        SigningAlg::Rs256 => Algorithm::RS256,
        SigningAlg::EdDsa => Algorithm::EdDSA,
    }
}

/// Replaces the payload of a JWT, keeping header and signature.
fn with_payload(token: &str, payload: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    )
}

async fn each_alg_signs_and_verifies(db: TestDb) {
    let app = TestApp::spawn_with(
        db,
        |c| c.tokens.id_token_signing_algs = vec![SigningAlg::EdDsa],
        Vec::new(),
    )
    .await;
    for alg in [SigningAlg::Es256, SigningAlg::Rs256, SigningAlg::EdDsa] {
        let rotations = app.state.keys.rotate(Some(alg), Pace::Now).await.unwrap();
        assert_eq!(rotations.len(), 1, "only the key of {alg}");
        let rotation = &rotations[0];
        assert_eq!(rotation.key.alg, alg);
        let claims = fresh_claims(&app);
        let token = app
            .state
            .keys
            .sign_for(alg, AT_JWT, |_| &claims)
            .await
            .unwrap();
        let header = header_of(&token);
        assert_eq!(header.alg, jwt_alg(alg));
        assert_eq!(header.kid.as_deref(), Some(rotation.key.kid.as_str()));
        assert_eq!(header.typ.as_deref(), Some(AT_JWT));
        let got = verify(&app, &token).await.unwrap();
        assert_eq!(got["sub"], "user-1");

        // Independently of our code: the JWK from /oauth2/jwks verifies the signature.
        let keys = jwks(&app).await;
        let jwk = keys
            .iter()
            .find(|k| k["kid"] == rotation.key.kid.as_str())
            .unwrap_or_else(|| panic!("{alg}: kid not in the JWKS: {keys:?}"));
        assert_eq!(jwk["alg"], alg.as_str());
        assert_eq!(jwk["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(jwk.get(private).is_none(), "{alg}: {private} published");
        }
        let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
        let decoding = DecodingKey::from_jwk(&parsed).unwrap();
        let mut validation = Validation::new(jwt_alg(alg));
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[app.state.config.issuer_url()]);
        let data = jsonwebtoken::decode::<Value>(&token, &decoding, &validation).unwrap();
        assert_eq!(data.claims["client_id"], "client-a");

        // Tampered payload.
        let mut changed = fresh_claims(&app);
        changed["sub"] = json!("admin");
        let forged = with_payload(&token, &changed);
        assert_eq!(rejected(verify(&app, &forged).await), Rejection::Signature);
        assert!(jsonwebtoken::decode::<Value>(&forged, &decoding, &validation).is_err());

        // Wrong type, issuer and audience.
        let state = &app.state;
        let issuer = state.config.issuer_url();
        let r = state
            .keys
            .verify::<Value>(&token, "JWT", &issuer, Some(AUDIENCE))
            .await;
        assert_eq!(rejected(r), Rejection::Type);
        let r = state
            .keys
            .verify::<Value>(&token, AT_JWT, "https://evil.example", Some(AUDIENCE))
            .await;
        assert_eq!(rejected(r), Rejection::Issuer);
        let r = state
            .keys
            .verify::<Value>(&token, AT_JWT, &issuer, Some("https://other"))
            .await;
        assert_eq!(rejected(r), Rejection::Audience);
        // No audience asked for: any audience is fine.
        state
            .keys
            .verify::<Value>(&token, AT_JWT, &issuer, None)
            .await
            .unwrap();
    }
    app.stop().await.unwrap();
}
on_both_backends!(each_alg_signs_and_verifies);

async fn forged_and_stale_tokens_are_refused(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let active = app
        .state
        .keys
        .ensure_active(SigningAlg::Es256)
        .await
        .unwrap();
    assert_eq!(active.alg, SigningAlg::Es256);
    let signed = app
        .state
        .keys
        .sign(&fresh_claims(&app), AT_JWT)
        .await
        .unwrap();
    assert_eq!(
        header_of(&signed).alg,
        Algorithm::ES256,
        "access tokens are ES256 by default"
    );
    let claims = fresh_claims(&app);

    // Signed by a key that was never stored (so never published).
    let stranger = Keys::generate(SigningAlg::Es256).unwrap();
    let stranger_der = STANDARD.decode(&stranger.private_key).unwrap();
    let stranger_key = EncodingKey::from_ec_der(&stranger_der);
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some(AT_JWT.into());
    header.kid = Some(stranger.kid.clone());
    let token = jsonwebtoken::encode(&header, &claims, &stranger_key).unwrap();
    assert_eq!(rejected(verify(&app, &token).await), Rejection::UnknownKey);
    // The same, claiming to be the active key.
    header.kid = Some(active.kid.clone());
    let token = jsonwebtoken::encode(&header, &claims, &stranger_key).unwrap();
    assert_eq!(rejected(verify(&app, &token).await), Rejection::Signature);
    // No kid at all.
    header.kid = None;
    let token = jsonwebtoken::encode(&header, &claims, &stranger_key).unwrap();
    assert_eq!(rejected(verify(&app, &token).await), Rejection::UnknownKey);

    // HS256 with the public key (its JWK text, or its x coordinate) as the HMAC secret.
    let public = Keys::jwk(&active);
    for secret in [
        public.to_string().into_bytes(),
        URL_SAFE_NO_PAD
            .decode(public["x"].as_str().unwrap())
            .unwrap(),
    ] {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(AT_JWT.into());
        header.kid = Some(active.kid.clone());
        let token =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&secret)).unwrap();
        assert_eq!(rejected(verify(&app, &token).await), Rejection::Algorithm);
    }

    // `alg: none`, unsigned, with and without a trailing signature part.
    let genuine = app.state.keys.sign(&claims, AT_JWT).await.unwrap();
    let payload = genuine.split('.').nth(1).unwrap().to_owned();
    let none_header = URL_SAFE_NO_PAD
        .encode(json!({"alg": "none", "kid": active.kid, "typ": AT_JWT}).to_string());
    for token in [
        format!("{none_header}.{payload}."),
        format!("{none_header}.{payload}"),
    ] {
        assert!(matches!(
            verify(&app, &token).await,
            Err(KeyError::Rejected(_))
        ));
    }
    // A genuine signature under a header whose alg was changed to another asymmetric one.
    let es_sig = genuine.split('.').nth(2).unwrap();
    let rs_header = URL_SAFE_NO_PAD
        .encode(json!({"alg": "RS256", "kid": active.kid, "typ": AT_JWT}).to_string());
    let token = format!("{rs_header}.{payload}.{es_sig}");
    assert_eq!(rejected(verify(&app, &token).await), Rejection::Algorithm);
    assert!(verify(&app, &genuine).await.is_ok());

    // Expired (beyond any leeway).
    let t = now();
    let sign = |c: Value| {
        let state = app.state.clone();
        async move { state.keys.sign(&c, AT_JWT).await.unwrap() }
    };
    let token = sign(claims_at(&app, t - 600, t - 120)).await;
    assert_eq!(rejected(verify(&app, &token).await), Rejection::Expired);
    // Issued in the future beyond the 60 s skew; within it is fine.
    let token = sign(claims_at(&app, t + 3600, t + 4000)).await;
    assert_eq!(
        rejected(verify(&app, &token).await),
        Rejection::IssuedInFuture
    );
    let token = sign(claims_at(&app, t + 30, t + 300)).await;
    assert!(verify(&app, &token).await.is_ok());
    // No iat at all.
    let mut no_iat = claims_at(&app, t, t + 300);
    no_iat.as_object_mut().unwrap().remove("iat");
    let token = sign(no_iat).await;
    assert_eq!(rejected(verify(&app, &token).await), Rejection::Claims);
    // Garbage.
    assert_eq!(
        rejected(verify(&app, "not.a.jwt").await),
        Rejection::Malformed
    );
    app.stop().await.unwrap();
}
on_both_backends!(forged_and_stale_tokens_are_refused);

fn claims_at(app: &TestApp, iat: i64, exp: i64) -> Value {
    claims(app, iat, exp)
}

async fn rotation_keeps_old_keys_published_until_their_tokens_expire(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let state = &app.state;
    let es256 = |keys: &[Value]| -> Vec<String> {
        kids(
            &keys
                .iter()
                .filter(|k| k["alg"] == "ES256")
                .cloned()
                .collect::<Vec<_>>(),
        )
    };
    // A key of each published algorithm exists from the start: ES256 for access tokens, RS256
    // for the ID tokens of clients that register no algorithm.
    let algs: Vec<String> = jwks(&app)
        .await
        .iter()
        .map(|k| k["alg"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(algs.len(), 2, "{algs:?}");
    assert!(algs.contains(&"ES256".to_owned()) && algs.contains(&"RS256".to_owned()));
    let rs256 = state
        .store
        .active_signing_key(SigningAlg::Rs256)
        .await
        .unwrap()
        .unwrap();

    let old_token = state.keys.sign(&fresh_claims(&app), AT_JWT).await.unwrap();
    let old_kid = header_of(&old_token).kid.unwrap();
    assert_eq!(es256(&jwks(&app).await), vec![old_kid.clone()]);

    let before = now();
    let rotations = state.keys.rotate(None, Pace::Published).await.unwrap();
    assert_eq!(rotations.len(), 2, "every published algorithm rotates");
    let rotated_rs = rotations
        .iter()
        .find(|r| r.key.alg == SigningAlg::Rs256)
        .unwrap();
    assert_eq!(rotated_rs.retired, vec![rs256.kid.clone()]);
    let rotation = rotations
        .iter()
        .find(|r| r.key.alg == SigningAlg::Es256)
        .unwrap()
        .clone();
    assert_eq!(rotation.retired, vec![old_kid.clone()]);
    assert_ne!(rotation.key.kid, old_kid);
    // Published for the access-token life plus the skew (600 + 60 s by default) plus the 5 s
    // other nodes may still sign with it.
    assert!(rotation.publish_until >= before + 665 && rotation.publish_until <= now() + 665);

    // Both in the JWKS (newest first); the old token still verifies; new tokens use the new kid.
    assert_eq!(
        es256(&jwks(&app).await),
        vec![rotation.key.kid.clone(), old_kid.clone()]
    );
    verify(&app, &old_token).await.unwrap();
    let new_token = state.keys.sign(&fresh_claims(&app), AT_JWT).await.unwrap();
    assert_eq!(
        header_of(&new_token).kid.as_deref(),
        Some(rotation.key.kid.as_str())
    );
    verify(&app, &new_token).await.unwrap();
    let stored = state
        .store
        .get_signing_key(&old_kid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, KeyStatus::Retired);
    assert_eq!(stored.publish_until, Some(rotation.publish_until));

    // Rotate ES256 again "long ago" through the store: the key retired now is past its
    // publication. The RS256 keys are untouched by an ES256 rotation.
    let third = Keys::generate(SigningAlg::Es256).unwrap();
    let t = now();
    let retired = state
        .store
        .rotate_signing_key(third.clone(), t - 1000, t - 1)
        .await
        .unwrap();
    assert_eq!(retired, vec![rotation.key.kid.clone()]);
    assert_eq!(
        state
            .store
            .active_signing_key(SigningAlg::Rs256)
            .await
            .unwrap()
            .unwrap()
            .kid,
        rotated_rs.key.kid
    );
    state.keys.invalidate();
    assert_eq!(
        es256(&jwks(&app).await),
        vec![third.kid.clone(), old_kid.clone()]
    );
    assert_eq!(
        rejected(verify(&app, &new_token).await),
        Rejection::UnknownKey
    );
    verify(&app, &old_token).await.unwrap();

    // The sweep removes only keys that are no longer published.
    let all_before = state.store.list_signing_keys().await.unwrap().len();
    assert_eq!(state.store.delete_expired_signing_keys(t).await.unwrap(), 1);
    assert!(
        state
            .store
            .get_signing_key(&rotation.key.kid)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        state.store.list_signing_keys().await.unwrap().len(),
        all_before - 1
    );
    // Once the retired keys' publication has ended, only the active keys remain.
    let later = rotation.publish_until.max(rotated_rs.publish_until);
    let published = state.store.published_signing_keys(later).await.unwrap();
    let mut active: Vec<String> = published.iter().map(|k| k.kid.clone()).collect();
    active.sort();
    let mut expected = vec![third.kid.clone(), rotated_rs.key.kid.clone()];
    expected.sort();
    assert_eq!(active, expected);
    assert_eq!(
        state
            .store
            .delete_expired_signing_keys(later)
            .await
            .unwrap(),
        2,
        "the first ES256 key and the first RS256 key"
    );
    assert_eq!(
        state
            .store
            .delete_expired_signing_keys(later)
            .await
            .unwrap(),
        0
    );
    let left = state.store.list_signing_keys().await.unwrap();
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|k| k.status == KeyStatus::Active));
    assert_eq!(
        state
            .store
            .active_signing_key(SigningAlg::Es256)
            .await
            .unwrap()
            .unwrap()
            .kid,
        third.kid
    );
    app.stop().await.unwrap();
}
on_both_backends!(rotation_keeps_old_keys_published_until_their_tokens_expire);

/// A node on the database of `db` that publishes rotated-in keys for `lead` seconds first.
async fn node_on(db: &TestDb, lead: u64) -> TestApp {
    let url = db.url.clone();
    TestApp::spawn_with(
        TestDb::sqlite().await,
        move |c| {
            c.database.url = url;
            c.tokens.key_publish_lead_secs = lead;
        },
        Vec::new(),
    )
    .await
}

/// Two nodes on one database: after a rotation on one, every token either node signs verifies
/// on both, and no token of the new key exists before both nodes' JWKS hold it. The lead is 6 s
/// here, just over the 5 s a node keeps its key set (in production it also covers the JWKS's
/// 60 s `max-age`).
async fn rotation_publishes_before_it_signs(db: TestDb) {
    const ISSUER: &str = "https://id.example";
    let lead = 6;
    let a = node_on(&db, lead).await;
    let b = node_on(&db, lead).await;
    async fn sign(node: &TestApp) -> String {
        let t = now();
        let claims = json!({"iss": ISSUER, "sub": "u", "aud": AUDIENCE, "iat": t, "exp": t + 300});
        node.state.keys.sign(&claims, AT_JWT).await.unwrap()
    }
    let old = header_of(&sign(&a).await).kid.unwrap();
    assert_eq!(header_of(&sign(&b).await).kid.unwrap(), old);
    assert!(kids(&jwks(&b).await).contains(&old));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let rotation = a
        .state
        .keys
        .rotate(Some(SigningAlg::Es256), Pace::Published)
        .await
        .unwrap()
        .remove(0);
    let new = rotation.key.kid.clone();
    assert_eq!(rotation.retired, vec![old.clone()]);
    assert_eq!(rotation.key.signs_from, rotation.key.created_at + 6);
    // The predecessor signs for the lead more, so its publication covers that too.
    // The predecessor signs for the lead more, so its publication covers that too: lead + token
    // life (600 s) + clock skew (60 s).
    assert!(
        rotation.publish_until >= rotation.key.created_at + 6 + 600 + 60,
        "{rotation:?}"
    );
    assert!(kids(&jwks(&a).await).contains(&new), "published at once");

    let mut signed_by = std::collections::BTreeMap::<String, usize>::new();
    while now() <= rotation.key.signs_from + 1 {
        // The key sets as a verifier fetching either node would see them now, then tokens.
        let published_a = kids(&jwks(&a).await);
        let published_b = kids(&jwks(&b).await);
        for (name, node) in [("a", &a), ("b", &b)] {
            let before = now();
            let token = sign(node).await;
            let kid = header_of(&token).kid.unwrap();
            if before < rotation.key.signs_from {
                assert_eq!(
                    kid, old,
                    "node {name} signed with the new key before its time"
                );
            }
            if kid == new {
                assert!(
                    published_a.contains(&new) && published_b.contains(&new),
                    "a token of {new} exists before every JWKS holds it: a {published_a:?}, b {published_b:?}"
                );
            }
            for verifier in [&a, &b] {
                verifier
                    .state
                    .keys
                    .verify::<Value>(&token, AT_JWT, ISSUER, Some(AUDIENCE))
                    .await
                    .unwrap_or_else(|e| panic!("a token of node {name} ({kid}) refused: {e}"));
            }
            *signed_by.entry(format!("{name}:{kid}")).or_default() += 1;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Both nodes signed with both keys, and the new one signs now.
    for entry in [
        format!("a:{old}"),
        format!("b:{old}"),
        format!("a:{new}"),
        format!("b:{new}"),
    ] {
        assert!(signed_by.contains_key(&entry), "{entry} in {signed_by:?}");
    }

    // An emergency rotation (the API's `now`) signs at once; the other node verifies its tokens
    // on the first one it sees (an unknown kid re-reads the key set).
    let rotator = caller(&b, &["AuthX:key:rotate"]).await;
    let (s, urgent) = call(
        &b,
        &rotator,
        Method::POST,
        "/api/v1/keys/rotate",
        Some(json!({"alg": "ES256", "now": true})),
    )
    .await;
    assert_eq!(s, 201, "{urgent}");
    let urgent = &urgent["items"][0];
    assert_eq!(urgent["key"]["signs_from"], urgent["key"]["created_at"]);
    assert_eq!(urgent["retired"], json!([new]));
    let token = sign(&b).await;
    assert_eq!(
        header_of(&token).kid.unwrap(),
        urgent["key"]["kid"].as_str().unwrap()
    );
    a.state
        .keys
        .verify::<Value>(&token, AT_JWT, ISSUER, Some(AUDIENCE))
        .await
        .unwrap();
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}
on_both_backends!(rotation_publishes_before_it_signs);

async fn concurrent_first_use_creates_exactly_one_key(db: TestDb) {
    // Several "nodes" (each its own pool) race to create the first key.
    let mut stores: Vec<Arc<dyn Store>> = vec![db.store().await];
    for _ in 0..3 {
        stores.push(db.connect().await);
    }
    let mut tasks = Vec::new();
    for i in 0..12 {
        let store = stores[i % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            ensure_active_in(store.as_ref(), SigningAlg::Es256)
                .await
                .map(|k| k.kid)
        }));
    }
    let mut kids = Vec::new();
    for task in tasks {
        kids.push(task.await.unwrap().unwrap());
    }
    kids.dedup();
    assert_eq!(kids.len(), 1, "every caller got the same key: {kids:?}");
    let all = stores[0].list_signing_keys().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].status, KeyStatus::Active);
    assert_eq!(all[0].kid, kids[0]);
    // A second active key is refused by the database itself.
    let err = stores[0]
        .create_signing_key(Keys::generate(SigningAlg::Es256).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, authx::store::StoreError::Conflict(m) if m.contains("active")),
        "{err:?}"
    );
    for store in stores {
        store.close().await;
    }
}
on_both_backends!(concurrent_first_use_creates_exactly_one_key);

async fn concurrent_first_sign_through_the_server(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let state = app.state.clone();
        tasks.push(tokio::spawn(async move {
            state
                .keys
                .ensure_active(SigningAlg::Es256)
                .await
                .map(|k| k.kid)
        }));
    }
    let mut kids = Vec::new();
    for task in tasks {
        kids.push(task.await.unwrap().unwrap());
    }
    kids.dedup();
    assert_eq!(kids.len(), 1, "{kids:?}");
    let all = app.state.store.list_signing_keys().await.unwrap();
    assert_eq!(
        all.iter()
            .filter(|k| k.status == KeyStatus::Active && k.alg == SigningAlg::Es256)
            .count(),
        1
    );
    app.stop().await.unwrap();
}
on_both_backends!(concurrent_first_sign_through_the_server);

async fn cli_rotates_and_prints_the_kid(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let rotate = |alg: Option<&str>| {
        let mut cmd = authx(dir.path());
        cmd.args(["--database-url", &db.url, "keys", "rotate"]).env(
            "AUTHX_SECRETS__KEY",
            crate::support::db::secrets_key_base64(),
        );
        if let Some(alg) = alg {
            cmd.args(["--alg", alg]);
        }
        run(&mut cmd)
    };
    let first = rotate(Some("RS256"));
    let (stdout, err) = text(&first);
    assert_eq!(first.status.code(), Some(0), "{stdout}{err}");
    let kid = printed_kid(&stdout);
    assert!(stdout.contains("no active RS256 key to retire"), "{stdout}");
    assert_eq!(stdout.matches("new signing key").count(), 1, "{stdout}");

    // Without --alg: every algorithm the server signs with (ES256 for access tokens first).
    let second = rotate(None);
    let (stdout, err) = text(&second);
    assert_eq!(second.status.code(), Some(0), "{stdout}{err}");
    assert_eq!(stdout.matches("new signing key").count(), 2, "{stdout}");
    let new_es256 = printed_kid(&stdout);
    assert!(
        stdout.contains("(ES256)") && stdout.contains("(RS256)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("retired {kid} stay published until 20")),
        "{stdout}"
    );

    let bad = rotate(Some("HS256"));
    assert_eq!(bad.status.code(), Some(2), "{:?}", text(&bad));
    // An algorithm the configuration does not sign with is refused, naming the settings.
    let unused = rotate(Some("EdDSA"));
    let (_, err) = text(&unused);
    assert_eq!(unused.status.code(), Some(2), "{err}");
    assert!(err.contains("tokens.id_token_signing_algs"), "{err}");

    let store = db.connect().await;
    let active = store
        .active_signing_key(SigningAlg::Es256)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(active.kid, new_es256);
    // A scheduled rotation publishes the key for the default 65 s before it signs.
    assert_eq!(active.signs_from, active.created_at + 65);
    assert!(
        stdout.contains(&format!(
            "the new key signs from {}",
            authx::http::api::common::timestamp(active.signs_from)
        )),
        "{stdout}"
    );
    let old = store.get_signing_key(&kid).await.unwrap().unwrap();
    assert_eq!(old.alg, SigningAlg::Rs256);
    assert_eq!(old.status, KeyStatus::Retired);
    assert!(old.publish_until.unwrap() > now() + 600);
    assert!(
        store
            .active_signing_key(SigningAlg::EdDsa)
            .await
            .unwrap()
            .is_none()
    );
    let events = store
        .list_audit(
            &AuditFilter {
                action: Some("key.rotate".into()),
                ..Default::default()
            },
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(events.len(), 3, "one event per rotated key");
    assert!(events.iter().all(|e| e.actor_type == "cli"));
    assert!(
        events
            .iter()
            .any(|e| e.target_id.as_deref() == Some(new_es256.as_str()))
    );
    assert!(
        events
            .iter()
            .all(|e| e.details["signs_from"].is_i64() && e.details["publish_until"].is_i64()),
        "{events:?}"
    );

    // `--now` (a leaked key): the new key signs at once.
    let mut cmd = authx(dir.path());
    cmd.args([
        "--database-url",
        &db.url,
        "keys",
        "rotate",
        "--now",
        "--alg",
        "ES256",
    ])
    .env(
        "AUTHX_SECRETS__KEY",
        crate::support::db::secrets_key_base64(),
    );
    let urgent = run(&mut cmd);
    let (stdout, err) = text(&urgent);
    assert_eq!(urgent.status.code(), Some(0), "{stdout}{err}");
    let urgent_kid = printed_kid(&stdout);
    let active = store
        .active_signing_key(SigningAlg::Es256)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(active.kid, urgent_kid);
    assert_eq!(active.signs_from, active.created_at);
    store.close().await;
}
on_both_backends!(cli_rotates_and_prints_the_kid);

fn printed_kid(stdout: &str) -> String {
    let rest = stdout
        .split("kid ")
        .nth(1)
        .unwrap_or_else(|| panic!("no kid printed: {stdout}"));
    let kid: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert_eq!(kid.len(), 43, "a SHA-256 thumbprint: {stdout}");
    kid
}

async fn admin_api_lists_and_rotates(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let first = app
        .state
        .keys
        .ensure_active(SigningAlg::Es256)
        .await
        .unwrap();
    let first_rs = app
        .state
        .keys
        .ensure_active(SigningAlg::Rs256)
        .await
        .unwrap();
    let nobody = caller(&app, &["AuthX:me:*"]).await;
    let reader = caller(&app, &["AuthX:key:read"]).await;
    let rotator = caller(&app, &["AuthX:key:rotate"]).await;

    let (s, p) = call(&app, &nobody, Method::GET, "/api/v1/keys", None).await;
    assert_eq!(s, 403, "{p}");
    assert_eq!(p["missing_scopes"], json!(["AuthX:key:read"]));

    let (s, list) = call(&app, &reader, Method::GET, "/api/v1/keys", None).await;
    assert_eq!(s, 200, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    let listed_es = items
        .iter()
        .find(|k| k["kid"] == first.kid.as_str())
        .unwrap();
    assert_eq!(listed_es["alg"], "ES256");
    assert_eq!(listed_es["status"], "active");
    assert_eq!(listed_es["published"], true);
    assert_eq!(listed_es["public_jwk"]["kid"], first.kid.as_str());
    let text = list.to_string();
    assert!(!text.contains(&first.private_key), "private key leaked");
    assert!(!text.contains(&first_rs.private_key), "private key leaked");
    for item in items {
        assert!(item["public_jwk"].get("d").is_none());
        assert!(item.get("private_key").is_none());
    }

    // key:read may not rotate.
    let (s, p) = call(
        &app,
        &reader,
        Method::POST,
        "/api/v1/keys/rotate",
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 403, "{p}");
    assert_eq!(p["missing_scopes"], json!(["AuthX:key:rotate"]));
    assert_eq!(
        app.state
            .store
            .active_signing_key(SigningAlg::Es256)
            .await
            .unwrap()
            .unwrap()
            .kid,
        first.kid
    );

    // An algorithm the server does not sign with is refused, naming the field.
    let (s, p) = call(
        &app,
        &rotator,
        Method::POST,
        "/api/v1/keys/rotate",
        Some(json!({"alg": "EdDSA"})),
    )
    .await;
    assert_eq!(s, 400, "{p}");
    assert_eq!(p["errors"][0]["field"], "alg", "{p}");

    let (s, p) = call(
        &app,
        &rotator,
        Method::POST,
        "/api/v1/keys/rotate",
        Some(json!({"alg": "HS256"})),
    )
    .await;
    assert_eq!(s, 400, "{p}");

    let (s, rotated) = call(
        &app,
        &rotator,
        Method::POST,
        "/api/v1/keys/rotate",
        Some(json!({"alg": "RS256"})),
    )
    .await;
    assert_eq!(s, 201, "{rotated}");
    let only = rotated["items"].as_array().unwrap();
    assert_eq!(only.len(), 1, "{rotated}");
    assert_eq!(only[0]["key"]["alg"], "RS256");
    assert_eq!(only[0]["key"]["status"], "active");
    assert_eq!(only[0]["key"]["public_jwk"]["kty"], "RSA");
    assert_eq!(only[0]["retired"], json!([first_rs.kid]));
    assert!(only[0]["retired_published_until"].is_string());
    // The tests' lead is 0 s: the new key signs from its creation.
    assert_eq!(only[0]["key"]["signs_from"], only[0]["key"]["created_at"]);
    let new_rs = only[0]["key"]["kid"].as_str().unwrap().to_owned();

    // Without `alg`, every algorithm rotates; the server signs with the new keys at once and
    // publishes the old ones beside them.
    let (s, rotated) = call(
        &app,
        &rotator,
        Method::POST,
        "/api/v1/keys/rotate",
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 201, "{rotated}");
    let items = rotated["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{rotated}");
    let new_kid = items.iter().find(|i| i["key"]["alg"] == "ES256").unwrap()["key"]["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = app
        .state
        .keys
        .sign(&fresh_claims(&app), AT_JWT)
        .await
        .unwrap();
    assert_eq!(header_of(&token).kid.as_deref(), Some(new_kid.as_str()));
    assert_eq!(header_of(&token).alg, Algorithm::ES256);
    let published = kids(&jwks(&app).await);
    for kid in [&new_kid, &first.kid, &first_rs.kid, &new_rs] {
        assert!(published.contains(kid), "{kid} in {published:?}");
    }

    let (s, list) = call(&app, &reader, Method::GET, "/api/v1/keys", None).await;
    assert_eq!(s, 200);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 5, "{list}");
    let old = items
        .iter()
        .find(|k| k["kid"] == first.kid.as_str())
        .unwrap();
    assert_eq!(old["status"], "retired");
    assert_eq!(old["published"], true);
    assert!(old["retired_at"].is_string());
    assert!(old["publish_until"].is_string());
    assert_eq!(items.iter().filter(|k| k["status"] == "active").count(), 2);

    let events = app
        .state
        .store
        .list_audit(
            &AuditFilter {
                action: Some("key.rotate".into()),
                ..Default::default()
            },
            &Default::default(),
        )
        .await
        .unwrap();
    let outcomes: Vec<_> = events
        .iter()
        .map(|e| (e.actor_id.clone(), e.outcome.as_str()))
        .collect();
    assert!(
        outcomes.contains(&(Some(rotator.user_id.clone()), "success")),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&(Some(reader.user_id.clone()), "denied")),
        "{outcomes:?}"
    );
    app.stop().await.unwrap();
}
on_both_backends!(admin_api_lists_and_rotates);
