//! JWT signing keys (reference §1, §4): key pairs with a `kid`, kept in the database so every node signs
//! and verifies alike. One key is `active` (signs new tokens); `retired` keys stay published in the
//! JWKS until `publish_until`, when every token they signed has expired.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The JWS algorithm of a key (RFC 7518 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    /// ECDSA P-256 with SHA-256 (the default).
    #[serde(rename = "ES256")]
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys.
    #[serde(rename = "RS256")]
    Rs256,
    /// Ed25519.
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl SigningAlg {
    /// The `alg` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// Parses an `alg` value; exact spelling (`ES256`, `RS256`, `EdDSA`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ES256" => Some(Self::Es256),
            "RS256" => Some(Self::Rs256),
            "EdDSA" => Some(Self::EdDsa),
            _ => None,
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SigningAlg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
            .ok_or_else(|| format!("unknown signing algorithm {s:?} (ES256, RS256, EdDSA)"))
    }
}

/// Whether a key signs new tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Signs new tokens (normally exactly one key).
    Active,
    /// No longer signs; verifies (and is published) until `publish_until`.
    Retired,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retired => "retired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "retired" => Some(Self::Retired),
            _ => None,
        }
    }
}

/// A stored signing key. Immutable once created except for its retirement. `Debug` masks the
/// private key; the type is deliberately not `Serialize`.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    /// Key id: the RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key.
    pub kid: String,
    pub alg: SigningAlg,
    /// The private key: PKCS#8 DER, standard base64. Secret.
    pub private_key: String,
    /// The public key as a JWK (with `kid`, `alg` and `use`).
    pub public_jwk: serde_json::Value,
    pub status: KeyStatus,
    pub created_at: i64,
    /// From when the key signs (unix seconds): after its publication lead, or at once for the
    /// first key and emergency rotations. Until then its predecessor signs.
    pub signs_from: i64,
    pub retired_at: Option<i64>,
    /// A retired key is published (and verifies) while `now < publish_until`.
    pub publish_until: Option<i64>,
}

impl SigningKey {
    /// Whether the key verifies tokens (and appears in the JWKS) at `now`.
    pub fn is_published(&self, now: i64) -> bool {
        match self.status {
            KeyStatus::Active => true,
            KeyStatus::Retired => self.publish_until.is_some_and(|until| until > now),
        }
    }

    /// Whether the key may sign at `now`: published, and its lead over.
    pub fn may_sign(&self, now: i64) -> bool {
        self.is_published(now) && self.signs_from <= now
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private_key", &"***")
            .field("public_jwk", &self.public_jwk)
            .field("status", &self.status)
            .field("created_at", &self.created_at)
            .field("signs_from", &self.signs_from)
            .field("retired_at", &self.retired_at)
            .field("publish_until", &self.publish_until)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_masks_the_private_key() {
        let key = SigningKey {
            kid: "k".into(),
            alg: SigningAlg::Es256,
            private_key: "TOP-SECRET".into(),
            public_jwk: serde_json::json!({}),
            status: KeyStatus::Active,
            created_at: 1,
            signs_from: 1,
            retired_at: None,
            publish_until: None,
        };
        let debug = format!("{key:?}");
        assert!(!debug.contains("TOP-SECRET"), "{debug}");
        assert!(key.is_published(10));
    }

    #[test]
    fn alg_names() {
        for alg in [SigningAlg::Es256, SigningAlg::Rs256, SigningAlg::EdDsa] {
            assert_eq!(SigningAlg::parse(alg.as_str()), Some(alg));
        }
        assert_eq!(SigningAlg::parse("HS256"), None);
        assert_eq!(SigningAlg::parse("none"), None);
    }
}
