//! API keys (shared SQL, compiled into each backend).

use async_trait::async_trait;

use super::common::{Parent, explain_reference};
use super::{Backend, Db, map_err};
use crate::domain::Page;
use crate::domain::api_key::{ApiKey, ApiKeyFilter, NewApiKey};
use crate::domain::id::new_id;
use crate::domain::now;
use crate::store::{ApiKeyStore, StoreError, Where, from_json, page_limit, to_json};

macro_rules! api_key_columns {
    () => {
        "id, user_id, hint, description, scopes, clients, created_at, expires_at, revoked_at, \
         last_used_at"
    };
}

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: String,
    user_id: String,
    hint: String,
    description: Option<String>,
    scopes: String,
    clients: String,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = StoreError;

    fn try_from(row: ApiKeyRow) -> Result<Self, StoreError> {
        Ok(ApiKey {
            scopes: from_json(&row.scopes, "api_keys.scopes")?,
            clients: from_json(&row.clients, "api_keys.clients")?,
            id: row.id,
            user_id: row.user_id,
            hint: row.hint,
            description: row.description,
            created_at: row.created_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            last_used_at: row.last_used_at,
        })
    }
}

#[async_trait]
impl ApiKeyStore for Backend {
    async fn create_api_key(&self, key: NewApiKey) -> Result<ApiKey, StoreError> {
        let at = now();
        let id = new_id();
        let inserted = sqlx::query(
            "INSERT INTO api_keys (id, user_id, key_hash, hint, description, scopes, clients, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(&key.user_id)
        .bind(&key.key_hash)
        .bind(&key.hint)
        .bind(&key.description)
        .bind(to_json(&key.scopes)?)
        .bind(to_json(&key.clients)?)
        .bind(at)
        .bind(key.expires_at)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(map_err);
        if let Err(err) = inserted {
            return Err(explain_reference(&self.pool, err, &[(Parent::User, &key.user_id)]).await);
        }
        Ok(ApiKey {
            id,
            user_id: key.user_id,
            hint: key.hint,
            description: key.description,
            scopes: key.scopes,
            clients: key.clients,
            created_at: at,
            expires_at: key.expires_at,
            revoked_at: None,
            last_used_at: None,
        })
    }

    async fn find_api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        sqlx::query_as::<Db, ApiKeyRow>(concat!(
            "SELECT ",
            api_key_columns!(),
            " FROM api_keys WHERE key_hash = $1"
        ))
        .bind(key_hash)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .map(ApiKey::try_from)
        .transpose()
    }

    async fn get_api_key(&self, id: &str) -> Result<Option<ApiKey>, StoreError> {
        sqlx::query_as::<Db, ApiKeyRow>(concat!(
            "SELECT ",
            api_key_columns!(),
            " FROM api_keys WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .map(ApiKey::try_from)
        .transpose()
    }

    async fn list_api_keys(
        &self,
        filter: &ApiKeyFilter,
        page: &Page,
    ) -> Result<Vec<ApiKey>, StoreError> {
        let mut w = Where::new();
        if filter.user_id.is_some() {
            w.push("user_id = {}");
        }
        if page.after.is_some() {
            w.push("id > {}");
        }
        let mut sql = w.sql();
        if !filter.include_revoked {
            // No value to bind, so not through `Where`.
            sql.push_str(if sql.is_empty() { " WHERE " } else { " AND " });
            sql.push_str("revoked_at IS NULL");
        }
        // Only our own fragments above; every value is bound below, in the same order.
        let sql = format!(
            concat!(
                "SELECT ",
                api_key_columns!(),
                " FROM api_keys{} ORDER BY id LIMIT ${}"
            ),
            sql,
            w.next_placeholder()
        );
        let mut q = sqlx::query_as::<Db, ApiKeyRow>(sqlx::AssertSqlSafe(sql));
        if let Some(user_id) = &filter.user_id {
            q = q.bind(user_id.clone());
        }
        if let Some(after) = &page.after {
            q = q.bind(after.clone());
        }
        q.bind(page_limit(page))
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(map_err)?
            .into_iter()
            .map(ApiKey::try_from)
            .collect()
    }

    async fn revoke_api_key(&self, id: &str, at: i64) -> Result<ApiKey, StoreError> {
        sqlx::query_as::<Db, ApiKeyRow>(concat!(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING ",
            api_key_columns!()
        ))
        .bind(id)
        .bind(at)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)
        .and_then(ApiKey::try_from)
    }

    async fn delete_expired_api_keys(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM api_keys WHERE expires_at < $1")
            .bind(before)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}
