//! The JWTs authx issues: access tokens (RFC 9068 profile, `typ: at+jwt`) and OpenID Connect ID
//! tokens (`typ: JWT`): access tokens with the active key of `tokens.signing_alg`, ID tokens with
//! the active key of the client's algorithm (RS256 by default), both from [`super::keys::Keys`].
//!
//! Access-token claims are built *before* anything is stored (the `jti` goes into the same
//! transaction that redeems the code or rotates the refresh token) and signed after. They carry
//! `iss`, `sub`, `aud` (`tokens.audience`, default the issuer: RFC 9068 §3's default resource),
//! `client_id`, `exp`, `iat`, `jti`, `scope`, `auth_time` when a person authenticated, and `deny`
//! when deny patterns partly overlap the granted ones (reference §2.5) so offline checkers can apply
//! them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha512};

use super::keys::{KeyError, Keys};
use crate::domain::id::new_id;
use crate::domain::signing_key::SigningAlg;
use crate::engine::Engine;

/// The `typ` header of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// The `typ` header of ID tokens.
pub const ID_TOKEN_TYP: &str = "JWT";

pub use crate::domain::token::AccessClaims;

impl AccessClaims {
    /// New claims with a fresh `jti`, valid from `now` for `tokens.access_token_ttl_secs`.
    pub fn new(
        state: &Engine,
        now: i64,
        sub: &str,
        client_id: &str,
        scope: String,
        deny: Vec<String>,
        auth_time: Option<i64>,
    ) -> Self {
        let iat = now;
        let ttl = i64::try_from(state.config.tokens.access_token_ttl_secs).unwrap_or(600);
        Self {
            iss: state.config.issuer_url(),
            sub: sub.to_owned(),
            aud: state.config.access_token_audience(),
            client_id: client_id.to_owned(),
            exp: iat.saturating_add(ttl),
            iat,
            jti: new_id(),
            scope,
            deny,
            auth_time,
        }
    }

    /// Seconds until expiry, for `expires_in`.
    pub fn expires_in(&self) -> i64 {
        (self.exp - self.iat).max(0)
    }

    /// The signed token.
    pub async fn sign(&self, keys: &Keys) -> Result<String, KeyError> {
        keys.sign(self, ACCESS_TOKEN_TYP).await
    }
}

/// What an ID token says besides the user claims.
#[derive(Debug, Clone)]
pub struct IdTokenInput<'a> {
    /// When it is issued.
    pub iat: i64,
    pub client_id: &'a str,
    /// The client's `id_token_signed_response_alg` (RS256 unless it registered another).
    pub alg: SigningAlg,
    pub auth_time: Option<i64>,
    pub nonce: Option<&'a str>,
    /// The access token issued alongside, for `at_hash`.
    pub access_token: Option<&'a str>,
    /// `sub` and the released profile/email claims.
    pub user_claims: Map<String, Value>,
}

/// Signs an ID token (OIDC Core §2): `iss`, `sub`, `aud` = `azp` = the client, `exp`, `iat`,
/// `auth_time`, `nonce` when the request had one, `at_hash`, and the released user claims.
pub async fn sign_id_token(state: &Engine, input: IdTokenInput<'_>) -> Result<String, KeyError> {
    let iat = input.iat;
    let ttl = i64::try_from(state.config.tokens.id_token_ttl_secs).unwrap_or(600);
    let issuer = state.config.issuer_url();
    state
        .keys
        .sign_for(input.alg, ID_TOKEN_TYP, |alg| {
            let mut claims = input.user_claims.clone();
            claims.insert("iss".to_owned(), Value::String(issuer));
            claims.insert("aud".to_owned(), Value::String(input.client_id.to_owned()));
            claims.insert("azp".to_owned(), Value::String(input.client_id.to_owned()));
            claims.insert("iat".to_owned(), Value::from(iat));
            claims.insert("exp".to_owned(), Value::from(iat.saturating_add(ttl)));
            if let Some(auth_time) = input.auth_time {
                claims.insert("auth_time".to_owned(), Value::from(auth_time));
            }
            if let Some(nonce) = input.nonce {
                claims.insert("nonce".to_owned(), Value::String(nonce.to_owned()));
            }
            if let Some(token) = input.access_token {
                claims.insert("at_hash".to_owned(), Value::String(at_hash(alg, token)));
            }
            Value::Object(claims)
        })
        .await
}

/// OIDC Core §3.1.3.6: the left half of the hash of the access token, base64url. The hash is the
/// one of the signing algorithm: SHA-256 for ES256 and RS256; SHA-512 for EdDSA with Ed25519
/// (OpenID Connect Core errata, as relying parties such as openid-client compute it).
pub fn at_hash(alg: SigningAlg, access_token: &str) -> String {
    let digest: Vec<u8> = match alg {
        SigningAlg::Es256 | SigningAlg::Rs256 => Sha256::digest(access_token.as_bytes()).to_vec(),
        SigningAlg::EdDsa => Sha512::digest(access_token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_example() {
        // Expected values computed independently (Python hashlib): left half, base64url.
        assert_eq!(
            at_hash(SigningAlg::Rs256, "jHkWEdUXMU1BwAsC4vtUsZwnvuFa"),
            "1y91737GQ-oeZmIGr608bg"
        );
        assert_eq!(
            at_hash(SigningAlg::EdDsa, "x"),
            "pKvURIxJVi2CgRXROh_M6pJ_UrTVRZKX-LQ-QtqJI4s"
        );
    }
}
