//! Roles, their patterns and members, and the access query (shared SQL, compiled into each backend).

use async_trait::async_trait;

use super::common::{Parent, explain_reference};
use super::{Backend, Db, map_err};
use crate::domain::Page;
use crate::domain::now;
use crate::domain::role::{NewRole, Role, RolePatch, UserAccess};
use crate::domain::user::UserStatus;
use crate::store::{RoleStore, StoreError, page_limit};

/// Selects roles (the subquery `$roles`, which must yield whole `roles` rows) joined with all their
/// patterns, one row per pattern (or one row with NULL pattern for a role without any), so a role
/// and its lists come in one consistent read.
macro_rules! roles_with_patterns {
    ($roles:literal) => {
        concat!(
            "SELECT r.id, r.name, r.description, r.is_default, r.enabled, r.created_at, ",
            "r.updated_at, p.kind, p.pattern FROM (",
            $roles,
            ") r LEFT JOIN (",
            "SELECT role_id, 'scope' AS kind, pattern FROM role_scopes ",
            "UNION ALL SELECT role_id, 'deny' AS kind, pattern FROM role_deny",
            ") p ON p.role_id = r.id ORDER BY r.id"
        )
    };
}

#[derive(sqlx::FromRow)]
struct RolePatternRow {
    id: String,
    name: String,
    description: Option<String>,
    is_default: bool,
    enabled: bool,
    created_at: i64,
    updated_at: i64,
    kind: Option<String>,
    pattern: Option<String>,
}

/// Folds rows ordered by role id into roles with sorted, de-duplicated pattern lists.
fn fold_roles(rows: Vec<RolePatternRow>) -> Result<Vec<Role>, StoreError> {
    let mut roles: Vec<Role> = Vec::new();
    for row in rows {
        let same = roles.last().is_some_and(|r| r.id == row.id);
        if !same {
            roles.push(Role {
                id: row.id,
                name: row.name,
                description: row.description,
                is_default: row.is_default,
                enabled: row.enabled,
                scopes: Vec::new(),
                deny: Vec::new(),
                created_at: row.created_at,
                updated_at: row.updated_at,
            });
        }
        let Some(role) = roles.last_mut() else {
            continue;
        };
        match (row.kind.as_deref(), row.pattern) {
            (Some("scope"), Some(p)) => role.scopes.push(p),
            (Some("deny"), Some(p)) => role.deny.push(p),
            (None, None) => {}
            _ => {
                return Err(StoreError::Corrupt(
                    "unexpected role pattern row".to_owned(),
                ));
            }
        }
    }
    for role in &mut roles {
        sort_dedup(&mut role.scopes);
        sort_dedup(&mut role.deny);
    }
    Ok(roles)
}

/// Byte order, no duplicates: deterministic on both backends whatever the database collation.
fn sort_dedup(v: &mut Vec<String>) {
    v.sort_unstable();
    v.dedup();
}

async fn fetch_role<'e, E>(exec: E, id: &str) -> Result<Option<Role>, StoreError>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    let rows = sqlx::query_as::<Db, RolePatternRow>(roles_with_patterns!(
        "SELECT * FROM roles WHERE id = $1"
    ))
    .bind(id)
    .fetch_all(exec)
    .await
    .map_err(map_err)?;
    Ok(fold_roles(rows)?.into_iter().next())
}

/// Writes the pattern rows of a role (the caller has deleted old ones if needed).
async fn insert_patterns(
    tx: &mut sqlx::Transaction<'static, Db>,
    role_id: &str,
    scopes: &[String],
    deny: &[String],
) -> Result<(), StoreError> {
    for pattern in scopes {
        sqlx::query("INSERT INTO role_scopes (role_id, pattern) VALUES ($1, $2)")
            .bind(role_id)
            .bind(pattern)
            .execute(&mut **tx)
            .await
            .map_err(map_err)?;
    }
    for pattern in deny {
        sqlx::query("INSERT INTO role_deny (role_id, pattern) VALUES ($1, $2)")
            .bind(role_id)
            .bind(pattern)
            .execute(&mut **tx)
            .await
            .map_err(map_err)?;
    }
    Ok(())
}

/// Adds an explicit membership; a membership that exists already is left as it is.
pub(super) async fn insert_member<'e, E>(
    exec: E,
    role_id: &str,
    user_id: &str,
) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query(
        "INSERT INTO role_members (role_id, user_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (role_id, user_id) DO NOTHING",
    )
    .bind(role_id)
    .bind(user_id)
    .bind(now())
    .execute(exec)
    .await
    .map_err(map_err)?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct AccessRow {
    status: String,
    kind: Option<String>,
    pattern: Option<String>,
}

