//! OpenID Provider discovery (OpenID Connect Discovery 1.0): where a configured issuer keeps its
//! authorization, token, userinfo and key endpoints, and which options it supports.
//!
//! The document is fetched from `{issuer}/.well-known/openid-configuration` (Discovery §4.1: the
//! issuer without a trailing slash, then the well-known path) and trusted only if its `issuer` is
//! byte-for-byte the configured one (§4.3) — otherwise an attacker who can serve a document at
//! one issuer could impersonate another. Endpoints must use https (plain http only for loopback
//! issuers), and the document is bounded in size and time like every other exchange.
//!
//! Documents are cached in memory per issuer for a while (an hour by default), so logins don't
//! pay a round trip each; failures are not cached, so a provider outage heals on its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::details::{check_url, is_http_loopback};
use crate::error::OidcError;
use crate::http::HttpClient;

/// The path appended to the issuer (Discovery §4).
pub const WELL_KNOWN_PATH: &str = "/.well-known/openid-configuration";

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1, OIDC Core §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the client id and secret (the default when the
    /// provider does not say, per Discovery §3).
    Basic,
    /// `client_secret_post`: id and secret in the form body, for providers that support only it.
    Post,
}

/// The parts of a provider's discovery document the login uses, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderMetadata {
    /// The issuer (equal to the configured one).
    pub issuer: String,
    /// Where the browser is sent to log in.
    pub authorization_endpoint: String,
    /// Where the code is exchanged.
    pub token_endpoint: String,
    /// The provider's signing keys.
    pub jwks_uri: String,
    /// Where more claims can be read with the access token, if the provider has it.
    pub userinfo_endpoint: Option<String>,
    /// The id_token `alg` values the provider may use (empty: not advertised).
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// The client authentication authx uses at the token endpoint.
    pub client_auth: ClientAuth,
    /// Whether the provider promises an `iss` parameter on the authorization response (RFC 9207
    /// §3); if so, a response without it is refused.
    pub authorization_response_iss_parameter_supported: bool,
}

/// The document as published; only the fields authx reads, everything optional here so the
/// validation can say precisely what is missing.
#[derive(Deserialize)]
struct RawMetadata {
    issuer: Option<String>,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    jwks_uri: Option<String>,
    userinfo_endpoint: Option<String>,
    #[serde(default)]
    response_types_supported: Option<Vec<String>>,
    #[serde(default)]
    id_token_signing_alg_values_supported: Option<Vec<String>>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: Option<bool>,
}

/// The URL of `issuer`'s discovery document.
pub fn discovery_url(issuer: &str) -> String {
    format!("{}{WELL_KNOWN_PATH}", issuer.trim_end_matches('/'))
}

/// Validates a discovery document fetched for `issuer`.
pub fn parse_metadata(
    issuer: &str,
    document: serde_json::Value,
) -> Result<ProviderMetadata, OidcError> {
    let raw: RawMetadata = serde_json::from_value(document)
        .map_err(|e| OidcError::DiscoveryInvalid(format!("unexpected document: {e}")))?;
    let found = raw
        .issuer
        .ok_or_else(|| OidcError::DiscoveryInvalid("no issuer".to_owned()))?;
    // Discovery §4.3: "MUST be identical", so no normalisation (trailing slash, case) at all.
    if found != issuer {
        return Err(OidcError::DiscoveryIssuerMismatch {
            expected: issuer.to_owned(),
            found,
        });
    }
    let issuer_url =
        crate::details::check_issuer(issuer).map_err(|message| OidcError::InvalidUrl {
            what: "issuer",
            message,
        })?;
    // A loopback http issuer (tests, development) may name loopback http endpoints; an https
    // issuer's endpoints must all be https, or TLS would protect the document but not the code.
    let allow_http = is_http_loopback(&issuer_url);
    let endpoint = |what: &'static str, value: Option<String>| -> Result<String, OidcError> {
        let value = value.ok_or_else(|| OidcError::DiscoveryInvalid(format!("no {what}")))?;
        check_url(&value, allow_http)
            .map_err(|m| OidcError::DiscoveryInvalid(format!("{what} {m}")))?;
        Ok(value)
    };
    let authorization_endpoint = endpoint("authorization_endpoint", raw.authorization_endpoint)?;
    let token_endpoint = endpoint("token_endpoint", raw.token_endpoint)?;
    let jwks_uri = endpoint("jwks_uri", raw.jwks_uri)?;
    let userinfo_endpoint = match raw.userinfo_endpoint {
        None => None,
        Some(url) => Some(endpoint("userinfo_endpoint", Some(url))?),
    };
    if let Some(types) = &raw.response_types_supported
        && !types.iter().any(|t| t == "code")
    {
        return Err(OidcError::DiscoveryInvalid(
            "the provider does not support the authorization code flow".to_owned(),
        ));
    }
    let client_auth = match raw.token_endpoint_auth_methods_supported.as_deref() {
        None => ClientAuth::Basic,
        Some(methods) if methods.iter().any(|m| m == "client_secret_basic") => ClientAuth::Basic,
        Some(methods) if methods.iter().any(|m| m == "client_secret_post") => ClientAuth::Post,
        Some(_) => {
            return Err(OidcError::DiscoveryInvalid(
                "the token endpoint supports neither client_secret_basic nor client_secret_post"
                    .to_owned(),
            ));
        }
    };
    Ok(ProviderMetadata {
        issuer: found,
        authorization_endpoint,
        token_endpoint,
        jwks_uri,
        userinfo_endpoint,
        id_token_signing_alg_values_supported: raw
            .id_token_signing_alg_values_supported
            .unwrap_or_default(),
        client_auth,
        authorization_response_iss_parameter_supported: raw
            .authorization_response_iss_parameter_supported
            .unwrap_or(false),
    })
}

