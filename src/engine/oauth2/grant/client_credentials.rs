//! `grant_type=client_credentials` (RFC 6749 §4.4; reference §2.4): a confidential client acts as its
//! own `machine` user.
//!
//! The token carries the requested realm patterns (absent: the client's whole ceiling) ∩ the
//! client's ceiling ∩ the machine user's access now, deny applied. OpenID Connect scopes need a
//! person and are refused here; no refresh token is issued (§4.4.3).

use serde_json::json;

use super::{Issued, issue_event};
use crate::domain::access::Access;
use crate::domain::token::NewAccessToken;
use crate::domain::user::UserStatus;
use crate::engine::Engine;
use crate::engine::audit::Context;
use crate::engine::oauth2::client_auth::{AuthMethod, AuthenticatedClient};
use crate::engine::oauth2::error::{ErrorCode, OAuth2Error};
use crate::engine::oauth2::jwt::AccessClaims;
use crate::engine::oauth2::scope::{
    RequestedScope, check_ceiling, effective, realm_set, to_parameter,
};

/// Issues an access token to the client itself.
pub async fn exchange(
    state: &Engine,
    ctx: &Context,
    client: &AuthenticatedClient,
    scope: Option<&str>,
    now: i64,
) -> Result<Issued, OAuth2Error> {
    if client.method == AuthMethod::None {
        return Err(OAuth2Error::new(
            ErrorCode::UnauthorizedClient,
            "public clients cannot use client_credentials",
        ));
    }
    let Some(machine_user_id) = &client.client.machine_user_id else {
        return Err(OAuth2Error::new(
            ErrorCode::UnauthorizedClient,
            "this client has no service account for client_credentials",
        ));
    };
    let requested = RequestedScope::parse(scope)?;
    if !requested.oidc.is_empty() {
        return Err(OAuth2Error::new(
            ErrorCode::InvalidScope,
            "OpenID Connect scopes need a signed-in person; client_credentials cannot ask for them",
        ));
    }
    let ceiling = realm_set(&client.client.scopes);
    check_ceiling(&requested, &ceiling)?;
    let owner = state.store.access_of_user(machine_user_id).await?;
    let access = match &owner {
        Some(owner) if owner.status == UserStatus::Active => Access::of_user(owner),
        _ => {
            return Err(OAuth2Error::new(
                ErrorCode::UnauthorizedClient,
                "this client's service account is disabled or gone",
            ));
        }
    };
    let everything = ceiling.clone();
    let realm = effective(&access, requested.realm_or(&everything), &[&ceiling]);
    let claims = AccessClaims::new(
        state,
        now,
        machine_user_id,
        client.id(),
        to_parameter(&requested.oidc, &realm.scopes),
        realm.relevant_deny(),
        None,
    );
    state
        .store
        .record_access_token(NewAccessToken {
            jti: claims.jti.clone(),
            grant_id: None,
            client_id: client.id().to_owned(),
            user_id: machine_user_id.clone(),
            family_id: None,
            code_hash: None,
            expires_at: claims.exp,
            issued: Some(issue_event(
                ctx,
                client.id(),
                machine_user_id,
                json!({
                    "grant_type": "client_credentials",
                    "jti": claims.jti,
                    "scope": claims.scope,
                }),
            )),
        })
        .await?;
    let access_token = claims
        .sign(&state.keys)
        .await
        .map_err(|e| OAuth2Error::server_error(&e))?;
    Ok(Issued {
        expires_in: claims.expires_in(),
        scope: claims.scope,
        access_token,
        refresh_token: None,
        id_token: None,
    })
}
