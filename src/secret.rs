//! High-entropy secrets: API keys, client secrets, codes, refresh tokens, session ids.
//!
//! Each is 256 random bits, base64url-encoded behind a short recognisable prefix (`axk_` for API
//! keys, `axs_` for client secrets) so secret scanners can spot leaked ones. Only a SHA-256 hash is
//! stored: with that much entropy a fast hash is as strong as bcrypt, and it keeps the check path
//! (looked up per request by downstream services) cheap. Lookups go by hash through a unique index,
//! so no comparison of secret material happens in application code; where two secrets must be
//! compared, [`constant_time_eq`] does it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of API keys.
pub const API_KEY_PREFIX: &str = "axk_";
/// Prefix of client secrets.
pub const CLIENT_SECRET_PREFIX: &str = "axs_";

/// A new secret: `prefix` followed by 256 random bits in base64url (43 characters).
pub fn generate(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of a secret: lower-case hex SHA-256 of its UTF-8 bytes.
pub fn hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(byte & 0x0f), 16).unwrap_or('0'));
    }
    out
}

/// A short, non-secret label for showing a secret in lists: its prefix and first characters.
pub fn hint(secret: &str) -> String {
    secret.chars().take(10).collect::<String>() + "…"
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets() {
        let a = generate(API_KEY_PREFIX);
        let b = generate(API_KEY_PREFIX);
        assert!(a.starts_with("axk_"));
        assert_eq!(a.len(), 4 + 43);
        assert_ne!(a, b);
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hint(&a).chars().count(), 11);
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"diff"));
        assert!(!constant_time_eq(b"same", b"sam"));
    }
}
