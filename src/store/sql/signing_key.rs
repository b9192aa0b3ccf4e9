//! JWT signing keys (shared SQL, compiled into each backend).

use async_trait::async_trait;

use super::sealing::signing_key_context;
use super::{Backend, Db, map_err};
use crate::domain::signing_key::{KeyStatus, SigningAlg, SigningKey};
use crate::store::{SigningKeyStore, StoreError, from_json, to_json};

macro_rules! signing_key_columns {
    () => {
        "kid, alg, private_key, public_jwk, status, created_at, signs_from, retired_at, publish_until"
    };
}

#[derive(sqlx::FromRow)]
struct SigningKeyRow {
    kid: String,
    alg: String,
    private_key: String,
    public_jwk: String,
    status: String,
    created_at: i64,
    signs_from: Option<i64>,
    retired_at: Option<i64>,
    publish_until: Option<i64>,
}

impl Backend {
    /// The key of `row`, its private key opened.
    fn signing_key(&self, row: SigningKeyRow) -> Result<SigningKey, StoreError> {
        let private_key = self
            .sealer
            .open(&row.private_key, &signing_key_context(&row.kid))?;
        Ok(SigningKey {
            alg: SigningAlg::parse(&row.alg)
                .ok_or_else(|| StoreError::Corrupt("unknown signing_keys.alg".to_owned()))?,
            status: KeyStatus::parse(&row.status)
                .ok_or_else(|| StoreError::Corrupt("unknown signing_keys.status".to_owned()))?,
            public_jwk: from_json(&row.public_jwk, "signing_keys.public_jwk")?,
            kid: row.kid,
            private_key,
            created_at: row.created_at,
            signs_from: row.signs_from.unwrap_or(row.created_at),
            retired_at: row.retired_at,
            publish_until: row.publish_until,
        })
    }
}

const INSERT: &str = "INSERT INTO signing_keys (kid, alg, private_key, public_jwk, status, \
     created_at, signs_from, retired_at, publish_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

const RETIRE: &str = "UPDATE signing_keys SET status = 'retired', retired_at = $1, \
     publish_until = $2 WHERE status = 'active' AND alg = $3 RETURNING kid";

impl Backend {
    fn rows_to_keys(&self, rows: Vec<SigningKeyRow>) -> Result<Vec<SigningKey>, StoreError> {
        rows.into_iter().map(|row| self.signing_key(row)).collect()
    }

    /// `key`'s private key sealed for its row.
    fn sealed_private_key(&self, key: &SigningKey) -> Result<String, StoreError> {
        Ok(self
            .sealer
            .seal(&key.private_key, &signing_key_context(&key.kid))?)
    }
}

#[async_trait]
impl SigningKeyStore for Backend {
    async fn create_signing_key(&self, key: SigningKey) -> Result<SigningKey, StoreError> {
        let private_key = self.sealed_private_key(&key)?;
        sqlx::query(INSERT)
            .bind(&key.kid)
            .bind(key.alg.as_str())
            .bind(&private_key)
            .bind(to_json(&key.public_jwk)?)
            .bind(key.status.as_str())
            .bind(key.created_at)
            .bind(key.signs_from)
            .bind(key.retired_at)
            .bind(key.publish_until)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(map_err)?;
        Ok(key)
    }

    async fn active_signing_key(&self, alg: SigningAlg) -> Result<Option<SigningKey>, StoreError> {
        sqlx::query_as::<Db, SigningKeyRow>(concat!(
            "SELECT ",
            signing_key_columns!(),
            " FROM signing_keys WHERE status = 'active' AND alg = $1 \
             ORDER BY created_at DESC, kid DESC LIMIT 1"
        ))
        .bind(alg.as_str())
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .map(|row| self.signing_key(row))
        .transpose()
    }

    async fn published_signing_keys(&self, now: i64) -> Result<Vec<SigningKey>, StoreError> {
        let rows = sqlx::query_as::<Db, SigningKeyRow>(concat!(
            "SELECT ",
            signing_key_columns!(),
            " FROM signing_keys WHERE status = 'active' OR (status = 'retired' AND \
             publish_until IS NOT NULL AND publish_until > $1) ORDER BY CASE status WHEN 'active' THEN 0 ELSE 1 END, created_at DESC, kid DESC"
        ))
        .bind(now)
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(map_err)?;
        self.rows_to_keys(rows)
    }

    async fn get_signing_key(&self, kid: &str) -> Result<Option<SigningKey>, StoreError> {
        sqlx::query_as::<Db, SigningKeyRow>(concat!(
            "SELECT ",
            signing_key_columns!(),
            " FROM signing_keys WHERE kid = $1"
        ))
        .bind(kid)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .map(|row| self.signing_key(row))
        .transpose()
    }

    async fn list_signing_keys(&self) -> Result<Vec<SigningKey>, StoreError> {
        let rows = sqlx::query_as::<Db, SigningKeyRow>(concat!(
            "SELECT ",
            signing_key_columns!(),
            " FROM signing_keys ORDER BY CASE status WHEN 'active' THEN 0 ELSE 1 END, created_at DESC, kid DESC"
        ))
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(map_err)?;
        self.rows_to_keys(rows)
    }

    async fn retire_active_signing_keys(
        &self,
        alg: SigningAlg,
        at: i64,
        publish_until: i64,
    ) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar::<Db, String>(RETIRE)
            .bind(at)
            .bind(publish_until)
            .bind(alg.as_str())
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(map_err)
    }

    async fn rotate_signing_key(
        &self,
        new: SigningKey,
        at: i64,
        publish_until: i64,
    ) -> Result<Vec<String>, StoreError> {
        let private_key = self.sealed_private_key(&new)?;
        let mut tx = self.begin().await?;
        let retired = sqlx::query_scalar::<Db, String>(RETIRE)
            .bind(at)
            .bind(publish_until)
            .bind(new.alg.as_str())
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
        sqlx::query(INSERT)
            .bind(&new.kid)
            .bind(new.alg.as_str())
            .bind(&private_key)
            .bind(to_json(&new.public_jwk)?)
            .bind(new.status.as_str())
            .bind(new.created_at)
            .bind(new.signs_from)
            .bind(new.retired_at)
            .bind(new.publish_until)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(retired)
    }

    async fn delete_expired_signing_keys(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM signing_keys WHERE status = 'retired' AND \
             (publish_until IS NULL OR publish_until <= $1)",
        )
        .bind(now)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}
