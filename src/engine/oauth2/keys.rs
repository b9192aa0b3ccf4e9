//! JWT signing keys: generation, signing, verification, the JWKS and rotation (reference §4).
//!
//! Keys live in the database (`signing_keys`), so every node signs and verifies alike. One key of
//! each published algorithm is active (a partial unique index guarantees at most one per
//! algorithm): `tokens.signing_alg` signs access tokens, and ID tokens are signed with the
//! client's `id_token_signed_response_alg`, RS256 by default (OpenID Connect Core §15.1), so that
//! key exists whatever the access-token algorithm.
//!
//! Rotation publishes before it signs. It retires the active key and creates its successor in one
//! transaction; the successor is in the JWKS at once but signs only from `signs_from`, which is
//! `tokens.key_publish_lead_secs` (default 65 s) later: longer than the JWKS's `max-age` plus the
//! time a node keeps its key set, so every verifier (the other nodes, and resource servers that
//! cache our JWKS) holds the key before the first token it signs exists. Until then the
//! predecessor signs; [`Pace::Now`] (`keys rotate --now`, for a leaked key) skips the wait. A
//! retired key stays published, in `GET /oauth2/jwks` and for [`Keys::verify`], until the longest-
//! lived JWT it may have signed has expired: the lead, the token life, the clock skew
//! (`tokens.clock_skew_secs`) and the cache refresh interval below.
//!
//! Caching: parsed key material is kept in memory by `kid` (a key never changes once created; the
//! kid is its RFC 7638 thumbprint). Which keys are published and which one signs is re-read from
//! the database at most every [`Keys::REFRESH`] (5 s), and at once on this node after a rotation
//! through it; `signs_from` is compared with the clock on every use, so nodes switch keys at the
//! same moment whatever the age of their set. A token of a kid this node has not seen yet forces a
//! re-read, at most once per [`Keys::MISS_REFRESH`]. The end of a retired key's publication is
//! checked against the clock on every use. While the database cannot be read, the last good set
//! serves the JWKS and verification.
//!
//! Verification trusts nothing the token says about how to verify it: the key is looked up by
//! `kid` among the published keys only, and the algorithm is the key's own — a token whose `alg`
//! differs (`none`, `HS256` with the public key as secret, …) is refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::TokensConfig;
use crate::domain::now;
use crate::domain::signing_key::{KeyStatus, SigningAlg, SigningKey};
use crate::store::{Store, StoreError};

/// Why signing or verifying failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Key material could not be generated or parsed (never contains the material).
    #[error("signing key: {0}")]
    Key(String),
    /// Encoding a token failed.
    #[error("signing a token failed")]
    Sign(#[source] jsonwebtoken::errors::Error),
    /// The token is not acceptable.
    #[error("token rejected: {0}")]
    Rejected(Rejection),
    /// The algorithm is not one this server signs with (`tokens.signing_alg`, RS256,
    /// `tokens.id_token_signing_algs`).
    #[error(
        "{0} is not an algorithm this server signs with (tokens.signing_alg, RS256 or tokens.id_token_signing_algs)"
    )]
    Unpublished(SigningAlg),
}

/// Why a token was refused by [`Keys::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("malformed token")]
    Malformed,
    #[error("no published key with this kid")]
    UnknownKey,
    #[error("the algorithm does not match the key")]
    Algorithm,
    #[error("wrong token type")]
    Type,
    #[error("invalid signature")]
    Signature,
    #[error("expired")]
    Expired,
    #[error("not valid yet")]
    NotYetValid,
    #[error("issued in the future")]
    IssuedInFuture,
    #[error("wrong issuer")]
    Issuer,
    #[error("wrong audience")]
    Audience,
    #[error("missing or invalid claims")]
    Claims,
}

impl From<Rejection> for KeyError {
    fn from(r: Rejection) -> Self {
        Self::Rejected(r)
    }
}

/// When a rotated-in key starts signing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// After `tokens.key_publish_lead_secs`, once every verifier's cached key set holds it (the
    /// normal, scheduled rotation).
    Published,
    /// At once (a leaked key): tokens it signs may be refused for up to a minute by verifiers
    /// whose cached JWKS predates it.
    Now,
}

