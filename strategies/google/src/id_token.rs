//! id_token verification, following OIDC Core §3.1.3.7 ("ID Token Validation") step by step.
//!
//! The order matters: the header is read first only to pick the key — its `alg` must be on a
//! fixed allow-list of asymmetric algorithms (never `none`, never HMAC, whose "key" would be the
//! provider's *public* key), then the signature is checked with the provider's key for exactly
//! that `alg`, and only then are the claims believed: `iss` exactly the issuer, `aud` containing
//! the client id, `azp` the client id when present (and present when there are several
//! audiences), `exp` in the future, `iat` not in the future and not too old, `nbf` (if any)
//! reached, and `nonce` the one sent with this login attempt (which makes a stolen or replayed
//! id_token useless in another browser).
//!
//! `jsonwebtoken` does the signature (with the one crypto backend authx builds it with,
//! `aws_lc_rs`); its claim checks are switched off and done here instead, because it does not
//! check `iat`, `azp` or `nonce` and its errors don't say precisely which check failed. The clock
//! skew allowed on every time check is bounded by the caller.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;

use crate::error::OidcError;
use crate::jwks::alg_name;

/// The signature algorithms an id_token may use: RSA PKCS#1 v1.5 (RS*, Google's RS256), RSA-PSS
/// (PS*), ECDSA on P-256/P-384 and EdDSA (Ed25519). Deliberately absent: `none` and the HMAC
/// family (HS*), for which "verifying with the provider's key" would mean using public data as a
/// shared secret.
pub const ALLOWED_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// An id_token is a few kilobytes; anything far bigger is refused before any parsing.
const MAX_TOKEN_BYTES: usize = 64 * 1024;
/// OIDC Core §2: `sub` is at most 255 ASCII characters.
const MAX_SUB_CHARS: usize = 255;

/// What the JOSE header says about how the token was signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub alg: Algorithm,
    pub kid: Option<String>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<Value>,
    kid: Option<Value>,
    crit: Option<Value>,
}

/// Reads the header of a compact JWS and checks its `alg` against [`ALLOWED_ALGORITHMS`] and,
/// when the provider advertises a list (`id_token_signing_alg_values_supported`), against that
/// too.
pub(crate) fn parse_header(token: &str, advertised: &[String]) -> Result<Header, OidcError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(OidcError::MalformedIdToken("too large".to_owned()));
    }
    let parts: Vec<&str> = token.split('.').collect();
    match parts.len() {
        3 => {}
        5 => {
            return Err(OidcError::MalformedIdToken(
                "encrypted (JWE) id_tokens are not supported".to_owned(),
            ));
        }
        _ => return Err(OidcError::MalformedIdToken("not a compact JWS".to_owned())),
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(parts[0])
        .map_err(|_| OidcError::MalformedIdToken("header is not base64url".to_owned()))?;
    let raw: RawHeader = serde_json::from_slice(&bytes)
        .map_err(|_| OidcError::MalformedIdToken("header is not a JSON object".to_owned()))?;
    // RFC 7515 §4.1.11: extensions listed in `crit` must be understood; authx understands none.
    if raw.crit.is_some() {
        return Err(OidcError::MalformedIdToken(
            "the header has critical extensions".to_owned(),
        ));
    }
    let alg_text = match raw.alg {
        Some(Value::String(alg)) => alg,
        Some(other) => other.to_string(),
        None => return Err(OidcError::AlgorithmNotAllowed("(missing)".to_owned())),
    };
    let alg = ALLOWED_ALGORITHMS
        .iter()
        .copied()
        .find(|a| alg_name(*a) == alg_text)
        .ok_or_else(|| OidcError::AlgorithmNotAllowed(alg_text.clone()))?;
    if !advertised.is_empty() && !advertised.contains(&alg_text) {
        return Err(OidcError::AlgorithmNotAllowed(alg_text));
    }
    let kid = match raw.kid {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) => Some(kid),
        Some(_) => {
            return Err(OidcError::MalformedIdToken(
                "kid is not a string".to_owned(),
            ));
        }
    };
    Ok(Header { alg, kid })
}

