//! One-time link tokens: 256 random bits, shown once (in the emailed link) and stored only as a
//! SHA-256 hash.
//!
//! With that much entropy a fast hash is as strong as a slow one, and looking a token up by its
//! hash through a unique index means no secret is ever compared in application code. The `axe_`
//! prefix makes leaked tokens recognisable to secret scanners, like authx's other secrets.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The prefix of every email link token.
pub const TOKEN_PREFIX: &str = "axe_";

/// A fresh token and the hash to store for it.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginToken {
    /// The secret for the link: [`TOKEN_PREFIX`] followed by 43 base64url characters (32 random
    /// bytes). Never store or log it.
    pub token: String,
    /// The lower-case hex SHA-256 of `token`: what goes into `email_tokens`.
    pub hash: String,
}

impl fmt::Debug for LoginToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginToken")
            .field("token", &"***")
            .field("hash", &self.hash)
            .finish()
    }
}

/// A new random token with its hash.
pub fn new_token() -> LoginToken {
    let bytes: [u8; 32] = rand::random();
    let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_token(&token);
    LoginToken { token, hash }
}

/// The stored form of a token: lower-case hex SHA-256 of its UTF-8 bytes.
pub fn hash_token(token: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(token.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_hashed() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a.token, b.token);
        assert!(a.token.starts_with(TOKEN_PREFIX));
        let body = &a.token[TOKEN_PREFIX.len()..];
        assert_eq!(body.len(), 43);
        assert!(
            body.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(URL_SAFE_NO_PAD.decode(body).unwrap().len(), 32);
        assert_eq!(a.hash, hash_token(&a.token));
        assert_eq!(a.hash.len(), 64);
        assert!(!format!("{a:?}").contains(&a.token));
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
