//! [`ScopeSet`]: a list of pre-parsed patterns, the form the server keeps roles, grants, clients
//! and tokens in, with the set operations of §2.3 and the authorization decision of §2.5.
//!
//! Invariants: members are valid normal-form [`Scope`]s (construction validates). A set keeps
//! its members as given (order and duplicates included) until [`ScopeSet::simplify`] is called;
//! operations that compute new sets (`intersect`, `simplify`) return simplified sets. The
//! per-request operations `covers`, `allows`, `is_superset` and `has_intersection` do not
//! allocate (`covers` on patterns with many `**` on both sides excepted, see `covers.rs`).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::parse::{Scope, ScopeError};
use super::simplify::simplify_scopes;

/// A list of pre-parsed scope patterns. Parse once (at config load or when reading a row),
/// then match many times without allocating.
///
/// Serialized as a list of strings; deserializing validates every member.
///
/// ```
/// use authx::scopes::{Scope, ScopeSet};
/// let access = ScopeSet::parse(["AuthX:me:*", "AuthX:role.*:read"])?;
/// let deny = ScopeSet::parse(["AuthX:role.root:*"])?;
/// let s: Scope = "AuthX:role.ops:read".parse()?;
/// assert!(access.allows(&deny, &s));
/// assert!(!access.allows(&deny, &"AuthX:role.root:read".parse()?));
/// let json = serde_json::to_string(&deny).unwrap();
/// assert_eq!(json, r#"["AuthX:role.root:*"]"#);
/// # Ok::<(), authx::scopes::ScopeError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScopeSet {
    scopes: Vec<Scope>,
}

impl ScopeSet {
    /// The empty set (covers nothing, allows nothing).
    ///
    /// ```
    /// use authx::scopes::ScopeSet;
    /// assert!(ScopeSet::new().is_empty());
    /// ```
    pub fn new() -> ScopeSet {
        ScopeSet::default()
    }

    /// Parses and validates every string; the first invalid one is the error.
    ///
    /// ```
    /// use authx::scopes::ScopeSet;
    /// assert_eq!(ScopeSet::parse(["a:b:c", "a:**.*:c"])?.to_strings(), ["a:b:c", "a:*.**:c"]);
    /// assert!(ScopeSet::parse(["a:b:c", "a:b"]).is_err());
    /// # Ok::<(), authx::scopes::ScopeError>(())
    /// ```
    pub fn parse<I>(scopes: I) -> Result<ScopeSet, ScopeError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let scopes = scopes
            .into_iter()
            .map(|s| Scope::parse(s.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ScopeSet { scopes })
    }

