//! Effective access (reference §2.4–2.5): what a user, or a credential acting for one, may do right now.
//!
//! A user's access is the simplified union of the scopes of their enabled roles (default roles
//! included) with the deny patterns of the same roles; a disabled user has none. It is computed
//! from live data for every decision the server makes, so a role edit, a membership change or a
//! disabled user takes effect at once on every node. A narrower credential (an API key, a token)
//! intersects its own scopes with the owner's access at decision time.

use crate::domain::role::UserAccess;
use crate::domain::user::UserStatus;
use crate::scopes::{Scope, ScopeSet};

/// Scopes granted and denied. A scope is allowed when some granted pattern covers it and no deny
/// pattern intersects it (a deny always wins).
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Granted patterns, simplified.
    pub scopes: ScopeSet,
    /// Denied patterns, simplified.
    pub deny: ScopeSet,
}

impl Access {
    /// No access at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// The effective access of a user from their status and role patterns. Stored patterns were
    /// validated when written; one that no longer parses (a realm rename, a bug) is skipped and
    /// logged rather than failing every decision for that user.
    pub fn of_user(user: &UserAccess) -> Self {
        if user.status != UserStatus::Active {
            return Self::none();
        }
        Self {
            scopes: parse_lenient(&user.scopes).simplify(),
            deny: parse_lenient(&user.deny).simplify(),
        }
    }

    /// Whether `scope` (concrete or a pattern) is allowed.
    pub fn allows(&self, scope: &Scope) -> bool {
        self.scopes.allows(&self.deny, scope)
    }

    /// Whether the scope written as `scope` is allowed; an invalid scope is not.
    pub fn allows_str(&self, scope: &str) -> bool {
        Scope::parse(scope).is_ok_and(|s| self.allows(&s))
    }

    /// The members of `wanted` this access does not allow as a whole — what a caller would gain by
    /// bestowing them (no self-escalation, reference §2.6). Empty when every member is allowed.
    pub fn not_allowed(&self, wanted: &ScopeSet) -> Vec<String> {
        wanted
            .iter()
            .filter(|s| !self.allows(s))
            .map(|s| s.to_string())
            .collect()
    }

    /// This access narrowed to `limit` (a key's or token's scopes): granted = limit ∩ granted,
    /// with the same deny patterns.
    pub fn narrowed_to(&self, limit: &ScopeSet) -> Self {
        let scopes = limit.intersect(&self.scopes).unwrap_or_default();
        Self {
            scopes: without_denied(scopes, &self.deny),
            deny: self.deny.clone(),
        }
    }

    /// The deny patterns that partly overlap the granted ones: what must travel with the granted
    /// scopes so an offline checker can apply them (reference §2.5).
    pub fn relevant_deny(&self) -> Vec<String> {
        self.deny
            .iter()
            .filter(|d| self.scopes.iter().any(|s| s.intersects(d)))
            .map(|d| d.to_string())
            .collect()
    }
}

/// Drops granted patterns that a deny pattern covers entirely: they grant nothing.
fn without_denied(scopes: ScopeSet, deny: &ScopeSet) -> ScopeSet {
    scopes
        .into_iter()
        .filter(|s| !deny.iter().any(|d| d.covers(s)))
        .collect()
}

fn parse_lenient(patterns: &[String]) -> ScopeSet {
    patterns
        .iter()
        .filter_map(|p| match Scope::parse(p) {
            Ok(scope) => Some(scope),
            Err(error) => {
                tracing::warn!(pattern = %p, %error, "ignoring an invalid stored scope pattern");
                None
            }
        })
        .collect()
}
