//! The id_token verifier and the login flow against an issuer the test controls: a poem server on
//! loopback serving discovery, a JWKS, a token endpoint (which checks client authentication,
//! the redirect URI and the PKCE verifier for real) and userinfo. The tokens it hands out are
//! crafted by each test — valid ones signed with the published keys as the baseline, and every
//! kind of forgery or mistake the verifier must refuse. The code under test is the crate's real
//! `OidcClient::start`/`finish`; nothing here stubs a check away.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use authx_strategy_core::network::Networks;
use authx_strategy_core::outbound::OutboundPolicy;
use authx_strategy_google::{
    CallbackParams, GoogleDetails, OidcClient, OidcError, OidcOptions, UpstreamIdentity,
};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use poem::http::{HeaderMap, StatusCode};
use poem::listener::TcpAcceptor;
use poem::web::{Data, Form, Json};
use poem::{EndpointExt, IntoResponse, Response, Route, Server, get, handler, post};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const CLIENT_ID: &str = "authx-test";
const CLIENT_SECRET: &str = "s3cret:with/odd+chars";
const REDIRECT_URI: &str = "http://127.0.0.1:1/login/mock/callback";
const CODE: &str = "the-one-code";
const ACCESS_TOKEN: &str = "at-0123456789";

// ---------------------------------------------------------------------------------------------
// Keys

/// A signing key the test holds, with its public JWK.
struct TestKey {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
}

impl TestKey {
    fn new(kid: &str, alg: Algorithm, encoding: EncodingKey) -> Self {
        let mut jwk =
            serde_json::to_value(Jwk::from_encoding_key(&encoding, alg).unwrap()).unwrap();
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        Self {
            kid: kid.to_owned(),
            alg,
            encoding,
            jwk,
        }
    }

    fn es256(kid: &str) -> Self {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        Self::new(
            kid,
            Algorithm::ES256,
            EncodingKey::from_ec_der(pkcs8.as_ref()),
        )
    }

    fn ed25519(kid: &str) -> Self {
        let pkcs8 = Ed25519KeyPair::generate().unwrap().to_pkcs8v1().unwrap();
        Self::new(
            kid,
            Algorithm::EdDSA,
            EncodingKey::from_ed_der(pkcs8.as_ref()),
        )
    }

    fn rs256(kid: &str) -> Self {
        let key = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let pkcs8 = key.as_der().unwrap();
        let pkcs1 = pkcs1_from_pkcs8(pkcs8.as_ref());
        Self::new(kid, Algorithm::RS256, EncodingKey::from_rsa_der(&pkcs1))
    }

    fn header(&self) -> Header {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        header
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_with(self.header(), claims)
    }

