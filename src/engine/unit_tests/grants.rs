//! The token endpoint's grants, called with the time as an argument.

use super::fixture::{T0, claims, fixture};
use crate::domain::client::{Client, ClientType};
use crate::domain::role::NewRole;
use crate::domain::token::NewAuthorizationCode;
use crate::domain::user::{NewUser, Profile, UserKind, UserStatus};
use crate::engine::Engine;
use crate::engine::admin::{clients, roles, users};
use crate::engine::audit::Context;
use crate::engine::oauth2::client_auth::{AuthMethod, AuthenticatedClient};
use crate::engine::oauth2::error::ErrorCode;
use crate::engine::oauth2::grant::code::CodeRequest;
use crate::engine::oauth2::grant::{GrantRequest, exchange};
use crate::secret;

const REDIRECT: &str = "https://shop.example/cb";

async fn shop_client(engine: &Engine, admin: &crate::engine::actor::Actor) -> Client {
    let input = clients::ClientInput {
        id: "shop".to_owned(),
        name: "Shop".to_owned(),
        client_type: ClientType::Confidential,
        redirect_uris: vec![REDIRECT.to_owned()],
        post_logout_redirect_uris: Vec::new(),
        scopes: vec!["Shop:orders:read".to_owned()],
        trusted: true,
        enabled: None,
        id_token_alg: None,
    };
    clients::create(engine, admin, input).await.unwrap().client
}

fn authenticated(client: Client) -> AuthenticatedClient {
    AuthenticatedClient {
        client,
        method: AuthMethod::ClientSecretBasic,
    }
}

async fn grant_role(
    engine: &Engine,
    admin: &crate::engine::actor::Actor,
    user_id: &str,
    scopes: &[&str],
) {
    let role = NewRole {
        id: "shop-staff".to_owned(),
        name: "Shop staff".to_owned(),
        description: None,
        is_default: false,
        enabled: true,
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        deny: Vec::new(),
    };
    roles::create(engine, admin, role).await.unwrap();
    roles::add_member(engine, admin, "shop-staff", user_id)
        .await
        .unwrap();
}

#[tokio::test]
async fn client_credentials_tokens_run_from_the_time_given() {
    let f = fixture().await;
    let client = shop_client(&f.engine, &f.admin).await;
    let machine = client.machine_user_id.clone().unwrap();
    grant_role(&f.engine, &f.admin, &machine, &["Shop:orders:*"]).await;
    let client = authenticated(client);
    let ctx = Context::default();

    let request = GrantRequest::ClientCredentials {
        scope: Some("Shop:orders:read"),
    };
    let issued = exchange(&f.engine, &ctx, &client, request, T0)
        .await
        .unwrap();
    let ttl = f.engine.config.tokens.access_token_ttl_secs as i64;
    assert_eq!(issued.expires_in, ttl);
    assert_eq!(issued.scope, "Shop:orders:read");
    assert!(issued.refresh_token.is_none());
    let c = claims(&issued.access_token);
    assert_eq!(c["iat"], T0);
    assert_eq!(c["exp"], T0 + ttl);
    assert_eq!(c["sub"], machine.as_str());
    assert_eq!(c["client_id"], "shop");

    // Beyond the client's ceiling: refused, whatever the machine user holds.
    let wider = GrantRequest::ClientCredentials {
        scope: Some("Shop:orders:write"),
    };
    let refused = exchange(&f.engine, &ctx, &client, wider, T0)
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::InvalidScope);
}

