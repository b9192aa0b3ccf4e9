//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6, OIDC Core §3.1.3).
//!
//! The code must exist, be unused and unexpired, belong to the authenticated client, and come with
//! the same `redirect_uri` and, when the authorization request had a challenge, a matching PKCE
//! verifier (a verifier without a challenge is refused too: RFC 9700 §4.8.2, PKCE downgrade). A
//! failed check does not burn the code.
//!
//! Redemption is one transaction with the tokens it issues (see `TokenStore`). A code presented
//! again — sequentially or by a concurrent loser — is a replay: every token issued from it is
//! revoked (RFC 9700 §4.5.3) and the event audited as `oauth2.code.replay`.

use serde_json::json;

use super::{
    IdTokenFor, Issued, REFRESH_TOKEN_PREFIX, id_token_for, invalid_grant, issue_event, secs,
};
use crate::domain::access::Access;
use crate::domain::audit::Outcome;
use crate::domain::id::new_id;
use crate::domain::token::{AuthorizationCode, NewAccessToken, NewRefreshToken};
use crate::domain::user::UserStatus;
use crate::engine::Engine;
use crate::engine::audit::{self, Context};
use crate::engine::oauth2::client_auth::AuthenticatedClient;
use crate::engine::oauth2::error::OAuth2Error;
use crate::engine::oauth2::jwt::AccessClaims;
use crate::engine::oauth2::pkce;
use crate::engine::oauth2::scope::{RequestedScope, effective, realm_set, to_parameter, to_stored};
use crate::secret;

/// What the client sends with `grant_type=authorization_code`.
#[derive(Debug, Clone, Copy)]
pub struct CodeRequest<'a> {
    /// `code`.
    pub code: &'a str,
    /// `redirect_uri`, as in the authorization request.
    pub redirect_uri: &'a str,
    /// `code_verifier` (PKCE).
    pub code_verifier: Option<&'a str>,
}

/// The one description for a code that is unknown, used, expired or someone else's.
const BAD_CODE: &str =
    "the authorization code is invalid, expired, already used or was issued to another client";