/// Checks the signature with `key` for exactly `alg` and returns the (not yet validated) claims.
pub(crate) fn verify_signature(
    token: &str,
    key: &DecodingKey,
    alg: Algorithm,
) -> Result<Map<String, Value>, OidcError> {
    let mut validation = Validation::new(alg);
    // Claims are validated by `validate_claims`, with precise errors and the checks
    // jsonwebtoken lacks (iat, azp, nonce).
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => OidcError::BadSignature,
            ErrorKind::InvalidToken
            | ErrorKind::Base64(_)
            | ErrorKind::Json(_)
            | ErrorKind::Utf8(_) => OidcError::MalformedIdToken(e.to_string()),
            _ => OidcError::BadSignature,
        })
}

/// What the claims must match.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    /// The access token issued with the id_token, to check `at_hash` against.
    pub access_token: Option<&'a str>,
    pub alg: Algorithm,
    /// The verifier's clock, Unix seconds.
    pub now: i64,
    /// Allowed clock difference with the provider, seconds.
    pub skew: i64,
    /// How old (by `iat`) an id_token may be, seconds.
    pub max_age: i64,
}

/// Validates the claims of a signature-checked id_token (OIDC Core §3.1.3.7 items 2–5 and
/// 9–11, §3.1.3.8 for `at_hash`) and returns its `sub`.
pub(crate) fn validate_claims(
    claims: &Map<String, Value>,
    expected: &Expected<'_>,
) -> Result<String, OidcError> {
    // Item 2: the issuer exactly.
    let iss = string_claim(claims, "iss")?.unwrap_or_default();
    if iss != expected.issuer {
        return Err(OidcError::IssuerMismatch {
            expected: expected.issuer.to_owned(),
            found: iss.to_owned(),
        });
    }
    // Item 3: aud (a string or an array) contains the client id.
    let audiences: Vec<String> = match claims.get("aud") {
        Some(Value::String(aud)) => vec![aud.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|a| a.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| OidcError::MalformedIdToken("aud is not a list of strings".into()))?,
        _ => Vec::new(),
    };
    if !audiences.iter().any(|a| a == expected.client_id) {
        return Err(OidcError::AudienceMismatch { found: audiences });
    }
    // Items 4 and 5: with several audiences the token must say who it was issued to, and
    // whenever it does, that must be us.
    match string_claim(claims, "azp")? {
        Some(azp) if azp != expected.client_id => {
            return Err(OidcError::AzpMismatch {
                found: azp.to_owned(),
            });
        }
        None if audiences.len() > 1 => return Err(OidcError::AzpMissing),
        _ => {}
    }
    let now = expected.now;
    // Item 9: "The current time MUST be before the time represented by the exp Claim".
    let exp = time_claim(claims, "exp")?
        .ok_or_else(|| OidcError::MalformedIdToken("no exp".to_owned()))?;
    if now >= exp.saturating_add(expected.skew) {
        return Err(OidcError::Expired { exp, now });
    }
    // Item 10: iat bounds how far from now the token was issued — jsonwebtoken doesn't check it.
    let iat = time_claim(claims, "iat")?
        .ok_or_else(|| OidcError::MalformedIdToken("no iat".to_owned()))?;
    if iat > now.saturating_add(expected.skew) {
        return Err(OidcError::IssuedInFuture { iat, now });
    }
    if iat < now.saturating_sub(expected.max_age.saturating_add(expected.skew)) {
        return Err(OidcError::IssuedTooLongAgo { iat, now });
    }
    if let Some(nbf) = time_claim(claims, "nbf")?
        && nbf > now.saturating_add(expected.skew)
    {
        return Err(OidcError::NotYetValid { nbf, now });
    }
    // Item 11: the nonce of this login attempt (compared in constant time: it is a secret of
    // the browser that started the login).
    let nonce = string_claim(claims, "nonce")?.unwrap_or_default();
    if nonce.is_empty() || !bool::from(nonce.as_bytes().ct_eq(expected.nonce.as_bytes())) {
        return Err(OidcError::NonceMismatch);
    }
    // §3.1.3.8: at_hash is optional in the code flow, but when present it must match.
    if let (Some(at_hash), Some(access_token)) =
        (string_claim(claims, "at_hash")?, expected.access_token)
    {
        let computed = token_hash(expected.alg, access_token);
        if !bool::from(at_hash.as_bytes().ct_eq(computed.as_bytes())) {
            return Err(OidcError::AtHashMismatch);
        }
    }
    let sub = string_claim(claims, "sub")?.unwrap_or_default();
    if sub.is_empty() || sub.chars().count() > MAX_SUB_CHARS || !sub.is_ascii() {
        return Err(OidcError::InvalidSubject);
    }
    Ok(sub.to_owned())
}

