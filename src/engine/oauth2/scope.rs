//! The `scope` parameter of OAuth 2.0 requests (RFC 6749 §3.3) and what a token may carry.
//!
//! A request's scope is a space-separated list mixing two kinds of value: the OpenID Connect
//! scopes (`openid profile email offline_access`, handled apart: they select claims and whether a
//! refresh token is issued) and authx's `realm:resource:action` patterns. Anything else is
//! `invalid_scope`. An absent `scope` asks for everything the grant holds (reference §2.4); a present
//! one that names only OIDC scopes asks for no realm scopes at all.
//!
//! A token carries requested ∩ client.scopes ∩ grant.scopes ∩ the user's access, with patterns a
//! deny covers entirely removed and the partly-overlapping deny patterns alongside (reference §2.4,
//! §2.5), always computed from live data at issuance.

use std::collections::BTreeSet;

use super::error::{ErrorCode, OAuth2Error};
use crate::domain::access::Access;
use crate::domain::token::{OIDC_SCOPES, is_oidc_scope};
use crate::scopes::{Scope, ScopeSet};

/// The longest `scope` parameter accepted.
const MAX_SCOPE_LEN: usize = 8 * 1024;

/// The most scope values in one request.
const MAX_SCOPE_VALUES: usize = 200;

/// A parsed `scope` parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestedScope {
    /// The OIDC scopes asked for, in [`OIDC_SCOPES`] order.
    pub oidc: BTreeSet<&'static str>,
    /// The realm patterns asked for; `None` when the request had no `scope` at all (everything).
    pub realm: Option<ScopeSet>,
}

impl RequestedScope {
    /// Parses `scope` (absent: everything).
    pub fn parse(scope: Option<&str>) -> Result<Self, OAuth2Error> {
        let Some(scope) = scope else {
            return Ok(Self::default());
        };
        if scope.len() > MAX_SCOPE_LEN {
            return Err(invalid_scope("the scope parameter is too long"));
        }
        let mut oidc = BTreeSet::new();
        let mut realm = Vec::new();
        for (i, value) in scope.split(' ').filter(|v| !v.is_empty()).enumerate() {
            if i >= MAX_SCOPE_VALUES {
                return Err(invalid_scope("too many scope values"));
            }
            if let Some(known) = OIDC_SCOPES.iter().find(|s| **s == value) {
                oidc.insert(*known);
                continue;
            }
            match Scope::parse(value) {
                Ok(pattern) => realm.push(pattern),
                Err(_) => {
                    return Err(invalid_scope(format!(
                        "'{}' is neither an OpenID Connect scope nor a realm:resource:action \
                         pattern",
                        shown(value)
                    )));
                }
            }
        }
        Ok(Self {
            oidc,
            realm: Some(realm.into_iter().collect::<ScopeSet>().simplify()),
        })
    }

    /// Parses the scopes stored with a code, grant or refresh token (OIDC names and patterns).
    pub fn from_stored(values: &[String]) -> Self {
        let mut oidc = BTreeSet::new();
        let mut realm = Vec::new();
        for value in values {
            if let Some(known) = OIDC_SCOPES.iter().find(|s| **s == value.as_str()) {
                oidc.insert(*known);
            } else if let Ok(pattern) = Scope::parse(value) {
                realm.push(pattern);
            } else {
                tracing::warn!(scope = %value, "ignoring an invalid stored scope");
            }
        }
        Self {
            oidc,
            realm: Some(realm.into_iter().collect::<ScopeSet>().simplify()),
        }
    }

    /// Whether the OIDC scope `name` was asked for.
    pub fn has(&self, name: &str) -> bool {
        self.oidc.contains(name)
    }

    /// The realm patterns asked for, with "everything" replaced by `everything`.
    pub fn realm_or<'a>(&'a self, everything: &'a ScopeSet) -> &'a ScopeSet {
        self.realm.as_ref().unwrap_or(everything)
    }
}

/// The realm patterns of a client, grant or token as stored (OIDC names skipped).
pub fn realm_set(values: &[String]) -> ScopeSet {
    values
        .iter()
        .filter(|v| !is_oidc_scope(v))
        .filter_map(|v| Scope::parse(v).ok())
        .collect::<ScopeSet>()
        .simplify()
}

