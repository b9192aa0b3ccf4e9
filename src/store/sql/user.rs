//! Users (shared SQL, compiled into each backend).

use async_trait::async_trait;

use super::common::{Parent, explain_reference};
use super::{Backend, Db, map_err};
use crate::domain::Page;
use crate::domain::credential::NewUserCredential;
use crate::domain::id::new_id;
use crate::domain::now;
use crate::domain::user::{NewUser, User, UserFilter, UserKind, UserPatch, UserStatus};
use crate::store::{StoreError, UserStore, Where, from_json, like_escape, page_limit, to_json};

macro_rules! user_columns {
    () => {
        "id, kind, status, username, email, display_name, profile, created_at, updated_at"
    };
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    kind: String,
    status: String,
    username: Option<String>,
    email: Option<String>,
    display_name: Option<String>,
    profile: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self, StoreError> {
        Ok(User {
            kind: UserKind::parse(&row.kind)
                .ok_or_else(|| StoreError::Corrupt("unknown users.kind".to_owned()))?,
            status: UserStatus::parse(&row.status)
                .ok_or_else(|| StoreError::Corrupt("unknown users.status".to_owned()))?,
            profile: from_json(&row.profile, "users.profile")?,
            id: row.id,
            username: row.username,
            email: row.email,
            display_name: row.display_name,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Inserts a user (in a transaction or not) and returns it.
async fn insert_user<'e, E>(exec: E, user: NewUser) -> Result<User, StoreError>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    let at = now();
    let id = new_id();
    let email = user.email.map(|e| crate::address::fold(&e));
    sqlx::query(
        "INSERT INTO users (id, kind, status, username, email, display_name, profile, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(&id)
    .bind(user.kind.as_str())
    .bind(user.status.as_str())
    .bind(&user.username)
    .bind(&email)
    .bind(&user.display_name)
    .bind(to_json(&user.profile)?)
    .bind(at)
    .execute(exec)
    .await
    .map_err(map_err)?;
    Ok(User {
        id,
        kind: user.kind,
        status: user.status,
        username: user.username,
        email,
        display_name: user.display_name,
        profile: user.profile,
        created_at: at,
        updated_at: at,
    })
}

#[async_trait]
impl UserStore for Backend {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        insert_user(&self.pool, user).await
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        sqlx::query_as::<Db, UserRow>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .map(User::try_from)
        .transpose()
    }

    async fn find_user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        sqlx::query_as::<Db, UserRow>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .map(User::try_from)
        .transpose()
    }

    async fn update_user(&self, id: &str, patch: UserPatch) -> Result<User, StoreError> {
        // One statement, so no read-modify-write race: each field is either kept or replaced.
        let profile = patch.profile.as_ref().map(to_json).transpose()?;
        let email = patch.email.map(|e| e.map(|e| crate::address::fold(&e)));
        sqlx::query_as::<Db, UserRow>(concat!(
            "UPDATE users SET status = COALESCE($2, status), ",
            "username = CASE WHEN $3 THEN $4 ELSE username END, ",
            "email = CASE WHEN $5 THEN $6 ELSE email END, ",
            "display_name = CASE WHEN $7 THEN $8 ELSE display_name END, ",
            "profile = COALESCE($9, profile), updated_at = $10 ",
            "WHERE id = $1 RETURNING ",
            user_columns!()
        ))
        .bind(id)
        .bind(patch.status.map(UserStatus::as_str))
        .bind(patch.username.is_some())
        .bind(patch.username.flatten())
        .bind(email.is_some())
        .bind(email.flatten())
        .bind(patch.display_name.is_some())
        .bind(patch.display_name.flatten())
        .bind(profile)
        .bind(now())
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)
        .and_then(User::try_from)
    }

    async fn delete_user(&self, id: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn list_users(&self, filter: &UserFilter, page: &Page) -> Result<Vec<User>, StoreError> {
        let mut w = Where::new();
        let email = filter.email.as_ref().map(|e| crate::address::fold(e));
        let name = filter
            .name
            .as_ref()
            .map(|n| format!("%{}%", like_escape(&n.to_lowercase())));
        if filter.id.is_some() {
            w.push("id = {}");
        }
        if email.is_some() {
            w.push(
                "(email = {} OR EXISTS (SELECT 1 FROM credentials c JOIN authorities a \
                 ON a.id = c.authority_id WHERE c.user_id = users.id AND a.strategy = 'email' \
                 AND c.authority_user_id = {}))",
            );
        }
        if filter.username.is_some() {
            w.push("username = {}");
        }
        if name.is_some() {
            w.push(
                "(LOWER(display_name) LIKE {} ESCAPE '\\' OR LOWER(username) LIKE {} ESCAPE '\\')",
            );
        }
        if filter.status.is_some() {
            w.push("status = {}");
        }
        if filter.role_id.is_some() {
            w.push(
                "EXISTS (SELECT 1 FROM role_members m WHERE m.role_id = {} AND m.user_id = users.id)",
            );
        }
        if page.after.is_some() {
            w.push("id > {}");
        }
        // Only our own fragments above; every value is bound below, in the same order.
        let sql = format!(
            concat!(
                "SELECT ",
                user_columns!(),
                " FROM users{} ORDER BY id LIMIT ${}"
            ),
            w.sql(),
            w.next_placeholder()
        );
        let mut q = sqlx::query_as::<Db, UserRow>(sqlx::AssertSqlSafe(sql));
        if let Some(id) = &filter.id {
            q = q.bind(id.clone());
        }
        if let Some(email) = email {
            q = q.bind(email);
        }
        if let Some(username) = &filter.username {
            q = q.bind(username.clone());
        }
        if let Some(name) = name {
            q = q.bind(name);
        }
        if let Some(status) = filter.status {
            q = q.bind(status.as_str());
        }
        if let Some(role_id) = &filter.role_id {
            q = q.bind(role_id.clone());
        }
        if let Some(after) = &page.after {
            q = q.bind(after.clone());
        }
        q.bind(page_limit(page))
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(map_err)?
            .into_iter()
            .map(User::try_from)
            .collect()
    }

    async fn create_user_with_credentials(
        &self,
        user: NewUser,
        credentials: Vec<NewUserCredential>,
        role_ids: Vec<String>,
    ) -> Result<User, StoreError> {
        let mut candidates: Vec<(Parent, String)> = credentials
            .iter()
            .map(|c| (Parent::Authority, c.authority_id.clone()))
            .collect();
        candidates.extend(role_ids.iter().map(|r| (Parent::Role, r.clone())));

        let mut tx = self.begin().await?;
        let written = async {
            let created = insert_user(&mut *tx, user).await?;
            for credential in credentials {
                super::credential::insert_credential(&mut *tx, credential.for_user(&created.id))
                    .await?;
            }
            for role_id in &role_ids {
                super::role::insert_member(&mut *tx, role_id, &created.id).await?;
            }
            Ok::<_, StoreError>(created)
        }
        .await;
        match written {
            Ok(created) => {
                tx.commit().await.map_err(map_err)?;
                Ok(created)
            }
            Err(err) => {
                // Nothing was written; the rollback error (if any) is less interesting than `err`.
                let _ = tx.rollback().await;
                let candidates: Vec<(Parent, &str)> =
                    candidates.iter().map(|(p, id)| (*p, id.as_str())).collect();
                Err(explain_reference(&self.pool, err, &candidates).await)
            }
        }
    }
}
