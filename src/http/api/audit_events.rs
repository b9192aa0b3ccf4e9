//! `/api/v1/audit-events`: who did what to what, when (reference §8). Needs `AuthX:audit:read`.

use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use serde_json::Value;

use crate::domain::audit::{AuditEvent, AuditFilter, Outcome};
use crate::engine::Engine;
use crate::engine::admin::audit_events;
use crate::http::api::common::{Tag, page, parse_timestamp, timestamp};
use crate::http::api::error::ApiError;
use crate::http::api::security::BearerAuth;

/// How an audited action ended.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum OutcomeDto {
    /// It happened.
    Success,
    /// It failed (bad credentials, invalid input…).
    Failure,
    /// An authorization check refused it.
    Denied,
}

/// One audit event.
#[derive(Object, Debug, Clone)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct AuditEventDto {
    /// Id (UUIDv7: sorts by time).
    pub id: String,
    /// When (RFC 3339).
    pub at: String,
    /// `user`, `client`, `system`, `anonymous`, …
    pub actor_type: String,
    /// The acting user or client, if known.
    pub actor_id: Option<String>,
    /// Dotted verb: `client.create`, `login`, `token.issue`, …
    pub action: String,
    /// Kind of the thing acted on.
    pub target_type: Option<String>,
    /// Id of the thing acted on.
    pub target_id: Option<String>,
    /// How it ended.
    pub outcome: OutcomeDto,
    /// Client IP address.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Request id (correlates with the logs).
    pub request_id: Option<String>,
    /// Action-specific details.
    pub details: Value,
}

/// A page of audit events, newest first.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct AuditEventList {
    /// The events of this page.
    pub items: Vec<AuditEventDto>,
    /// Pass as `cursor` to get the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The audit events resource.
pub struct AuditEventsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Audit")]
impl AuditEventsApi {
    /// List audit events, newest first, filtered and paginated (`audit:read`).
    #[oai(
        path = "/audit-events",
        method = "get",
        operation_id = "listAuditEvents"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        /// Only events by this actor (user or client id).
        actor: Query<Option<String>>,
        /// Only events about this target id.
        target: Query<Option<String>>,
        /// Only this action (exact, e.g. `client.create`).
        action: Query<Option<String>>,
        /// Only events at or after this time (RFC 3339).
        from: Query<Option<String>>,
        /// Only events before this time (RFC 3339).
        to: Query<Option<String>>,
        /// Page size, 1–100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<AuditEventList>, ApiError> {
        let time = |field: &str, value: Option<String>| -> Result<Option<i64>, ApiError> {
            value
                .map(|v| {
                    parse_timestamp(&v).ok_or_else(|| {
                        ApiError::invalid_field(
                            field,
                            "must be an RFC 3339 timestamp (2026-01-31T12:00:00Z)",
                        )
                    })
                })
                .transpose()
        };
        let filter = AuditFilter {
            actor_id: actor.0,
            target_id: target.0,
            action: action.0,
            from: time("from", from.0)?,
            to: time("to", to.0)?,
        };
        let page = page(limit.0, cursor.0);
        let (events, next) = audit_events::list(&state, &auth.0, &filter, &page).await?;
        Ok(Json(AuditEventList {
            items: events.into_iter().map(event_to_dto).collect(),
            next_cursor: next,
        }))
    }
}

/// A stored audit event as the API shows it.
pub fn event_to_dto(e: AuditEvent) -> AuditEventDto {
    AuditEventDto {
        id: e.id,
        at: timestamp(e.at),
        actor_type: e.actor_type,
        actor_id: e.actor_id,
        action: e.action,
        target_type: e.target_type,
        target_id: e.target_id,
        outcome: match e.outcome {
            Outcome::Success => OutcomeDto::Success,
            Outcome::Failure => OutcomeDto::Failure,
            Outcome::Denied => OutcomeDto::Denied,
        },
        ip: e.ip,
        user_agent: e.user_agent,
        request_id: e.request_id,
        details: e.details,
    }
}
