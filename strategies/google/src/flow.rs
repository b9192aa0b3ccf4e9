//! The login round trip: the authorization request (OIDC Core §3.1.2) and the callback
//! (§3.1.2.5–§3.1.3), with PKCE (RFC 7636, S256), `state` and `nonce`.
//!
//! [`OidcClient::start`] returns the URL to send the browser to together with the three secrets
//! of this attempt — `state`, `nonce` and the PKCE verifier. The crate stores nothing: the server
//! keeps them server-side, bound to the browser that started the login (a cookie naming the
//! row), and hands them back to [`OidcClient::finish`] with the callback's query. Each secret
//! defends against something else: `state` ties the callback to the browser (CSRF, RFC 6749
//! §10.12), PKCE ties the code to this client instance (code interception and injection, RFC
//! 9700 §2.1.1), `nonce` ties the id_token to the attempt (replay, OIDC Core §15.5.2).
//!
//! `finish` then refuses a callback whose `state` is not the stored one (the server should have
//! compared already: [`state_matches`]), whose `iss` (RFC 9207) names another issuer, exchanges
//! the code at the token endpoint (client_secret_basic, or _post when that is all the provider
//! supports), verifies the id_token (OIDC Core §3.1.3.7, module `id_token`) and builds the
//! identity.
//!
//! One [`OidcClient`] serves every authority of the server: discovery documents and key sets are
//! cached per issuer, while each call gets the authority's own [`GoogleDetails`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authx_strategy_core::UpstreamIdentity;
use authx_strategy_core::outbound::OutboundPolicy;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::url::Url;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse,
    TokenUrl,
};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::details::GoogleDetails;
use crate::discovery::{ClientAuth, DiscoveryCache, ProviderMetadata};
use crate::error::OidcError;
use crate::http::{HttpClient, HttpError};
use crate::id_token::{Expected, parse_header, validate_claims, verify_signature};
use crate::identity::{build_identity, check_userinfo, needs_userinfo};
use crate::jwks::JwksCache;

/// The longest clock skew [`OidcOptions::clock_skew`] may set: more would make `exp` and `iat`
/// meaningless.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);
/// Bounds on what a callback may carry, far above real values.
const MAX_CALLBACK_PARAM: usize = 4096;

/// Tunables of the OpenID Connect client. The defaults suit production; tests shorten some.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcOptions {
    /// Total time one HTTP exchange with a provider may take.
    pub http_timeout: Duration,
    /// The largest response body read from a provider, in bytes.
    pub max_response_bytes: usize,
    /// How long a discovery document is reused.
    pub discovery_ttl: Duration,
    /// How long a key set is reused (an unknown `kid` refetches earlier).
    pub jwks_ttl: Duration,
    /// The least time between two refetches of one key set caused by unknown `kid`s.
    pub jwks_min_refetch_interval: Duration,
    /// Allowed clock difference with providers for `exp`, `iat` and `nbf` (capped at
    /// [`MAX_CLOCK_SKEW`]).
    pub clock_skew: Duration,
    /// How old (by `iat`) an id_token may be. Tokens come straight from the token endpoint, so
    /// anything old is a replay or a broken clock.
    pub max_id_token_age: Duration,
    /// Where the client may connect (public addresses only, by default).
    pub outbound: OutboundPolicy,
}

impl Default for OidcOptions {
    fn default() -> Self {
        Self {
            http_timeout: Duration::from_secs(10),
            max_response_bytes: 256 * 1024,
            discovery_ttl: Duration::from_secs(3600),
            jwks_ttl: Duration::from_secs(3600),
            jwks_min_refetch_interval: Duration::from_secs(60),
            clock_skew: Duration::from_secs(60),
            max_id_token_age: Duration::from_secs(600),
            outbound: OutboundPolicy::default(),
        }
    }
}

/// The secrets of one login attempt, which the server stores until the callback. Never log
/// them (`Debug` hides them).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogin {
    /// The `state` sent with the authorization request.
    pub state: String,
    /// The `nonce` the id_token must carry.
    pub nonce: String,
    /// The PKCE `code_verifier` for the token request.
    pub pkce_verifier: String,
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PendingLogin { .. }")
    }
}

/// Where to send the browser, and the secrets to keep for the callback.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    /// The provider's authorization URL with every parameter (send a 303 to it).
    pub url: String,
    /// The `state` in `url`; the callback must bring it back.
    pub state: String,
    /// The `nonce` in `url`; the id_token must carry it.
    pub nonce: String,
    /// The PKCE verifier whose S256 challenge is in `url`.
    pub pkce_verifier: String,
}