/// The rotation of one algorithm's key.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The new active key; the retired key signs until its `signs_from`.
    pub key: SigningKey,
    /// The kids retired by this rotation (empty when there was no active key).
    pub retired: Vec<String>,
    /// Until when (unix seconds) the retired keys stay published.
    pub publish_until: i64,
}

impl Rotation {
    /// The details of its `key.rotate` audit event (the same from the API and the CLI).
    pub fn audit_details(&self) -> Value {
        json!({
            "alg": self.key.alg.as_str(),
            "retired": self.retired,
            "signs_from": self.key.signs_from,
            "publish_until": self.publish_until,
        })
    }
}

/// Parsed key material of one kid.
struct Parsed {
    alg: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// The published keys as last read from the database.
struct Snapshot {
    fetched_at: Instant,
    /// Kept only as the last good set, for when the database cannot be read: re-read before use.
    stale: bool,
    /// Newest first; the first `active` one signs.
    keys: Vec<SigningKey>,
}

/// This node's signing-key cache; one per process (in the engine), reading and writing keys in
/// `store` under the `tokens` settings.
pub struct Keys {
    store: Arc<dyn Store>,
    tokens: TokensConfig,
    parsed: Mutex<HashMap<String, Arc<Parsed>>>,
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    refresh: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").finish_non_exhaustive()
    }
}

impl Keys {
    /// How old the cached published set may get before it is re-read.
    pub const REFRESH: Duration = Duration::from_secs(5);
    /// How often at most an unknown kid forces a re-read.
    pub const MISS_REFRESH: Duration = Duration::from_secs(1);