/// `invalid_scope` naming the requested patterns that lie entirely outside the client's
/// `ceiling` (a request that partly overlaps is narrowed instead, RFC 6749 §3.3).
pub fn check_ceiling(requested: &RequestedScope, ceiling: &ScopeSet) -> Result<(), OAuth2Error> {
    let Some(realm) = &requested.realm else {
        return Ok(());
    };
    let outside: Vec<String> = realm
        .iter()
        .filter(|s| !ceiling.iter().any(|c| c.intersects(s)))
        .map(|s| s.to_string())
        .collect();
    if outside.is_empty() {
        return Ok(());
    }
    Err(invalid_scope(format!(
        "this client may not receive: {}",
        shown(&outside.join(" "))
    )))
}

/// requested ∩ every limit ∩ the user's access (deny applied): what a token may carry now.
pub fn effective(access: &Access, requested: &ScopeSet, limits: &[&ScopeSet]) -> Access {
    let mut narrowed = requested.clone();
    for limit in limits {
        narrowed = narrowed.intersect(limit).unwrap_or_default();
    }
    access.narrowed_to(&narrowed)
}

/// The stored form of a scope: OIDC names first, then the realm patterns.
pub fn to_stored(oidc: &BTreeSet<&'static str>, realm: &ScopeSet) -> Vec<String> {
    ordered_oidc(oidc)
        .into_iter()
        .map(str::to_owned)
        .chain(realm.to_strings())
        .collect()
}

/// The `scope` value of a token or response: the same order, space-separated.
pub fn to_parameter(oidc: &BTreeSet<&'static str>, realm: &ScopeSet) -> String {
    to_stored(oidc, realm).join(" ")
}

/// OIDC scopes in their conventional order.
fn ordered_oidc(oidc: &BTreeSet<&'static str>) -> Vec<&'static str> {
    OIDC_SCOPES
        .iter()
        .copied()
        .filter(|s| oidc.contains(s))
        .collect()
}

fn invalid_scope(description: impl Into<String>) -> OAuth2Error {
    OAuth2Error::new(ErrorCode::InvalidScope, description)
}

/// A scope value shown in an error: short and printable.
fn shown(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_splits_the_two_kinds() {
        let r =
            RequestedScope::parse(Some("openid AuthX:me:read  offline_access AuthX:me:*")).unwrap();
        assert!(r.has("openid") && r.has("offline_access") && !r.has("email"));
        assert_eq!(r.realm.unwrap().to_strings(), vec!["AuthX:me:*"]);
        let none = RequestedScope::parse(None).unwrap();
        assert!(none.realm.is_none() && none.oidc.is_empty());
        let only_oidc = RequestedScope::parse(Some("openid")).unwrap();
        assert!(only_oidc.realm.unwrap().is_empty());
        let err = RequestedScope::parse(Some("openid bogus")).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidScope);
        assert!(RequestedScope::parse(Some("a:b:c\n")).is_err());
    }

    #[test]
    fn stored_form_round_trips() {
        let r = RequestedScope::parse(Some("email x:y:z openid")).unwrap();
        let realm = r.realm.clone().unwrap();
        let stored = to_stored(&r.oidc, &realm);
        assert_eq!(stored, vec!["openid", "email", "x:y:z"]);
        assert_eq!(RequestedScope::from_stored(&stored), r);
        assert_eq!(to_parameter(&r.oidc, &realm), "openid email x:y:z");
        assert_eq!(realm_set(&stored).to_strings(), vec!["x:y:z"]);
    }

    #[test]
    fn effective_scopes_intersect_everything() {
        let access = Access {
            scopes: ScopeSet::parse(["x:**:*"]).unwrap(),
            deny: ScopeSet::parse(["x:secret:*"]).unwrap(),
        };
        let requested = ScopeSet::parse(["x:*:read", "y:a:b"]).unwrap();
        let client = ScopeSet::parse(["x:**:read"]).unwrap();
        let grant = ScopeSet::parse(["x:a:read", "x:secret:read"]).unwrap();
        let got = effective(&access, &requested, &[&client, &grant]);
        assert_eq!(got.scopes.to_strings(), vec!["x:a:read"]);
    }
}
