//! The admin commands, one module per resource: each authorizes the actor, validates the input,
//! writes (in one transaction where it writes more than one row) and audits, in that order, in one
//! place. The admin API and the account pages call the same commands.

pub mod administrators;
pub mod api_keys;
pub mod audit_events;
pub mod authorities;
pub mod clients;
pub mod credentials;
pub mod grants;
pub mod roles;
pub mod signing_keys;
pub mod users;

use crate::engine::error::CommandError;
use crate::scopes::{Scope, ScopeSet};

/// Validates a list of scope patterns, naming the first invalid one by its position
/// (`scopes/2`) so the caller can find it; the patterns are normalised but not simplified.
pub fn parse_scope_list(field: &str, patterns: &[String]) -> Result<ScopeSet, CommandError> {
    for (i, pattern) in patterns.iter().enumerate() {
        if let Err(e) = Scope::parse(pattern) {
            return Err(CommandError::invalid_field(
                format!("{field}/{i}"),
                e.to_string(),
            ));
        }
    }
    ScopeSet::parse(patterns.iter().map(String::as_str))
        .map_err(|e| CommandError::invalid_field(field, e.to_string()))
}