    pub fn new(store: Arc<dyn Store>, tokens: TokensConfig) -> Self {
        Self {
            store,
            tokens,
            parsed: Mutex::new(HashMap::new()),
            snapshot: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// Marks the published set stale (the parsed keys stay): the next use re-reads it. Called
    /// after a rotation through this node; tests call it after changing keys behind the node's
    /// back. The stale set is still the last good one if the database cannot be read.
    pub fn invalidate(&self) {
        let mut snapshot = self
            .snapshot
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(current) = snapshot.as_ref() {
            *snapshot = Some(Arc::new(Snapshot {
                fetched_at: current.fetched_at,
                stale: true,
                keys: current.keys.clone(),
            }));
        }
    }

    /// Generates a new active key pair (not stored). The kid is the RFC 7638 thumbprint.
    pub fn generate(alg: SigningAlg) -> Result<SigningKey, KeyError> {
        let failed = |what: &str| KeyError::Key(format!("cannot generate an {alg} key: {what}"));
        let (pkcs8, public): (Vec<u8>, Value) = match alg {
            SigningAlg::Es256 => {
                let doc = EcdsaKeyPair::generate_pkcs8(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    &SystemRandom::new(),
                )
                .map_err(|_| failed("generation"))?;
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
                    .map_err(|_| failed("parse"))?;
                // Uncompressed point: 0x04 || X (32) || Y (32).
                let point = pair.public_key().as_ref();
                if point.len() != 65 || point[0] != 4 {
                    return Err(failed("unexpected public key encoding"));
                }
                let public = json!({
                    "kty": "EC",
                    "crv": "P-256",
                    "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                    "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
                });
                (doc.as_ref().to_vec(), public)
            }
            SigningAlg::EdDsa => {
                let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                    .map_err(|_| failed("generation"))?;
                let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).map_err(|_| failed("parse"))?;
                let public = json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
                });
                (doc.as_ref().to_vec(), public)
            }
            SigningAlg::Rs256 => {
                let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(|_| failed("generation"))?;
                let der: aws_lc_rs::encoding::Pkcs8V1Der<'static> =
                    pair.as_der().map_err(|_| failed("encoding"))?;
                let public_key = pair.public_key();
                let public = json!({
                    "kty": "RSA",
                    "n": URL_SAFE_NO_PAD.encode(public_key.modulus().big_endian_without_leading_zero()),
                    "e": URL_SAFE_NO_PAD.encode(public_key.exponent().big_endian_without_leading_zero()),
                });
                (der.as_ref().to_vec(), public)
            }
        };
        let kid = thumbprint(&public).ok_or_else(|| failed("thumbprint"))?;
        let at = now();
        let mut key = SigningKey {
            kid,
            alg,
            private_key: STANDARD.encode(pkcs8),
            public_jwk: public,
            status: KeyStatus::Active,
            created_at: at,
            signs_from: at,
            retired_at: None,
            publish_until: None,
        };
        key.public_jwk = Self::jwk(&key);
        Ok(key)
    }

    /// The public JWK of `key`: its public members plus `kid`, `alg` and `use: sig`; never private
    /// material (only the known public members are copied).
    pub fn jwk(key: &SigningKey) -> Value {
        let members: &[&str] = match key.alg {
            SigningAlg::Es256 => &["kty", "crv", "x", "y"],
            SigningAlg::Rs256 => &["kty", "n", "e"],
            SigningAlg::EdDsa => &["kty", "crv", "x"],
        };
        let mut out = serde_json::Map::new();
        for m in members {
            if let Some(v) = key.public_jwk.get(*m) {
                out.insert((*m).to_owned(), v.clone());
            }
        }
        out.insert("kid".to_owned(), Value::String(key.kid.clone()));
        out.insert("alg".to_owned(), Value::String(key.alg.as_str().to_owned()));
        out.insert("use".to_owned(), Value::String("sig".to_owned()));
        Value::Object(out)
    }

    /// The active key of `alg`, creating one if there is none. Nodes racing to create the first
    /// key of an algorithm all end up with the same one.
    pub async fn ensure_active(&self, alg: SigningAlg) -> Result<SigningKey, KeyError> {
        let snapshot = self.snapshot(self.store.as_ref(), Self::REFRESH).await?;
        if let Some(key) = active_of(&snapshot, alg) {
            return Ok(key.clone());
        }
        let key = ensure_active_in(self.store.as_ref(), alg).await?;
        self.invalidate();
        Ok(key)
    }

    /// The key that signs `alg` now: the active key once its `signs_from` has come, else the
    /// newest retired one that may still sign (its predecessor during the publication lead);
    /// the active key when none may (the lead is a promise about verifiers, not a reason to
    /// refuse service), and a new one when there is no key of `alg` at all.
    pub async fn signing_key(&self, alg: SigningAlg) -> Result<SigningKey, KeyError> {
        let snapshot = self.snapshot(self.store.as_ref(), Self::REFRESH).await?;
        let at = now();
        let mut of_alg = snapshot.keys.iter().filter(|k| k.alg == alg);
        if let Some(key) = of_alg.clone().find(|k| k.may_sign(at)) {
            return Ok(key.clone());
        }
        match of_alg.find(|k| k.status == KeyStatus::Active) {
            Some(key) => Ok(key.clone()),
            None => self.ensure_active(alg).await,
        }
    }

    /// Makes sure every published algorithm has an active key (at start-up, so the JWKS holds
    /// them before the first token exists), and retires the active keys of algorithms the
    /// configuration no longer names.
    pub async fn ensure_published(&self) -> Result<(), KeyError> {
        let published = self.tokens.published_algs();
        for alg in &published {
            self.ensure_active(*alg).await?;
        }
        let snapshot = self.snapshot(self.store.as_ref(), Duration::ZERO).await?;
        let stale: Vec<SigningAlg> = snapshot
            .keys
            .iter()
            .filter(|k| k.status == KeyStatus::Active && !published.contains(&k.alg))
            .map(|k| k.alg)
            .collect();
        if !stale.is_empty() {
            let at = now();
            let until = publish_until(&self.tokens, at);
            for alg in stale {
                let kids = self
                    .store
                    .retire_active_signing_keys(alg, at, until)
                    .await?;
                tracing::info!(%alg, ?kids, "retired the signing key of an algorithm no longer configured");
            }
            self.invalidate();
        }
        Ok(())
    }

    /// Retires the active key of `alg` (of every published algorithm when `None`) and creates its
    /// successor, which signs from when `pace` says; this node re-reads its key set at once.
    pub async fn rotate(
        &self,
        alg: Option<SigningAlg>,
        pace: Pace,
    ) -> Result<Vec<Rotation>, KeyError> {
        let rotation = rotate_in(self.store.as_ref(), &self.tokens, alg, pace).await;
        self.invalidate();
        rotation
    }

    /// The published keys as JWKs, newest first (`{"keys": [...]}`).
    pub async fn jwks(&self) -> Result<Value, KeyError> {
        let snapshot = self.snapshot(self.store.as_ref(), Self::REFRESH).await?;
        let at = now();
        let keys: Vec<Value> = snapshot
            .keys
            .iter()
            .filter(|k| k.is_published(at))
            .map(Self::jwk)
            .collect();
        Ok(json!({ "keys": keys }))
    }

    /// Signs `claims` with the signing key of the access-token algorithm (`tokens.signing_alg`;
    /// see [`Keys::signing_key`]). The header carries `alg`, `kid` and `typ` (e.g. `at+jwt` for
    /// access tokens, RFC 9068).
    pub async fn sign<T: Serialize>(&self, claims: &T, typ: &str) -> Result<String, KeyError> {
        self.sign_for(self.tokens.signing_alg, typ, |_| claims)
            .await
    }

    /// Signs with the signing key of `alg`, for claims that depend on the algorithm (an ID token's
    /// `at_hash` uses the hash of the key's algorithm, OIDC Core §3.1.3.6): `make` gets it.
    pub async fn sign_for<T: Serialize>(
        &self,
        alg: SigningAlg,
        typ: &str,
        make: impl FnOnce(SigningAlg) -> T,
    ) -> Result<String, KeyError> {
        let key = self.signing_key(alg).await?;
        let parsed = self.parsed(&key)?;
        let mut header = Header::new(parsed.alg);
        header.kid = Some(key.kid.clone());
        header.typ = Some(typ.to_owned());
        let claims = make(key.alg);
        jsonwebtoken::encode(&header, &claims, &parsed.encoding).map_err(KeyError::Sign)
    }

    /// Verifies a JWT signed by one of our published keys and returns its claims: `typ` must be
    /// `typ` (an `application/` prefix and case are ignored), the signature must verify with the
    /// key named by `kid` under that key's algorithm, `exp` must not have passed, `iat` must be
    /// present and not more than `tokens.clock_skew_secs` in the future (likewise `nbf`), `iss` must
    /// equal `issuer`, and `aud` must contain `audience` when one is given.
    pub async fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        typ: &str,
        issuer: &str,
        audience: Option<&str>,
    ) -> Result<T, KeyError> {
        self.verify_inner(token, typ, issuer, audience, true).await
    }

    /// Like [`Keys::verify`] without the expiry check, for hints that may have expired (an ID
    /// token passed back as `id_token_hint`, OIDC RP-Initiated Logout §2): the signature, `typ`,
    /// `iss` and `aud` still have to be right.
    pub async fn verify_expired_ok<T: DeserializeOwned>(
        &self,
        token: &str,
        typ: &str,
        issuer: &str,
        audience: Option<&str>,
    ) -> Result<T, KeyError> {
        self.verify_inner(token, typ, issuer, audience, false).await
    }

    async fn verify_inner<T: DeserializeOwned>(
        &self,
        token: &str,
        typ: &str,
        issuer: &str,
        audience: Option<&str>,
        check_exp: bool,
    ) -> Result<T, KeyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| Rejection::Malformed)?;
        let kid = header.kid.as_deref().ok_or(Rejection::UnknownKey)?;
        let key = self
            .published_key(self.store.as_ref(), kid)
            .await?
            .ok_or(Rejection::UnknownKey)?;
        let parsed = self.parsed(&key)?;
        if header.alg != parsed.alg {
            return Err(Rejection::Algorithm.into());
        }
        if !typ_matches(header.typ.as_deref(), typ) {
            return Err(Rejection::Type.into());
        }
        let mut validation = Validation::new(parsed.alg);
        validation.leeway = 0;
        validation.validate_exp = check_exp;
        validation.validate_nbf = false;
        validation.set_issuer(&[issuer]);
        match audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                validation.set_required_spec_claims(&["exp", "iss", "aud"]);
            }
            None => {
                validation.validate_aud = false;
                validation.set_required_spec_claims(&["exp", "iss"]);
            }
        }
        let data = jsonwebtoken::decode::<Value>(token, &parsed.decoding, &validation)
            .map_err(|e| rejection(e.kind()))?;
        let claims = data.claims;
        let skew = i64::try_from(self.tokens.clock_skew_secs).unwrap_or(0);
        let latest = now().saturating_add(skew);
        match claims.get("iat").and_then(numeric_date) {
            Some(iat) if iat > latest => return Err(Rejection::IssuedInFuture.into()),
            Some(_) => {}
            None => return Err(Rejection::Claims.into()),
        }
        if let Some(nbf) = claims.get("nbf") {
            match numeric_date(nbf) {
                Some(nbf) if nbf > latest => return Err(Rejection::NotYetValid.into()),
                Some(_) => {}
                None => return Err(Rejection::Claims.into()),
            }
        }
        serde_json::from_value(claims).map_err(|_| Rejection::Claims.into())
    }

    /// The published key with this kid, re-reading the database (rate-limited) on a miss.
    async fn published_key(
        &self,
        store: &dyn Store,
        kid: &str,
    ) -> Result<Option<SigningKey>, KeyError> {
        let at = now();
        let find = |s: &Snapshot| {
            s.keys
                .iter()
                .find(|k| k.kid == kid && k.is_published(at))
                .cloned()
        };
        let snapshot = self.snapshot(store, Self::REFRESH).await?;
        if let Some(key) = find(&snapshot) {
            return Ok(Some(key));
        }
        let snapshot = self.snapshot(store, Self::MISS_REFRESH).await?;
        Ok(find(&snapshot))
    }

    fn current(&self, max_age: Duration) -> Option<Arc<Snapshot>> {
        self.snapshot
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .filter(|s| !s.stale && s.fetched_at.elapsed() < max_age)
            .cloned()
    }

    /// The published set, re-read when older than `max_age` (one reader at a time).
    async fn snapshot(
        &self,
        store: &dyn Store,
        max_age: Duration,
    ) -> Result<Arc<Snapshot>, KeyError> {
        if let Some(s) = self.current(max_age) {
            return Ok(s);
        }
        let _guard = self.refresh.lock().await;
        if let Some(s) = self.current(max_age) {
            return Ok(s);
        }
        let keys = match store.published_signing_keys(now()).await {
            Ok(keys) => keys,
            Err(error) => {
                // The database is away: the JWKS and verification go on with the last good set
                // (which keys exist only changes through the database, and each key's end of
                // publication is still checked against the clock).
                let last = self
                    .snapshot
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                return match last {
                    Some(last) => {
                        tracing::debug!(error = %crate::telemetry::ErrorChain(&error), "key set not re-read; using the last good one");
                        Ok(last)
                    }
                    None => Err(error.into()),
                };
            }
        };
        let snapshot = Arc::new(Snapshot {
            fetched_at: Instant::now(),
            stale: false,
            keys,
        });
        {
            let mut parsed = self.parsed.lock().unwrap_or_else(PoisonError::into_inner);
            parsed.retain(|kid, _| snapshot.keys.iter().any(|k| &k.kid == kid));
        }
        *self
            .snapshot
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(snapshot.clone());
        Ok(snapshot)
    }

    /// The parsed material of `key`, from the cache or parsed now.
    fn parsed(&self, key: &SigningKey) -> Result<Arc<Parsed>, KeyError> {
        if let Some(p) = self
            .parsed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key.kid)
        {
            return Ok(p.clone());
        }
        let parsed = Arc::new(parse(key)?);
        self.parsed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.kid.clone(), parsed.clone());
        Ok(parsed)
    }
}