#[async_trait]
impl RoleStore for Backend {
    async fn create_role(&self, role: NewRole) -> Result<Role, StoreError> {
        let mut scopes = role.scopes;
        let mut deny = role.deny;
        sort_dedup(&mut scopes);
        sort_dedup(&mut deny);
        let at = now();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO roles (id, name, description, is_default, enabled, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(&role.id)
        .bind(&role.name)
        .bind(&role.description)
        .bind(role.is_default)
        .bind(role.enabled)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(|e| match map_err(e) {
            StoreError::Conflict(c) => {
                StoreError::Conflict(c.saying(format!("role '{}' already exists", role.id)))
            }
            other => other,
        })?;
        insert_patterns(&mut tx, &role.id, &scopes, &deny).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(Role {
            id: role.id,
            name: role.name,
            description: role.description,
            is_default: role.is_default,
            enabled: role.enabled,
            scopes,
            deny,
            created_at: at,
            updated_at: at,
        })
    }

    async fn get_role(&self, id: &str) -> Result<Option<Role>, StoreError> {
        fetch_role(&self.pool, id).await
    }

    async fn list_roles(&self, page: &Page) -> Result<Vec<Role>, StoreError> {
        let rows = sqlx::query_as::<Db, RolePatternRow>(roles_with_patterns!(
            "SELECT * FROM roles WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2"
        ))
        .bind(page.after.as_deref())
        .bind(page_limit(page))
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(map_err)?;
        fold_roles(rows)
    }

    async fn update_role(&self, id: &str, patch: RolePatch) -> Result<Role, StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE roles SET name = COALESCE($2, name), \
             description = CASE WHEN $3 THEN $4 ELSE description END, \
             is_default = COALESCE($5, is_default), enabled = COALESCE($6, enabled), \
             updated_at = $7 WHERE id = $1",
        )
        .bind(id)
        .bind(&patch.name)
        .bind(patch.description.is_some())
        .bind(patch.description.flatten())
        .bind(patch.is_default)
        .bind(patch.enabled)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        if let Some(mut scopes) = patch.scopes {
            sort_dedup(&mut scopes);
            sqlx::query("DELETE FROM role_scopes WHERE role_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            insert_patterns(&mut tx, id, &scopes, &[]).await?;
        }
        if let Some(mut deny) = patch.deny {
            sort_dedup(&mut deny);
            sqlx::query("DELETE FROM role_deny WHERE role_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            insert_patterns(&mut tx, id, &[], &deny).await?;
        }
        let role = fetch_role(&mut *tx, id)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await.map_err(map_err)?;
        Ok(role)
    }

    async fn delete_role(&self, id: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM roles WHERE id = $1")
            .bind(id)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn add_role_member(&self, role_id: &str, user_id: &str) -> Result<(), StoreError> {
        match insert_member(&self.pool, role_id, user_id).await {
            Ok(()) => Ok(()),
            Err(err) => Err(explain_reference(
                &self.pool,
                err,
                &[(Parent::Role, role_id), (Parent::User, user_id)],
            )
            .await),
        }
    }

    async fn remove_role_member(&self, role_id: &str, user_id: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM role_members WHERE role_id = $1 AND user_id = $2")
            .bind(role_id)
            .bind(user_id)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn list_role_members(
        &self,
        role_id: &str,
        page: &Page,
    ) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar::<Db, String>(
            "SELECT user_id FROM role_members WHERE role_id = $1 AND ($2 IS NULL OR user_id > $2) \
             ORDER BY user_id LIMIT $3",
        )
        .bind(role_id)
        .bind(page.after.as_deref())
        .bind(page_limit(page))
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(map_err)
    }

    async fn roles_of_user(&self, user_id: &str) -> Result<Vec<Role>, StoreError> {
        let rows = sqlx::query_as::<Db, RolePatternRow>(roles_with_patterns!(
            "SELECT * FROM roles WHERE id IN (SELECT role_id FROM role_members WHERE user_id = $1)"
        ))
        .bind(user_id)
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(map_err)?;
        fold_roles(rows)
    }

    async fn access_of_user(&self, user_id: &str) -> Result<Option<UserAccess>, StoreError> {
        // One round trip: the user row, left-joined with the patterns of every enabled role that
        // is default or has the user as a member (no pattern rows: one row with NULLs).
        let rows = sqlx::query_as::<Db, AccessRow>(
            "SELECT u.status, p.kind, p.pattern FROM users u LEFT JOIN (\
               SELECT 'scope' AS kind, s.pattern AS pattern FROM role_scopes s \
                 JOIN roles r ON r.id = s.role_id \
                 WHERE r.enabled AND (r.is_default OR EXISTS (SELECT 1 FROM role_members m \
                   WHERE m.role_id = r.id AND m.user_id = $1)) \
               UNION ALL \
               SELECT 'deny' AS kind, d.pattern AS pattern FROM role_deny d \
                 JOIN roles r ON r.id = d.role_id \
                 WHERE r.enabled AND (r.is_default OR EXISTS (SELECT 1 FROM role_members m \
                   WHERE m.role_id = r.id AND m.user_id = $1))\
             ) p ON TRUE WHERE u.id = $1",
        )
        .bind(user_id)
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(map_err)?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let status = UserStatus::parse(&first.status)
            .ok_or_else(|| StoreError::Corrupt("unknown users.status".to_owned()))?;
        let mut access = UserAccess {
            status,
            scopes: Vec::new(),
            deny: Vec::new(),
        };
        for row in rows {
            match (row.kind.as_deref(), row.pattern) {
                (Some("scope"), Some(p)) => access.scopes.push(p),
                (Some("deny"), Some(p)) => access.deny.push(p),
                (None, None) => {}
                _ => return Err(StoreError::Corrupt("unexpected access row".to_owned())),
            }
        }
        sort_dedup(&mut access.scopes);
        sort_dedup(&mut access.deny);
        Ok(Some(access))
    }
}
