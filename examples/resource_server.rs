//! A resource server that accepts authx access tokens offline (RFC 9068 JWTs) and guards
//! `GET /orders` with a scope checked by `authx::scopes` — no call to authx per request.
//!
//! At start it reads authx's discovery document (`/.well-known/openid-configuration`), whose
//! `issuer` must be `AUTHX_ISSUER`, and fetches the signing keys from its `jwks_uri`. The keys are
//! cached by `kid`; a token naming a `kid` not in the cache makes it fetch the set again (that is
//! how a key rotation at authx reaches it), at most once per second however many such tokens
//! arrive, and the whole set is re-read every five minutes so keys authx stops publishing are
//! dropped. A token is accepted when its header says `typ: at+jwt`, its signature verifies with the
//! published key of its `kid` under that key's own algorithm (the `alg` of the JWK: the token's
//! header is never trusted to choose it), `iss` is the issuer, `aud` contains the audience, `exp`
//! has not passed and `iat` is not in the future (both with a small clock skew). Then the token's
//! `scope` and `deny` claims must allow the required scope (`authx::scopes::allows`, reference §2.5).
//!
//! Answers (RFC 6750 §3): no token → 401 `WWW-Authenticate: Bearer`; a bad token → 401
//! `Bearer error="invalid_token"`; a good token without the scope → 403
//! `Bearer error="insufficient_scope"`; else 200 with the caller's orders (JSON).
//!
//! ```sh
//! AUTHX_ISSUER=http://127.0.0.1:8080 \
//! LISTEN=127.0.0.1:3000 \
//! REQUIRED_SCOPE=Shop:orders:read \
//!     cargo run --example resource_server
//! curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:3000/orders
//! ```
//!
//! Environment: `AUTHX_ISSUER` (authx's issuer URL, the variable `authx serve` itself reads;
//! default `http://127.0.0.1:8080`), `LISTEN` (default
//! `127.0.0.1:3000`), `REQUIRED_SCOPE` (default `Shop:orders:read`), `AUTHX_AUDIENCE` (the `aud`
//! to require; default the issuer, which is what authx puts in `aud` unless `tokens.audience` is
//! set), `CLOCK_SKEW_SECS` (default 30). Each JWKS fetch is logged to standard error.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use poem::http::{StatusCode, header};
use poem::listener::TcpListener;
use poem::web::Data;
use poem::{EndpointExt, Request, Response, Route, Server, get, handler};
use serde::Deserialize;
use serde_json::json;

/// How often at most a token with an unknown `kid` makes us fetch the JWKS again. authx signs with
/// a new key as soon as it is rotated in, so this is also how long such tokens may be refused
/// after a rotation; short enough for that, long enough that junk `kid`s cannot turn us into a
/// request amplifier against authx.
const MIN_REFETCH: Duration = Duration::from_secs(1);
/// How long a fetched key set is trusted without re-reading it, so a key authx withdrew stops
/// verifying here too. authx serves the JWKS with `max-age=60`; five minutes keeps the load on it
/// negligible.
const MAX_AGE: Duration = Duration::from_secs(300);
/// Timeout of every request to authx.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// What this server needs of authx's discovery document.
#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    jwks_uri: String,
}

/// The claims this server reads (others, such as `jti` or `auth_time`, are ignored). `iat` is not
/// optional: RFC 9068 §2.2 requires it, and a token without it is refused.
#[derive(Deserialize)]
struct Claims {
    sub: String,
    client_id: String,
    iat: i64,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    deny: Vec<String>,
}

/// A verification key from the JWKS, with the algorithm the JWK declares for it.
struct VerifyingKey {
    alg: Algorithm,
    key: DecodingKey,
}

/// The key set as last fetched.
struct KeySet {
    fetched_at: Instant,
    keys: HashMap<String, Arc<VerifyingKey>>,
}

/// Verifies access tokens against authx's published keys.
struct Verifier {
    http: reqwest::Client,
    jwks_uri: String,
    issuer: String,
    audience: String,
    skew_secs: u64,
    keys: RwLock<Arc<KeySet>>,
    /// When the JWKS was last asked for (successfully or not); holding it also makes concurrent
    /// misses wait for one fetch instead of each starting their own.
    last_attempt: tokio::sync::Mutex<Instant>,
}

