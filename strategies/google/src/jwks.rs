//! The provider's signing keys (its JWK Set, RFC 7517), fetched from `jwks_uri` and cached.
//!
//! Only public signature keys are kept: `kty` RSA (at least 2048 bits), EC on P-256/P-384 and OKP
//! Ed25519; keys marked `use: enc`, keys whose `key_ops` lack `verify`, and symmetric (`oct`) keys
//! are ignored, so a JWKS can never smuggle in an HMAC secret. A key is used only for the `alg` it
//! fits (type, curve, and its own `alg` when it states one), which is what keeps a token from
//! choosing how its signature is checked.
//!
//! Providers rotate keys (Google about weekly) and publish the new key shortly before using it,
//! so the set is cached (an hour by default) and refetched early when a token names a `kid` the
//! cache does not know (OIDC Core §10.1.1). That refetch is rate-limited per key set: tokens with
//! made-up `kid`s must not turn authx into a request amplifier against the provider.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use crate::error::OidcError;
use crate::http::HttpClient;

/// More keys than any provider publishes; a bigger set is refused rather than scanned.
const MAX_KEYS: usize = 100;
/// The smallest RSA modulus accepted, in bytes (2048 bits; RFC 7518 §3.3 requires it).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// The public material of one signature key.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Material {
    Rsa { n: String, e: String },
    Ec { crv: String, x: String, y: String },
    Okp { crv: String, x: String },
}

/// One usable signature key of a JWK Set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SigningKey {
    kid: Option<String>,
    alg: Option<String>,
    material: Material,
}

impl SigningKey {
    /// The key in `jwk`, or `None` when it is not a public signature key authx can use.
    fn from_jwk(jwk: &Value) -> Option<Self> {
        let text = |name: &str| jwk.get(name).and_then(Value::as_str).map(str::to_owned);
        if text("use").is_some_and(|u| u != "sig") {
            return None;
        }
        if let Some(ops) = jwk.get("key_ops") {
            let verifies = ops
                .as_array()
                .is_some_and(|ops| ops.iter().any(|op| op.as_str() == Some("verify")));
            if !verifies {
                return None;
            }
        }
        let material = match text("kty")?.as_str() {
            "RSA" => {
                let n = text("n")?;
                let modulus = URL_SAFE_NO_PAD.decode(&n).ok()?;
                let significant = modulus.iter().skip_while(|b| **b == 0).count();
                if significant < MIN_RSA_MODULUS_BYTES {
                    return None;
                }
                Material::Rsa { n, e: text("e")? }
            }
            "EC" => Material::Ec {
                crv: text("crv")?,
                x: text("x")?,
                y: text("y")?,
            },
            "OKP" => Material::Okp {
                crv: text("crv")?,
                x: text("x")?,
            },
            // "oct" (a shared secret) and anything unknown: never a verification key here.
            _ => return None,
        };
        Some(Self {
            kid: text("kid"),
            alg: text("alg"),
            material,
        })
    }

    /// Whether this key may verify a signature made with `alg`.
    fn fits(&self, alg: Algorithm) -> bool {
        if self.alg.as_deref().is_some_and(|own| own != alg_name(alg)) {
            return false;
        }
        match (&self.material, alg) {
            (
                Material::Rsa { .. },
                Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512,
            ) => true,
            (Material::Ec { crv, .. }, Algorithm::ES256) => crv == "P-256",
            (Material::Ec { crv, .. }, Algorithm::ES384) => crv == "P-384",
            (Material::Okp { crv, .. }, Algorithm::EdDSA) => crv == "Ed25519",
            _ => false,
        }
    }

    fn decoding_key(&self) -> Result<DecodingKey, OidcError> {
        let key = match &self.material {
            Material::Rsa { n, e } => DecodingKey::from_rsa_components(n, e),
            Material::Ec { x, y, .. } => DecodingKey::from_ec_components(x, y),
            Material::Okp { x, .. } => DecodingKey::from_ed_components(x),
        };
        key.map_err(|e| OidcError::JwksInvalid(format!("key {:?} is unusable: {e}", self.kid)))
    }
}