/// The newest active key of `alg` in a snapshot.
fn active_of(snapshot: &Snapshot, alg: SigningAlg) -> Option<&SigningKey> {
    snapshot
        .keys
        .iter()
        .find(|k| k.status == KeyStatus::Active && k.alg == alg)
}

/// Until when a key retired at `at` stays published: [`TokensConfig::retired_key_publish_secs`]
/// (the publication lead during which it still signs, the longest JWT life, the clock skew) +
/// [`Keys::REFRESH`] (a node that has not re-read its key set yet may sign with it that much
/// longer).
fn publish_until(tokens: &TokensConfig, at: i64) -> i64 {
    let margin = i64::try_from(Keys::REFRESH.as_secs()).unwrap_or(0);
    at.saturating_add(tokens.retired_key_publish_secs())
        .saturating_add(margin)
}

/// The active key in `store`, creating one with `alg` if there is none. Tolerates the race of
/// several nodes creating the first key: the losers' inserts conflict and they read the winner's.
pub async fn ensure_active_in(store: &dyn Store, alg: SigningAlg) -> Result<SigningKey, KeyError> {
    if let Some(key) = store.active_signing_key(alg).await? {
        return Ok(key);
    }
    let key = Keys::generate(alg)?;
    match store.create_signing_key(key).await {
        Ok(key) => {
            tracing::info!(kid = %key.kid, alg = %key.alg, "created the first signing key");
            Ok(key)
        }
        Err(StoreError::Conflict(_)) => store.active_signing_key(alg).await?.ok_or_else(|| {
            KeyError::Store(StoreError::Conflict(
                crate::store::Conflict::on(crate::store::UniqueKey::ActiveSigningKey)
                    .saying("signing key race"),
            ))
        }),
        Err(e) => Err(e.into()),
    }
}