/// Why a request is refused.
enum Refusal {
    /// No bearer token at all (RFC 6750 §3.1: no error code then).
    Missing,
    /// A token that is not acceptable, with a description for `error_description`.
    Invalid(&'static str),
    /// A valid token without the required scope.
    Insufficient,
}

/// The service's state.
struct Service {
    verifier: Verifier,
    required_scope: String,
}

impl Verifier {
    /// Reads the discovery document of `authx_url` and fetches the key set once.
    async fn discover(
        authx_url: &str,
        audience: Option<String>,
        skew_secs: u64,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            // The discovery document and the JWKS are served directly; following a redirect
            // would let whoever answers at another address hand us keys.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the HTTP client")?;
        let authx_url = authx_url.trim_end_matches('/');
        let discovery = format!("{authx_url}/.well-known/openid-configuration");
        let metadata: Metadata = http
            .get(&discovery)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("fetching {discovery}"))?
            .json()
            .await
            .with_context(|| format!("reading {discovery}"))?;
        // OpenID Connect Discovery §4.3: the issuer must be the URL the document was asked of, or
        // anyone serving a discovery document could speak for authx.
        if metadata.issuer != authx_url {
            bail!(
                "{discovery} names the issuer {:?}, not {authx_url:?}",
                metadata.issuer
            );
        }
        let keys = fetch_keys(&http, &metadata.jwks_uri).await?;
        eprintln!(
            "jwks: fetched {} key(s) from {}",
            keys.len(),
            metadata.jwks_uri
        );
        let now = Instant::now();
        Ok(Self {
            http,
            audience: audience.unwrap_or_else(|| metadata.issuer.clone()),
            issuer: metadata.issuer,
            jwks_uri: metadata.jwks_uri,
            skew_secs,
            keys: RwLock::new(Arc::new(KeySet {
                fetched_at: now,
                keys,
            })),
            last_attempt: tokio::sync::Mutex::new(now),
        })
    }

    fn current(&self) -> Arc<KeySet> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The key of `kid`: from the cache, or after fetching the set again when the kid is unknown
    /// or the set is older than [`MAX_AGE`] (rate-limited by [`MIN_REFETCH`]).
    async fn key(&self, kid: &str) -> Option<Arc<VerifyingKey>> {
        let seen = self.current();
        if seen.fetched_at.elapsed() < MAX_AGE
            && let Some(key) = seen.keys.get(kid)
        {
            return Some(Arc::clone(key));
        }
        {
            let mut last_attempt = self.last_attempt.lock().await;
            // Another request may have fetched while this one waited for the lock.
            let refreshed_meanwhile = !Arc::ptr_eq(&seen, &self.current());
            if !refreshed_meanwhile && last_attempt.elapsed() >= MIN_REFETCH {
                *last_attempt = Instant::now();
                match fetch_keys(&self.http, &self.jwks_uri).await {
                    Ok(keys) => {
                        eprintln!("jwks: fetched {} key(s) from {}", keys.len(), self.jwks_uri);
                        *self.keys.write().unwrap_or_else(PoisonError::into_inner) =
                            Arc::new(KeySet {
                                fetched_at: Instant::now(),
                                keys,
                            });
                    }
                    // Keep verifying with the keys we have: authx being briefly unreachable
                    // should not turn every caller away.
                    Err(error) => {
                        eprintln!("jwks: fetch failed, keeping the cached keys: {error:#}")
                    }
                }
            }
        }
        self.current().keys.get(kid).cloned()
    }

    /// The claims of `token` if it is an acceptable access token.
    async fn verify(&self, token: &str) -> Result<Claims, &'static str> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| "malformed token")?;
        // RFC 9068 §4: refuse other JWTs (an ID token is signed by the same keys).
        if !header.typ.as_deref().is_some_and(is_access_token_type) {
            return Err("not an access token (typ must be at+jwt)");
        }
        let kid = header.kid.ok_or("the token names no key (kid)")?;
        let key = self.key(&kid).await.ok_or("unknown signing key")?;
        // The algorithm is the key's: a header saying `none`, or `HS256` with the public key as
        // the secret, fails here because `decode` refuses any header alg not listed.
        let mut validation = Validation::new(key.alg);
        validation.leeway = self.skew_secs;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map_err(|e| describe(e.kind()))?
            .claims;
        // jsonwebtoken does not look at `iat`; a token from the future means a wrong clock or a
        // forged lifetime.
        let skew = i64::try_from(self.skew_secs).unwrap_or(i64::MAX);
        if claims.iat > unix_now().saturating_add(skew) {
            return Err("the token was issued in the future");
        }
        Ok(claims)
    }
}

/// RFC 9068 §4: `at+jwt`, also as the full media type; media types are case-insensitive.
fn is_access_token_type(typ: &str) -> bool {
    let typ = typ.to_ascii_lowercase();
    typ == "at+jwt" || typ == "application/at+jwt"
}

/// A short, fixed description of a verification failure (never the token's contents).
fn describe(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet",
        ErrorKind::InvalidIssuer => "the token is from another issuer",
        ErrorKind::InvalidAudience => "the token is for another audience",
        ErrorKind::InvalidSignature => "invalid signature",
        ErrorKind::InvalidAlgorithm => "the algorithm does not match the key",
        ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
        _ => "malformed token",
    }
}