impl AuthorizationRequest {
    /// The parts to store for [`OidcClient::finish`].
    pub fn pending(&self) -> PendingLogin {
        PendingLogin {
            state: self.state.clone(),
            nonce: self.nonce.clone(),
            pkce_verifier: self.pkce_verifier.clone(),
        }
    }
}

impl fmt::Debug for AuthorizationRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationRequest")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The parameters of the callback's query (OIDC Core §3.1.2.5–6, RFC 9207).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallbackParams {
    /// The authorization code.
    pub code: Option<String>,
    /// The `state` sent with the request.
    pub state: Option<String>,
    /// The issuer (RFC 9207), when the provider sends it.
    pub iss: Option<String>,
    /// The error code, when the provider refused.
    pub error: Option<String>,
    /// The error's description, if any.
    pub error_description: Option<String>,
}

impl fmt::Debug for CallbackParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackParams")
            .field("code", &self.code.as_ref().map(|_| "<set>"))
            .field("state", &self.state.as_ref().map(|_| "<set>"))
            .field("iss", &self.iss)
            .field("error", &self.error)
            .field("error_description", &self.error_description)
            .finish()
    }
}

impl CallbackParams {
    /// Parses a callback's query string (without the `?`). A parameter given twice is an error
    /// (RFC 6749 §3.1: parameters must not repeat), as is an oversized one; unknown parameters
    /// are ignored.
    pub fn from_query(query: &str) -> Result<Self, OidcError> {
        let mut params = Self::default();
        for (name, value) in oauth2::url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match name.as_ref() {
                "code" => &mut params.code,
                "state" => &mut params.state,
                "iss" => &mut params.iss,
                "error" => &mut params.error,
                "error_description" => &mut params.error_description,
                _ => continue,
            };
            if slot.is_some() {
                return Err(OidcError::MalformedCallback(format!("{name} given twice")));
            }
            if value.len() > MAX_CALLBACK_PARAM {
                return Err(OidcError::MalformedCallback(format!("{name} is too long")));
            }
            *slot = Some(value.into_owned());
        }
        Ok(params)
    }
}

/// Whether the `state` a callback brought back is the one stored for this browser, compared in
/// constant time. An empty stored state never matches.
pub fn state_matches(expected: &str, received: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(received.as_bytes()))
}

/// The callback URL authx registers at providers for an authority:
/// `{issuer}/login/{authority_id}/callback`, `issuer` being authx's own public base URL.
pub fn redirect_uri(authx_issuer: &str, authority_id: &str) -> String {
    format!(
        "{}/login/{authority_id}/callback",
        authx_issuer.trim_end_matches('/')
    )
}

/// The token response: RFC 6749 §5.1 plus OIDC's `id_token` (OIDC Core §3.1.3.3).
#[derive(Clone, Debug, Deserialize, Serialize)]
struct IdTokenFields {
    #[serde(default)]
    id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenFields {}

type OidcTokenResponse = StandardTokenResponse<IdTokenFields, BasicTokenType>;

type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    OidcTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The OpenID Connect relying party of authx: one per server, shared by every `google`
/// authority.
#[derive(Debug)]
pub struct OidcClient {
    http: HttpClient,
    discovery: DiscoveryCache,
    jwks: JwksCache,
    options: OidcOptions,
}

impl OidcClient {
    /// A client with these options (its HTTP client, caches empty).
    pub fn new(options: OidcOptions) -> Result<Self, OidcError> {
        let http = HttpClient::new(
            options.http_timeout,
            options.max_response_bytes,
            &options.outbound,
        )?;
        Ok(Self {
            http,
            discovery: DiscoveryCache::new(options.discovery_ttl),
            jwks: JwksCache::new(options.jwks_ttl, options.jwks_min_refetch_interval),
            options,
        })
    }

    /// The options in force.
    pub fn options(&self) -> &OidcOptions {
        &self.options
    }

    /// The validated discovery document of `issuer` (cached). Useful to check an authority's
    /// configuration when an admin saves it.
    pub async fn discover(&self, issuer: &str) -> Result<Arc<ProviderMetadata>, OidcError> {
        crate::details::check_issuer(issuer).map_err(|message| OidcError::InvalidUrl {
            what: "issuer",
            message,
        })?;
        self.discovery.get(&self.http, issuer).await
    }

