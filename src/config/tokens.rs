//! The `[tokens]` section: lifetimes, and the algorithms of signing keys and ID tokens.

use serde::{Deserialize, Deserializer, Serialize};

use crate::domain::signing_key::SigningAlg;

/// OAuth2 tokens (reference §4): lifetimes and the algorithm of newly created signing keys.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokensConfig {
    /// Algorithm of access tokens (`ES256`, `RS256` or `EdDSA`), and the default of ID tokens
    /// besides RS256.
    pub signing_alg: SigningAlg,
    /// Further algorithms ID tokens may be signed with, chosen per client
    /// (`id_token_signed_response_alg`). RS256 is always among them (OpenID Connect Core §15.1:
    /// the default for clients that register none), and so is `signing_alg`. In the environment:
    /// a comma-separated list (`AUTHX_TOKENS__ID_TOKEN_SIGNING_ALGS=EdDSA,ES256`).
    #[serde(deserialize_with = "deserialize_alg_list")]
    pub id_token_signing_algs: Vec<SigningAlg>,
    /// Life of an access token (JWT, default 10 min).
    pub access_token_ttl_secs: u64,
    /// Life of an ID token (default 10 min).
    pub id_token_ttl_secs: u64,
    /// Life of a refresh token (default 30 days).
    pub refresh_token_ttl_secs: u64,
    /// Life of an authorization code (default and maximum 60 s).
    pub authorization_code_ttl_secs: u64,
    /// Tolerated clock difference between nodes (and clients): `iat` may be this far in the future,
    /// and retired keys stay published this much longer than the tokens they signed.
    pub clock_skew_secs: u64,
    /// After a refresh token is rotated, presenting it again within this window, by the same
    /// client, is a retry (a lost answer, or a concurrent refresh): it gets the same successor
    /// again while that is unused. Later, it is theft: the whole family is revoked.
    pub refresh_reuse_grace_secs: u64,
    /// How long a rotated-in key is published before it signs (default 65 s: the JWKS's 60 s
    /// `max-age` plus the 5 s a node keeps its key set), so that every verifier, ours and
    /// external ones fetching `GET /oauth2/jwks`, knows the key before the first token it signs.
    /// `authx keys rotate --now` skips the wait (after a key leaked).
    pub key_publish_lead_secs: u64,
    /// The `aud` of access tokens (RFC 9068 §3: the default resource indicator); default: the
    /// issuer URL, i.e. authx's own APIs.
    pub audience: Option<String>,
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self {
            signing_alg: SigningAlg::Es256,
            id_token_signing_algs: Vec::new(),
            access_token_ttl_secs: 600,
            id_token_ttl_secs: 600,
            refresh_token_ttl_secs: 2_592_000,
            authorization_code_ttl_secs: 60,
            clock_skew_secs: 60,
            refresh_reuse_grace_secs: 5,
            key_publish_lead_secs: 65,
            audience: None,
        }
    }
}

impl TokensConfig {
    /// The algorithm of ID tokens for clients that register none (OpenID Connect Core §15.1).
    pub const DEFAULT_ID_TOKEN_ALG: SigningAlg = SigningAlg::Rs256;
    /// The longest `refresh_reuse_grace_secs` accepted: what a retry answered with the same
    /// successor may be late by, so rotated tokens keep their successor no longer than this.
    pub const MAX_REFRESH_REUSE_GRACE_SECS: u64 = 60;

    /// Every algorithm this server signs with, each with an active key in the JWKS: the
    /// access-token algorithm, RS256, and `id_token_signing_algs`, in that order, each once.
    pub fn published_algs(&self) -> Vec<SigningAlg> {
        let mut algs = vec![self.signing_alg];
        for alg in std::iter::once(Self::DEFAULT_ID_TOKEN_ALG)
            .chain(self.id_token_signing_algs.iter().copied())
        {
            if !algs.contains(&alg) {
                algs.push(alg);
            }
        }
        algs
    }

    /// How long a key retired now must stay published: it may sign for `key_publish_lead_secs`
    /// more (until its successor takes over), then the longest life of a JWT it signed (access or
    /// ID token), plus the clock skew.
    pub fn retired_key_publish_secs(&self) -> i64 {
        let longest = self.access_token_ttl_secs.max(self.id_token_ttl_secs);
        let secs = longest
            .saturating_add(self.clock_skew_secs)
            .saturating_add(self.key_publish_lead_secs);
        i64::try_from(secs).unwrap_or(i64::MAX)
    }
}

/// A list of algorithms, as a TOML array or (from the environment) a comma-separated string.
fn deserialize_alg_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<SigningAlg>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Algs {
        List(Vec<SigningAlg>),
        Text(String),
    }
    match Algs::deserialize(deserializer)? {
        Algs::List(algs) => Ok(algs),
        Algs::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| a.parse::<SigningAlg>().map_err(serde::de::Error::custom))
            .collect(),
    }
}
