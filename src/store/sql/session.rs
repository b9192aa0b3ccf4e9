//! Browser sessions (shared SQL, compiled into each backend).

use async_trait::async_trait;

use super::common::{Parent, explain_reference};
use super::{Backend, Db, map_err};
use crate::domain::now;
use crate::domain::session::{NewSession, Session};
use crate::store::{SessionStore, StoreError};

macro_rules! session_columns {
    () => {
        "id_hash, user_id, authority_id, auth_time, created_at, expires_at, idle_expires_at, \
         last_seen_at, ip, user_agent"
    };
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id_hash: String,
    user_id: String,
    authority_id: String,
    auth_time: i64,
    created_at: i64,
    expires_at: i64,
    idle_expires_at: i64,
    last_seen_at: i64,
    ip: Option<String>,
    user_agent: Option<String>,
}

impl From<SessionRow> for Session {
    fn from(row: SessionRow) -> Self {
        Session {
            id_hash: row.id_hash,
            user_id: row.user_id,
            authority_id: row.authority_id,
            auth_time: row.auth_time,
            created_at: row.created_at,
            expires_at: row.expires_at,
            idle_expires_at: row.idle_expires_at,
            last_seen_at: row.last_seen_at,
            ip: row.ip,
            user_agent: row.user_agent,
        }
    }
}

#[async_trait]
impl SessionStore for Backend {
    async fn create_session(&self, session: NewSession) -> Result<Session, StoreError> {
        let at = now();
        // `csrf_token_hash` predates the double-submit CSRF cookie (`web::csrf`), which is not
        // bound to the session row; the column stays empty.
        let inserted = sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, authority_id, csrf_token_hash, created_at, \
             last_seen_at, idle_expires_at, expires_at, auth_time, ip, user_agent) \
             VALUES ($1, $2, $3, '', $4, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&session.id_hash)
        .bind(&session.user_id)
        .bind(&session.authority_id)
        .bind(at)
        .bind(session.idle_expires_at)
        .bind(session.expires_at)
        .bind(session.auth_time)
        .bind(&session.ip)
        .bind(&session.user_agent)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(map_err);
        if let Err(err) = inserted {
            return Err(
                explain_reference(&self.pool, err, &[(Parent::User, &session.user_id)]).await,
            );
        }
        Ok(Session {
            id_hash: session.id_hash,
            user_id: session.user_id,
            authority_id: session.authority_id,
            auth_time: session.auth_time,
            created_at: at,
            expires_at: session.expires_at,
            idle_expires_at: session.idle_expires_at,
            last_seen_at: at,
            ip: session.ip,
            user_agent: session.user_agent,
        })
    }

    async fn get_session(&self, id_hash: &str) -> Result<Option<Session>, StoreError> {
        Ok(sqlx::query_as::<Db, SessionRow>(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE id_hash = $1"
        ))
        .bind(id_hash)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .map(Session::from))
    }

    async fn touch_session(
        &self,
        id_hash: &str,
        idle_expires_at: i64,
        last_seen_at: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET idle_expires_at = $2, last_seen_at = $3 WHERE id_hash = $1",
        )
        .bind(id_hash)
        .bind(idle_expires_at)
        .bind(last_seen_at)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_user_sessions(&self, user_id: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        Ok(sqlx::query_as::<Db, SessionRow>(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE user_id = $1 ORDER BY created_at DESC, id_hash"
        ))
        .bind(user_id)
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .into_iter()
        .map(Session::from)
        .collect())
    }

    async fn delete_expired_sessions(&self, now: i64) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR idle_expires_at <= $1")
                .bind(now)
                .execute(&mut *self.conn().await?)
                .await
                .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}