    /// Starts a login: discovers the provider and builds the authorization request (code flow,
    /// PKCE S256, fresh `state` and `nonce`, scopes `openid email profile` + extra, `hd` when
    /// exactly one hosted domain is configured). `redirect_uri` is this authority's callback
    /// ([`redirect_uri`]); it must be registered at the provider.
    pub async fn start(
        &self,
        details: &GoogleDetails,
        redirect_uri: &str,
    ) -> Result<AuthorizationRequest, OidcError> {
        let metadata = self.discover(&details.issuer).await?;
        let client = oauth_client(details, &metadata, redirect_uri)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = random_secret();
        let nonce = random_secret();
        let state_for_url = state.clone();
        let mut request = client
            .authorize_url(move || CsrfToken::new(state_for_url))
            .add_scopes(details.scopes().into_iter().map(Scope::new))
            .set_pkce_challenge(challenge)
            .add_extra_param("nonce", nonce.clone());
        // Google's `hd` parameter only streamlines the account chooser; the `hd` claim is what
        // is enforced in `finish`.
        if let [domain] = details.hosted_domains.as_slice() {
            request = request.add_extra_param("hd", domain.clone());
        }
        let (url, _) = request.url();
        Ok(AuthorizationRequest {
            url: url.into(),
            state,
            nonce,
            pkce_verifier: verifier.into_secret(),
        })
    }

    /// Completes a login from the callback: checks `state` and `iss`, exchanges the code,
    /// verifies the id_token, applies the hosted-domain restriction and returns the identity
    /// (`authority_user_id` = `sub`). `pending` is what [`OidcClient::start`] returned for this
    /// browser; the server must delete it before calling (single use).
    pub async fn finish(
        &self,
        authority_id: &str,
        details: &GoogleDetails,
        redirect_uri: &str,
        pending: &PendingLogin,
        callback: &CallbackParams,
    ) -> Result<UpstreamIdentity, OidcError> {
        // The state first: until it matches, nothing in the callback is this browser's.
        let state_ok = callback
            .state
            .as_deref()
            .is_some_and(|state| state_matches(&pending.state, state));
        if !state_ok {
            return Err(OidcError::StateMismatch);
        }
        if let Some(error) = &callback.error {
            let description = sanitize(callback.error_description.as_deref().unwrap_or(""));
            return Err(if error == "access_denied" {
                OidcError::AccessDenied { description }
            } else {
                OidcError::ProviderError {
                    error: sanitize(error),
                    description,
                }
            });
        }
        let metadata = self.discover(&details.issuer).await?;
        // RFC 9207 §2.4: a provider that promises `iss` must send it, and it must be the issuer
        // this login was started with (mix-up defence when several providers are configured).
        match &callback.iss {
            Some(iss) if *iss != details.issuer => {
                return Err(OidcError::CallbackIssuerMismatch {
                    expected: details.issuer.clone(),
                    found: Some(sanitize(iss)),
                });
            }
            None if metadata.authorization_response_iss_parameter_supported => {
                return Err(OidcError::CallbackIssuerMismatch {
                    expected: details.issuer.clone(),
                    found: None,
                });
            }
            _ => {}
        }
        let code = callback
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or(OidcError::MissingCode)?;

        let client = oauth_client(details, &metadata, redirect_uri)?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(token_error)?;
        let id_token = tokens
            .extra_fields()
            .id_token
            .as_deref()
            .ok_or(OidcError::MissingIdToken)?;
        let access_token = tokens.access_token().secret();

        // OIDC Core §3.1.3.7: header → key → signature → claims.
        let header = parse_header(id_token, &metadata.id_token_signing_alg_values_supported)?;
        let key = self
            .jwks
            .key(
                &self.http,
                &metadata.jwks_uri,
                header.kid.as_deref(),
                header.alg,
            )
            .await?;
        let claims = verify_signature(id_token, &key, header.alg)?;
        let skew = self.options.clock_skew.min(MAX_CLOCK_SKEW);
        let sub = validate_claims(
            &claims,
            &Expected {
                issuer: &details.issuer,
                client_id: &details.client_id,
                nonce: &pending.nonce,
                access_token: Some(access_token),
                alg: header.alg,
                now: unix_now(),
                skew: seconds(skew),
                max_age: seconds(self.options.max_id_token_age),
            },
        )?;

        let userinfo = match &metadata.userinfo_endpoint {
            Some(endpoint) if needs_userinfo(details, &claims) => {
                let document = self
                    .http
                    .get_json("userinfo", endpoint, Some(access_token))
                    .await
                    .map_err(|e| OidcError::Userinfo(e.to_string()))?;
                Some(check_userinfo(&sub, document)?)
            }
            _ => None,
        };
        let identity = build_identity(authority_id, details, sub, &claims, userinfo.as_ref())?;
        tracing::debug!(
            authority_id,
            issuer = %details.issuer,
            email_verified = identity.email_verified,
            "OpenID Connect login verified"
        );
        Ok(identity)
    }
}

/// The `oauth2` client for an authority at a discovered provider.
fn oauth_client(
    details: &GoogleDetails,
    metadata: &ProviderMetadata,
    redirect_uri: &str,
) -> Result<OAuthClient, OidcError> {
    let redirect = Url::parse(redirect_uri)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http") && u.fragment().is_none())
        .ok_or_else(|| OidcError::InvalidUrl {
            what: "redirect_uri",
            message: "must be an absolute http(s) URL without a fragment".to_owned(),
        })?;
    let url_error = |what: &'static str| {
        move |e: oauth2::url::ParseError| OidcError::InvalidUrl {
            what,
            message: e.to_string(),
        }
    };
    let auth_url = AuthUrl::new(metadata.authorization_endpoint.clone())
        .map_err(url_error("authorization_endpoint"))?;
    let token_url =
        TokenUrl::new(metadata.token_endpoint.clone()).map_err(url_error("token_endpoint"))?;
    Ok(
        oauth2::Client::new(ClientId::new(details.client_id.clone()))
            .set_client_secret(ClientSecret::new(details.client_secret.clone()))
            .set_auth_type(match metadata.client_auth {
                ClientAuth::Basic => AuthType::BasicAuth,
                ClientAuth::Post => AuthType::RequestBody,
            })
            .set_auth_uri(auth_url)
            .set_token_uri(token_url)
            .set_redirect_uri(RedirectUrl::from_url(redirect)),
    )
}

