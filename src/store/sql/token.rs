//! OAuth 2.0 codes, refresh tokens and access-token records (shared SQL, compiled into each
//! backend).
//!
//! Redemption and rotation run the guarded `UPDATE … WHERE used_at IS NULL` first, inside the
//! transaction that stores what they issue. On PostgreSQL a concurrent second `UPDATE` waits for
//! the first transaction's row lock and then re-checks the condition (finding it false); on SQLite
//! `BEGIN IMMEDIATE` serialises the transactions. Either way exactly one attempt wins, and a loser
//! that goes on to revoke sees the winner's committed tokens.

use async_trait::async_trait;

use super::sealing::refresh_successor_context;
use super::{Backend, Db, map_err};
use crate::domain::id::new_id;
use crate::domain::now;
use crate::domain::token::{
    AccessTokenRecord, AuthorizationCode, NewAccessToken, NewAuthorizationCode, NewRefreshToken,
    RefreshToken,
};
use crate::store::{StoreError, TokenStore, from_json, to_json};

macro_rules! code_columns {
    () => {
        "code_hash, grant_id, client_id, user_id, redirect_uri, scopes, nonce, code_challenge, \
         code_challenge_method, auth_time, session_id, created_at, expires_at, used_at"
    };
}

macro_rules! refresh_columns {
    () => {
        "id, family_id, grant_id, client_id, user_id, scopes, parent_id, code_hash, auth_time, \
         created_at, expires_at, used_at, revoked_at"
    };
}

macro_rules! access_columns {
    () => {
        "jti, grant_id, client_id, user_id, family_id, code_hash, created_at, expires_at, revoked_at"
    };
}

#[derive(sqlx::FromRow)]
struct CodeRow {
    code_hash: String,
    grant_id: String,
    client_id: String,
    user_id: String,
    redirect_uri: String,
    scopes: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    auth_time: i64,
    session_id: Option<String>,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

impl TryFrom<CodeRow> for AuthorizationCode {
    type Error = StoreError;

