//! Reading the client's credentials from a request (RFC 6749 §2.3): `client_secret_basic`
//! (`Authorization: Basic base64(urlencode(id):urlencode(secret))`, §2.3.1), `client_secret_post`
//! (`client_id` and `client_secret` form fields), or `client_id` alone. A request uses exactly one
//! method: a secret both in the header and in the body is `invalid_request`. The engine's
//! `client_auth` decides whether they authenticate a client.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use poem::http::{HeaderMap, header};

use crate::engine::oauth2::params::Params;
use poem::Request;

use crate::domain::now;
use crate::engine::Engine;
use crate::engine::oauth2::client_auth::{
    self, AuthMethod, AuthenticatedClient, Presented, Public,
};
use crate::engine::oauth2::error::OAuth2Error;

/// Authenticates the calling client from the request's `Authorization` header and `form`.
pub async fn authenticate(
    state: &Engine,
    req: &Request,
    form: &Params,
    public: Public,
) -> Result<AuthenticatedClient, OAuth2Error> {
    let credentials = presented(req.headers(), form)?;
    client_auth::authenticate(state, credentials, public, now()).await
}

/// The credentials `headers` and `form` present.
pub fn presented(headers: &HeaderMap, form: &Params) -> Result<Presented, OAuth2Error> {
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
    let id =
        crate::engine::oauth2::params::form_decode(id).ok_or_else(OAuth2Error::invalid_client)?;
    let secret = crate::engine::oauth2::params::form_decode(secret)
        .ok_or_else(OAuth2Error::invalid_client)?;
    // An id or secret with a NUL character matches no client (and PostgreSQL cannot compare it).
    if id.is_empty() || id.contains('\0') || secret.contains('\0') {
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
