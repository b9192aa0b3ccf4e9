//! One-time email tokens (shared SQL, compiled into each backend).

use async_trait::async_trait;

use super::common::{Parent, explain_reference};
use super::{Backend, Db, map_err};
use crate::domain::email_token::{EmailToken, EmailTokenPurpose, NewEmailToken};
use crate::domain::now;
use crate::store::{EmailTokenStore, StoreError};

macro_rules! email_token_columns {
    () => {
        "purpose, email, user_id, authority_id, created_at, expires_at, used_at, return_to"
    };
}

#[derive(sqlx::FromRow)]
struct EmailTokenRow {
    purpose: String,
    email: String,
    user_id: Option<String>,
    authority_id: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    return_to: Option<String>,
}

impl TryFrom<EmailTokenRow> for EmailToken {
    type Error = StoreError;

    fn try_from(row: EmailTokenRow) -> Result<Self, StoreError> {
        Ok(EmailToken {
            purpose: EmailTokenPurpose::parse(&row.purpose)
                .ok_or_else(|| StoreError::Corrupt("unknown email_tokens.purpose".to_owned()))?,
            email: row.email,
            user_id: row.user_id,
            authority_id: row.authority_id,
            created_at: row.created_at,
            expires_at: row.expires_at,
            used_at: row.used_at,
            return_to: row.return_to,
        })
    }
}

#[async_trait]
impl EmailTokenStore for Backend {
    async fn create_email_token(&self, token: NewEmailToken) -> Result<EmailToken, StoreError> {
        let at = now();
        let email = crate::address::fold(&token.email);
        let inserted = sqlx::query(
            "INSERT INTO email_tokens (token_hash, purpose, email, user_id, authority_id, \
             created_at, expires_at, return_to) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&token.token_hash)
        .bind(token.purpose.as_str())
        .bind(&email)
        .bind(&token.user_id)
        .bind(&token.authority_id)
        .bind(at)
        .bind(token.expires_at)
        .bind(&token.return_to)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(map_err);
        if let Err(err) = inserted {
            let err = match err {
                StoreError::Conflict(_) => StoreError::Conflict(crate::store::Conflict::on(
                    crate::store::UniqueKey::EmailTokenHash,
                )),
                other => other,
            };
            let user = token.user_id.as_deref().unwrap_or_default();
            return Err(explain_reference(&self.pool, err, &[(Parent::User, user)]).await);
        }
        Ok(EmailToken {
            purpose: token.purpose,
            email,
            user_id: token.user_id,
            authority_id: token.authority_id,
            created_at: at,
            expires_at: token.expires_at,
            used_at: None,
            return_to: token.return_to,
        })
    }

    async fn consume_email_token(
        &self,
        token_hash: &str,
        purpose: EmailTokenPurpose,
        now: i64,
    ) -> Result<Option<EmailToken>, StoreError> {
        // One statement: the row lock (PostgreSQL) or the write lock (SQLite) makes a concurrent
        // second consumer re-check `used_at IS NULL` and find nothing.
        sqlx::query_as::<Db, EmailTokenRow>(concat!(
            "UPDATE email_tokens SET used_at = $3 WHERE token_hash = $1 AND purpose = $2 \
             AND used_at IS NULL AND expires_at > $3 RETURNING ",
            email_token_columns!()
        ))
        .bind(token_hash)
        .bind(purpose.as_str())
        .bind(now)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .map(EmailToken::try_from)
        .transpose()
    }

    async fn find_email_token(
        &self,
        token_hash: &str,
        purpose: EmailTokenPurpose,
        now: i64,
    ) -> Result<Option<EmailToken>, StoreError> {
        sqlx::query_as::<Db, EmailTokenRow>(concat!(
            "SELECT ",
            email_token_columns!(),
            " FROM email_tokens WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL \
             AND expires_at > $3"
        ))
        .bind(token_hash)
        .bind(purpose.as_str())
        .bind(now)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .map(EmailToken::try_from)
        .transpose()
    }

    async fn delete_expired_email_tokens(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM email_tokens WHERE expires_at < $1")
            .bind(before)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}
