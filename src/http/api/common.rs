//! Small pieces every resource of the admin API shares: tags, timestamps, pagination.

use poem_openapi::Tags;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::domain::Page;

/// Tags grouping the operations in the OpenAPI document.
#[derive(Tags)]
pub enum Tag {
    /// People and service accounts.
    Users,
    /// The calling user.
    Me,
    /// Roles, their scopes, deny patterns and members.
    Roles,
    /// Configured ways to log in.
    Authorities,
    /// Links between users and authorities.
    Credentials,
    /// Downstream applications and their secrets.
    Clients,
    /// Users' consents to clients.
    Grants,
    /// Personal API keys.
    ApiKeys,
    /// Who did what, when.
    Audit,
    /// JWT signing keys.
    Keys,
}

/// Unix seconds as an RFC 3339 timestamp (UTC).
pub fn timestamp(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// An optional RFC 3339 timestamp.
pub fn timestamp_opt(unix: Option<i64>) -> Option<String> {
    unix.map(timestamp)
}

/// Parses an RFC 3339 timestamp into unix seconds.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// Default page size of list operations.
pub const DEFAULT_LIMIT: u32 = 50;

/// The store page for `limit` (validated 1..=100 by the operation) and `cursor` (the id of the last
/// item of the previous page, as returned in `next_cursor`).
pub fn page(limit: Option<u32>, cursor: Option<String>) -> Page {
    Page {
        limit: limit.unwrap_or(DEFAULT_LIMIT),
        after: cursor.filter(|c| !c.is_empty()),
    }
}
