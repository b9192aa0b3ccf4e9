//! Small pieces every resource of the admin API shares: tags, timestamps, pagination.

use poem_openapi::Tags;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::domain::Page;
use crate::http::api::error::ApiError;
use crate::scopes::{Scope, ScopeSet};

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

/// The cursor of the next page: the last id when the page was full, else none.
pub fn next_cursor<T>(items: &[T], page: &Page, id: impl Fn(&T) -> &str) -> Option<String> {
    if items.len() as u32 >= page.clamped_limit() {
        items.last().map(|item| id(item).to_owned())
    } else {
        None
    }
}

/// Validates a list of scope patterns from a request, naming the first invalid one by its position
/// (`scopes/2`) so the caller can find it; the patterns are normalised but not simplified.
pub fn parse_scope_list(field: &str, patterns: &[String]) -> Result<ScopeSet, ApiError> {
    for (i, pattern) in patterns.iter().enumerate() {
        if let Err(e) = Scope::parse(pattern) {
            return Err(ApiError::invalid_field(
                format!("{field}/{i}"),
                e.to_string(),
            ));
        }
    }
    ScopeSet::parse(patterns.iter().map(String::as_str))
        .map_err(|e| ApiError::invalid_field(field, e.to_string()))
}