/// Exchanges a code for tokens.
pub async fn exchange(
    state: &Engine,
    ctx: &Context,
    client: &AuthenticatedClient,
    request: &CodeRequest<'_>,
    now: i64,
) -> Result<Issued, OAuth2Error> {
    let code = request.code;
    let redirect_uri = request.redirect_uri;
    let code_hash = secret::hash(code);
    let Some(stored) = state.store.get_authorization_code(&code_hash).await? else {
        return Err(invalid_grant(BAD_CODE));
    };
    if stored.used_at.is_some() {
        replayed(state, ctx, client, &stored, now).await?;
        return Err(invalid_grant(BAD_CODE));
    }
    let at = now;
    if stored.expires_at <= at || stored.client_id != client.id() {
        return Err(invalid_grant(BAD_CODE));
    }
    if stored.redirect_uri != redirect_uri {
        return Err(invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&stored.code_challenge, request.code_verifier) {
        (Some(challenge), Some(verifier)) => {
            if !pkce::verify(verifier, challenge) {
                return Err(invalid_grant(
                    "code_verifier does not match the code_challenge",
                ));
            }
        }
        (Some(_), None) => return Err(invalid_grant("code_verifier is required (PKCE)")),
        (None, Some(_)) => {
            return Err(invalid_grant(
                "code_verifier was sent but the authorization request had no code_challenge",
            ));
        }
        (None, None) => {}
    }
    let Some(user) = state.store.get_user(&stored.user_id).await? else {
        return Err(invalid_grant(BAD_CODE));
    };
    let owner = state.store.access_of_user(&user.id).await?;
    if user.status != UserStatus::Active {
        return Err(invalid_grant("the user's account is disabled"));
    }
    let Some(grant) = state.store.get_grant(&stored.grant_id).await? else {
        return Err(invalid_grant(BAD_CODE));
    };
    let access = owner
        .map(|o| Access::of_user(&o))
        .unwrap_or_else(Access::none);
    let requested = RequestedScope::from_stored(&stored.scopes);
    let ceiling = realm_set(&client.client.scopes);
    let granted = realm_set(&grant.scopes);
    let everything = ceiling.clone();
    let realm = effective(
        &access,
        requested.realm_or(&everything),
        &[&ceiling, &granted],
    );
    let oidc = requested.oidc.clone();
    let refresh_secret = oidc
        .contains("offline_access")
        .then(|| secret::generate(REFRESH_TOKEN_PREFIX));
    let family_id = refresh_secret.as_ref().map(|_| new_id());
    let refresh = match (&refresh_secret, &family_id) {
        (Some(secret_value), Some(family)) => Some(NewRefreshToken {
            token_hash: secret::hash(secret_value),
            family_id: family.clone(),
            grant_id: grant.id.clone(),
            client_id: client.id().to_owned(),
            user_id: user.id.clone(),
            scopes: to_stored(&oidc, &realm.scopes),
            parent_id: None,
            code_hash: Some(code_hash.clone()),
            auth_time: Some(stored.auth_time),
            expires_at: at.saturating_add(secs(state.config.tokens.refresh_token_ttl_secs)),
        }),
        _ => None,
    };
    let claims = AccessClaims::new(
        state,
        now,
        &user.id,
        client.id(),
        to_parameter(&oidc, &realm.scopes),
        realm.relevant_deny(),
        Some(stored.auth_time),
    );
    let record = NewAccessToken {
        jti: claims.jti.clone(),
        grant_id: Some(grant.id.clone()),
        client_id: client.id().to_owned(),
        user_id: user.id.clone(),
        family_id: family_id.clone(),
        code_hash: Some(code_hash.clone()),
        expires_at: claims.exp,
        issued: Some(issue_event(
            ctx,
            client.id(),
            &user.id,
            json!({
                "grant_type": "authorization_code",
                "jti": claims.jti,
                "grant_id": grant.id,
                "refresh_family": family_id,
                "scope": claims.scope,
            }),
        )),
    };
    if !state
        .store
        .redeem_authorization_code(&code_hash, at, refresh, record)
        .await?
    {
        // A concurrent request redeemed it first: this one is the replay.
        replayed(state, ctx, client, &stored, now).await?;
        return Err(invalid_grant(BAD_CODE));
    }
    let access_token = claims
        .sign(&state.keys)
        .await
        .map_err(|e| OAuth2Error::server_error(&e))?;
    let id_token = id_token_for(
        state,
        now,
        IdTokenFor {
            client: &client.client,
            user: &user,
            scope: &requested,
            auth_time: Some(stored.auth_time),
            nonce: stored.nonce.as_deref(),
            access_token: &access_token,
        },
    )
    .await?;
    Ok(Issued {
        expires_in: claims.expires_in(),
        scope: claims.scope,
        access_token,
        refresh_token: refresh_secret,
        id_token,
    })
}

/// A used code came back: revoke everything issued from it.
async fn replayed(
    state: &Engine,
    ctx: &Context,
    client: &AuthenticatedClient,
    stored: &AuthorizationCode,
    now: i64,
) -> Result<(), OAuth2Error> {
    let revoked = state
        .store
        .revoke_tokens_of_code(&stored.code_hash, now)
        .await?;
    // Tokens issued from the code must read as revoked on this node at once.
    state.checks.clear();
    let mut event = ctx
        .client_event(client.id(), "oauth2.code.replay")
        .target("user", &stored.user_id);
    event.outcome = Outcome::Denied;
    event.details = json!({
        "grant_id": stored.grant_id,
        "code_client_id": stored.client_id,
        "revoked_tokens": revoked,
    });
    audit::record(state, event).await;
    tracing::warn!(client = %client.id(), revoked, "authorization code replayed; tokens issued from it revoked");
    Ok(())
}
