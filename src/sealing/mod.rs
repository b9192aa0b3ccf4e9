//! Secrets at rest: the values authx must be able to read back — JWT signing private keys,
//! upstream client secrets — are stored sealed with AES-256-GCM under the key-encryption key
//! (`secrets.key_file`, see [`key_source`]), never in the clear.
//!
//! A sealed value reads `axenc1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`: a fresh 96-bit
//! random nonce per value, and as associated data the place the value belongs to (its
//! `context`: `signing_key:<kid>`, `authority:<id>:client_secret`), so a sealed value copied into
//! another row does not open there. The key id (the start of a SHA-256 of the key) names the key
//! without revealing it, which is what lets a node say *which* key a value needs, and lets keys be
//! rotated: a [`Sealer`] seals under its current key and opens under any of its keys.
//!
//! The store seals on every write and opens on every read, so nothing above it ever sees the
//! sealed form. A value without the prefix is a secret written before sealing existed: it is
//! read as it is and sealed by [`Reseal::Plaintext`] at start-up.

pub mod key_source;

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The prefix of every sealed value (format version 1).
pub const PREFIX: &str = "axenc1.";
/// The length of a key-encryption key, in bytes.
pub const KEY_LEN: usize = 32;

/// Why a value could not be sealed or opened. Never contains key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// No key-encryption key is configured.
    #[error(
        "no secrets key is configured: set secrets.key_file (or AUTHX_SECRETS__KEY_FILE) to a file \
         holding 32 random bytes, base64-encoded, shared by every node"
    )]
    NoKey,
    /// Sealed under a key this node does not hold.
    #[error(
        "a secret is sealed under secrets key {0}, which this node does not hold (its keys: {1}); \
         every node needs the same secrets.key_file"
    )]
    UnknownKey(String, String),
    /// Not in the sealed format.
    #[error("a sealed secret is malformed")]
    Malformed,
    /// The tag did not verify: tampered with, moved to another place, or a different key with a
    /// colliding id.
    #[error("a sealed secret does not open (tampered with, or moved from another place)")]
    Open,
    /// The cipher failed.
    #[error("sealing a secret failed")]
    Seal,
}

/// Which stored values [`Reseal`] rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reseal {
    /// Only values still in the clear (safe on any node at start-up).
    Plaintext,
    /// Also values sealed under a previous key (the `secrets reseal` command, once every node
    /// holds the current key).
    All,
}

/// One key-encryption key.
struct Key {
    id: String,
    cipher: LessSafeKey,
}

impl Key {
    fn new(bytes: &[u8; KEY_LEN]) -> Result<Self, SealError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| SealError::Seal)?;
        Ok(Self {
            id: key_id(bytes),
            cipher: LessSafeKey::new(unbound),
        })
    }
}

