//! Credentials (shared SQL, compiled into each backend).

use async_trait::async_trait;

use super::common::{Parent, explain_reference};
use super::{Backend, Db, map_err};
use crate::domain::Page;
use crate::domain::credential::{Credential, NewCredential};
use crate::domain::id::new_id;
use crate::domain::now;
use crate::store::{CredentialStore, StoreError, from_json, page_limit, to_json};

macro_rules! credential_columns {
    () => {
        "id, user_id, authority_id, authority_user_id, details, created_at, updated_at, last_used_at"
    };
}

#[derive(sqlx::FromRow)]
struct CredentialRow {
    id: String,
    user_id: String,
    authority_id: String,
    authority_user_id: String,
    details: String,
    created_at: i64,
    updated_at: i64,
    last_used_at: Option<i64>,
}

impl TryFrom<CredentialRow> for Credential {
    type Error = StoreError;

    fn try_from(row: CredentialRow) -> Result<Self, StoreError> {
        Ok(Credential {
            details: from_json(&row.details, "credentials.details")?,
            id: row.id,
            user_id: row.user_id,
            authority_id: row.authority_id,
            authority_user_id: row.authority_user_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
            last_used_at: row.last_used_at,
        })
    }
}

/// Inserts a credential (in a transaction or not) and returns it.
pub(super) async fn insert_credential<'e, E>(
    exec: E,
    credential: NewCredential,
) -> Result<Credential, StoreError>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    let at = now();
    let id = new_id();
    sqlx::query(
        "INSERT INTO credentials (id, user_id, authority_id, authority_user_id, details, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(&id)
    .bind(&credential.user_id)
    .bind(&credential.authority_id)
    .bind(&credential.authority_user_id)
    .bind(to_json(&credential.details)?)
    .bind(at)
    .execute(exec)
    .await
    .map_err(map_err)?;
    Ok(Credential {
        id,
        user_id: credential.user_id,
        authority_id: credential.authority_id,
        authority_user_id: credential.authority_user_id,
        details: credential.details,
        created_at: at,
        updated_at: at,
        last_used_at: None,
    })
}

#[async_trait]
impl CredentialStore for Backend {
    async fn create_credential(&self, credential: NewCredential) -> Result<Credential, StoreError> {
        let user_id = credential.user_id.clone();
        let authority_id = credential.authority_id.clone();
        match insert_credential(&self.pool, credential).await {
            Ok(created) => Ok(created),
            Err(err) => Err(explain_reference(
                &self.pool,
                err,
                &[(Parent::User, &user_id), (Parent::Authority, &authority_id)],
            )
            .await),
        }
    }

    async fn get_credential(&self, id: &str) -> Result<Option<Credential>, StoreError> {
        sqlx::query_as::<Db, CredentialRow>(concat!(
            "SELECT ",
            credential_columns!(),
            " FROM credentials WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .map(Credential::try_from)
        .transpose()
    }

    async fn find_credential(
        &self,
        authority_id: &str,
        authority_user_id: &str,
    ) -> Result<Option<Credential>, StoreError> {
        sqlx::query_as::<Db, CredentialRow>(concat!(
            "SELECT ",
            credential_columns!(),
            " FROM credentials WHERE authority_id = $1 AND authority_user_id = $2"
        ))
        .bind(authority_id)
        .bind(authority_user_id)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .map(Credential::try_from)
        .transpose()
    }

    async fn list_credentials_of_user(&self, user_id: &str) -> Result<Vec<Credential>, StoreError> {
        sqlx::query_as::<Db, CredentialRow>(concat!(
            "SELECT ",
            credential_columns!(),
            " FROM credentials WHERE user_id = $1 ORDER BY id"
        ))
        .bind(user_id)
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .into_iter()
        .map(Credential::try_from)
        .collect()
    }

    async fn users_with_credential_at(
        &self,
        authority_id: &str,
        page: &Page,
    ) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar::<Db, String>(
            "SELECT DISTINCT user_id FROM credentials WHERE authority_id = $1 \
             AND ($2 IS NULL OR user_id > $2) ORDER BY user_id LIMIT $3",
        )
        .bind(authority_id)
        .bind(page.after.as_deref())
        .bind(page_limit(page))
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(map_err)
    }

    async fn update_credential_details(
        &self,
        id: &str,
        details: serde_json::Value,
    ) -> Result<Credential, StoreError> {
        sqlx::query_as::<Db, CredentialRow>(concat!(
            "UPDATE credentials SET details = $2, updated_at = $3 WHERE id = $1 RETURNING ",
            credential_columns!()
        ))
        .bind(id)
        .bind(to_json(&details)?)
        .bind(now())
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)
        .and_then(Credential::try_from)
    }

    async fn touch_credential(&self, id: &str, at: i64) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE credentials SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_credential(&self, id: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM credentials WHERE id = $1")
            .bind(id)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