/// `at_hash`/`c_hash` (OIDC Core §3.1.3.6): the left half of the hash of the token's ASCII
/// octets, base64url. The hash is the one of the JWS algorithm (SHA-512 for Ed25519).
pub(crate) fn token_hash(alg: Algorithm, token: &str) -> String {
    let digest: Vec<u8> = match alg {
        Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 => {
            Sha384::digest(token.as_bytes()).to_vec()
        }
        Algorithm::RS512 | Algorithm::PS512 | Algorithm::EdDSA => {
            Sha512::digest(token.as_bytes()).to_vec()
        }
        _ => Sha256::digest(token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// A claim that must be a string when present.
fn string_claim<'a>(
    claims: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, OidcError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(OidcError::MalformedIdToken(format!(
            "{name} is not a string"
        ))),
    }
}

/// A NumericDate claim (RFC 7519 §2: seconds, possibly fractional), in whole seconds.
fn time_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, OidcError> {
    let malformed = || OidcError::MalformedIdToken(format!("{name} is not a NumericDate"));
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                return Ok(Some(i));
            }
            match n.as_f64() {
                // Far beyond any real date, but keeps the arithmetic well away from overflow.
                Some(f) if f.is_finite() && f.abs() < 1e15 => Ok(Some(f.floor() as i64)),
                _ => Err(malformed()),
            }
        }
        Some(_) => Err(malformed()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn expected() -> Expected<'static> {
        Expected {
            issuer: "https://idp.example",
            client_id: "client",
            nonce: "n-0S6_WzA2Mj",
            access_token: Some("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            alg: Algorithm::RS256,
            now: NOW,
            skew: 60,
            max_age: 600,
        }
    }

    fn claims() -> Map<String, Value> {
        json!({
            "iss": "https://idp.example", "sub": "248289761001", "aud": "client",
            "exp": NOW + 300, "iat": NOW - 5, "nonce": "n-0S6_WzA2Mj",
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn with(changes: Value) -> Map<String, Value> {
        let mut c = claims();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.remove(k);
            } else {
                c.insert(k.clone(), v.clone());
            }
        }
        c
    }

    fn reason(c: Map<String, Value>) -> &'static str {
        match validate_claims(&c, &expected()) {
            Ok(_) => "ok",
            Err(e) => e.reason(),
        }
    }

    #[test]
    fn valid_claims_give_the_subject() {
        assert_eq!(
            validate_claims(&claims(), &expected()).unwrap(),
            "248289761001"
        );
        // Several audiences are fine with azp = client id.
        assert_eq!(
            reason(with(json!({"aud": ["client", "other"], "azp": "client"}))),
            "ok"
        );
        // Fractional NumericDates are allowed.
        assert_eq!(reason(with(json!({"iat": (NOW as f64) - 0.5}))), "ok");
    }

    #[test]
    fn each_claim_check_has_its_reason() {
        assert_eq!(
            reason(with(json!({"iss": "https://idp.example/"}))),
            "iss_mismatch"
        );
        assert_eq!(reason(with(json!({"iss": null}))), "iss_mismatch");
        assert_eq!(reason(with(json!({"aud": "other"}))), "aud_mismatch");
        assert_eq!(reason(with(json!({"aud": ["other", "x"]}))), "aud_mismatch");
        assert_eq!(reason(with(json!({"aud": null}))), "aud_mismatch");
        assert_eq!(
            reason(with(json!({"aud": ["client", "other"]}))),
            "azp_missing"
        );
        assert_eq!(reason(with(json!({"azp": "other"}))), "azp_mismatch");
        assert_eq!(reason(with(json!({"nonce": "other"}))), "nonce_mismatch");
        assert_eq!(reason(with(json!({"nonce": null}))), "nonce_mismatch");
        assert_eq!(reason(with(json!({"sub": ""}))), "invalid_sub");
        assert_eq!(reason(with(json!({"sub": "x".repeat(256)}))), "invalid_sub");
        assert_eq!(reason(with(json!({"sub": 5}))), "malformed_id_token");
        assert_eq!(reason(with(json!({"exp": "soon"}))), "malformed_id_token");
        assert_eq!(reason(with(json!({"iat": null}))), "malformed_id_token");
        assert_eq!(
            reason(with(json!({"at_hash": "wrong"}))),
            "at_hash_mismatch"
        );
    }

    #[test]
    fn time_bounds_with_skew() {
        // exp: still valid within the skew, expired at exp + skew.
        assert_eq!(reason(with(json!({"exp": NOW - 59}))), "ok");
        assert_eq!(reason(with(json!({"exp": NOW - 60}))), "expired");
        // iat: up to skew in the future, not beyond.
        assert_eq!(reason(with(json!({"iat": NOW + 60}))), "ok");
        assert_eq!(reason(with(json!({"iat": NOW + 61}))), "iat_in_future");
        // iat: at most max_age (+ skew) in the past.
        assert_eq!(reason(with(json!({"iat": NOW - 660}))), "ok");
        assert_eq!(reason(with(json!({"iat": NOW - 661}))), "iat_too_old");
        // nbf, when present.
        assert_eq!(reason(with(json!({"nbf": NOW + 60}))), "ok");
        assert_eq!(reason(with(json!({"nbf": NOW + 61}))), "nbf_in_future");
    }

    #[test]
    fn at_hash_follows_the_spec_example() {
        // OIDC Core A.3: access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y" with RS256
        // has at_hash "77QmUPtjPfzWtF2AnpK9RQ".
        let token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
        assert_eq!(
            token_hash(Algorithm::RS256, token),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(
            reason(with(json!({"at_hash": "77QmUPtjPfzWtF2AnpK9RQ"}))),
            "ok"
        );
    }

    #[test]
    fn header_alg_allow_list() {
        let header = |h: Value| format!("{}.e30.sig", URL_SAFE_NO_PAD.encode(h.to_string()));
        let parse = |h: Value| parse_header(&header(h), &[]);
        assert_eq!(
            parse(json!({"alg": "RS256", "kid": "k1"})).unwrap(),
            Header {
                alg: Algorithm::RS256,
                kid: Some("k1".into())
            }
        );
        for alg in ["none", "None", "HS256", "HS512", "ES512", "RSA-OAEP", ""] {
            assert!(
                matches!(
                    parse(json!({"alg": alg})),
                    Err(OidcError::AlgorithmNotAllowed(_))
                ),
                "{alg}"
            );
        }
        assert!(matches!(
            parse(json!({})),
            Err(OidcError::AlgorithmNotAllowed(_))
        ));
        assert!(matches!(
            parse(json!({"alg": "RS256", "crit": ["exp"]})),
            Err(OidcError::MalformedIdToken(_))
        ));
        // The provider's advertised list narrows the allow-list.
        assert!(matches!(
            parse_header(&header(json!({"alg": "ES256"})), &["RS256".to_owned()]),
            Err(OidcError::AlgorithmNotAllowed(_))
        ));
        assert!(parse_header("a.b", &[]).is_err());
        assert!(parse_header("a.b.c.d.e", &[]).is_err());
        assert!(parse_header("!!.e30.x", &[]).is_err());
    }
}