    fn try_from(row: CodeRow) -> Result<Self, StoreError> {
        Ok(AuthorizationCode {
            scopes: from_json(&row.scopes, "authorization_codes.scopes")?,
            code_hash: row.code_hash,
            grant_id: row.grant_id,
            client_id: row.client_id,
            user_id: row.user_id,
            redirect_uri: row.redirect_uri,
            nonce: row.nonce,
            code_challenge: row.code_challenge,
            code_challenge_method: row.code_challenge_method,
            auth_time: row.auth_time,
            session_id: row.session_id,
            created_at: row.created_at,
            expires_at: row.expires_at,
            used_at: row.used_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct RefreshRow {
    id: String,
    family_id: String,
    grant_id: String,
    client_id: String,
    user_id: String,
    scopes: String,
    parent_id: Option<String>,
    code_hash: Option<String>,
    auth_time: Option<i64>,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TryFrom<RefreshRow> for RefreshToken {
    type Error = StoreError;

    fn try_from(row: RefreshRow) -> Result<Self, StoreError> {
        Ok(RefreshToken {
            scopes: from_json(&row.scopes, "refresh_tokens.scopes")?,
            id: row.id,
            family_id: row.family_id,
            grant_id: row.grant_id,
            client_id: row.client_id,
            user_id: row.user_id,
            parent_id: row.parent_id,
            code_hash: row.code_hash,
            auth_time: row.auth_time,
            created_at: row.created_at,
            expires_at: row.expires_at,
            used_at: row.used_at,
            revoked_at: row.revoked_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct AccessRow {
    jti: String,
    grant_id: Option<String>,
    client_id: String,
    user_id: String,
    family_id: Option<String>,
    code_hash: Option<String>,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
}

impl From<AccessRow> for AccessTokenRecord {
    fn from(row: AccessRow) -> Self {
        AccessTokenRecord {
            jti: row.jti,
            grant_id: row.grant_id,
            client_id: row.client_id,
            user_id: row.user_id,
            family_id: row.family_id,
            code_hash: row.code_hash,
            created_at: row.created_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
        }
    }
}

async fn insert_refresh<'e, E>(
    executor: E,
    token: &NewRefreshToken,
    at: i64,
) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query(
        "INSERT INTO refresh_tokens (id, token_hash, family_id, grant_id, client_id, user_id, \
         scopes, parent_id, code_hash, auth_time, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(new_id())
    .bind(&token.token_hash)
    .bind(&token.family_id)
    .bind(&token.grant_id)
    .bind(&token.client_id)
    .bind(&token.user_id)
    .bind(to_json(&token.scopes)?)
    .bind(&token.parent_id)
    .bind(&token.code_hash)
    .bind(token.auth_time)
    .bind(at)
    .bind(token.expires_at)
    .execute(executor)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Records `token` and, when it carries one, its issuance event, on `conn` (inside the caller's
/// transaction).
async fn insert_access(
    conn: &mut <Db as sqlx::Database>::Connection,
    token: &NewAccessToken,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO access_tokens (jti, grant_id, client_id, user_id, family_id, code_hash, \
         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&token.jti)
    .bind(&token.grant_id)
    .bind(&token.client_id)
    .bind(&token.user_id)
    .bind(&token.family_id)
    .bind(&token.code_hash)
    .bind(at)
    .bind(token.expires_at)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    if let Some(event) = &token.issued {
        super::audit::insert_audit(conn, event.clone()).await?;
    }
    Ok(())
}

impl Backend {
    /// Runs the two revocation `UPDATE`s (refresh tokens, then access tokens; `$1` = `key`, `$2` =
    /// `at`) in one transaction, so no reader sees half a revocation; returns how many rows changed.
    async fn revoke_both(
        &self,
        refresh_sql: &'static str,
        access_sql: &'static str,
        key: &str,
        at: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let revoked = async {
            let mut n = 0;
            for sql in [refresh_sql, access_sql] {
                let done = sqlx::query(sql)
                    .bind(key)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                n += done.rows_affected();
            }
            Ok::<_, StoreError>(n)
        }
        .await;
        match revoked {
            Ok(n) => {
                tx.commit().await.map_err(map_err)?;
                Ok(n)
            }
            Err(err) => {
                let _ = tx.rollback().await;
                Err(err)
            }
        }
    }

    /// Runs `guard` (an `UPDATE` binding `key` as `$1`, `at` as `$2` and `also`, when given, as
    /// `$3`, that marks a code or token used) and, when it changed a row, stores `refresh` and
    /// `access`, all in one transaction. `false` and nothing written when the guard matched no row.
    async fn guarded_issue(
        &self,
        guard: &'static str,
        (key, also): (&str, Option<String>),
        refresh: Option<&NewRefreshToken>,
        access: &NewAccessToken,
        at: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let written = async {
            let mut marking = sqlx::query(guard).bind(key).bind(at);
            if let Some(also) = also {
                marking = marking.bind(also);
            }
            let marked = marking.execute(&mut *tx).await.map_err(map_err)?;
            if marked.rows_affected() == 0 {
                return Ok(false);
            }
            if let Some(refresh) = refresh {
                insert_refresh(&mut *tx, refresh, at).await?;
            }
            insert_access(&mut tx, access, at).await?;
            Ok::<_, StoreError>(true)
        }
        .await;
        match written {
            Ok(true) => {
                tx.commit().await.map_err(map_err)?;
                Ok(true)
            }
            Ok(false) => {
                let _ = tx.rollback().await;
                Ok(false)
            }
            Err(err) => {
                let _ = tx.rollback().await;
                Err(err)
            }
        }
    }
}

#[async_trait]
impl TokenStore for Backend {
    async fn create_authorization_code(
        &self,
        code: NewAuthorizationCode,
    ) -> Result<(), StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO authorization_codes (code_hash, grant_id, client_id, user_id, \
             redirect_uri, scopes, nonce, code_challenge, code_challenge_method, auth_time, \
             session_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&code.code_hash)
        .bind(&code.grant_id)
        .bind(&code.client_id)
        .bind(&code.user_id)
        .bind(&code.redirect_uri)
        .bind(to_json(&code.scopes)?)
        .bind(&code.nonce)
        .bind(&code.code_challenge)
        .bind(&code.code_challenge_method)
        .bind(code.auth_time)
        .bind(&code.session_id)
        .bind(now())
        .bind(code.expires_at)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(map_err);
        match inserted {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict(c)) => Err(StoreError::Conflict(
                c.saying("authorization code hash already exists"),
            )),
            Err(err @ StoreError::Reference(_)) => {
                let grant_exists: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM grants WHERE id = $1")
                        .bind(&code.grant_id)
                        .fetch_one(&mut *self.conn().await?)
                        .await
                        .map_err(map_err)?;
                if grant_exists == 0 {
                    Err(StoreError::Reference(format!(
                        "no such grant '{}'",
                        code.grant_id
                    )))
                } else {
                    Err(err)
                }
            }
            Err(err) => Err(err),
        }
    }

    async fn get_authorization_code(
        &self,
        code_hash: &str,
    ) -> Result<Option<AuthorizationCode>, StoreError> {
        sqlx::query_as::<Db, CodeRow>(concat!(
            "SELECT ",
            code_columns!(),
            " FROM authorization_codes WHERE code_hash = $1"
        ))
        .bind(code_hash)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .map(AuthorizationCode::try_from)
        .transpose()
    }

    async fn redeem_authorization_code(
        &self,
        code_hash: &str,
        now: i64,
        refresh: Option<NewRefreshToken>,
        access: NewAccessToken,
    ) -> Result<bool, StoreError> {
        self.guarded_issue(
            "UPDATE authorization_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL",
            (code_hash, None),
            refresh.as_ref(),
            &access,
            now,
        )
        .await
    }

    async fn revoke_tokens_of_code(&self, code_hash: &str, at: i64) -> Result<u64, StoreError> {
        self.revoke_both(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE code_hash = $1 AND revoked_at IS NULL",
            "UPDATE access_tokens SET revoked_at = $2 WHERE code_hash = $1 AND revoked_at IS NULL",
            code_hash,
            at,
        )
        .await
    }

    async fn record_access_token(&self, access: NewAccessToken) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_access(&mut tx, &access, now()).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn find_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshToken>, StoreError> {
        sqlx::query_as::<Db, RefreshRow>(concat!(
            "SELECT ",
            refresh_columns!(),
            " FROM refresh_tokens WHERE token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .map(RefreshToken::try_from)
        .transpose()
    }

    async fn rotate_refresh_token(
        &self,
        id: &str,
        now: i64,
        new: NewRefreshToken,
        access: NewAccessToken,
        successor: &str,
    ) -> Result<bool, StoreError> {
        let sealed = self
            .sealer
            .seal(successor, &refresh_successor_context(id))?;
        // A revoked grant takes its tokens with it (cascade), so the guard then matches nothing.
        self.guarded_issue(
            "UPDATE refresh_tokens SET used_at = $2, successor_sealed = $3 \
             WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL",
            (id, Some(sealed)),
            Some(&new),
            &access,
            now,
        )
        .await
    }

    async fn refresh_successor(&self, id: &str) -> Result<Option<String>, StoreError> {
        let sealed: Option<Option<String>> =
            sqlx::query_scalar("SELECT successor_sealed FROM refresh_tokens WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *self.conn().await?)
                .await
                .map_err(map_err)?;
        match sealed.flatten() {
            None => Ok(None),
            Some(sealed) => Ok(Some(
                self.sealer.open(&sealed, &refresh_successor_context(id))?,
            )),
        }
    }

    async fn forget_refresh_successors(&self, used_before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE refresh_tokens SET successor_sealed = NULL \
             WHERE successor_sealed IS NOT NULL AND used_at < $1",
        )
        .bind(used_before)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn revoke_refresh_family(&self, family_id: &str, at: i64) -> Result<u64, StoreError> {
        self.revoke_both(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
            "UPDATE access_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
            family_id,
            at,
        )
        .await
    }

    async fn revoke_tokens_of_user(&self, user_id: &str, at: i64) -> Result<u64, StoreError> {
        self.revoke_both(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
            "UPDATE access_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
            user_id,
            at,
        )
        .await
    }

    async fn get_access_token(&self, jti: &str) -> Result<Option<AccessTokenRecord>, StoreError> {
        Ok(sqlx::query_as::<Db, AccessRow>(concat!(
            "SELECT ",
            access_columns!(),
            " FROM access_tokens WHERE jti = $1"
        ))
        .bind(jti)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .map(AccessTokenRecord::from))
    }

    async fn revoke_access_token(&self, jti: &str, at: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE jti = $1",
        )
        .bind(jti)
        .bind(at)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_expired_tokens(
        &self,
        codes_before: i64,
        tokens_before: i64,
    ) -> Result<u64, StoreError> {
        let mut deleted = 0;
        for sql in [
            "DELETE FROM authorization_codes WHERE expires_at < $1",
            "DELETE FROM refresh_tokens WHERE expires_at < $1",
            "DELETE FROM access_tokens WHERE expires_at < $1",
        ] {
            let before = if sql.contains("authorization_codes") {
                codes_before
            } else {
                tokens_before
            };
            let done = sqlx::query(sql)
                .bind(before)
                .execute(&mut *self.conn().await?)
                .await
                .map_err(map_err)?;
            deleted += done.rows_affected();
        }
        Ok(deleted)
    }
}