/// The JOSE name of an algorithm.
pub(crate) fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
        // A future algorithm: not on authx's allow-list until someone reviews it.
        _ => "unsupported",
    }
}

/// Parses a JWK Set document, keeping the usable signature keys.
pub(crate) fn parse_jwks(document: &Value) -> Result<Vec<SigningKey>, OidcError> {
    let keys = document
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| OidcError::JwksInvalid("no \"keys\" array".to_owned()))?;
    if keys.len() > MAX_KEYS {
        return Err(OidcError::JwksInvalid(format!("more than {MAX_KEYS} keys")));
    }
    Ok(keys.iter().filter_map(SigningKey::from_jwk).collect())
}

/// The key to verify a token whose header says `kid` and `alg`.
///
/// `Ok(None)`: no key has that `kid` (or, without a `kid`, no key fits): worth a refetch.
/// An error when the `kid` exists but its key does not fit `alg` (a key confusion attempt: no
/// refetch will fix that), or when there is no `kid` and several keys fit (OIDC Core §10.1
/// requires a `kid` then).
pub(crate) fn select(
    keys: &[SigningKey],
    kid: Option<&str>,
    alg: Algorithm,
) -> Result<Option<DecodingKey>, OidcError> {
    match kid {
        Some(kid) => {
            let mut named = keys
                .iter()
                .filter(|k| k.kid.as_deref() == Some(kid))
                .peekable();
            if named.peek().is_none() {
                return Ok(None);
            }
            match named.find(|k| k.fits(alg)) {
                Some(key) => key.decoding_key().map(Some),
                None => Err(OidcError::KeyMismatch {
                    kid: Some(kid.to_owned()),
                    alg: alg_name(alg).to_owned(),
                }),
            }
        }
        None => {
            let fitting: Vec<&SigningKey> = keys.iter().filter(|k| k.fits(alg)).collect();
            match fitting.as_slice() {
                [] => Ok(None),
                [key] => key.decoding_key().map(Some),
                _ => Err(OidcError::MalformedIdToken(format!(
                    "no kid in the header and several {} keys in the provider's JWKS",
                    alg_name(alg)
                ))),
            }
        }
    }
}

#[derive(Debug)]
struct Entry {
    fetched: Instant,
    /// When a refetch for an unknown `kid` last started (the rate limit's clock).
    last_forced: Option<Instant>,
    keys: Arc<Vec<SigningKey>>,
}

