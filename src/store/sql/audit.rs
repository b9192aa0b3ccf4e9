//! Audit events (shared SQL, compiled into each backend).

use async_trait::async_trait;

use super::{Backend, Db, map_err};
use crate::domain::Page;
use crate::domain::audit::{AuditEvent, AuditFilter, NewAuditEvent, Outcome};
use crate::domain::id::{id_at, new_id};
use crate::domain::now;
use crate::store::{AuditStore, StoreError, Where, from_json, page_limit, to_json};

macro_rules! audit_columns {
    () => {
        "id, at, actor_type, actor_id, action, target_type, target_id, outcome, ip, user_agent, \
         request_id, details"
    };
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: String,
    at: i64,
    actor_type: String,
    actor_id: Option<String>,
    action: String,
    target_type: Option<String>,
    target_id: Option<String>,
    outcome: String,
    ip: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    details: String,
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = StoreError;

    fn try_from(row: AuditRow) -> Result<Self, StoreError> {
        Ok(AuditEvent {
            outcome: Outcome::parse(&row.outcome)
                .ok_or_else(|| StoreError::Corrupt("unknown audit_events.outcome".to_owned()))?,
            details: from_json(&row.details, "audit_events.details")?,
            id: row.id,
            at: row.at,
            actor_type: row.actor_type,
            actor_id: row.actor_id,
            action: row.action,
            target_type: row.target_type,
            target_id: row.target_id,
            ip: row.ip,
            user_agent: row.user_agent,
            request_id: row.request_id,
        })
    }
}

/// Appends `event` on `conn` (a pooled connection, or inside a transaction whose writes it
/// audits).
pub(super) async fn insert_audit(
    conn: &mut <Db as sqlx::Database>::Connection,
    event: NewAuditEvent,
) -> Result<AuditEvent, StoreError> {
    let (id, at) = match event.at {
        None => (new_id(), now()),
        Some(at) => (id_at(at), at),
    };
    sqlx::query(concat!(
        "INSERT INTO audit_events (",
        audit_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(&id)
    .bind(at)
    .bind(&event.actor_type)
    .bind(&event.actor_id)
    .bind(&event.action)
    .bind(&event.target_type)
    .bind(&event.target_id)
    .bind(event.outcome.as_str())
    .bind(&event.ip)
    .bind(&event.user_agent)
    .bind(&event.request_id)
    .bind(to_json(&event.details)?)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(AuditEvent {
        id,
        at,
        actor_type: event.actor_type,
        actor_id: event.actor_id,
        action: event.action,
        target_type: event.target_type,
        target_id: event.target_id,
        outcome: event.outcome,
        ip: event.ip,
        user_agent: event.user_agent,
        request_id: event.request_id,
        details: event.details,
    })
}

#[async_trait]
impl AuditStore for Backend {
    async fn append_audit(&self, event: NewAuditEvent) -> Result<AuditEvent, StoreError> {
        insert_audit(&mut *self.conn().await?, event).await
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: &Page,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let mut w = Where::new();
        if filter.actor_id.is_some() {
            w.push("actor_id = {}");
        }
        if filter.target_id.is_some() {
            w.push("target_id = {}");
        }
        if filter.action.is_some() {
            w.push("action = {}");
        }
        if filter.from.is_some() {
            w.push("at >= {}");
        }
        if filter.to.is_some() {
            w.push("at < {}");
        }
        if page.after.is_some() {
            w.push("id < {}");
        }
        // Only our own fragments above; every value is bound below, in the same order.
        let sql = format!(
            concat!(
                "SELECT ",
                audit_columns!(),
                " FROM audit_events{} ORDER BY id DESC LIMIT ${}"
            ),
            w.sql(),
            w.next_placeholder()
        );
        let mut q = sqlx::query_as::<Db, AuditRow>(sqlx::AssertSqlSafe(sql));
        for value in [&filter.actor_id, &filter.target_id, &filter.action]
            .into_iter()
            .flatten()
        {
            q = q.bind(value.clone());
        }
        for value in [filter.from, filter.to].into_iter().flatten() {
            q = q.bind(value);
        }
        if let Some(after) = &page.after {
            q = q.bind(after.clone());
        }
        q.bind(page_limit(page))
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(map_err)?
            .into_iter()
            .map(AuditEvent::try_from)
            .collect()
    }
}
