//! Grants (shared SQL, compiled into each backend).

use async_trait::async_trait;

use super::common::{Parent, explain_reference};
use super::{Backend, Db, map_err};
use crate::domain::Page;
use crate::domain::grant::{Grant, GrantFilter};
use crate::domain::id::new_id;
use crate::domain::now;
use crate::store::{GrantStore, StoreError, Where, from_json, page_limit, to_json};

macro_rules! grant_columns {
    () => {
        "id, user_id, client_id, scopes, created_at, updated_at"
    };
}

#[derive(sqlx::FromRow)]
struct GrantRow {
    id: String,
    user_id: String,
    client_id: String,
    scopes: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<GrantRow> for Grant {
    type Error = StoreError;

    fn try_from(row: GrantRow) -> Result<Self, StoreError> {
        Ok(Grant {
            scopes: from_json(&row.scopes, "grants.scopes")?,
            id: row.id,
            user_id: row.user_id,
            client_id: row.client_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[async_trait]
impl GrantStore for Backend {
    async fn upsert_grant(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: Vec<String>,
    ) -> Result<Grant, StoreError> {
        // One statement: concurrent upserts of the same pair end with one row, never a conflict.
        let upserted = sqlx::query_as::<Db, GrantRow>(concat!(
            "INSERT INTO grants (id, user_id, client_id, scopes, created_at, updated_at) ",
            "VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (user_id, client_id) DO UPDATE ",
            "SET scopes = excluded.scopes, updated_at = excluded.updated_at RETURNING ",
            grant_columns!()
        ))
        .bind(new_id())
        .bind(user_id)
        .bind(client_id)
        .bind(to_json(&scopes)?)
        .bind(now())
        .fetch_one(&mut *self.conn().await?)
        .await
        .map_err(map_err);
        match upserted {
            Ok(row) => Grant::try_from(row),
            Err(err) => Err(explain_reference(
                &self.pool,
                err,
                &[(Parent::User, user_id), (Parent::Client, client_id)],
            )
            .await),
        }
    }

    async fn get_grant(&self, id: &str) -> Result<Option<Grant>, StoreError> {
        sqlx::query_as::<Db, GrantRow>(concat!(
            "SELECT ",
            grant_columns!(),
            " FROM grants WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .map(Grant::try_from)
        .transpose()
    }

    async fn find_grant(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<Option<Grant>, StoreError> {
        sqlx::query_as::<Db, GrantRow>(concat!(
            "SELECT ",
            grant_columns!(),
            " FROM grants WHERE user_id = $1 AND client_id = $2"
        ))
        .bind(user_id)
        .bind(client_id)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .map(Grant::try_from)
        .transpose()
    }

    async fn list_grants(
        &self,
        filter: &GrantFilter,
        page: &Page,
    ) -> Result<Vec<Grant>, StoreError> {
        let mut w = Where::new();
        if filter.user_id.is_some() {
            w.push("user_id = {}");
        }
        if filter.client_id.is_some() {
            w.push("client_id = {}");
        }
        if page.after.is_some() {
            w.push("id > {}");
        }
        // Only our own fragments above; every value is bound below, in the same order.
        let sql = format!(
            concat!(
                "SELECT ",
                grant_columns!(),
                " FROM grants{} ORDER BY id LIMIT ${}"
            ),
            w.sql(),
            w.next_placeholder()
        );
        let mut q = sqlx::query_as::<Db, GrantRow>(sqlx::AssertSqlSafe(sql));
        if let Some(user_id) = &filter.user_id {
            q = q.bind(user_id.clone());
        }
        if let Some(client_id) = &filter.client_id {
            q = q.bind(client_id.clone());
        }
        if let Some(after) = &page.after {
            q = q.bind(after.clone());
        }
        q.bind(page_limit(page))
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(map_err)?
            .into_iter()
            .map(Grant::try_from)
            .collect()
    }

    async fn delete_grant(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let deleted = async {
            // Access tokens have no foreign key to the grant (client_credentials tokens have no
            // grant), so they are revoked explicitly; codes and refresh tokens cascade.
            sqlx::query(
                "UPDATE access_tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            let done = sqlx::query("DELETE FROM grants WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        }
        .await;
        match deleted {
            Ok(()) => tx.commit().await.map_err(map_err),
            Err(err) => {
                let _ = tx.rollback().await;
                Err(err)
            }
        }
    }
}