/// The id of `key`: the first 8 bytes of a domain-separated SHA-256, in hex.
fn key_id(key: &[u8; KEY_LEN]) -> String {
    let digest = Sha256::new()
        .chain_update(b"authx secrets key id\0")
        .chain_update(key)
        .finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Seals under the current key-encryption key and opens under any configured one.
pub struct Sealer {
    current: Option<Key>,
    previous: Vec<Key>,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("current", &self.current_key_id())
            .field(
                "previous",
                &self.previous.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Sealer {
    /// A sealer with `current` and the `previous` keys it still opens.
    pub fn new(current: &[u8; KEY_LEN], previous: &[[u8; KEY_LEN]]) -> Result<Self, SealError> {
        Ok(Self {
            current: Some(Key::new(current)?),
            previous: previous
                .iter()
                .map(Key::new)
                .collect::<Result<Vec<_>, _>>()?,
        })
    }

    /// A sealer without a key: every seal and every open of a sealed value fails with
    /// [`SealError::NoKey`]. Commands that touch no secret (migrate) can still run.
    pub fn unconfigured() -> Self {
        Self {
            current: None,
            previous: Vec::new(),
        }
    }

    /// The id of the key new values are sealed under.
    pub fn current_key_id(&self) -> Option<&str> {
        self.current.as_ref().map(|k| k.id.as_str())
    }

    /// `plaintext` sealed for `context` under the current key.
    pub fn seal(&self, plaintext: &str, context: &str) -> Result<String, SealError> {
        let key = self.current.as_ref().ok_or(SealError::NoKey)?;
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| SealError::Seal)?;
        let mut sealed = plaintext.as_bytes().to_vec();
        key.cipher
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| SealError::Seal)?;
        let mut payload = nonce.to_vec();
        payload.extend_from_slice(&sealed);
        Ok(format!(
            "{PREFIX}{}.{}",
            key.id,
            URL_SAFE_NO_PAD.encode(payload)
        ))
    }

    /// The plaintext of `stored` for `context`. A value without the sealed prefix was written
    /// before sealing and is returned as it is.
    pub fn open(&self, stored: &str, context: &str) -> Result<String, SealError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let (id, payload) = rest.split_once('.').ok_or(SealError::Malformed)?;
        let key = self.key(id)?;
        let mut payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| SealError::Malformed)?;
        if payload.len() < NONCE_LEN {
            return Err(SealError::Malformed);
        }
        let mut sealed = payload.split_off(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = payload.try_into().map_err(|_| SealError::Malformed)?;
        let plain = key
            .cipher
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| SealError::Open)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::Malformed)
    }

    /// Whether `stored` should be rewritten under `mode`: it is in the clear, or (for
    /// [`Reseal::All`]) sealed under another key than the current one.
    pub fn needs_reseal(&self, stored: &str, mode: Reseal) -> bool {
        match stored.strip_prefix(PREFIX) {
            None => true,
            Some(rest) => mode == Reseal::All && rest.split('.').next() != self.current_key_id(),
        }
    }

    /// The configured key with id `id`.
    fn key(&self, id: &str) -> Result<&Key, SealError> {
        if self.current.is_none() && self.previous.is_empty() {
            return Err(SealError::NoKey);
        }
        let mut keys = self.current.iter().chain(&self.previous);
        keys.find(|k| k.id == id).ok_or_else(|| {
            let held: Vec<&str> = self
                .current
                .iter()
                .chain(&self.previous)
                .map(|k| k.id.as_str())
                .collect();
            SealError::UnknownKey(id.to_owned(), held.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; KEY_LEN] = [7; KEY_LEN];
    const B: [u8; KEY_LEN] = [9; KEY_LEN];

    #[test]
    fn seals_and_opens_in_its_place_only() {
        let sealer = Sealer::new(&A, &[]).unwrap();
        let sealed = sealer
            .seal("hunter2", "authority:corp:client_secret")
            .unwrap();
        assert!(sealed.starts_with(PREFIX), "{sealed}");
        assert!(!sealed.contains("hunter2"));
        assert_ne!(
            sealed,
            sealer
                .seal("hunter2", "authority:corp:client_secret")
                .unwrap()
        );
        assert_eq!(
            sealer
                .open(&sealed, "authority:corp:client_secret")
                .unwrap(),
            "hunter2"
        );
        // Moved to another row, it does not open.
        assert_eq!(
            sealer.open(&sealed, "authority:other:client_secret"),
            Err(SealError::Open)
        );
        // Tampered with, neither.
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(
            sealer
                .open(&tampered, "authority:corp:client_secret")
                .is_err()
        );
        assert_eq!(sealer.open("axenc1.nodot", "x"), Err(SealError::Malformed));
    }

    #[test]
    fn keys_rotate() {
        let old = Sealer::new(&A, &[]).unwrap();
        let sealed = old.seal("k", "c").unwrap();
        let new = Sealer::new(&B, &[A]).unwrap();
        assert_eq!(new.open(&sealed, "c").unwrap(), "k");
        assert!(new.needs_reseal(&sealed, Reseal::All));
        assert!(!new.needs_reseal(&sealed, Reseal::Plaintext));
        assert!(!new.needs_reseal(&new.seal("k", "c").unwrap(), Reseal::All));
        let only_new = Sealer::new(&B, &[]).unwrap();
        match only_new.open(&sealed, "c") {
            Err(SealError::UnknownKey(id, held)) => {
                assert_eq!(Some(id.as_str()), old.current_key_id());
                assert_eq!(Some(held.as_str()), only_new.current_key_id());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn plaintext_from_before_sealing_reads_and_needs_sealing() {
        let sealer = Sealer::new(&A, &[]).unwrap();
        assert_eq!(sealer.open("legacy-secret", "c").unwrap(), "legacy-secret");
        assert!(sealer.needs_reseal("legacy-secret", Reseal::Plaintext));
        let none = Sealer::unconfigured();
        assert_eq!(none.seal("x", "c"), Err(SealError::NoKey));
        assert_eq!(
            none.open(&sealer.seal("x", "c").unwrap(), "c"),
            Err(SealError::NoKey)
        );
        assert!(!format!("{sealer:?}").contains("7, 7"));
    }
}
