//! Client authentication (RFC 6749 §2.3) for the OAuth2 endpoints: `client_secret_basic`
//! (`Authorization: Basic base64(urlencode(id):urlencode(secret))`, §2.3.1), `client_secret_post`
//! (`client_id` and `client_secret` form fields) and, where the endpoint allows it, `none` for
//! public clients (`client_id` only).
//!
//! A request uses exactly one method: a secret both in the header and in the body is
//! `invalid_request`. Every failure to authenticate — unknown client, wrong or expired secret,
//! disabled client, a confidential client without a secret — is the same `invalid_client`, so a
//! caller cannot probe which client ids exist. The check is one indexed query on the secret's
//! SHA-256 (client secrets carry 256 random bits, reference §5): no bcrypt and no write.

use super::error::OAuth2Error;
use crate::domain::client::{Client, ClientType};
use crate::engine::Engine;
use crate::secret;

/// How the client authenticated (the `token_endpoint_auth_method` names of RFC 7591).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// `Authorization: Basic`.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A public client naming itself with `client_id` only.
    None,
}

impl AuthMethod {
    /// The RFC 7591 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
        }
    }
}

/// Whether an endpoint accepts public clients, which cannot authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Public {
    /// Only confidential clients with a valid secret (introspection, the key check).
    Refuse,
    /// Public clients may name themselves with `client_id` (the token endpoint, where PKCE then
    /// binds the request to the client).
    Allow,
}

/// A client that proved who it is (or, for a public client, named itself).
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    /// The client, enabled.
    pub client: Client,
    /// How it authenticated.
    pub method: AuthMethod,
}

impl AuthenticatedClient {
    /// The client id.
    pub fn id(&self) -> &str {
        &self.client.id
    }
}

/// The credentials a request presents, before any lookup.
/// The credentials a request presents, before any lookup (read from the request by the adapter).
#[derive(Debug, PartialEq, Eq)]
pub enum Presented {
    /// An id and a secret, by `method`.
    Secret {
        id: String,
        secret: String,
        method: AuthMethod,
    },
    /// Only a client id (a public client).
    IdOnly(String),
    /// No client credentials at all.
    Nothing,
}

/// Authenticates the calling client from the `Authorization` header and the form parameters.
pub async fn authenticate(
    state: &Engine,
    presented: Presented,
    public: Public,
    now: i64,
) -> Result<AuthenticatedClient, OAuth2Error> {
    let (id, secret, method) = match presented {
        Presented::Secret { id, secret, method } => (id, secret, method),
        Presented::IdOnly(id) => {
            if public == Public::Refuse {
                return Err(OAuth2Error::invalid_client());
            }
            let client = state.store.get_client(&id).await?;
            return match client {
                Some(client) if client.enabled && client.client_type == ClientType::Public => {
                    Ok(AuthenticatedClient {
                        client,
                        method: AuthMethod::None,
                    })
                }
                _ => Err(OAuth2Error::invalid_client()),
            };
        }
        Presented::Nothing => return Err(OAuth2Error::invalid_client()),
    };
    // Reused for up to `api_keys.check_cache_ms`: a disabled client or retired secret shows within
    // a second (see `check_cache`).
    let cache_key = format!("{id}\0{}", secret::hash(&secret));
    let client = match state.checks.clients.get(&cache_key) {
        Some(client) => client,
        None => {
            let client = state
                .store
                .authenticate_client(&id, &secret::hash(&secret), now)
                .await?;
            state.checks.clients.insert(cache_key, client.clone());
            client
        }
    };
    match client {
        Some(client) if client.enabled && client.client_type == ClientType::Confidential => {
            Ok(AuthenticatedClient { client, method })
        }
        _ => Err(OAuth2Error::invalid_client()),
    }
}
