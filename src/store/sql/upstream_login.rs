//! Pending upstream logins and the SAML assertion replay cache (shared SQL, compiled into each
//! backend).
//!
//! Consuming a pending login is a single `DELETE … RETURNING`: the row lock (PostgreSQL) or the
//! write lock (SQLite) lets exactly one of several concurrent callbacks get the row, so a login
//! attempt can be finished at most once. An expired row is deleted all the same and reported as
//! absent, so expiry needs no separate check by the caller.

use async_trait::async_trait;

use super::common::{Parent, explain_reference};
use super::{Backend, Db, map_err};
use crate::domain::now;
use crate::store::{
    NewUpstreamLogin, StoreError, UpstreamLogin, UpstreamLoginStore, from_json, to_json,
};

macro_rules! upstream_login_columns {
    () => {
        "id_hash, authority_id, request_hash, data, return_to, linking_user_id, created_at, \
         expires_at"
    };
}

#[derive(sqlx::FromRow)]
struct UpstreamLoginRow {
    id_hash: String,
    authority_id: String,
    request_hash: Option<String>,
    data: String,
    return_to: Option<String>,
    linking_user_id: Option<String>,
    created_at: i64,
    expires_at: i64,
}

impl TryFrom<UpstreamLoginRow> for UpstreamLogin {
    type Error = StoreError;

    fn try_from(row: UpstreamLoginRow) -> Result<Self, StoreError> {
        Ok(UpstreamLogin {
            data: from_json(&row.data, "upstream_logins.data")?,
            id_hash: row.id_hash,
            authority_id: row.authority_id,
            request_hash: row.request_hash,
            return_to: row.return_to,
            linking_user_id: row.linking_user_id,
            created_at: row.created_at,
            expires_at: row.expires_at,
        })
    }
}

/// The consumed row, unless it had expired at `now`.
fn unexpired(row: Option<UpstreamLoginRow>, now: i64) -> Result<Option<UpstreamLogin>, StoreError> {
    match row {
        Some(row) if row.expires_at > now => UpstreamLogin::try_from(row).map(Some),
        _ => Ok(None),
    }
}

#[async_trait]
impl UpstreamLoginStore for Backend {
    async fn create_upstream_login(
        &self,
        login: NewUpstreamLogin,
    ) -> Result<UpstreamLogin, StoreError> {
        let at = now();
        let data = to_json(&login.data)?;
        let inserted = sqlx::query(
            "INSERT INTO upstream_logins (id_hash, authority_id, request_hash, data, return_to, \
             linking_user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&login.id_hash)
        .bind(&login.authority_id)
        .bind(&login.request_hash)
        .bind(&data)
        .bind(&login.return_to)
        .bind(&login.linking_user_id)
        .bind(at)
        .bind(login.expires_at)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(map_err);
        if let Err(err) = inserted {
            let user = login.linking_user_id.as_deref().unwrap_or_default();
            let mut candidates = vec![(Parent::Authority, login.authority_id.as_str())];
            if login.linking_user_id.is_some() {
                candidates.push((Parent::User, user));
            }
            return Err(explain_reference(&self.pool, err, &candidates).await);
        }
        Ok(UpstreamLogin {
            id_hash: login.id_hash,
            authority_id: login.authority_id,
            request_hash: login.request_hash,
            data: login.data,
            return_to: login.return_to,
            linking_user_id: login.linking_user_id,
            created_at: at,
            expires_at: login.expires_at,
        })
    }

    async fn consume_upstream_login(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<UpstreamLogin>, StoreError> {
        let row = sqlx::query_as::<Db, UpstreamLoginRow>(concat!(
            "DELETE FROM upstream_logins WHERE id_hash = $1 RETURNING ",
            upstream_login_columns!()
        ))
        .bind(id_hash)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?;
        unexpired(row, now)
    }

    async fn consume_upstream_login_by_request(
        &self,
        authority_id: &str,
        request_hash: &str,
        now: i64,
    ) -> Result<Option<UpstreamLogin>, StoreError> {
        let row = sqlx::query_as::<Db, UpstreamLoginRow>(concat!(
            "DELETE FROM upstream_logins WHERE request_hash = $1 AND authority_id = $2 \
             RETURNING ",
            upstream_login_columns!()
        ))
        .bind(request_hash)
        .bind(authority_id)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?;
        unexpired(row, now)
    }

    async fn record_saml_assertion(
        &self,
        authority_id: &str,
        assertion_id: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        // The primary key decides. A clash with a row that has already expired (not swept yet)
        // is not a replay — that assertion is dead anyway — so the row is taken over; a clash
        // with a live row changes nothing and reports the replay.
        let done = sqlx::query(
            "INSERT INTO saml_assertions (authority_id, assertion_id, expires_at) \
             VALUES ($1, $2, $3) ON CONFLICT (authority_id, assertion_id) \
             DO UPDATE SET expires_at = excluded.expires_at \
             WHERE saml_assertions.expires_at <= $4",
        )
        .bind(authority_id)
        .bind(assertion_id)
        .bind(expires_at)
        .bind(now())
        .execute(&mut *self.conn().await?)
        .await
        .map_err(map_err);
        match done {
            Ok(done) => Ok(done.rows_affected() == 1),
            Err(err) => {
                Err(explain_reference(&self.pool, err, &[(Parent::Authority, authority_id)]).await)
            }
        }
    }

    async fn delete_expired_upstream_logins(&self, now: i64) -> Result<u64, StoreError> {
        let logins = sqlx::query("DELETE FROM upstream_logins WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(map_err)?;
        let assertions = sqlx::query("DELETE FROM saml_assertions WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(map_err)?;
        Ok(logins.rows_affected() + assertions.rows_affected())
    }
}