    /// Number of members.
    ///
    /// ```
    /// use authx::scopes::ScopeSet;
    /// assert_eq!(ScopeSet::parse(["a:b:c", "a:b:c"])?.len(), 2);
    /// # Ok::<(), authx::scopes::ScopeError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.scopes.len()
    }

    /// Whether the set has no member.
    ///
    /// ```
    /// use authx::scopes::ScopeSet;
    /// assert!(ScopeSet::parse(Vec::<String>::new())?.is_empty());
    /// # Ok::<(), authx::scopes::ScopeError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }

    /// Iterates over the members.
    ///
    /// ```
    /// use authx::scopes::ScopeSet;
    /// let set = ScopeSet::parse(["a:b:c", "d:e:f"])?;
    /// assert_eq!(set.iter().map(|s| s.as_str()).collect::<Vec<_>>(), ["a:b:c", "d:e:f"]);
    /// # Ok::<(), authx::scopes::ScopeError>(())
    /// ```
    pub fn iter(&self) -> std::slice::Iter<'_, Scope> {
        self.scopes.iter()
    }

    /// The members as a slice.
    ///
    /// ```
    /// use authx::scopes::ScopeSet;
    /// assert_eq!(ScopeSet::parse(["a:b:c"])?.as_slice()[0].as_str(), "a:b:c");
    /// # Ok::<(), authx::scopes::ScopeError>(())
    /// ```
    pub fn as_slice(&self) -> &[Scope] {
        &self.scopes
    }

    /// The members' normal forms as strings.
    ///
    /// ```
    /// use authx::scopes::ScopeSet;
    /// assert_eq!(ScopeSet::parse(["a:**.**:c"])?.to_strings(), ["a:*.**:c"]);
    /// # Ok::<(), authx::scopes::ScopeError>(())
    /// ```
    pub fn to_strings(&self) -> Vec<String> {
        self.scopes.iter().map(Scope::to_string).collect()
    }

    /// Whether some member covers `scope` (which may itself be a pattern). No heap allocation
    /// (see [`Scope::covers`] for the one pathological exception).
    ///
    /// ```
    /// use authx::scopes::{Scope, ScopeSet};
    /// let set = ScopeSet::parse(["AuthX:role.*:update.**"])?;
    /// assert!(set.covers(&"AuthX:role.42:update.scopes".parse()?));
    /// assert!(!set.covers(&"AuthX:role.42:read".parse()?));
    /// # Ok::<(), authx::scopes::ScopeError>(())
    /// ```
    pub fn covers(&self, scope: &Scope) -> bool {
        self.scopes.iter().any(|a| a.covers(scope))
    }

    /// The authorization decision (§2.5): some member of `self` (the access patterns) covers
    /// `scope` and no member of `deny` intersects it. A deny always wins. No heap allocation
    /// when `scope` is concrete (as in a request check).
    ///
    /// ```
    /// use authx::scopes::ScopeSet;
    /// let access = ScopeSet::parse(["AuthX:**:**"])?;
    /// let deny = ScopeSet::parse(["AuthX:key:rotate"])?;
    /// assert!(access.allows(&deny, &"AuthX:key:read".parse()?));
    /// assert!(!access.allows(&deny, &"AuthX:key:*".parse()?)); // partly denied
    /// # Ok::<(), authx::scopes::ScopeError>(())
    /// ```
    pub fn allows(&self, deny: &ScopeSet, scope: &Scope) -> bool {
        self.covers(scope) && !deny.scopes.iter().any(|d| d.intersects(scope))
    }

    /// Whether every member of `other` is covered by some member of `self` (∀b ∃a). An empty
    /// `other` gives `true`; an empty `self` with a non-empty `other` gives `false`. No heap
    /// allocation (see [`Scope::covers`] for the one pathological exception).
    ///
    /// ```
    /// use authx::scopes::ScopeSet;
    /// let a = ScopeSet::parse(["x:**:y", "z:z:z"])?;
    /// assert!(a.is_superset(&ScopeSet::parse(["x:a.b:y", "z:z:z"])?));
    /// assert!(!a.is_superset(&ScopeSet::parse(["z:*:z"])?));
    /// assert!(a.is_superset(&ScopeSet::new()));
    /// # Ok::<(), authx::scopes::ScopeError>(())
    /// ```
    pub fn is_superset(&self, other: &ScopeSet) -> bool {
        other.scopes.iter().all(|b| self.covers(b))
    }

    /// Whether some concrete scope is matched by both sets. No heap allocation.
    ///
    /// ```
    /// use authx::scopes::ScopeSet;
    /// let a = ScopeSet::parse(["x:**.y:z"])?;
    /// assert!(a.has_intersection(&ScopeSet::parse(["x:x.**:z"])?));
    /// assert!(!a.has_intersection(&ScopeSet::parse(["x:y:q"])?));
    /// # Ok::<(), authx::scopes::ScopeError>(())
    /// ```
    pub fn has_intersection(&self, other: &ScopeSet) -> bool {
        self.scopes
            .iter()
            .any(|a| other.scopes.iter().any(|b| a.intersects(b)))
    }

    /// Patterns whose union is exactly the set of concrete scopes matched by both sets,
    /// simplified.
    ///
    /// Errors only with [`ScopeError::TooManySegments`], when a resulting domain would exceed
    /// [`MAX_SEGMENTS`](super::MAX_SEGMENTS).
    ///
    /// ```
    /// use authx::scopes::ScopeSet;
    /// let a = ScopeSet::parse(["a:*.*.c:z", "b:b:b"])?;
    /// let b = ScopeSet::parse(["a:a.**:z"])?;
    /// assert_eq!(a.intersect(&b)?.to_strings(), ["a:a.*.c:z"]);
    /// # Ok::<(), authx::scopes::ScopeError>(())
    /// ```
    pub fn intersect(&self, other: &ScopeSet) -> Result<ScopeSet, ScopeError> {
        let mut out = Vec::new();
        for a in &self.scopes {
            for b in &other.scopes {
                a.intersect_into(b, &mut out)?;
            }
        }
        Ok(ScopeSet {
            scopes: simplify_scopes(out),
        })
    }

    /// The simplified set: duplicates and members covered by another member removed, sorted
    /// in byte order. Same union; deterministic and idempotent.
    ///
    /// ```
    /// use authx::scopes::ScopeSet;
    /// let s = ScopeSet::parse(["a:b:c", "a:*:c", "a:*:c"])?.simplify();
    /// assert_eq!(s.to_strings(), ["a:*:c"]);
    /// # Ok::<(), authx::scopes::ScopeError>(())
    /// ```
    pub fn simplify(&self) -> ScopeSet {
        ScopeSet {
            scopes: simplify_scopes(self.scopes.clone()),
        }
    }

    /// Consumes the set, giving its members.
    ///
    /// ```
    /// use authx::scopes::ScopeSet;
    /// let v = ScopeSet::parse(["a:b:c"])?.into_vec();
    /// assert_eq!(v[0].as_str(), "a:b:c");
    /// # Ok::<(), authx::scopes::ScopeError>(())
    /// ```
    pub fn into_vec(self) -> Vec<Scope> {
        self.scopes
    }
}