#[tokio::test]
async fn an_authorization_code_works_once_and_only_before_it_expires() {
    let f = fixture().await;
    let client = shop_client(&f.engine, &f.admin).await;
    let person = NewUser {
        kind: UserKind::Human,
        status: UserStatus::Active,
        username: Some("Ada".to_owned()),
        email: Some("ada@example.com".to_owned()),
        display_name: None,
        profile: Profile::default(),
    };
    let ada = users::create(&f.engine, &f.admin, person).await.unwrap();
    grant_role(&f.engine, &f.admin, &ada.id, &["Shop:orders:read"]).await;
    let scopes = vec!["Shop:orders:read".to_owned()];
    let grant = f
        .engine
        .store
        .upsert_grant(&ada.id, "shop", scopes.clone())
        .await
        .unwrap();
    let new_code = |code: &str| NewAuthorizationCode {
        code_hash: secret::hash(code),
        grant_id: grant.id.clone(),
        client_id: "shop".to_owned(),
        user_id: ada.id.clone(),
        redirect_uri: REDIRECT.to_owned(),
        scopes: scopes.clone(),
        nonce: None,
        code_challenge: None,
        code_challenge_method: None,
        auth_time: T0,
        session_id: None,
        expires_at: T0 + 60,
    };
    let client = authenticated(client);
    let ctx = Context::default();
    let redeem = |code: &'static str| {
        GrantRequest::AuthorizationCode(CodeRequest {
            code,
            redirect_uri: REDIRECT,
            code_verifier: None,
        })
    };

    // A code redeemed a second after it expired is refused, and leaves nothing behind.
    let store = &f.engine.store;
    store
        .create_authorization_code(new_code("code-late"))
        .await
        .unwrap();
    let late = exchange(&f.engine, &ctx, &client, redeem("code-late"), T0 + 61)
        .await
        .unwrap_err();
    assert_eq!(late.code, ErrorCode::InvalidGrant);

    // In time: tokens whose times run from the redemption.
    store
        .create_authorization_code(new_code("code-ok"))
        .await
        .unwrap();
    let issued = exchange(&f.engine, &ctx, &client, redeem("code-ok"), T0 + 10)
        .await
        .unwrap();
    let c = claims(&issued.access_token);
    assert_eq!(c["iat"], T0 + 10);
    assert_eq!(c["sub"], ada.id.as_str());
    assert_eq!(issued.scope, "Shop:orders:read");
    // No `offline_access` was consented to: no refresh token.
    assert!(issued.refresh_token.is_none());

    // Twice: refused (and what the code issued is revoked, RFC 6749 §4.1.2).
    let replay = exchange(&f.engine, &ctx, &client, redeem("code-ok"), T0 + 11)
        .await
        .unwrap_err();
    assert_eq!(replay.code, ErrorCode::InvalidGrant);
}

#[tokio::test]
async fn a_verified_token_is_remembered_but_never_past_its_expiry() {
    use crate::engine::oauth2::bearer::verify_access_token;
    let f = fixture().await;
    let client = shop_client(&f.engine, &f.admin).await;
    let machine = client.machine_user_id.clone().unwrap();
    grant_role(&f.engine, &f.admin, &machine, &["Shop:orders:*"]).await;
    let client = authenticated(client);
    let request = GrantRequest::ClientCredentials {
        scope: Some("Shop:orders:read"),
    };
    // Checked against the clock, so issued now.
    let now = crate::domain::now();
    let issued = exchange(&f.engine, &Context::default(), &client, request, now)
        .await
        .unwrap();
    let token = issued.access_token;
    let active = verify_access_token(&f.engine, &token)
        .await
        .unwrap()
        .unwrap();
    let key = secret::hash(&token);
    let remembered = f.engine.checks.verified_access_tokens.get(&key).unwrap();
    assert_eq!(remembered.jti, active.claims.jti);
    // A remembered verification whose expiry has passed answers inactive.
    let mut expired = remembered;
    expired.exp = now - 1;
    f.engine
        .checks
        .verified_access_tokens
        .insert(key.clone(), expired);
    assert!(
        verify_access_token(&f.engine, &token)
            .await
            .unwrap()
            .is_none()
    );
    // Nothing but a verified token is remembered.
    let forged = format!("{}x", token);
    assert!(
        verify_access_token(&f.engine, &forged)
            .await
            .unwrap()
            .is_none()
    );
    let forged_key = secret::hash(&forged);
    assert!(
        f.engine
            .checks
            .verified_access_tokens
            .get(&forged_key)
            .is_none()
    );
}