/// Rotates in `store` without a node cache (the CLI): for `alg` (every published algorithm when
/// `None`), retires the active key, published until [`publish_until`], and stores a new active
/// key that signs from when `pace` says. Retried on the conflict a concurrent rotation on another
/// node can cause. An algorithm the server does not sign with is refused.
pub async fn rotate_in(
    store: &dyn Store,
    tokens: &TokensConfig,
    alg: Option<SigningAlg>,
    pace: Pace,
) -> Result<Vec<Rotation>, KeyError> {
    let published = tokens.published_algs();
    let algs = match alg {
        None => published,
        Some(alg) if published.contains(&alg) => vec![alg],
        Some(alg) => return Err(KeyError::Unpublished(alg)),
    };
    let mut rotations = Vec::new();
    for alg in algs {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut key = Keys::generate(alg)?;
            let at = key.created_at;
            if pace == Pace::Published {
                let lead = i64::try_from(tokens.key_publish_lead_secs).unwrap_or(i64::MAX);
                key.signs_from = at.saturating_add(lead);
            }
            let publish_until = publish_until(tokens, at);
            match store
                .rotate_signing_key(key.clone(), at, publish_until)
                .await
            {
                Ok(retired) => {
                    tracing::info!(kid = %key.kid, alg = %key.alg, ?retired, signs_from = key.signs_from, publish_until, "rotated the signing key");
                    rotations.push(Rotation {
                        key,
                        retired,
                        publish_until,
                    });
                    break;
                }
                Err(StoreError::Conflict(_)) if attempt < 3 => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(rotations)
}

/// RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order, no whitespace.
fn thumbprint(public: &Value) -> Option<String> {
    let s = |m: &str| public.get(m).and_then(Value::as_str);
    let canonical = match s("kty")? {
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            s("crv")?,
            s("x")?,
            s("y")?
        ),
        "RSA" => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, s("e")?, s("n")?),
        "OKP" => format!(r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#, s("crv")?, s("x")?),
        _ => return None,
    };
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

fn jwt_alg(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::Es256 => Algorithm::ES256,
        SigningAlg::Rs256 => Algorithm::RS256,
        SigningAlg::EdDsa => Algorithm::EdDSA,
    }
}

/// Parses a stored key into signing and verifying material.
fn parse(key: &SigningKey) -> Result<Parsed, KeyError> {
    let bad = |what: &str| KeyError::Key(format!("stored key {} is unusable: {what}", key.kid));
    let der = STANDARD
        .decode(key.private_key.trim())
        .map_err(|_| bad("private key is not base64"))?;
    let member = |m: &str| {
        key.public_jwk
            .get(m)
            .and_then(Value::as_str)
            .ok_or_else(|| bad("public JWK incomplete"))
    };
    let (encoding, decoding) = match key.alg {
        SigningAlg::Es256 => {
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                .map_err(|_| bad("not a P-256 PKCS#8 key"))?;
            (
                EncodingKey::from_ec_der(&der),
                DecodingKey::from_ec_components(member("x")?, member("y")?)
                    .map_err(|_| bad("public JWK"))?,
            )
        }
        SigningAlg::EdDsa => {
            Ed25519KeyPair::from_pkcs8(&der).map_err(|_| bad("not an Ed25519 PKCS#8 key"))?;
            (
                EncodingKey::from_ed_der(&der),
                DecodingKey::from_ed_components(member("x")?).map_err(|_| bad("public JWK"))?,
            )
        }
        SigningAlg::Rs256 => {
            // jsonwebtoken wants the PKCS#1 RSAPrivateKey that PKCS#8 wraps.
            let pkcs1 = pkcs8_private_key(&der).ok_or_else(|| bad("not a PKCS#8 key"))?;
            aws_lc_rs::rsa::KeyPair::from_der(pkcs1).map_err(|_| bad("not an RSA key"))?;
            (
                EncodingKey::from_rsa_der(pkcs1),
                DecodingKey::from_rsa_components(member("n")?, member("e")?)
                    .map_err(|_| bad("public JWK"))?,
            )
        }
    };
    Ok(Parsed {
        alg: jwt_alg(key.alg),
        encoding,
        decoding,
    })
}

/// One DER element: (tag, contents, rest).
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, rest) = rest.split_at_checked(n)?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, rest)
    };
    let (contents, rest) = rest.split_at_checked(len)?;
    Some((tag, contents, rest))
}