impl From<Vec<Scope>> for ScopeSet {
    /// Wraps already-validated scopes, keeping order and duplicates.
    ///
    /// ```
    /// use authx::scopes::{Scope, ScopeSet};
    /// let set = ScopeSet::from(vec!["a:b:c".parse::<Scope>()?]);
    /// assert_eq!(set.len(), 1);
    /// # Ok::<(), authx::scopes::ScopeError>(())
    /// ```
    fn from(scopes: Vec<Scope>) -> ScopeSet {
        ScopeSet { scopes }
    }
}

impl FromIterator<Scope> for ScopeSet {
    /// Collects already-validated scopes, keeping order and duplicates.
    ///
    /// ```
    /// use authx::scopes::{Scope, ScopeSet};
    /// let set: ScopeSet = ["a:b:c", "d:e:f"].iter().map(|s| s.parse::<Scope>()).collect::<Result<_, _>>()?;
    /// assert_eq!(set.len(), 2);
    /// # Ok::<(), authx::scopes::ScopeError>(())
    /// ```
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> ScopeSet {
        ScopeSet {
            scopes: iter.into_iter().collect(),
        }
    }
}

impl<'s> IntoIterator for &'s ScopeSet {
    type Item = &'s Scope;
    type IntoIter = std::slice::Iter<'s, Scope>;

    fn into_iter(self) -> Self::IntoIter {
        self.scopes.iter()
    }
}

impl IntoIterator for ScopeSet {
    type Item = Scope;
    type IntoIter = std::vec::IntoIter<Scope>;

    fn into_iter(self) -> Self::IntoIter {
        self.scopes.into_iter()
    }
}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.scopes.iter()).finish()
    }
}

impl fmt::Display for ScopeSet {
    /// Space-separated, as in an OAuth `scope` parameter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.scopes.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(s.as_str())?;
        }
        Ok(())
    }
}
