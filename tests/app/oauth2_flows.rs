//! OAuth 2.0 flows driven by an independent client library — the Rust `oauth2` crate — against
//! the running server: authorization code with PKCE through the real login and consent pages,
//! refresh with rotation, and client credentials. Every token is then checked: the JWT's header
//! and claims, its signature against the published JWKS, and what introspection says of it.

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, RedirectUrl,
    Scope, TokenResponse, TokenUrl,
};
use serde_json::Value;

use crate::support::app::TestApp;
use crate::support::db::TestDb;
use crate::support::oauth::{
    ClientOptions, OAuthHttp, TestClient, authorize_with, client, grant_role, introspect,
    jwt_claims, jwt_header, query_of,
};
use crate::web_password::{Browser, person};

/// The realm scopes of the test shop.
const SHOP: &[&str] = &["Shop:**:*"];

async fn shop_client(app: &TestApp, trusted: bool) -> TestClient {
    client(
        app,
        "shop",
        ClientOptions {
            scopes: SHOP,
            trusted,
            redirect_uris: &["http://127.0.0.1/callback"],
            ..Default::default()
        },
    )
    .await
}

fn oauth_client(
    app: &TestApp,
    c: &TestClient,
) -> oauth2::Client<
    oauth2::basic::BasicErrorResponse,
    oauth2::basic::BasicTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
> {
    let mut oc = BasicClient::new(ClientId::new(c.id.clone()))
        .set_auth_uri(AuthUrl::new(app.url("/oauth2/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/oauth2/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new("http://127.0.0.1:49152/callback".into()).unwrap());
    if let Some(secret) = &c.secret {
        oc = oc.set_client_secret(ClientSecret::new(secret.clone()));
    }
    oc
}

/// Verifies `token` against the server's JWKS and returns its claims.
async fn verify_with_jwks(app: &TestApp, token: &str, audience: &str) -> Value {
    let jwks: JwkSet = app.get("/oauth2/jwks").await.json().await.unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let kid = header.kid.expect("kid in the header");
    let jwk = jwks.find(&kid).expect("the kid is published");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[app.base.as_str()]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims
}

async fn code_pkce_refresh_and_client_credentials(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let ada = person(&app, "ada").await;
    grant_role(
        &app,
        "shopper",
        &ada.user_id,
        &["Shop:orders:read", "Shop:cart:*"],
    )
    .await;
    let shop = shop_client(&app, false).await;
    let browser = Browser::new(&app);
    assert_eq!(
        browser.login(&ada.username, &ada.password).await.status(),
        303
    );

    // Authorization code + PKCE, built by the oauth2 crate.
    let oc = oauth_client(&app, &shop);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf) = oc
        .authorize_url(CsrfToken::new_random)
        .add_scopes(
            [
                "openid",
                "profile",
                "email",
                "offline_access",
                "Shop:orders:read",
            ]
            .map(|s| Scope::new(s.to_owned())),
        )
        .add_extra_param("nonce", "n-0S6_WzA2Mj")
        .set_pkce_challenge(challenge)
        .url();
    let path = &url.as_str()[app.base.len()..];
    let params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let params: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert!(path.starts_with("/oauth2/authorize?"));
    let back = authorize_with(&app, &browser.client, &params, "allow").await;
    assert!(
        back.starts_with("http://127.0.0.1:49152/callback?"),
        "{back}"
    );
    let answer = query_of(&back);
    assert_eq!(answer["state"], *csrf.secret());
    assert_eq!(answer["iss"], app.base, "RFC 9207 iss");
    let http = OAuthHttp::new();
    let tokens = oc
        .exchange_code(AuthorizationCode::new(answer["code"].clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let access = tokens.access_token().secret().clone();
    assert_eq!(jwt_header(&access)["typ"], "at+jwt");
    let claims = verify_with_jwks(&app, &access, &app.base).await;
    assert_eq!(claims["sub"], ada.user_id.as_str());
    assert_eq!(claims["client_id"], "shop");
    assert_eq!(
        claims["scope"],
        "openid profile email offline_access Shop:orders:read"
    );
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    assert_eq!(tokens.expires_in().map(|d| d.as_secs()), Some(600));
    let refresh = tokens
        .refresh_token()
        .expect("offline_access gives a refresh token");
    assert!(refresh.secret().starts_with("axr_"));
    let info = introspect(&app, &shop, &access).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["sub"], ada.user_id.as_str());
    assert_eq!(
        info["scope"],
        "openid profile email offline_access Shop:orders:read"
    );

    // The grant now covers the request: no consent page the second time.
    let (challenge, _verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = oc
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("Shop:orders:read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let r = browser.get(&url.as_str()[app.base.len()..]).await;
    assert_eq!(r.status(), 303, "no consent page for a covered request");

    // Refresh: rotated, the old one refused afterwards.
    let refreshed = oc
        .exchange_refresh_token(refresh)
        .request_async(&http)
        .await
        .unwrap();
    let new_refresh = refreshed
        .refresh_token()
        .expect("rotation issues a new one");
    assert_ne!(new_refresh.secret(), refresh.secret());
    let claims = jwt_claims(refreshed.access_token().secret());
    assert_eq!(
        claims["scope"],
        "openid profile email offline_access Shop:orders:read"
    );
    // A narrower scope on refresh.
    let narrow = oc
        .exchange_refresh_token(new_refresh)
        .add_scope(Scope::new("Shop:orders:read".into()))
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(
        jwt_claims(narrow.access_token().secret())["scope"],
        "Shop:orders:read"
    );

    // Client credentials: the client's machine user, with the scopes its roles give.
    grant_role(
        &app,
        "shop-service",
        shop.machine_user_id.as_deref().unwrap(),
        &["Shop:stock:read"],
    )
    .await;
    let cc = oc
        .exchange_client_credentials()
        .add_scope(Scope::new("Shop:stock:read".into()))
        .request_async(&http)
        .await
        .unwrap();
    assert!(cc.refresh_token().is_none());
    let claims = verify_with_jwks(&app, cc.access_token().secret(), &app.base).await;
    assert_eq!(claims["sub"], shop.machine_user_id.as_deref().unwrap());
    assert_eq!(claims["scope"], "Shop:stock:read");
    let info = introspect(&app, &shop, cc.access_token().secret()).await;
    assert_eq!(info["active"], true);
}
on_both_backends!(code_pkce_refresh_and_client_credentials);
