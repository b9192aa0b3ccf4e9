//! Clients and their secrets (shared SQL, compiled into each backend).

use async_trait::async_trait;

use super::common::{Parent, explain_reference};
use super::{Backend, Db, map_err};
use crate::domain::Page;
use crate::domain::client::{
    Client, ClientPatch, ClientSecret, ClientType, InitialClientSecret, NewClient, NewClientSecret,
};
use crate::domain::id::new_id;
use crate::domain::now;
use crate::domain::signing_key::SigningAlg;
use crate::store::{ClientStore, StoreError, from_json, page_limit, to_json};

macro_rules! client_columns {
    () => {
        "id, name, type AS client_type, redirect_uris, post_logout_redirect_uris, scopes, trusted, \
         enabled, machine_user_id, id_token_alg, created_at, updated_at"
    };
}

macro_rules! secret_columns {
    () => {
        "id, client_id, description, created_at, expires_at, last_used_at"
    };
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    id: String,
    name: String,
    client_type: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    scopes: String,
    trusted: bool,
    enabled: bool,
    machine_user_id: Option<String>,
    id_token_alg: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;

    fn try_from(row: ClientRow) -> Result<Self, StoreError> {
        Ok(Client {
            client_type: ClientType::parse(&row.client_type)
                .ok_or_else(|| StoreError::Corrupt("unknown clients.type".to_owned()))?,
            redirect_uris: from_json(&row.redirect_uris, "clients.redirect_uris")?,
            post_logout_redirect_uris: from_json(
                &row.post_logout_redirect_uris,
                "clients.post_logout_redirect_uris",
            )?,
            scopes: from_json(&row.scopes, "clients.scopes")?,
            id: row.id,
            name: row.name,
            trusted: row.trusted,
            enabled: row.enabled,
            machine_user_id: row.machine_user_id,
            id_token_alg: row
                .id_token_alg
                .as_deref()
                .map(|a| {
                    SigningAlg::parse(a).ok_or_else(|| {
                        StoreError::Corrupt("unknown clients.id_token_alg".to_owned())
                    })
                })
                .transpose()?,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SecretRow {
    id: String,
    client_id: String,
    description: Option<String>,
    created_at: i64,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
}

impl From<SecretRow> for ClientSecret {
    fn from(row: SecretRow) -> Self {
        ClientSecret {
            id: row.id,
            client_id: row.client_id,
            description: row.description,
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
        }
    }
}

/// Inserts a secret (in a transaction or not) and returns its metadata.
async fn insert_secret<'e, E>(exec: E, secret: NewClientSecret) -> Result<ClientSecret, StoreError>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    let at = now();
    let id = new_id();
    sqlx::query(
        "INSERT INTO client_secrets (id, client_id, secret_hash, description, created_at, \
         expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(&secret.client_id)
    .bind(&secret.secret_hash)
    .bind(&secret.description)
    .bind(at)
    .bind(secret.expires_at)
    .execute(exec)
    .await
    .map_err(map_err)?;
    Ok(ClientSecret {
        id,
        client_id: secret.client_id,
        description: secret.description,
        created_at: at,
        expires_at: secret.expires_at,
        last_used_at: None,
    })
}

#[async_trait]
impl ClientStore for Backend {
    async fn create_client(
        &self,
        client: NewClient,
        secret: Option<InitialClientSecret>,
    ) -> Result<(Client, Option<ClientSecret>), StoreError> {
        let at = now();
        let machine_user_id = client.machine_user_id.clone();
        let mut tx = self.begin().await?;
        let written = async {
            sqlx::query(
                "INSERT INTO clients (id, name, type, redirect_uris, post_logout_redirect_uris, \
                 scopes, trusted, enabled, machine_user_id, id_token_alg, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $11, $10, $10)",
            )
            .bind(&client.id)
            .bind(&client.name)
            .bind(client.client_type.as_str())
            .bind(to_json(&client.redirect_uris)?)
            .bind(to_json(&client.post_logout_redirect_uris)?)
            .bind(to_json(&client.scopes)?)
            .bind(client.trusted)
            .bind(client.enabled)
            .bind(&client.machine_user_id)
            .bind(at)
            .bind(client.id_token_alg.map(SigningAlg::as_str))
            .execute(&mut *tx)
            .await
            .map_err(|e| match map_err(e) {
                StoreError::Conflict(c) => {
                    StoreError::Conflict(c.saying(format!("client '{}' already exists", client.id)))
                }
                other => other,
            })?;
            let secret = match secret {
                Some(secret) => Some(insert_secret(&mut *tx, secret.for_client(&client.id)).await?),
                None => None,
            };
            Ok::<_, StoreError>(secret)
        }
        .await;
        match written {
            Ok(secret) => {
                tx.commit().await.map_err(map_err)?;
                let created = Client {
                    id: client.id,
                    name: client.name,
                    client_type: client.client_type,
                    redirect_uris: client.redirect_uris,
                    post_logout_redirect_uris: client.post_logout_redirect_uris,
                    scopes: client.scopes,
                    trusted: client.trusted,
                    enabled: client.enabled,
                    machine_user_id: client.machine_user_id,
                    id_token_alg: client.id_token_alg,
                    created_at: at,
                    updated_at: at,
                };
                Ok((created, secret))
            }
            Err(err) => {
                // Nothing was written; the rollback error (if any) is less interesting than `err`.
                let _ = tx.rollback().await;
                match machine_user_id {
                    Some(user_id) => {
                        Err(explain_reference(&self.pool, err, &[(Parent::User, &user_id)]).await)
                    }
                    None => Err(err),
                }
            }
        }
    }

    async fn get_client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        sqlx::query_as::<Db, ClientRow>(concat!(
            "SELECT ",
            client_columns!(),
            " FROM clients WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .map(Client::try_from)
        .transpose()
    }

    async fn list_clients(&self, page: &Page) -> Result<Vec<Client>, StoreError> {
        sqlx::query_as::<Db, ClientRow>(concat!(
            "SELECT ",
            client_columns!(),
            " FROM clients WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2"
        ))
        .bind(page.after.as_deref())
        .bind(page_limit(page))
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .into_iter()
        .map(Client::try_from)
        .collect()
    }

    async fn update_client(&self, id: &str, patch: ClientPatch) -> Result<Client, StoreError> {
        // One statement, so no read-modify-write race: each field is either kept or replaced.
        let redirect_uris = patch.redirect_uris.as_ref().map(to_json).transpose()?;
        let post_logout = patch
            .post_logout_redirect_uris
            .as_ref()
            .map(to_json)
            .transpose()?;
        let scopes = patch.scopes.as_ref().map(to_json).transpose()?;
        let machine_user = patch.machine_user_id.clone().flatten();
        let updated = sqlx::query_as::<Db, ClientRow>(concat!(
            "UPDATE clients SET name = COALESCE($2, name), type = COALESCE($3, type), ",
            "redirect_uris = COALESCE($4, redirect_uris), ",
            "post_logout_redirect_uris = COALESCE($5, post_logout_redirect_uris), ",
            "scopes = COALESCE($6, scopes), trusted = COALESCE($7, trusted), ",
            "enabled = COALESCE($8, enabled), ",
            "machine_user_id = CASE WHEN $9 THEN $10 ELSE machine_user_id END, ",
            "id_token_alg = CASE WHEN $12 THEN $13 ELSE id_token_alg END, ",
            "updated_at = $11 WHERE id = $1 RETURNING ",
            client_columns!()
        ))
        .bind(id)
        .bind(patch.name)
        .bind(patch.client_type.map(ClientType::as_str))
        .bind(redirect_uris)
        .bind(post_logout)
        .bind(scopes)
        .bind(patch.trusted)
        .bind(patch.enabled)
        .bind(patch.machine_user_id.is_some())
        .bind(machine_user.clone())
        .bind(now())
        .bind(patch.id_token_alg.is_some())
        .bind(patch.id_token_alg.flatten().map(SigningAlg::as_str))
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err);
        match updated {
            Ok(row) => row.ok_or(StoreError::NotFound).and_then(Client::try_from),
            Err(err) => match machine_user {
                Some(user_id) => {
                    Err(explain_reference(&self.pool, err, &[(Parent::User, &user_id)]).await)
                }
                None => Err(err),
            },
        }
    }

    async fn delete_client(&self, id: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM clients WHERE id = $1")
            .bind(id)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn add_client_secret(&self, secret: NewClientSecret) -> Result<ClientSecret, StoreError> {
        let client_id = secret.client_id.clone();
        match insert_secret(&self.pool, secret).await {
            Ok(created) => Ok(created),
            Err(err) => {
                Err(explain_reference(&self.pool, err, &[(Parent::Client, &client_id)]).await)
            }
        }
    }

    async fn list_client_secrets(&self, client_id: &str) -> Result<Vec<ClientSecret>, StoreError> {
        Ok(sqlx::query_as::<Db, SecretRow>(concat!(
            "SELECT ",
            secret_columns!(),
            " FROM client_secrets WHERE client_id = $1 ORDER BY id"
        ))
        .bind(client_id)
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .into_iter()
        .map(ClientSecret::from)
        .collect())
    }

    async fn delete_client_secret(
        &self,
        client_id: &str,
        secret_id: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM client_secrets WHERE id = $1 AND client_id = $2")
            .bind(secret_id)
            .bind(client_id)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn rotate_client_secret(
        &self,
        secret: NewClientSecret,
        retire_others_at: i64,
    ) -> Result<ClientSecret, StoreError> {
        let client_id = secret.client_id.clone();
        let mut tx = self.begin().await?;
        let written = async {
            let created = insert_secret(&mut *tx, secret).await?;
            sqlx::query(
                "UPDATE client_secrets SET expires_at = $3 WHERE client_id = $1 AND id <> $2 \
                 AND (expires_at IS NULL OR expires_at > $3)",
            )
            .bind(&created.client_id)
            .bind(&created.id)
            .bind(retire_others_at)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            Ok::<_, StoreError>(created)
        }
        .await;
        match written {
            Ok(created) => {
                tx.commit().await.map_err(map_err)?;
                Ok(created)
            }
            Err(err) => {
                let _ = tx.rollback().await;
                Err(explain_reference(&self.pool, err, &[(Parent::Client, &client_id)]).await)
            }
        }
    }

    async fn authenticate_client(
        &self,
        client_id: &str,
        secret_hash: &str,
        now: i64,
    ) -> Result<Option<Client>, StoreError> {
        // The secret is found through its UNIQUE index, then checked against the client id.
        sqlx::query_as::<Db, ClientRow>(concat!(
            "SELECT ",
            client_columns!(),
            " FROM clients WHERE id = (SELECT s.client_id FROM client_secrets s ",
            "WHERE s.secret_hash = $2 AND s.client_id = $1 ",
            "AND (s.expires_at IS NULL OR s.expires_at > $3))"
        ))
        .bind(client_id)
        .bind(secret_hash)
        .bind(now)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .map(Client::try_from)
        .transpose()
    }

    async fn touch_client_secret_by_hash(
        &self,
        secret_hash: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE client_secrets SET last_used_at = $2 WHERE secret_hash = $1")
                .bind(secret_hash)
                .bind(at)
                .execute(&mut *self.conn().await?)
                .await
                .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