    fn sign_with(&self, header: Header, claims: &Value) -> String {
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo` (jsonwebtoken wants PKCS#1):
/// SEQUENCE { INTEGER version, SEQUENCE algorithm, OCTET STRING privateKey, … }.
fn pkcs1_from_pkcs8(der: &[u8]) -> Vec<u8> {
    fn tlv(input: &[u8]) -> (u8, &[u8], &[u8]) {
        let tag = input[0];
        let (len, header) = match input[1] {
            n if n < 0x80 => (n as usize, 2),
            n => {
                let count = (n & 0x7f) as usize;
                let len = input[2..2 + count]
                    .iter()
                    .fold(0usize, |acc, b| (acc << 8) | *b as usize);
                (len, 2 + count)
            }
        };
        (tag, &input[header..header + len], &input[header + len..])
    }
    let (tag, info, _) = tlv(der);
    assert_eq!(tag, 0x30);
    let (_, _, rest) = tlv(info); // version
    let (_, _, rest) = tlv(rest); // algorithm
    let (tag, private_key, _) = tlv(rest);
    assert_eq!(tag, 0x04);
    private_key.to_vec()
}

/// A compact JWS with any header and no valid signature, for `alg: none` and friends.
fn unsigned(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

// ---------------------------------------------------------------------------------------------
// The mock issuer

#[derive(Default)]
struct IssuerState {
    issuer: String,
    /// What discovery claims as `issuer` (normally `issuer`).
    discovery_issuer: Option<String>,
    /// Extra members merged into the discovery document.
    discovery_extra: Value,
    jwks: Vec<Value>,
    /// The PKCE challenge of the login in progress (from the authorization URL).
    code_challenge: Option<String>,
    /// The id_token the token endpoint hands out (`None`: the response has none).
    id_token: Option<String>,
    userinfo: Value,
}

#[derive(Clone, Default)]
struct Shared {
    state: Arc<Mutex<IssuerState>>,
    jwks_hits: Arc<AtomicUsize>,
    token_hits: Arc<AtomicUsize>,
    userinfo_hits: Arc<AtomicUsize>,
}

#[handler]
fn discovery_endpoint(Data(shared): Data<&Shared>) -> Json<Value> {
    let state = shared.state.lock().unwrap();
    let issuer = &state.issuer;
    let mut doc = json!({
        "issuer": state.discovery_issuer.clone().unwrap_or_else(|| issuer.clone()),
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
    });
    if let Some(extra) = state.discovery_extra.as_object() {
        for (k, v) in extra {
            doc[k] = v.clone();
        }
    }
    Json(doc)
}

#[handler]
fn jwks_endpoint(Data(shared): Data<&Shared>) -> Json<Value> {
    shared.jwks_hits.fetch_add(1, Ordering::SeqCst);
    Json(json!({ "keys": shared.state.lock().unwrap().jwks }))
}

/// RFC 6749 §4.1.3 with client_secret_basic (§2.3.1: id and secret form-urlencoded, then
/// Basic) and RFC 7636 §4.6 (S256 of the verifier equals the challenge).
#[handler]
fn token_endpoint(
    Data(shared): Data<&Shared>,
    headers: &HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    shared.token_hits.fetch_add(1, Ordering::SeqCst);
    let state = shared.state.lock().unwrap();
    let error = |code: &str| {
        Json(json!({"error": code}))
            .with_status(StatusCode::BAD_REQUEST)
            .into_response()
    };
    let expected_auth = format!(
        "Basic {}",
        STANDARD.encode(format!(
            "{}:{}",
            form_urlencode(CLIENT_ID),
            form_urlencode(CLIENT_SECRET)
        ))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&expected_auth) {
        return error("invalid_client")
            .with_status(StatusCode::UNAUTHORIZED)
            .into_response();
    }
    let field = |name: &str| form.get(name).map(String::as_str);
    if field("grant_type") != Some("authorization_code")
        || field("code") != Some(CODE)
        || field("redirect_uri") != Some(REDIRECT_URI)
    {
        return error("invalid_grant");
    }
    let verifier = field("code_verifier").unwrap_or_default();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if state.code_challenge.as_deref() != Some(challenge.as_str()) {
        return error("invalid_grant");
    }
    let mut body = json!({
        "access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 300,
    });
    if let Some(id_token) = &state.id_token {
        body["id_token"] = json!(id_token);
    }
    Json(body).into_response()
}

#[handler]
fn userinfo_endpoint(Data(shared): Data<&Shared>, headers: &HeaderMap) -> Response {
    shared.userinfo_hits.fetch_add(1, Ordering::SeqCst);
    let expected = format!("Bearer {ACCESS_TOKEN}");
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&expected) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(shared.state.lock().unwrap().userinfo.clone()).into_response()
}

/// application/x-www-form-urlencoded for one value (RFC 6749 §2.3.1 encodes id and secret so
/// before Basic).
fn form_urlencode(s: &str) -> String {
    oauth2::url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The mock issuer, its keys, and an `OidcClient` pointed at it.
struct Mock {
    shared: Shared,
    issuer: String,
    server: tokio::task::JoinHandle<()>,
    rsa: Arc<TestKey>,
    ec: TestKey,
    ed: TestKey,
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Built once: RSA key generation is the slow part.
fn rsa_key() -> Arc<TestKey> {
    static KEY: std::sync::OnceLock<Arc<TestKey>> = std::sync::OnceLock::new();
    KEY.get_or_init(|| Arc::new(TestKey::rs256("rsa-1")))
        .clone()
}

impl Mock {
    async fn start() -> Self {
        let shared = Shared::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let app = Route::new()
            .at("/.well-known/openid-configuration", get(discovery_endpoint))
            .at("/jwks", get(jwks_endpoint))
            .at("/token", post(token_endpoint))
            .at("/userinfo", get(userinfo_endpoint))
            .data(shared.clone());
        let acceptor = TcpAcceptor::from_tokio(listener).unwrap();
        let server = tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor).run(app).await;
        });
        let (rsa, ec, ed) = (rsa_key(), TestKey::es256("ec-1"), TestKey::ed25519("ed-1"));
        {
            let mut state = shared.state.lock().unwrap();
            state.issuer = issuer.clone();
            state.jwks = vec![rsa.jwk.clone(), ec.jwk.clone(), ed.jwk.clone()];
            state.discovery_extra = json!({});
            state.userinfo = json!({"sub": "user-1"});
        }
        Self {
            shared,
            issuer,
            server,
            rsa,
            ec,
            ed,
        }
    }

    fn details(&self, extra: Value) -> GoogleDetails {
        let mut d = json!({
            "issuer": self.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        });
        for (k, v) in extra.as_object().unwrap() {
            d[k] = v.clone();
        }
        GoogleDetails::from_details(&d).unwrap()
    }

    fn client(&self) -> OidcClient {
        OidcClient::new(loopback_options()).unwrap()
    }

    fn jwks_hits(&self) -> usize {
        self.shared.jwks_hits.load(Ordering::SeqCst)
    }

    /// Valid claims for a login with `nonce`; tests edit them.
    fn claims(&self, nonce: &str) -> Value {
        let now = now();
        json!({
            "iss": self.issuer, "sub": "user-1", "aud": CLIENT_ID, "exp": now + 300,
            "iat": now, "nonce": nonce, "email": "Ada@Example.com", "email_verified": true,
            "name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace",
            "picture": "https://img.example/ada.png",
        })
    }

    /// One login round trip: `start`, the token endpoint primed with what `mint` makes of the
    /// valid claims (given the nonce), then `finish` with a callback carrying the code.
    async fn login(
        &self,
        client: &OidcClient,
        details: &GoogleDetails,
        mint: impl FnOnce(&Self, Value) -> Option<String>,
    ) -> Result<UpstreamIdentity, OidcError> {
        self.login_with(client, details, mint, |_| {}).await
    }

    async fn login_with(
        &self,
        client: &OidcClient,
        details: &GoogleDetails,
        mint: impl FnOnce(&Self, Value) -> Option<String>,
        edit_callback: impl FnOnce(&mut CallbackParams),
    ) -> Result<UpstreamIdentity, OidcError> {
        let request = client.start(details, REDIRECT_URI).await?;
        let url = reqwest::Url::parse(&request.url).unwrap();
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(query["state"], request.state);
        assert_eq!(query["nonce"], request.nonce);
        assert_eq!(query["code_challenge_method"], "S256");
        let id_token = mint(self, self.claims(&request.nonce));
        {
            let mut state = self.shared.state.lock().unwrap();
            state.code_challenge = Some(query["code_challenge"].clone());
            state.id_token = id_token;
        }
        let mut callback = CallbackParams {
            code: Some(CODE.to_owned()),
            state: Some(request.state.clone()),
            iss: Some(self.issuer.clone()),
            ..CallbackParams::default()
        };
        edit_callback(&mut callback);
        client
            .finish("mock", details, REDIRECT_URI, &request.pending(), &callback)
            .await
    }
}

/// A change to the valid claims, for tables of cases.
type ClaimsEdit = Box<dyn FnOnce(&mut Value)>;
/// A change to the callback, for tables of cases.
type CallbackEdit = Box<dyn FnOnce(&mut CallbackParams)>;

fn reason(result: Result<UpstreamIdentity, OidcError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) => {
            eprintln!("refused: {e} ({})", e.reason());
            e.reason()
        }
    }
}

/// Valid claims edited by `f`, signed with `key`.
fn signed(
    key: &TestKey,
    f: impl FnOnce(&mut Value),
) -> impl FnOnce(&Mock, Value) -> Option<String> {
    move |_, mut claims| {
        f(&mut claims);
        Some(key.sign(&claims))
    }
}

// ---------------------------------------------------------------------------------------------
// Baselines: what the verifier accepts

#[tokio::test]
async fn valid_tokens_of_each_algorithm_are_accepted() {
    let mock = Mock::start().await;
    let client = mock.client();
    let details = mock.details(json!({}));
    for key in [&*mock.rsa, &mock.ec, &mock.ed] {
        let identity = mock
            .login(&client, &details, |m, claims| {
                let _ = m;
                Some(key.sign(&claims))
            })
            .await
            .unwrap_or_else(|e| panic!("{:?}: {e}", key.alg));
        assert_eq!(identity.authority_id, "mock");
        assert_eq!(identity.authority_user_id, "user-1");
        assert_eq!(identity.email.as_deref(), Some("ada@example.com"));
        assert!(identity.email_verified);
        assert_eq!(
            identity.profile.display_name.as_deref(),
            Some("Ada Lovelace")
        );
        assert_eq!(identity.profile.given_name.as_deref(), Some("Ada"));
        assert_eq!(identity.profile.family_name.as_deref(), Some("Lovelace"));
        assert_eq!(
            identity.profile.picture.as_deref(),
            Some("https://img.example/ada.png")
        );
    }
    // One discovery-driven JWKS fetch served all three logins.
    assert_eq!(mock.jwks_hits(), 1);
    // All claims were in the id_token: no userinfo call.
    assert_eq!(mock.shared.userinfo_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn authorization_url_carries_the_request() {
    let mock = Mock::start().await;
    let client = mock.client();
    let details = mock.details(json!({
        "hosted_domains": ["example.com"], "extra_scopes": ["offline_access", "email"],
    }));
    let request = client.start(&details, REDIRECT_URI).await.unwrap();
    assert!(
        request
            .url
            .starts_with(&format!("{}/authorize?", mock.issuer))
    );
    let url = reqwest::Url::parse(&request.url).unwrap();
    let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["redirect_uri"], REDIRECT_URI);
    assert_eq!(query["scope"], "openid email profile offline_access");
    assert_eq!(query["hd"], "example.com");
    assert_eq!(
        query["code_challenge"],
        URL_SAFE_NO_PAD.encode(Sha256::digest(request.pkce_verifier.as_bytes()))
    );
    assert!(!query.contains_key("client_secret"));
    assert!(request.state.len() >= 43 && request.nonce.len() >= 43);
    // Every attempt has fresh secrets.
    let again = client.start(&details, REDIRECT_URI).await.unwrap();
    assert_ne!(again.state, request.state);
    assert_ne!(again.nonce, request.nonce);
    assert_ne!(again.pkce_verifier, request.pkce_verifier);
    // Two hosted domains: no `hd` hint (the claim is still enforced).
    let two = mock.details(json!({"hosted_domains": ["a.example", "b.example"]}));
    let url = client.start(&two, REDIRECT_URI).await.unwrap().url;
    assert!(!url.contains("hd="));
}

// ---------------------------------------------------------------------------------------------
// Signatures and algorithms

#[tokio::test]
async fn token_signed_by_another_key_is_refused() {
    let mock = Mock::start().await;
    let client = mock.client();
    let details = mock.details(json!({}));
    // Same kid as a published key, different private key.
    let impostor = TestKey::es256("ec-1");
    assert_eq!(
        reason(
            mock.login(&client, &details, signed(&impostor, |_| {}))
                .await
        ),
        "bad_signature"
    );
    let impostor = TestKey::ed25519("ed-1");
    assert_eq!(
        reason(
            mock.login(&client, &details, signed(&impostor, |_| {}))
                .await
        ),
        "bad_signature"
    );
}

#[tokio::test]
async fn tampered_payload_is_refused() {
    let mock = Mock::start().await;
    let client = mock.client();
    let details = mock.details(json!({}));
    let result = mock
        .login(&client, &details, |m, claims| {
            let token = m.ec.sign(&claims);
            let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
            let mut forged = claims.clone();
            forged["sub"] = json!("admin");
            parts[1] = URL_SAFE_NO_PAD.encode(forged.to_string());
            Some(parts.join("."))
        })
        .await;
    assert_eq!(reason(result), "bad_signature");
}

#[tokio::test]
async fn alg_none_is_refused() {
    let mock = Mock::start().await;
    let client = mock.client();
    let details = mock.details(json!({}));
    for alg in ["none", "None", "NONE"] {
        let result = mock
            .login(&client, &details, |_, claims| {
                Some(unsigned(&json!({"alg": alg, "typ": "JWT"}), &claims, ""))
            })
            .await;
        assert_eq!(reason(result), "alg_not_allowed", "{alg}");
    }
}

#[tokio::test]
async fn hs256_with_the_public_key_as_secret_is_refused() {
    let mock = Mock::start().await;
    let client = mock.client();
    let details = mock.details(json!({}));
    // The classic confusion attack: HMAC keyed with public material the attacker can read —
    // the JWK as published, or the raw key bytes — under a published kid.
    let secrets = [
        mock.rsa.jwk.to_string().into_bytes(),
        mock.ec.jwk.to_string().into_bytes(),
        URL_SAFE_NO_PAD
            .decode(mock.rsa.jwk["n"].as_str().unwrap())
            .unwrap(),
    ];
    for (kid, secret) in [
        ("rsa-1", &secrets[0]),
        ("ec-1", &secrets[1]),
        ("rsa-1", &secrets[2]),
    ] {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let result = mock
                .login(&client, &details, |_, claims| {
                    let mut header = Header::new(alg);
                    header.kid = Some(kid.to_owned());
                    Some(
                        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret))
                            .unwrap(),
                    )
                })
                .await;
            assert_eq!(reason(result), "alg_not_allowed", "{alg:?} {kid}");
        }
    }
}

#[tokio::test]
async fn key_of_another_type_is_refused() {
    let mock = Mock::start().await;
    let client = mock.client();
    let details = mock.details(json!({}));
    // An ES256 signature presented under the RSA key's kid: the RSA key must not be tried as an
    // EC key, nor the header trusted to choose.
    let result = mock
        .login(&client, &details, |m, claims| {
            let mut header = Header::new(Algorithm::ES256);
            header.kid = Some("rsa-1".to_owned());
            Some(m.ec.sign_with(header, &claims))
        })
        .await;
    assert_eq!(reason(result), "key_mismatch");
}

#[tokio::test]
async fn unknown_kid_refetches_once_then_refuses() {
    let mock = Mock::start().await;
    let client = mock.client(); // default: at most one unknown-kid refetch a minute
    let details = mock.details(json!({}));
    assert_eq!(
        reason(
            mock.login(&client, &details, signed(&mock.ec, |_| {}))
                .await
        ),
        "ok"
    );
    assert_eq!(mock.jwks_hits(), 1);

    // A kid the cached set doesn't know: one refetch (the provider may have rotated), then no.
    let ghost = TestKey::es256("ghost");
    assert_eq!(
        reason(mock.login(&client, &details, signed(&ghost, |_| {})).await),
        "unknown_kid"
    );
    assert_eq!(mock.jwks_hits(), 2);
    // Another made-up kid right after: refused without hitting the provider again.
    let ghost2 = TestKey::es256("ghost-2");
    assert_eq!(
        reason(mock.login(&client, &details, signed(&ghost2, |_| {})).await),
        "unknown_kid"
    );
    assert_eq!(mock.jwks_hits(), 2);
    // Known keys keep working from the cache.
    assert_eq!(
        reason(
            mock.login(&client, &details, signed(&mock.ed, |_| {}))
                .await
        ),
        "ok"
    );
    assert_eq!(mock.jwks_hits(), 2);
}

#[tokio::test]
async fn rotated_key_is_picked_up_by_the_refetch() {
    let mock = Mock::start().await;
    let client = mock.client();
    let details = mock.details(json!({}));
    assert_eq!(
        reason(
            mock.login(&client, &details, signed(&mock.ec, |_| {}))
                .await
        ),
        "ok"
    );
    assert_eq!(mock.jwks_hits(), 1);
    // The provider publishes a new key and signs with it at once.
    let rotated = TestKey::es256("ec-2");
    mock.shared
        .state
        .lock()
        .unwrap()
        .jwks
        .push(rotated.jwk.clone());
    assert_eq!(
        reason(
            mock.login(&client, &details, signed(&rotated, |_| {}))
                .await
        ),
        "ok"
    );
    assert_eq!(mock.jwks_hits(), 2);
}

#[tokio::test]
async fn alg_the_provider_does_not_advertise_is_refused() {
    let mock = Mock::start().await;
    mock.shared.state.lock().unwrap().discovery_extra =
        json!({"id_token_signing_alg_values_supported": ["RS256"]});
    let client = mock.client();
    let details = mock.details(json!({}));
    assert_eq!(
        reason(
            mock.login(&client, &details, signed(&mock.ec, |_| {}))
                .await
        ),
        "alg_not_allowed"
    );
    assert_eq!(
        reason(
            mock.login(&client, &details, signed(&mock.rsa, |_| {}))
                .await
        ),
        "ok"
    );
}

// ---------------------------------------------------------------------------------------------
// Claims

#[tokio::test]
async fn wrong_audience_issuer_nonce_and_azp_are_refused() {
    let mock = Mock::start().await;
    let client = mock.client();
    let details = mock.details(json!({}));
    let issuer = mock.issuer.clone();
    let cases: Vec<(&str, ClaimsEdit)> = vec![
        (
            "aud_mismatch",
            Box::new(|c| c["aud"] = json!("someone-else")),
        ),
        ("aud_mismatch", Box::new(|c| c["aud"] = json!(["a", "b"]))),
        (
            "iss_mismatch",
            Box::new(|c| c["iss"] = json!("https://accounts.google.com")),
        ),
        (
            "iss_mismatch",
            Box::new(move |c| c["iss"] = json!(format!("{issuer}/"))),
        ),
        (
            "nonce_mismatch",
            Box::new(|c| c["nonce"] = json!("a-nonce-from-another-login")),
        ),
        (
            "nonce_mismatch",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("nonce");
            }),
        ),
        (
            "azp_mismatch",
            Box::new(|c| c["azp"] = json!("someone-else")),
        ),
        (
            "azp_mismatch",
            Box::new(|c| {
                c["aud"] = json!([CLIENT_ID, "other"]);
                c["azp"] = json!("other");
            }),
        ),
        (
            "azp_missing",
            Box::new(|c| c["aud"] = json!([CLIENT_ID, "other"])),
        ),
        (
            "ok",
            Box::new(|c| {
                c["aud"] = json!([CLIENT_ID, "other"]);
                c["azp"] = json!(CLIENT_ID);
            }),
        ),
        ("invalid_sub", Box::new(|c| c["sub"] = json!(""))),
    ];
    for (expected, edit) in cases {
        let result = mock.login(&client, &details, signed(&mock.ec, edit)).await;
        assert_eq!(reason(result), expected);
    }
}

#[tokio::test]
async fn expired_and_future_tokens_are_refused() {
    let mock = Mock::start().await;
    let client = mock.client(); // clock skew 60 s
    let details = mock.details(json!({}));
    let now = now();
    let cases: Vec<(&str, ClaimsEdit)> = vec![
        (
            "expired",
            Box::new(move |c| {
                c["exp"] = json!(now - 120);
                c["iat"] = json!(now - 420);
            }),
        ),
        // jsonwebtoken does not look at iat; the verifier does.
        (
            "iat_in_future",
            Box::new(move |c| {
                c["iat"] = json!(now + 3600);
                c["exp"] = json!(now + 7200);
            }),
        ),
        (
            "iat_too_old",
            Box::new(move |c| c["iat"] = json!(now - 86_400)),
        ),
        (
            "nbf_in_future",
            Box::new(move |c| c["nbf"] = json!(now + 600)),
        ),
        // Within the skew: accepted.
        (
            "ok",
            Box::new(move |c| {
                c["iat"] = json!(now + 20);
                c["exp"] = json!(now - 20);
            }),
        ),
    ];
    for (expected, edit) in cases {
        let result = mock.login(&client, &details, signed(&mock.ed, edit)).await;
        assert_eq!(reason(result), expected);
    }
}

#[tokio::test]
async fn at_hash_must_match_the_access_token() {
    let mock = Mock::start().await;
    let client = mock.client();
    let details = mock.details(json!({}));
    let hash = |alg: Algorithm| -> String {
        let digest = match alg {
            Algorithm::EdDSA => sha2::Sha512::digest(ACCESS_TOKEN.as_bytes()).to_vec(),
            _ => Sha256::digest(ACCESS_TOKEN.as_bytes()).to_vec(),
        };
        URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
    };
    let good = hash(Algorithm::ES256);
    assert_eq!(
        reason(
            mock.login(
                &client,
                &details,
                signed(&mock.ec, |c| c["at_hash"] = json!(good))
            )
            .await
        ),
        "ok"
    );
    let good = hash(Algorithm::EdDSA);
    assert_eq!(
        reason(
            mock.login(
                &client,
                &details,
                signed(&mock.ed, |c| c["at_hash"] = json!(good))
            )
            .await
        ),
        "ok"
    );
    assert_eq!(
        reason(
            mock.login(
                &client,
                &details,
                signed(&mock.ec, |c| c["at_hash"] = json!("AAAAAAAAAAAAAAAAAAAAAA"))
            )
            .await
        ),
        "at_hash_mismatch"
    );
}

#[tokio::test]
async fn hosted_domain_restriction() {
    let mock = Mock::start().await;
    let client = mock.client();
    let details = mock.details(json!({"hosted_domains": ["example.com", "example.org"]}));
    assert_eq!(
        reason(
            mock.login(
                &client,
                &details,
                signed(&mock.ec, |c| c["hd"] = json!("example.org"))
            )
            .await
        ),
        "ok"
    );
    assert_eq!(
        reason(
            mock.login(
                &client,
                &details,
                signed(&mock.ec, |c| c["hd"] = json!("evil.example"))
            )
            .await
        ),
        "hd_not_allowed"
    );
    // A consumer account (no hd), even with an address at the allowed domain: refused.
    // (userinfo has no hd either.)
    assert_eq!(
        reason(
            mock.login(
                &client,
                &details,
                signed(&mock.ec, |c| c["email"] = json!("eve@example.com"))
            )
            .await
        ),
        "hd_not_allowed"
    );
    // Without the restriction, hd plays no part.
    let open = mock.details(json!({}));
    assert_eq!(
        reason(
            mock.login(
                &client,
                &open,
                signed(&mock.ec, |c| c["hd"] = json!("evil.example"))
            )
            .await
        ),
        "ok"
    );
}

#[tokio::test]
async fn unverified_email_is_reported_as_unverified() {
    let mock = Mock::start().await;
    let client = mock.client();
    let details = mock.details(json!({}));
    for flag in [json!(false), json!("false"), Value::Null] {
        let identity = mock
            .login(
                &client,
                &details,
                signed(&mock.ec, move |c| {
                    if flag.is_null() {
                        c.as_object_mut().unwrap().remove("email_verified");
                    } else {
                        c["email_verified"] = flag;
                    }
                }),
            )
            .await
            .unwrap();
        assert_eq!(identity.email.as_deref(), Some("ada@example.com"));
        assert!(!identity.email_verified);
    }
    // Google's old string form of true is honoured.
    let identity = mock
        .login(
            &client,
            &details,
            signed(&mock.ec, |c| c["email_verified"] = json!("true")),
        )
        .await
        .unwrap();
    assert!(identity.email_verified);
}

#[tokio::test]
async fn claims_missing_from_the_id_token_come_from_userinfo() {
    let mock = Mock::start().await;
    let client = mock.client();
    let details = mock.details(json!({}));
    let strip = |c: &mut Value| {
        let map = c.as_object_mut().unwrap();
        for claim in [
            "email",
            "email_verified",
            "name",
            "given_name",
            "family_name",
            "picture",
        ] {
            map.remove(claim);
        }
    };
    mock.shared.state.lock().unwrap().userinfo = json!({
        "sub": "user-1", "email": "bob@example.net", "email_verified": true, "name": "Bob",
    });
    let identity = mock
        .login(&client, &details, signed(&mock.ec, strip))
        .await
        .unwrap();
    assert_eq!(identity.email.as_deref(), Some("bob@example.net"));
    assert!(identity.email_verified);
    assert_eq!(identity.profile.display_name.as_deref(), Some("Bob"));
    assert_eq!(mock.shared.userinfo_hits.load(Ordering::SeqCst), 1);
    // Userinfo about someone else (OIDC Core §5.3.2): refused.
    mock.shared.state.lock().unwrap().userinfo =
        json!({"sub": "user-2", "email": "mallory@example.net", "email_verified": true});
    assert_eq!(
        reason(mock.login(&client, &details, signed(&mock.ec, strip)).await),
        "userinfo_sub_mismatch"
    );
}

// ---------------------------------------------------------------------------------------------
// Discovery, callback and token endpoint

#[tokio::test]
async fn discovery_issuer_mismatch_is_refused() {
    let mock = Mock::start().await;
    let client = mock.client();
    let details = mock.details(json!({}));
    for other in [
        format!("{}/", mock.issuer),
        "https://accounts.google.com".to_owned(),
    ] {
        mock.shared.state.lock().unwrap().discovery_issuer = Some(other.clone());
        let error = client.start(&details, REDIRECT_URI).await.unwrap_err();
        assert_eq!(error.reason(), "discovery_issuer_mismatch", "{other}");
        assert!(client.discover(&mock.issuer).await.is_err());
    }
    // Nothing was cached from the bad documents: once fixed, it works.
    mock.shared.state.lock().unwrap().discovery_issuer = None;
    assert!(client.start(&details, REDIRECT_URI).await.is_ok());
}

/// The options these tests use: the mock provider runs on loopback, which the outbound policy
/// refuses by default.
fn loopback_options() -> OidcOptions {
    OidcOptions {
        outbound: OutboundPolicy::allow_all(),
        ..OidcOptions::default()
    }
}

#[tokio::test]
async fn only_permitted_addresses_are_reached() {
    let mock = Mock::start().await;
    // By default a provider on loopback (an internal service, to authx) is never contacted.
    let strict = OidcClient::new(OidcOptions::default()).unwrap();
    let error = strict
        .start(&mock.details(json!({})), REDIRECT_URI)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("not a public address"),
        "{error}"
    );
    // Listing the network lets it through.
    let listed = OidcClient::new(OidcOptions {
        outbound: OutboundPolicy {
            allow_private_networks: false,
            allowed_networks: Networks::parse_list(&["127.0.0.0/8"]).unwrap(),
        },
        ..OidcOptions::default()
    })
    .unwrap();
    listed
        .start(&mock.details(json!({})), REDIRECT_URI)
        .await
        .unwrap();
}

#[tokio::test]
async fn oversized_responses_are_refused() {
    let mock = Mock::start().await;
    mock.shared.state.lock().unwrap().discovery_extra = json!({"padding": "x".repeat(8 * 1024)});
    let client = OidcClient::new(OidcOptions {
        max_response_bytes: 4 * 1024,
        ..loopback_options()
    })
    .unwrap();
    let error = client
        .start(&mock.details(json!({})), REDIRECT_URI)
        .await
        .unwrap_err();
    assert_eq!(error.reason(), "response_too_large");
}

#[tokio::test]
async fn callback_problems_are_refused_before_the_token_endpoint() {
    let mock = Mock::start().await;
    let client = mock.client();
    let details = mock.details(json!({}));
    let ok = |_: &Mock, claims: Value| Some(rsa_key().sign(&claims));
    let cases: Vec<(&str, CallbackEdit)> = vec![
        (
            "state_mismatch",
            Box::new(|c| c.state = Some("forged".into())),
        ),
        ("state_mismatch", Box::new(|c| c.state = None)),
        // The provider advertises RFC 9207 below: a missing iss is refused, a wrong one too.
        ("callback_iss_mismatch", Box::new(|c| c.iss = None)),
        (
            "callback_iss_mismatch",
            Box::new(|c| c.iss = Some("https://evil.example".into())),
        ),
        ("missing_code", Box::new(|c| c.code = None)),
        (
            "access_denied",
            Box::new(|c| {
                c.code = None;
                c.error = Some("access_denied".into());
            }),
        ),
        (
            "provider_error",
            Box::new(|c| {
                c.code = None;
                c.error = Some("server_error".into());
            }),
        ),
    ];
    mock.shared.state.lock().unwrap().discovery_extra =
        json!({"authorization_response_iss_parameter_supported": true});
    for (expected, edit) in cases {
        let result = mock.login_with(&client, &details, ok, edit).await;
        assert_eq!(reason(result), expected);
    }
    assert_eq!(mock.shared.token_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn token_endpoint_refusals_and_missing_id_token() {
    let mock = Mock::start().await;
    let client = mock.client();
    let details = mock.details(json!({}));
    // A PKCE verifier that is not the one of this attempt: the token endpoint refuses.
    let request = client.start(&details, REDIRECT_URI).await.unwrap();
    let url = reqwest::Url::parse(&request.url).unwrap();
    let challenge = url
        .query_pairs()
        .find(|(k, _)| k == "code_challenge")
        .unwrap()
        .1
        .into_owned();
    {
        let mut state = mock.shared.state.lock().unwrap();
        state.code_challenge = Some(challenge);
        state.id_token = Some(mock.ec.sign(&mock.claims(&request.nonce)));
    }
    let mut pending = request.pending();
    pending.pkce_verifier = "a-verifier-from-another-attempt-0123456789abcdef".into();
    let callback = CallbackParams {
        code: Some(CODE.into()),
        state: Some(request.state.clone()),
        ..CallbackParams::default()
    };
    let error = client
        .finish("mock", &details, REDIRECT_URI, &pending, &callback)
        .await
        .unwrap_err();
    assert_eq!(error.reason(), "token_exchange_failed");
    assert!(error.to_string().contains("invalid_grant"), "{error}");
    // The right verifier works.
    assert!(
        client
            .finish(
                "mock",
                &details,
                REDIRECT_URI,
                &request.pending(),
                &callback
            )
            .await
            .is_ok()
    );
    // Wrong client secret: invalid_client.
    let mut wrong = details.clone();
    wrong.client_secret = "nope".into();
    assert_eq!(
        reason(mock.login(&client, &wrong, signed(&mock.ec, |_| {})).await),
        "token_exchange_failed"
    );
    // No id_token in the token response (openid not honoured).
    assert_eq!(
        reason(mock.login(&client, &details, |_, _| None).await),
        "missing_id_token"
    );
    // Garbage instead of an id_token.
    assert_eq!(
        reason(
            mock.login(&client, &details, |_, _| Some("not.a.jwt".into()))
                .await
        ),
        "malformed_id_token"
    );
}
