//! Tokens written straight through the store, as the token endpoint writes them, for tests of
//! what ends them (a password reset, signing out everywhere).

/// A client, a grant and a refresh token (hash returned) with its access token `reset-jti`, for
/// `user_id`, written as a code redemption writes them.
pub async fn issued_refresh_token(
    store: &std::sync::Arc<dyn authx::store::Store>,
    user_id: &str,
) -> String {
    use authx::domain::client::{ClientType, NewClient};
    use authx::domain::token::{NewAccessToken, NewRefreshToken};
    store
        .create_client(
            NewClient {
                id: "reset-app".into(),
                name: "App".into(),
                client_type: ClientType::Public,
                redirect_uris: vec!["https://app.example/cb".into()],
                post_logout_redirect_uris: Vec::new(),
                scopes: vec!["x:**:*".into()],
                trusted: false,
                enabled: true,
                machine_user_id: None,
                id_token_alg: None,
            },
            None,
        )
        .await
        .unwrap();
    let grant = store
        .upsert_grant(user_id, "reset-app", vec!["offline_access".into()])
        .await
        .unwrap();
    let now = authx::domain::now();
    store
        .create_authorization_code(authx::domain::token::NewAuthorizationCode {
            code_hash: "reset-code".into(),
            grant_id: grant.id.clone(),
            client_id: "reset-app".into(),
            user_id: user_id.to_owned(),
            redirect_uri: "https://app.example/cb".into(),
            scopes: vec!["offline_access".into()],
            nonce: None,
            code_challenge: None,
            code_challenge_method: None,
            auth_time: now,
            session_id: None,
            expires_at: now + 60,
        })
        .await
        .unwrap();
    let redeemed = store
        .redeem_authorization_code(
            "reset-code",
            now,
            Some(NewRefreshToken {
                token_hash: "reset-refresh".into(),
                family_id: "reset-family".into(),
                grant_id: grant.id.clone(),
                client_id: "reset-app".into(),
                user_id: user_id.to_owned(),
                scopes: vec!["offline_access".into()],
                parent_id: None,
                code_hash: Some("reset-code".into()),
                auth_time: Some(now),
                expires_at: now + 3600,
            }),
            NewAccessToken {
                jti: "reset-jti".into(),
                grant_id: Some(grant.id),
                client_id: "reset-app".into(),
                user_id: user_id.to_owned(),
                family_id: Some("reset-family".into()),
                code_hash: Some("reset-code".into()),
                expires_at: now + 600,
                issued: None,
            },
        )
        .await
        .unwrap();
    assert!(redeemed);
    "reset-refresh".to_owned()
}