/// Maps a failed token request to an [`OidcError`], keeping the provider's error code (not its
/// body, which could echo the code).
fn token_error(error: RequestTokenError<HttpError, BasicErrorResponse>) -> OidcError {
    match error {
        RequestTokenError::ServerResponse(response) => {
            let description = response
                .error_description()
                .map(|d| sanitize(d))
                .unwrap_or_default();
            OidcError::TokenExchange(format!("{}: {description}", response.error()))
        }
        RequestTokenError::Request(e) => e.at("token"),
        RequestTokenError::Parse(e, _) => {
            OidcError::TokenExchange(format!("unusable token response: {}", e.path()))
        }
        RequestTokenError::Other(message) => OidcError::TokenExchange(sanitize(&message)),
    }
}

/// 256 random bits, base64url (43 characters): for `state` and `nonce`.
fn random_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Upstream text fit for a log line: printable, bounded.
fn sanitize(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(seconds)
        .unwrap_or(0)
}

fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_query_parsing() {
        let p = CallbackParams::from_query("code=abc&state=s%2B1&iss=https%3A%2F%2Fi.example&x=1")
            .unwrap();
        assert_eq!(p.code.as_deref(), Some("abc"));
        assert_eq!(p.state.as_deref(), Some("s+1"));
        assert_eq!(p.iss.as_deref(), Some("https://i.example"));
        assert!(matches!(
            CallbackParams::from_query("code=a&code=b"),
            Err(OidcError::MalformedCallback(_))
        ));
        let long = format!("code={}", "a".repeat(MAX_CALLBACK_PARAM + 1));
        assert!(CallbackParams::from_query(&long).is_err());
        assert!(!format!("{p:?}").contains("abc"));
    }

    #[test]
    fn state_comparison() {
        assert!(state_matches("abc", "abc"));
        assert!(!state_matches("abc", "abd"));
        assert!(!state_matches("abc", "ab"));
        assert!(!state_matches("", ""));
    }

    #[test]
    fn secrets_are_random_and_long() {
        let a = random_secret();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_secret());
    }

    #[test]
    fn client_and_futures_are_send() {
        // The server runs these inside poem handlers, which need Send futures.
        fn assert_send_sync<T: Send + Sync>(_: &T) {}
        fn assert_send<T: Send>(_: &T) {}
        let client = OidcClient::new(OidcOptions::default()).unwrap();
        assert_send_sync(&client);
        let details = GoogleDetails::from_details(
            &serde_json::json!({"client_id": "c", "client_secret": "s"}),
        )
        .unwrap();
        let pending = PendingLogin {
            state: "s".into(),
            nonce: "n".into(),
            pkce_verifier: "v".into(),
        };
        let callback = CallbackParams::default();
        assert_send(&client.start(&details, "https://authx.example/cb"));
        assert_send(&client.finish("a", &details, "https://x/cb", &pending, &callback));
        assert!(!format!("{pending:?}").contains('v'));
    }

    #[test]
    fn redirect_uri_shape() {
        assert_eq!(
            redirect_uri("https://authx.example/", "acme-google"),
            "https://authx.example/login/acme-google/callback"
        );
    }
}
