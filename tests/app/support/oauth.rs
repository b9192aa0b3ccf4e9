//! OAuth 2.0 test support: clients made straight through the store, PKCE pairs, a signed-in
//! browser walking the authorization endpoint (consent included), and token requests.

use std::collections::HashMap;

use authx::domain::client::{ClientType, InitialClientSecret, NewClient};
use authx::domain::role::NewRole;
use authx::domain::signing_key::SigningAlg;
use authx::domain::user::{NewUser, UserKind};
use authx::secret;
use authx::store::StoreError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::app::TestApp;

/// The redirect URI test clients register (nothing listens there: tests read the `Location`).
pub const REDIRECT_URI: &str = "https://app.example/callback";

/// A client created for a test.
#[derive(Debug, Clone)]
pub struct TestClient {
    pub id: String,
    /// The secret of a confidential client.
    pub secret: Option<String>,
    #[allow(dead_code)]
    pub redirect_uri: String,
    /// The machine user of a confidential client.
    pub machine_user_id: Option<String>,
}

/// Options of [`client`].
#[derive(Debug, Clone)]
pub struct ClientOptions<'a> {
    pub public: bool,
    pub trusted: bool,
    pub scopes: &'a [&'a str],
    pub redirect_uris: &'a [&'a str],
    pub post_logout_redirect_uris: &'a [&'a str],
    /// The client's registered ID-token algorithm (`None`: the default, RS256).
    pub id_token_alg: Option<SigningAlg>,
}

impl Default for ClientOptions<'_> {
    fn default() -> Self {
        Self {
            public: false,
            trusted: false,
            scopes: &[],
            redirect_uris: &[REDIRECT_URI],
            post_logout_redirect_uris: &[],
            id_token_alg: None,
        }
    }
}

/// Creates client `id`: a confidential one gets a machine user and a secret.
pub async fn client(app: &TestApp, id: &str, options: ClientOptions<'_>) -> TestClient {
    let store = &app.state.store;
    let (machine_user_id, secret, initial) = if options.public {
        (None, None, None)
    } else {
        let user = store
            .create_user(NewUser {
                kind: UserKind::Machine,
                display_name: Some(format!("client {id}")),
                ..NewUser::human()
            })
            .await
            .unwrap();
        let secret = secret::generate(secret::CLIENT_SECRET_PREFIX);
        let initial = InitialClientSecret {
            secret_hash: secret::hash(&secret),
            description: None,
            expires_at: None,
        };
        (Some(user.id), Some(secret), Some(initial))
    };
    store
        .create_client(
            NewClient {
                id: id.to_owned(),
                name: format!("App {id}"),
                client_type: if options.public {
                    ClientType::Public
                } else {
                    ClientType::Confidential
                },
                redirect_uris: options
                    .redirect_uris
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                post_logout_redirect_uris: options
                    .post_logout_redirect_uris
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                scopes: options.scopes.iter().map(|s| s.to_string()).collect(),
                trusted: options.trusted,
                enabled: true,
                machine_user_id: machine_user_id.clone(),
                id_token_alg: options.id_token_alg,
            },
            initial,
        )
        .await
        .unwrap();
    TestClient {
        id: id.to_owned(),
        secret,
        redirect_uri: options
            .redirect_uris
            .first()
            .map(|s| s.to_string())
            .unwrap_or_default(),
        machine_user_id,
    }
}

/// Gives `user_id` the `scopes` through a role of its own (`role_id`, created if missing).
pub async fn grant_role(app: &TestApp, role_id: &str, user_id: &str, scopes: &[&str]) {
    let store = &app.state.store;
    match store
        .create_role(NewRole {
            id: role_id.to_owned(),
            name: role_id.to_owned(),
            description: None,
            is_default: false,
            enabled: true,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            deny: Vec::new(),
        })
        .await
    {
        Ok(_) | Err(StoreError::Conflict(_)) => {}
        Err(e) => panic!("role {role_id}: {e}"),
    }
    store.add_role_member(role_id, user_id).await.unwrap();
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce_pair() -> (String, String) {
    let verifier = secret::generate("");
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// `/oauth2/authorize?…` for `params`, form-encoded.
pub fn authorize_path(params: &[(&str, &str)]) -> String {
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect();
    format!("/oauth2/authorize?{}", query.join("&"))
}

/// Percent-encodes a query component.
pub fn urlencode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The query parameters of a URL (decoded).
pub fn query_of(url: &str) -> HashMap<String, String> {
    let parsed = reqwest::Url::parse(url).unwrap();
    parsed.query_pairs().into_owned().collect()
}

/// The `Location` of a redirect.
pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location (status {})", r.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The `request` field of a consent (or logout confirmation) form.
pub fn hidden_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("the hidden field") + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end]
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

/// Walks the authorization endpoint with a signed-in browser (`client` has its cookies) and
/// answers the consent page with `decision` when one appears. Returns the final redirect to the
/// client.
pub async fn authorize_with(
    app: &TestApp,
    browser: &reqwest::Client,
    params: &[(&str, &str)],
    decision: &str,
) -> String {
    let r = browser
        .get(app.url(&authorize_path(params)))
        .send()
        .await
        .unwrap();
    if r.status().is_redirection() {
        return location(&r);
    }
    assert_eq!(r.status(), 200, "the consent page");
    let html = r.text().await.unwrap();
    assert!(html.contains("wants to access your account"), "{html}");
    let request = hidden_field(&html, "request");
    let csrf = hidden_field(&html, "csrf_token");
    let r = browser
        .post(app.url("/oauth2/consent"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("request", request.as_str()),
            ("decision", decision),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "after consent");
    location(&r)
}

/// A token request with `form`, authenticating with Basic when `basic` is given.
pub async fn token_request(
    app: &TestApp,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, Value) {
    let mut request = app.client.post(app.url("/oauth2/token")).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(urlencode(id), Some(urlencode(secret)));
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let cache = r
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(
        cache.as_deref(),
        Some("no-store"),
        "token answers are never cached"
    );
    (status, r.json().await.unwrap())
}

/// Introspects `token` as `client` (a confidential client).
pub async fn introspect(app: &TestApp, client: &TestClient, token: &str) -> Value {
    let r = app
        .client
        .post(app.url("/oauth2/introspect"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The claims of a JWT, unverified (tests check signatures separately).
pub fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The header of a JWT.
pub fn jwt_header(token: &str) -> Value {
    let header = token.split('.').next().expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

/// The `oauth2` crate's HTTP client: our reqwest (redirects not followed), through the crate's
/// `AsyncHttpClient` trait.
pub struct OAuthHttp(pub reqwest::Client);

impl OAuthHttp {
    pub fn new() -> Self {
        Self(
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        )
    }
}

/// Why an `oauth2` request failed at the HTTP level.
#[derive(Debug)]
pub struct OAuthHttpError(pub reqwest::Error);

impl std::fmt::Display for OAuthHttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for OAuthHttpError {}

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttp {
    type Error = OAuthHttpError;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<oauth2::HttpResponse, OAuthHttpError>>
                + Send
                + Sync
                + 'c,
        >,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request).map_err(OAuthHttpError)?;
            let response = self.0.execute(request).await.map_err(OAuthHttpError)?;
            let mut builder = oauth2::http::Response::builder().status(response.status().as_u16());
            for (name, value) in response.headers() {
                builder = builder.header(name.as_str(), value.as_bytes());
            }
            let body = response.bytes().await.map_err(OAuthHttpError)?.to_vec();
            Ok(builder.body(body).unwrap())
        })
    }
}