/// Discovery documents by issuer, each kept for `ttl`.
#[derive(Debug)]
pub(crate) struct DiscoveryCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Arc<ProviderMetadata>)>>,
}

impl DiscoveryCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The metadata of `issuer`, from the cache or freshly fetched and validated.
    pub(crate) async fn get(
        &self,
        http: &HttpClient,
        issuer: &str,
    ) -> Result<Arc<ProviderMetadata>, OidcError> {
        if let Some(found) = self.cached(issuer) {
            return Ok(found);
        }
        let document = http
            .get_json("discovery", &discovery_url(issuer), None)
            .await?;
        let metadata = Arc::new(parse_metadata(issuer, document)?);
        tracing::debug!(issuer, "fetched OpenID Provider metadata");
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(issuer.to_owned(), (Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    fn cached(&self, issuer: &str) -> Option<Arc<ProviderMetadata>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(issuer)
            .filter(|(fetched, _)| fetched.elapsed() < self.ttl)
            .map(|(_, metadata)| metadata.clone())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc(issuer: &str) -> serde_json::Value {
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/auth"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code", "id_token"],
        })
    }

    #[test]
    fn well_known_url() {
        assert_eq!(
            discovery_url("https://accounts.google.com"),
            "https://accounts.google.com/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://idp.example/realms/a/"),
            "https://idp.example/realms/a/.well-known/openid-configuration"
        );
    }

    #[test]
    fn issuer_must_match_exactly() {
        let issuer = "https://idp.example";
        assert!(parse_metadata(issuer, doc(issuer)).is_ok());
        for other in [
            "https://idp.example/",
            "https://IDP.example",
            "https://evil.example",
        ] {
            let mut d = doc(issuer);
            d["issuer"] = json!(other);
            assert!(
                matches!(
                    parse_metadata(issuer, d),
                    Err(OidcError::DiscoveryIssuerMismatch { .. })
                ),
                "{other}"
            );
        }
    }

    #[test]
    fn endpoints_and_options_are_checked() {
        let issuer = "https://idp.example";
        let mut d = doc(issuer);
        d["token_endpoint"] = json!("http://idp.example/token");
        assert!(matches!(
            parse_metadata(issuer, d),
            Err(OidcError::DiscoveryInvalid(_))
        ));
        let mut d = doc(issuer);
        d["token_endpoint"] = json!("http://127.0.0.1/token");
        assert!(matches!(
            parse_metadata(issuer, d),
            Err(OidcError::DiscoveryInvalid(_))
        ));
        let mut d = doc(issuer);
        d.as_object_mut().unwrap().remove("jwks_uri");
        assert!(matches!(
            parse_metadata(issuer, d),
            Err(OidcError::DiscoveryInvalid(_))
        ));
        let mut d = doc(issuer);
        d["response_types_supported"] = json!(["id_token"]);
        assert!(matches!(
            parse_metadata(issuer, d),
            Err(OidcError::DiscoveryInvalid(_))
        ));

        let mut d = doc(issuer);
        d["token_endpoint_auth_methods_supported"] =
            json!(["private_key_jwt", "client_secret_post"]);
        assert_eq!(
            parse_metadata(issuer, d).unwrap().client_auth,
            ClientAuth::Post
        );
        let mut d = doc(issuer);
        d["token_endpoint_auth_methods_supported"] =
            json!(["client_secret_post", "client_secret_basic"]);
        assert_eq!(
            parse_metadata(issuer, d).unwrap().client_auth,
            ClientAuth::Basic
        );
        let mut d = doc(issuer);
        d["token_endpoint_auth_methods_supported"] = json!(["private_key_jwt"]);
        assert!(matches!(
            parse_metadata(issuer, d),
            Err(OidcError::DiscoveryInvalid(_))
        ));

        // A loopback http issuer may use loopback http endpoints.
        let local = "http://127.0.0.1:4000";
        let m = parse_metadata(local, doc(local)).unwrap();
        assert_eq!(m.token_endpoint, "http://127.0.0.1:4000/token");
        assert_eq!(m.client_auth, ClientAuth::Basic);
        assert!(!m.authorization_response_iss_parameter_supported);
    }
}
