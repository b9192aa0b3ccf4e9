//! Authorities (shared SQL, compiled into each backend).

use async_trait::async_trait;

use super::sealing::{open_details, seal_details};
use super::{Backend, Db, map_err};
use crate::domain::authority::{Authority, AuthorityPatch, NewAuthority, Strategy};
use crate::domain::now;
use crate::store::{AuthorityStore, StoreError, from_json, to_json};

macro_rules! authority_columns {
    () => {
        "id, strategy, name, enabled, details, created_at, updated_at"
    };
}

#[derive(sqlx::FromRow)]
struct AuthorityRow {
    id: String,
    strategy: String,
    name: String,
    enabled: bool,
    details: String,
    created_at: i64,
    updated_at: i64,
}

impl Backend {
    /// The authority of `row`, its secret settings opened.
    fn authority(&self, row: AuthorityRow) -> Result<Authority, StoreError> {
        let strategy = Strategy::parse(&row.strategy)
            .ok_or_else(|| StoreError::Corrupt("unknown authorities.strategy".to_owned()))?;
        let details = from_json(&row.details, "authorities.details")?;
        Ok(Authority {
            details: open_details(&self.sealer, &row.id, strategy, details)?,
            strategy,
            id: row.id,
            name: row.name,
            enabled: row.enabled,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[async_trait]
impl AuthorityStore for Backend {
    async fn create_authority(&self, authority: NewAuthority) -> Result<Authority, StoreError> {
        let at = now();
        sqlx::query(
            "INSERT INTO authorities (id, strategy, name, enabled, details, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(&authority.id)
        .bind(authority.strategy.as_str())
        .bind(&authority.name)
        .bind(authority.enabled)
        .bind(to_json(&seal_details(
            &self.sealer,
            &authority.id,
            authority.strategy,
            &authority.details,
        )?)?)
        .bind(at)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(|e| match map_err(e) {
            StoreError::Conflict(c) => StoreError::Conflict(
                c.saying(format!("authority '{}' already exists", authority.id)),
            ),
            other => other,
        })?;
        Ok(Authority {
            id: authority.id,
            strategy: authority.strategy,
            name: authority.name,
            enabled: authority.enabled,
            details: authority.details,
            created_at: at,
            updated_at: at,
        })
    }

    async fn get_authority(&self, id: &str) -> Result<Option<Authority>, StoreError> {
        sqlx::query_as::<Db, AuthorityRow>(concat!(
            "SELECT ",
            authority_columns!(),
            " FROM authorities WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .map(|row| self.authority(row))
        .transpose()
    }

    async fn list_authorities(&self) -> Result<Vec<Authority>, StoreError> {
        sqlx::query_as::<Db, AuthorityRow>(concat!(
            "SELECT ",
            authority_columns!(),
            " FROM authorities ORDER BY id"
        ))
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .into_iter()
        .map(|row| self.authority(row))
        .collect()
    }

    async fn update_authority(
        &self,
        id: &str,
        patch: AuthorityPatch,
    ) -> Result<Authority, StoreError> {
        // The strategy decides which members are sealed; it never changes.
        let details = match &patch.details {
            Some(details) => {
                let strategy = self
                    .get_authority(id)
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .strategy;
                Some(to_json(&seal_details(
                    &self.sealer,
                    id,
                    strategy,
                    details,
                )?)?)
            }
            None => None,
        };
        sqlx::query_as::<Db, AuthorityRow>(concat!(
            "UPDATE authorities SET name = COALESCE($2, name), enabled = COALESCE($3, enabled), ",
            "details = COALESCE($4, details), updated_at = $5 WHERE id = $1 RETURNING ",
            authority_columns!()
        ))
        .bind(id)
        .bind(patch.name)
        .bind(patch.enabled)
        .bind(details)
        .bind(now())
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)
        .and_then(|row| self.authority(row))
    }

    async fn delete_authority(&self, id: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM authorities WHERE id = $1")
            .bind(id)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(|e| match map_err(e) {
                StoreError::Reference(_) => {
                    StoreError::Reference(format!("authority '{id}' still has credentials"))
                }
                other => other,
            })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
