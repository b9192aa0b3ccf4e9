//! Audit events: who did what to what, when, from where, with what outcome (reference §8).

use serde::{Deserialize, Serialize};

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
    /// Refused by an authorization check.
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "success" => Some(Self::Success),
            "failure" => Some(Self::Failure),
            "denied" => Some(Self::Denied),
            _ => None,
        }
    }
}

/// A stored audit event. `id` is a UUIDv7, so ids sort by time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: String,
    pub at: i64,
    /// `user`, `client`, `api_key`, `system`, `anonymous`, … (open set).
    pub actor_type: String,
    pub actor_id: Option<String>,
    /// Dotted verb, e.g. `user.create`, `login`, `token.issue`.
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub outcome: Outcome,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
}

/// What `append_audit` needs. `at` defaults to now; when given (imports, tests) the id is derived
/// from it so that id order still follows time (to the second).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEvent {
    pub at: Option<i64>,
    pub actor_type: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub outcome: Outcome,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
}

impl NewAuditEvent {
    /// A successful `action` by `actor_type`/`actor_id`, now, with nothing else set.
    pub fn new(actor_type: &str, actor_id: Option<&str>, action: &str) -> Self {
        Self {
            at: None,
            actor_type: actor_type.to_owned(),
            actor_id: actor_id.map(str::to_owned),
            action: action.to_owned(),
            target_type: None,
            target_id: None,
            outcome: Outcome::Success,
            ip: None,
            user_agent: None,
            request_id: None,
            details: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// The same event about `target_type`/`target_id`.
    pub fn target(mut self, target_type: &str, target_id: &str) -> Self {
        self.target_type = Some(target_type.to_owned());
        self.target_id = Some(target_id.to_owned());
        self
    }
}

/// Filters for listing audit events; all given filters must match. `from` is inclusive, `to`
/// exclusive (unix seconds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor_id: Option<String>,
    pub target_id: Option<String>,
    pub action: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}
