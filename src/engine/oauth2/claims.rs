//! The claims about a user that ID tokens and the userinfo endpoint release (OIDC Core §5.1, §5.4):
//! `profile` → `name`, `given_name`, `family_name`, `preferred_username`, `picture`, `updated_at`;
//! `email` → `email`, `email_verified`.
//!
//! `email_verified` is true only when the address is one the user proved control of
//! ([`crate::engine::identity::proven_addresses`]). The profile itself is never trusted for that.

use serde_json::{Map, Value};

use super::bearer::verify_access_token;
use super::error::{ErrorCode, OAuth2Error};
use super::scope::RequestedScope;
use crate::domain::user::User;
use crate::engine::Engine;
use crate::store::StoreError;

/// The UserInfo answer (OIDC Core §5.3) for an access token: the claims its scopes release about
/// its user now, or `invalid_token` / `insufficient_scope` (RFC 6750 §3.1).
pub async fn userinfo_of(state: &Engine, token: &str) -> Result<Map<String, Value>, OAuth2Error> {
    let Some(active) = verify_access_token(state, token).await? else {
        return Err(OAuth2Error::new(
            ErrorCode::InvalidToken,
            "the access token is invalid, expired or revoked",
        ));
    };
    if !active.oidc.has("openid") {
        return Err(OAuth2Error::new(
            ErrorCode::InsufficientScope,
            "the access token was not issued with the openid scope",
        ));
    }
    let Some(user) = state.store.get_user(&active.claims.sub).await? else {
        return Err(OAuth2Error::new(
            ErrorCode::InvalidToken,
            "the access token is invalid, expired or revoked",
        ));
    };
    Ok(user_claims(state, &user, &active.oidc).await?)
}

/// The claims `scope` releases about `user`, `sub` included.
pub async fn user_claims(
    state: &Engine,
    user: &User,
    scope: &RequestedScope,
) -> Result<Map<String, Value>, StoreError> {
    let mut claims = Map::new();
    claims.insert("sub".to_owned(), Value::String(user.id.clone()));
    if scope.has("profile") {
        let name = user
            .display_name
            .clone()
            .or_else(|| user.profile.display_name.clone());
        let given = user
            .profile
            .name
            .as_ref()
            .and_then(|n| n.given_name.clone());
        let family = user
            .profile
            .name
            .as_ref()
            .and_then(|n| n.family_name.clone());
        let picture = user
            .profile
            .photos
            .iter()
            .find(|p| p.primary)
            .or_else(|| user.profile.photos.first())
            .map(|p| p.value.clone());
        for (key, value) in [
            ("name", name),
            ("given_name", given),
            ("family_name", family),
            ("preferred_username", user.username.clone()),
            ("picture", picture),
        ] {
            if let Some(value) = value {
                claims.insert(key.to_owned(), Value::String(value));
            }
        }
        claims.insert("updated_at".to_owned(), Value::from(user.updated_at));
    }
    if scope.has("email")
        && let Some(email) = &user.email
    {
        claims.insert("email".to_owned(), Value::String(email.clone()));
        claims.insert(
            "email_verified".to_owned(),
            Value::Bool(email_is_verified(state, user, email).await?),
        );
    }
    Ok(claims)
}

/// Whether `user` has proven control of `email`.
async fn email_is_verified(state: &Engine, user: &User, email: &str) -> Result<bool, StoreError> {
    let email = crate::address::fold(email);
    Ok(crate::engine::identity::proven_addresses(state, &user.id)
        .await?
        .contains(&email))
}