/// The `privateKey` OCTET STRING of a PKCS#8 `PrivateKeyInfo` (RFC 5208).
fn pkcs8_private_key(der: &[u8]) -> Option<&[u8]> {
    let (0x30, info, _) = der_element(der)? else {
        return None;
    };
    let (0x02, _, rest) = der_element(info)? else {
        return None;
    };
    let (0x30, _, rest) = der_element(rest)? else {
        return None;
    };
    let (0x04, key, _) = der_element(rest)? else {
        return None;
    };
    Some(key)
}

/// `typ` equals `expected`, ignoring case and an `application/` prefix (RFC 7515 §4.1.9).
fn typ_matches(typ: Option<&str>, expected: &str) -> bool {
    let strip = |t: &str| {
        let t = t.trim();
        match t.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => t[12..].to_owned(),
            _ => t.to_owned(),
        }
    };
    typ.is_some_and(|t| strip(t).eq_ignore_ascii_case(&strip(expected)))
}

/// A JWT NumericDate (integer or fractional seconds) as whole seconds.
fn numeric_date(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite() && f.abs() < 1e15)
            .map(|f| f as i64)
    })
}

fn rejection(kind: &ErrorKind) -> KeyError {
    let r = match kind {
        ErrorKind::InvalidSignature => Rejection::Signature,
        ErrorKind::ExpiredSignature => Rejection::Expired,
        ErrorKind::ImmatureSignature => Rejection::NotYetValid,
        ErrorKind::InvalidIssuer => Rejection::Issuer,
        ErrorKind::InvalidAudience => Rejection::Audience,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => Rejection::Algorithm,
        ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidClaimFormat(_) => Rejection::Claims,
        _ => Rejection::Malformed,
    };
    KeyError::Rejected(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_sign() {
        for alg in [SigningAlg::Es256, SigningAlg::Rs256, SigningAlg::EdDsa] {
            let key = Keys::generate(alg).unwrap();
            assert_eq!(key.kid, thumbprint(&key.public_jwk).unwrap());
            assert_eq!(key.public_jwk["kid"], key.kid.as_str());
            assert_eq!(key.public_jwk["alg"], alg.as_str());
            assert_eq!(key.public_jwk["use"], "sig");
            assert!(key.public_jwk.get("d").is_none());
            let parsed = parse(&key).unwrap();
            let claims = json!({"exp": now() + 60, "iss": "x"});
            let token =
                jsonwebtoken::encode(&Header::new(parsed.alg), &claims, &parsed.encoding).unwrap();
            let mut v = Validation::new(parsed.alg);
            v.validate_aud = false;
            jsonwebtoken::decode::<Value>(&token, &parsed.decoding, &v).unwrap();
        }
    }

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
        });
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn typ_comparison() {
        assert!(typ_matches(Some("at+jwt"), "at+jwt"));
        assert!(typ_matches(Some("application/AT+JWT"), "at+jwt"));
        assert!(!typ_matches(Some("JWT"), "at+jwt"));
        assert!(!typ_matches(None, "at+jwt"));
    }

    #[test]
    fn der_reading_refuses_garbage() {
        assert!(pkcs8_private_key(&[]).is_none());
        assert!(pkcs8_private_key(&[0x30, 0x82, 0xff]).is_none());
        assert!(pkcs8_private_key(&[0x30, 0x00]).is_none());
    }
}
