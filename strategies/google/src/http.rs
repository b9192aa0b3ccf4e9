//! The HTTP client for everything the login fetches from a provider, and its adapter to the
//! `oauth2` crate.
//!
//! `oauth2` 5 brings its own reqwest 0.12 client only with its default features; authx builds it
//! without them (one reqwest, one TLS stack, no `ring`) and implements
//! [`oauth2::AsyncHttpClient`] here on top of the reqwest 0.13 client the rest of authx uses.
//!
//! Every exchange is bounded, because the provider's answers are read by a server that many
//! people log in through: a total timeout per request, no redirects followed (OIDC endpoints don't
//! redirect; following them would let a compromised endpoint point authx at internal hosts), and
//! a cap on the response body, enforced while reading so an endless body costs at most the cap.
//! Where it may connect is the outbound policy's decision (`authx_strategy_core::outbound`): a
//! discovery document naming an internal address gets no request sent there.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use oauth2::http::{self, HeaderMap, HeaderValue, StatusCode, header};
use serde_json::Value;

use authx_strategy_core::outbound::{OutboundPolicy, Refused, refused_in};

use crate::error::OidcError;

/// The `User-Agent` authx sends to providers.
const USER_AGENT: &str = concat!("authx/", env!("CARGO_PKG_VERSION"));

/// Why an HTTP exchange failed (the adapter's error type, as `oauth2` requires one).
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Connection, TLS, timeout or protocol failure.
    #[error("{0}")]
    Transport(#[from] reqwest::Error),
    /// The body exceeded the configured bound.
    #[error("response body larger than {limit} bytes")]
    TooLarge {
        /// The bound, in bytes.
        limit: usize,
    },
    /// The URL's address is outside the outbound policy.
    #[error("{0}")]
    Refused(#[from] Refused),
}

impl HttpError {
    /// As an [`OidcError`] for `endpoint` (`discovery`, `jwks`, `token`, `userinfo`).
    pub(crate) fn at(&self, endpoint: &'static str) -> OidcError {
        match self {
            Self::TooLarge { limit } => OidcError::ResponseTooLarge {
                endpoint,
                limit: *limit,
            },
            Self::Transport(e) => OidcError::Http {
                endpoint,
                message: match refused_in(e) {
                    Some(refused) => refused.to_string(),
                    None => transport_message(e),
                },
            },
            Self::Refused(refused) => OidcError::Http {
                endpoint,
                message: refused.to_string(),
            },
        }
    }
}

/// A short description of a reqwest error without its URL (which may carry a code or token in
/// its query).
fn transport_message(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_redirect() {
        "redirect refused"
    } else if error.is_body() || error.is_decode() {
        "could not read the body"
    } else {
        "request failed"
    };
    match error.url() {
        Some(url) => format!(
            "{kind} ({}://{}{})",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        None => kind.to_owned(),
    }
}

/// A bounded reqwest client: total timeout, no redirects, capped response bodies, and only the
/// addresses the outbound policy permits.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    max_body: usize,
    policy: OutboundPolicy,
}

impl HttpClient {
    /// A client with these bounds, connecting only where `policy` permits.
    pub fn new(
        timeout: Duration,
        max_body: usize,
        policy: &OutboundPolicy,
    ) -> Result<Self, OidcError> {
        let client = policy
            .client_builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| OidcError::Internal(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            client,
            max_body,
            policy: policy.clone(),
        })
    }

    /// Sends `request` and reads the response, body capped at the configured bound.
    pub async fn execute(
        &self,
        request: oauth2::HttpRequest,
    ) -> Result<oauth2::HttpResponse, HttpError> {
        let (parts, body) = request.into_parts();
        let request = self
            .client
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .build()?;
        // Every URL, the discovered endpoints included: a literal address never reaches the
        // resolver that filters names.
        self.policy.check_url(request.url())?;
        let response = self.client.execute(request).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = self.read_body(response).await?;
        let mut out = http::Response::new(body);
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }

    /// Reads a body chunk by chunk, failing as soon as it exceeds the bound (a `Content-Length`
    /// above it fails before reading anything).
    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, HttpError> {
        let limit = self.max_body;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(HttpError::TooLarge { limit });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > limit {
                return Err(HttpError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// GETs a JSON document (discovery, JWKS, userinfo), with a bearer token if given. Anything
    /// but `200` with a JSON body is an error for `endpoint`.
    pub(crate) async fn get_json(
        &self,
        endpoint: &'static str,
        url: &str,
        bearer: Option<&str>,
    ) -> Result<Value, OidcError> {
        let mut builder = http::Request::builder()
            .method(http::Method::GET)
            .uri(url)
            .header(header::ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(token) = bearer {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = builder
            .body(Vec::new())
            .map_err(|e| OidcError::InvalidUrl {
                what: endpoint,
                message: e.to_string(),
            })?;
        let response = self.execute(request).await.map_err(|e| e.at(endpoint))?;
        if response.status() != StatusCode::OK {
            return Err(OidcError::Http {
                endpoint,
                message: format!("unexpected status {}", response.status().as_u16()),
            });
        }
        if !is_json(response.headers()) {
            return Err(OidcError::Http {
                endpoint,
                message: "the response is not application/json".to_owned(),
            });
        }
        serde_json::from_slice(response.body()).map_err(|e| OidcError::Http {
            endpoint,
            message: format!("the response is not valid JSON: {e}"),
        })
    }
}

/// Whether the `Content-Type` is JSON (`application/json`, `application/jwk-set+json`, …,
/// parameters ignored). A missing type is accepted: some providers omit it on static documents.
fn is_json(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_TYPE) {
        None => true,
        Some(value) => value.to_str().is_ok_and(|ct| {
            let essence = ct.split(';').next().unwrap_or_default().trim();
            let essence = essence.to_ascii_lowercase();
            essence == "application/json"
                || (essence.starts_with("application/") && essence.ends_with("+json"))
        }),
    }
}

/// The adapter `oauth2` calls for the token request.
impl<'c> oauth2::AsyncHttpClient<'c> for HttpClient {
    type Error = HttpError;
    type Future =
        Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(self.execute(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        let with = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
            is_json(&h)
        };
        assert!(is_json(&HeaderMap::new()));
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/jwk-set+json"));
        assert!(!with("text/html"));
        assert!(!with("application/jwt"));
    }
}