/// The published signature keys of `jwks_uri`, by kid. Keys that cannot be used are skipped: no
/// kid, not for signatures, no `alg`, or a symmetric algorithm (a JWKS publishes public keys; an
/// `oct` key would let anyone who read it mint tokens).
async fn fetch_keys(
    http: &reqwest::Client,
    jwks_uri: &str,
) -> anyhow::Result<HashMap<String, Arc<VerifyingKey>>> {
    let set: JwkSet = http
        .get(jwks_uri)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("fetching {jwks_uri}"))?
        .json()
        .await
        .with_context(|| format!("reading {jwks_uri}"))?;
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = &jwk.common.key_id else {
            continue;
        };
        if jwk
            .common
            .public_key_use
            .as_ref()
            .is_some_and(|u| *u != PublicKeyUse::Signature)
        {
            continue;
        }
        let Some(alg) = jwk
            .common
            .key_algorithm
            .and_then(|a| Algorithm::try_from(a).ok())
        else {
            continue;
        };
        if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            continue;
        }
        match DecodingKey::from_jwk(jwk) {
            Ok(key) => {
                keys.insert(kid.clone(), Arc::new(VerifyingKey { alg, key }));
            }
            Err(error) => eprintln!("jwks: skipping key {kid}: {error}"),
        }
    }
    Ok(keys)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The bearer token of `req` (RFC 6750 §2.1; the scheme is case-insensitive, RFC 9110 §11.1).
fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Checks the token and the scope; the claims when the caller may proceed.
async fn authorize(req: &Request, service: &Service) -> Result<Claims, Refusal> {
    let token = bearer(req).ok_or(Refusal::Missing)?;
    let claims = service
        .verifier
        .verify(token)
        .await
        .map_err(Refusal::Invalid)?;
    // `scope` mixes OpenID Connect scopes (`openid`, `profile`…) with realm patterns; only the
    // patterns mean anything to the scope engine, which refuses the others as invalid.
    let access: Vec<&str> = claims
        .scope
        .split_whitespace()
        .filter(|s| authx::scopes::validate(s))
        .collect();
    let deny: Vec<&str> = claims.deny.iter().map(String::as_str).collect();
    match authx::scopes::allows(&access, &deny, &service.required_scope) {
        Ok(true) => Ok(claims),
        Ok(false) => Err(Refusal::Insufficient),
        // An unparsable deny pattern: fail closed rather than ignore what was meant to forbid.
        Err(error) => {
            eprintln!(
                "token of {} carries an invalid deny pattern: {error}",
                claims.sub
            );
            Err(Refusal::Insufficient)
        }
    }
}

#[handler]
async fn orders(req: &Request, service: Data<&Arc<Service>>) -> Response {
    match authorize(req, &service).await {
        Ok(claims) => Response::builder()
            .status(StatusCode::OK)
            .content_type("application/json")
            .body(
                json!({
                    "sub": claims.sub,
                    "client_id": claims.client_id,
                    "orders": [{ "id": "o-1001", "total": "42.00" }],
                })
                .to_string(),
            ),
        Err(Refusal::Missing) => challenge(
            StatusCode::UNAUTHORIZED,
            "Bearer".to_owned(),
            "send Authorization: Bearer <access token>",
        ),
        Err(Refusal::Invalid(why)) => challenge(
            StatusCode::UNAUTHORIZED,
            format!("Bearer error=\"invalid_token\", error_description=\"{why}\""),
            why,
        ),
        Err(Refusal::Insufficient) => challenge(
            StatusCode::FORBIDDEN,
            format!(
                "Bearer error=\"insufficient_scope\", scope=\"{}\"",
                service.required_scope
            ),
            "the token does not allow this",
        ),
    }
}

fn challenge(status: StatusCode, www_authenticate: String, text: &str) -> Response {
    Response::builder()
        .status(status)
        .header(header::WWW_AUTHENTICATE, www_authenticate)
        .body(text.to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let env =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let authx_url = env("AUTHX_ISSUER", "http://127.0.0.1:8080");
    let listen = env("LISTEN", "127.0.0.1:3000");
    let required_scope = env("REQUIRED_SCOPE", "Shop:orders:read");
    if !authx::scopes::validate(&required_scope) {
        bail!("REQUIRED_SCOPE {required_scope:?} is not a realm:resource:action scope");
    }
    let skew_secs: u64 = env("CLOCK_SKEW_SECS", "30")
        .parse()
        .context("CLOCK_SKEW_SECS must be a number of seconds")?;
    let audience = std::env::var("AUTHX_AUDIENCE").ok();
    let verifier = Verifier::discover(&authx_url, audience, skew_secs).await?;
    eprintln!(
        "resource_server: listening on {listen}; GET /orders requires {required_scope} (issuer {})",
        verifier.issuer
    );
    let service = Arc::new(Service {
        verifier,
        required_scope,
    });
    let app = Route::new().at("/orders", get(orders)).data(service);
    Server::new(TcpListener::bind(listen))
        .run_with_graceful_shutdown(
            app,
            async {
                // Stop on Ctrl-C, letting requests in flight finish; if the handler cannot be
                // installed, run until killed.
                if tokio::signal::ctrl_c().await.is_err() {
                    std::future::pending::<()>().await;
                }
            },
            Some(Duration::from_secs(5)),
        )
        .await
        .context("serving")
}