/// Key sets by `jwks_uri`.
#[derive(Debug)]
pub(crate) struct JwksCache {
    ttl: Duration,
    min_refetch_interval: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl JwksCache {
    pub(crate) fn new(ttl: Duration, min_refetch_interval: Duration) -> Self {
        Self {
            ttl,
            min_refetch_interval,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The key for a token's `kid` and `alg`: from the cached set, else (rate-limited) from a
    /// fresh copy of the set.
    pub(crate) async fn key(
        &self,
        http: &HttpClient,
        jwks_uri: &str,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<DecodingKey, OidcError> {
        let (keys, just_fetched) = match self.cached(jwks_uri) {
            Some(keys) => (keys, false),
            None => (self.fetch(http, jwks_uri, false).await?, true),
        };
        if let Some(key) = select(&keys, kid, alg)? {
            return Ok(key);
        }
        let unknown = || OidcError::UnknownKey {
            kid: kid.map(str::to_owned),
            alg: alg_name(alg).to_owned(),
        };
        // A set fetched a moment ago won't know more; otherwise the provider may have rotated.
        if just_fetched || !self.claim_refetch(jwks_uri) {
            return Err(unknown());
        }
        tracing::info!(jwks_uri, kid, "unknown kid: refetching the provider's JWKS");
        let keys = self.fetch(http, jwks_uri, true).await?;
        select(&keys, kid, alg)?.ok_or_else(unknown)
    }

    fn cached(&self, jwks_uri: &str) -> Option<Arc<Vec<SigningKey>>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(jwks_uri)
            .filter(|entry| entry.fetched.elapsed() < self.ttl)
            .map(|entry| entry.keys.clone())
    }

    /// Whether an unknown-`kid` refetch may run now; if so, starts the rate limit's clock (under
    /// the lock, so concurrent requests with unknown `kid`s trigger one refetch, not many).
    fn claim_refetch(&self, jwks_uri: &str) -> bool {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(entry) = entries.get_mut(jwks_uri) else {
            return true;
        };
        let allowed = entry
            .last_forced
            .is_none_or(|at| at.elapsed() >= self.min_refetch_interval);
        if allowed {
            entry.last_forced = Some(Instant::now());
        }
        allowed
    }

    async fn fetch(
        &self,
        http: &HttpClient,
        jwks_uri: &str,
        forced: bool,
    ) -> Result<Arc<Vec<SigningKey>>, OidcError> {
        let document = http.get_json("jwks", jwks_uri, None).await?;
        let keys = Arc::new(parse_jwks(&document)?);
        tracing::debug!(
            jwks_uri,
            keys = keys.len(),
            forced,
            "fetched the provider's JWKS"
        );
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let last_forced = entries.get(jwks_uri).and_then(|e| e.last_forced);
        entries.insert(
            jwks_uri.to_owned(),
            Entry {
                fetched: Instant::now(),
                last_forced: if forced {
                    Some(last_forced.unwrap_or_else(Instant::now))
                } else {
                    last_forced
                },
                keys: keys.clone(),
            },
        );
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rsa_n() -> String {
        URL_SAFE_NO_PAD.encode([0xC5u8; 256])
    }

    #[test]
    fn only_public_signature_keys_are_kept() {
        let doc = json!({"keys": [
            {"kty": "RSA", "kid": "r", "n": rsa_n(), "e": "AQAB", "use": "sig", "alg": "RS256"},
            {"kty": "RSA", "kid": "enc", "n": rsa_n(), "e": "AQAB", "use": "enc"},
            {"kty": "RSA", "kid": "small", "n": URL_SAFE_NO_PAD.encode([0xC5u8; 128]), "e": "AQAB"},
            {"kty": "RSA", "kid": "ops", "n": rsa_n(), "e": "AQAB", "key_ops": ["encrypt"]},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "EC", "kid": "e", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "OKP", "kid": "o", "crv": "Ed25519", "x": "AA"},
            {"kty": "XYZ", "kid": "weird"},
            "not even an object",
        ]});
        let keys = parse_jwks(&doc).unwrap();
        let kids: Vec<_> = keys.iter().map(|k| k.kid.clone().unwrap()).collect();
        assert_eq!(kids, ["r", "e", "o"]);
        assert!(parse_jwks(&json!({"nokeys": []})).is_err());
    }

    #[test]
    fn keys_fit_only_their_algorithms() {
        let keys = parse_jwks(&json!({"keys": [
            {"kty": "RSA", "kid": "r", "n": rsa_n(), "e": "AQAB", "alg": "RS256"},
            {"kty": "RSA", "kid": "any-rsa", "n": rsa_n(), "e": "AQAB"},
            {"kty": "EC", "kid": "p384", "crv": "P-384", "x": "AA", "y": "AA"},
        ]}))
        .unwrap();
        assert!(
            select(&keys, Some("r"), Algorithm::RS256)
                .unwrap()
                .is_some()
        );
        // The key says RS256: a PS256 header may not use it.
        assert!(matches!(
            select(&keys, Some("r"), Algorithm::PS256),
            Err(OidcError::KeyMismatch { .. })
        ));
        assert!(
            select(&keys, Some("any-rsa"), Algorithm::PS256)
                .unwrap()
                .is_some()
        );
        assert!(matches!(
            select(&keys, Some("r"), Algorithm::ES256),
            Err(OidcError::KeyMismatch { .. })
        ));
        assert!(matches!(
            select(&keys, Some("p384"), Algorithm::ES256),
            Err(OidcError::KeyMismatch { .. })
        ));
        assert!(
            select(&keys, Some("unknown"), Algorithm::RS256)
                .unwrap()
                .is_none()
        );
        // Without a kid: ambiguous for RSA, absent for EdDSA.
        assert!(select(&keys, None, Algorithm::RS256).is_err());
        assert!(select(&keys, None, Algorithm::EdDSA).unwrap().is_none());
    }
}
