//! `/api/v1/keys`: the JWT signing keys (reference §4, §7). Listing needs `AuthX:key:read` and shows
//! public JWKs and lifecycle times only, never private material; rotating needs `AuthX:key:rotate`
//! and is audited (`key.rotate`).

use crate::domain::now;
use crate::domain::signing_key::{KeyStatus, SigningAlg, SigningKey};
use crate::engine::Engine;
use crate::engine::admin::signing_keys;
use crate::engine::oauth2::keys::{Keys, Pace};
use crate::http::api::common::{Tag, timestamp, timestamp_opt};
use crate::http::api::error::ApiError;
use crate::http::api::security::BearerAuth;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde_json::Value;

/// A JWS algorithm for signing keys.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgDto {
    /// ECDSA P-256 with SHA-256.
    #[oai(rename = "ES256")]
    Es256,
    /// RSA 2048 PKCS#1 v1.5 with SHA-256.
    #[oai(rename = "RS256")]
    Rs256,
    /// Ed25519.
    #[oai(rename = "EdDSA")]
    EdDsa,
}

impl From<KeyAlgDto> for SigningAlg {
    fn from(a: KeyAlgDto) -> Self {
        match a {
            KeyAlgDto::Es256 => Self::Es256,
            KeyAlgDto::Rs256 => Self::Rs256,
            KeyAlgDto::EdDsa => Self::EdDsa,
        }
    }
}

impl From<SigningAlg> for KeyAlgDto {
    fn from(a: SigningAlg) -> Self {
        match a {
            SigningAlg::Es256 => Self::Es256,
            SigningAlg::Rs256 => Self::Rs256,
            SigningAlg::EdDsa => Self::EdDsa,
        }
    }
}

/// Whether a key signs new tokens.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum KeyStatusDto {
    /// Signs new tokens.
    Active,
    /// No longer signs; verifies until `publish_until`.
    Retired,
}

/// A signing key: its public half and lifecycle.
#[derive(Object, Debug, Clone)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct SigningKeyDto {
    /// Key id (RFC 7638 thumbprint), the `kid` of the tokens it signs.
    pub kid: String,
    /// Algorithm.
    pub alg: KeyAlgDto,
    /// Active or retired.
    pub status: KeyStatusDto,
    /// Whether the key is in the JWKS now (and verifies tokens).
    pub published: bool,
    /// The public key as a JWK.
    pub public_jwk: Value,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// From when it signs (RFC 3339): a rotated-in key is published first, for
    /// `tokens.key_publish_lead_secs`, so every verifier knows it before its first token.
    pub signs_from: String,
    /// When it was retired (RFC 3339).
    pub retired_at: Option<String>,
    /// A retired key is published until then (RFC 3339).
    pub publish_until: Option<String>,
}

/// The signing keys, newest first.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
pub struct SigningKeyList {
    /// Every stored key (retired ones until swept).
    pub items: Vec<SigningKeyDto>,
}

/// Options of a rotation.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct RotateKeyRequest {
    /// Rotate only the key of this algorithm (default: every algorithm the server signs with).
    pub alg: Option<KeyAlgDto>,
    /// Sign with the new keys at once instead of after `tokens.key_publish_lead_secs` (after a
    /// key leaked): verifiers whose cached JWKS predates them may refuse their tokens for up to
    /// a minute. Default false.
    #[oai(default)]
    pub now: bool,
}

/// The outcome of a rotation: one entry per rotated algorithm.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
pub struct RotationDto {
    /// The rotated keys.
    pub items: Vec<RotatedKeyDto>,
}

/// The rotation of one algorithm's key.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct RotatedKeyDto {
    /// The new active key.
    pub key: SigningKeyDto,
    /// Kids of the keys this rotation retired.
    pub retired: Vec<String>,
    /// The retired keys stay published until then (RFC 3339).
    pub retired_published_until: Option<String>,
}

#[derive(ApiResponse)]
enum Rotated {
    /// The new keys are active.
    #[oai(status = 201)]
    Created(Json<RotationDto>),
}

fn key_to_dto(key: &SigningKey, at: i64) -> SigningKeyDto {
    SigningKeyDto {
        kid: key.kid.clone(),
        alg: key.alg.into(),
        status: match key.status {
            KeyStatus::Active => KeyStatusDto::Active,
            KeyStatus::Retired => KeyStatusDto::Retired,
        },
        published: key.is_published(at),
        public_jwk: Keys::jwk(key),
        created_at: timestamp(key.created_at),
        signs_from: timestamp(key.signs_from),
        retired_at: timestamp_opt(key.retired_at),
        publish_until: timestamp_opt(key.publish_until),
    }
}

/// The signing-keys resource.
pub struct KeysApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Keys")]
impl KeysApi {
    /// List the signing keys with their public JWKs and lifecycle (`key:read`).
    #[oai(path = "/keys", method = "get", operation_id = "listSigningKeys")]
    async fn list(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
    ) -> Result<Json<SigningKeyList>, ApiError> {
        let keys = signing_keys::list(&state, &auth.0).await?;
        let at = now();
        Ok(Json(SigningKeyList {
            items: keys.iter().map(|k| key_to_dto(k, at)).collect(),
        }))
    }

    /// Retire the active signing keys (or the one of `alg`) and create their successors
    /// (`key:rotate`). A successor is published at once and signs from its `signs_from`
    /// (`tokens.key_publish_lead_secs` later, or at once with `now`); until then the retired key
    /// signs. A retired key stays published until every token it signed has expired.
    #[oai(
        path = "/keys/rotate",
        method = "post",
        operation_id = "rotateSigningKey"
    )]
    async fn rotate(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        body: Json<RotateKeyRequest>,
    ) -> Result<Rotated, ApiError> {
        let pace = if body.0.now {
            Pace::Now
        } else {
            Pace::Published
        };
        let alg = body.0.alg.map(SigningAlg::from);
        let rotations = signing_keys::rotate(&state, &auth.0, alg, pace).await?;
        let at = now();
        let items = rotations
            .into_iter()
            .map(|rotation| RotatedKeyDto {
                key: key_to_dto(&rotation.key, at),
                retired_published_until: (!rotation.retired.is_empty())
                    .then(|| timestamp(rotation.publish_until)),
                retired: rotation.retired,
            })
            .collect();
        Ok(Rotated::Created(Json(RotationDto { items })))
    }
}
