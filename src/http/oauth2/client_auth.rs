//! Client authentication (RFC 6749 §2.3) for the OAuth2 endpoints: `client_secret_basic`
//! (`Authorization: Basic base64(urlencode(id):urlencode(secret))`, §2.3.1), `client_secret_post`
//! (`client_id` and `client_secret` form fields) and, where the endpoint allows it, `none` for
//! public clients (`client_id` only).
//!
//! A request uses exactly one method: a secret both in the header and in the body is
//! `invalid_request`. Every failure to authenticate — unknown client, wrong or expired secret,
//! disabled client, a confidential client without a secret — is the same `invalid_client`, so a
//! caller cannot probe which client ids exist. The check is one indexed query on the secret's
//! SHA-256 (client secrets carry 256 random bits, SPEC §5): no bcrypt and no write.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use poem::http::{HeaderMap, header};

use super::Params;
use super::error::OAuth2Error;
use crate::domain::client::{Client, ClientType};
use crate::domain::now;
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
#[derive(Debug, PartialEq, Eq)]
enum Presented {
    Secret {
        id: String,
        secret: String,
        method: AuthMethod,
    },
    IdOnly(String),
    Nothing,
}

/// Authenticates the calling client from the `Authorization` header and the form parameters.
pub async fn authenticate(
    state: &Engine,
    headers: &HeaderMap,
    form: &Params,
    public: Public,
) -> Result<AuthenticatedClient, OAuth2Error> {
    let (id, secret, method) = match presented(headers, form)? {
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
                .authenticate_client(&id, &secret::hash(&secret), now())
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

/// Reads the credentials from the request, refusing more than one method.
fn presented(headers: &HeaderMap, form: &Params) -> Result<Presented, OAuth2Error> {
    let basic = basic_credentials(headers)?;
    let form_id = form.get("client_id");
    let form_secret = form.get("client_secret");
    match (basic, form_id, form_secret) {
        (Some(_), _, Some(_)) => Err(OAuth2Error::invalid_request(
            "the client authenticated with more than one method (Basic and client_secret)",
        )),
        (Some((id, secret)), form_id, None) => {
            // Some clients repeat their id in the body; it must then be the same client.
            if form_id.is_some_and(|f| f != id) {
                return Err(OAuth2Error::invalid_request(
                    "client_id does not match the Authorization header",
                ));
            }
            if secret.is_empty() {
                Ok(Presented::IdOnly(id))
            } else {
                Ok(Presented::Secret {
                    id,
                    secret,
                    method: AuthMethod::ClientSecretBasic,
                })
            }
        }
        (None, Some(id), Some(secret)) => Ok(Presented::Secret {
            id: id.to_owned(),
            secret: secret.to_owned(),
            method: AuthMethod::ClientSecretPost,
        }),
        (None, Some(id), None) => Ok(Presented::IdOnly(id.to_owned())),
        (None, None, Some(_)) => Err(OAuth2Error::invalid_request(
            "client_secret was sent without client_id",
        )),
        (None, None, None) => Ok(Presented::Nothing),
    }
}

/// The `(id, secret)` of an `Authorization: Basic` header, form-decoded (RFC 6749 §2.3.1);
/// `None` when there is no such header or it uses another scheme. A malformed Basic value is
/// `invalid_client`: the client tried to authenticate and failed.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuth2Error> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| OAuth2Error::invalid_client())?;
    let Some((scheme, encoded)) = value.trim().split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| OAuth2Error::invalid_client())?;
    let decoded = String::from_utf8(decoded).map_err(|_| OAuth2Error::invalid_client())?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(OAuth2Error::invalid_client)?;
    let id = super::form_decode(id).ok_or_else(OAuth2Error::invalid_client)?;
    let secret = super::form_decode(secret).ok_or_else(OAuth2Error::invalid_client)?;
    if id.is_empty() {
        return Err(OAuth2Error::invalid_client());
    }
    Ok(Some((id, secret)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::http::HeaderValue;

    fn basic(raw: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = format!("Basic {}", STANDARD.encode(raw));
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(&v).unwrap());
        h
    }

    #[test]
    fn methods() {
        let none = Params::default();
        assert_eq!(
            presented(&basic("my%20app:s%3Acret+x"), &none).unwrap(),
            Presented::Secret {
                id: "my app".into(),
                secret: "s:cret x".into(),
                method: AuthMethod::ClientSecretBasic
            }
        );
        let post = Params::parse("client_id=a&client_secret=b").unwrap();
        assert_eq!(
            presented(&HeaderMap::new(), &post).unwrap(),
            Presented::Secret {
                id: "a".into(),
                secret: "b".into(),
                method: AuthMethod::ClientSecretPost
            }
        );
        // Both methods at once.
        assert!(presented(&basic("a:b"), &post).is_err());
        let id_only = Params::parse("client_id=a").unwrap();
        assert_eq!(
            presented(&HeaderMap::new(), &id_only).unwrap(),
            Presented::IdOnly("a".into())
        );
        assert!(presented(&basic("a:b"), &Params::parse("client_id=z").unwrap()).is_err());
        assert_eq!(
            presented(&HeaderMap::new(), &none).unwrap(),
            Presented::Nothing
        );
        let mut bad = HeaderMap::new();
        bad.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic !!notbase64"),
        );
        assert!(presented(&bad, &none).is_err());
        let mut bearer = HeaderMap::new();
        bearer.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert_eq!(presented(&bearer, &none).unwrap(), Presented::Nothing);
    }
}
