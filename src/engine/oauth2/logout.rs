//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): which request to honour and where
//! it may return. The session itself ends through `engine::session`; the pages are
//! `http::oauth2::logout`'s.

use serde::Deserialize;

use super::jwt::ID_TOKEN_TYP;
use super::params::Params;
use crate::engine::Engine;
use crate::store::StoreError;

/// The claims of an `id_token_hint` that matter here.
#[derive(Debug, Deserialize)]
struct Hint {
    sub: String,
    aud: Audience,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn first(&self) -> Option<&str> {
        match self {
            Self::One(a) => Some(a),
            Self::Many(a) => a.first().map(String::as_str),
        }
    }
}

/// A validated logout request.
#[derive(Debug)]
pub struct LogoutRequest {
    /// The user the hint names, if a valid hint was given.
    pub hinted_user: Option<String>,
    /// Where to go afterwards (already checked against the client's registration).
    pub redirect: Option<String>,
    pub state: Option<String>,
    /// The name of the application that sent the browser here, when it is known and enabled.
    pub client_name: Option<String>,
}

/// Why a logout request is refused.
#[derive(Debug)]
pub enum Refused {
    /// What the person is told.
    Page(&'static str),
    /// The database failed.
    Store(StoreError),
}

/// Validates an RP-initiated logout request: `id_token_hint` (an ID token we issued, expired or
/// not), `client_id` (which must agree with the hint), `post_logout_redirect_uri` (registered for
/// that enabled client, exact match) and `state`. Anything else is refused with the message for
/// the page; nothing is ever redirected to an address that was not checked.
pub async fn validate(state: &Engine, params: &Params) -> Result<LogoutRequest, Refused> {
    let issuer = state.config.issuer_url();
    let hint: Option<Hint> = match params.get("id_token_hint") {
        None => None,
        Some(token) => state
            .keys
            .verify_expired_ok(token, ID_TOKEN_TYP, &issuer, None)
            .await
            .ok(),
    };
    if params.get("id_token_hint").is_some() && hint.is_none() {
        return Err(Refused::Page(
            "The id_token_hint is not an ID token issued by this server.",
        ));
    }
    let hinted_client = hint.as_ref().and_then(|h| h.aud.first()).map(str::to_owned);
    let client_id = match (hinted_client, params.get("client_id")) {
        (Some(a), Some(b)) if a != b => {
            return Err(Refused::Page("client_id does not match the id_token_hint."));
        }
        (Some(a), _) => Some(a),
        (None, b) => b.map(str::to_owned),
    };
    let client = match &client_id {
        Some(id) => state
            .store
            .get_client(id)
            .await
            .map_err(Refused::Store)?
            .filter(|c| c.enabled),
        None => None,
    };
    let redirect = match params.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            if client_id.is_none() {
                return Err(Refused::Page(
                    "post_logout_redirect_uri needs the client to be named (id_token_hint or \
                     client_id).",
                ));
            }
            let registered = client
                .as_ref()
                .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r == uri));
            if !registered {
                return Err(Refused::Page(
                    "The address to return to after logging out is not registered for this \
                     application. Nothing was sent there.",
                ));
            }
            Some(uri.to_owned())
        }
    };
    Ok(LogoutRequest {
        hinted_user: hint.map(|h| h.sub),
        redirect,
        state: params.get("state").map(str::to_owned),
        client_name: client.map(|c| c.name),
    })
}
