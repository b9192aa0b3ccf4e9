//! The scope engine (reference §2): syntax, normal form, exact inclusion, intersection,
//! simplification and the allow/deny decision for `realm:resource:action` patterns. Pure
//! computation, no I/O.
//!
//! # Syntax (§2.1)
//! Exactly three domains separated by `:`; each domain is one or more segments separated by
//! `.`; a segment is `[A-Za-z0-9_-]+`, or exactly `*`, or exactly `**`. Anything else is
//! invalid (empty domains or segments, `***`, `a*`, whitespace including a trailing newline,
//! non-ASCII), with a [`ScopeError`] that says which input and why. Case-sensitive. A domain
//! has at most [`MAX_SEGMENTS`] segments (a limit of this implementation).
//!
//! # Meaning (§2.2)
//! A pattern denotes a set of concrete scopes (scopes without wildcards), the product of its
//! domains' sets. `*` matches exactly one segment; `**` matches one or more, never zero
//! (`a.**` does not match `a`); `role.*` matches neither `role` nor `role.a.b`.
//!
//! Normal form: every run of adjacent wildcards that contains a `**` is written as
//! (run length − 1) `*` followed by one `**` (`**.*` → `*.**`, `**.**` → `*.**`,
//! `*.**.*` → `*.*.**`). It denotes the same set, normalizing is idempotent, and two patterns
//! have the same normal form iff they are spelled the same after normalizing; every [`Scope`]
//! is kept in normal form.
//!
//! # Operations (§2.3, §2.5)
//! All are exact on the denoted sets:
//! - [`covers`]`(a, b)`: L(b) ⊆ L(a), both sides may hold wildcards (no false negatives:
//!   `x:*.**:y` covers `x:**.a:y`);
//! - [`is_superset`]`(A, B)`: every member of B is covered by some member of A;
//! - [`intersect`]`(A, B)`: patterns whose union is exactly L(A) ∩ L(B), simplified;
//! - [`has_intersection`]`(A, B)`: L(A) ∩ L(B) ≠ ∅;
//! - [`simplify`]`(A)`: normalized, deduplicated, members covered by another member removed,
//!   sorted in byte order;
//! - [`allows`]`(access, deny, s)`: some access pattern covers `s` and no deny pattern
//!   intersects `s`.
//!
//! The string functions parse their inputs on every call. The server's hot path parses once
//! into [`Scope`] / [`ScopeSet`] and calls their methods ([`Scope::covers`],
//! [`Scope::intersects`], [`ScopeSet::covers`], [`ScopeSet::allows`], …), which do not
//! allocate (the one exception: `covers` between patterns with many `**` on both sides
//! switches to a memoized search past a budget real patterns do not reach).
//!
//! # Limits and costs
//! - At most [`MAX_SEGMENTS`] segments per domain, also for computed intersections (which can
//!   be longer than their inputs: then [`ScopeError::TooManySegments`]).
//! - `covers` with a concrete right side: one pass, a few word operations per segment.
//!   With wildcards on both sides: a search that branches on each `**` of the right side,
//!   memoized past a budget (see `covers.rs`).
//! - `has_intersection` / `intersects`: O(len a · len b) per domain, on the stack.
//! - `intersect`: a table of O(len a · len b) entries per domain, each pruned to its maximal
//!   patterns; `simplify`: O(n²) `covers` calls.
//!
//! ```
//! use authx::scopes::{self, Scope, ScopeSet};
//! assert!(scopes::covers("AuthX:role.*:update.**", "AuthX:role.42:update.scopes")?);
//! assert_eq!(scopes::normalize("a:**.*:c")?, "a:*.**:c");
//! assert_eq!(scopes::intersect(&["x:**.y:z"], &["x:x.**:z"])?, ["x:x.**.y:z", "x:x.y:z"]);
//! assert!(scopes::allows(&["AuthX:**:**"], &["AuthX:key:rotate"], "AuthX:key:read")?);
//!
//! let access = ScopeSet::parse(["AuthX:me:*"])?;
//! assert!(access.allows(&ScopeSet::new(), &"AuthX:me:read".parse::<Scope>()?));
//! # Ok::<(), scopes::ScopeError>(())
//! ```

mod covers;
mod intersect;
mod parse;
mod set;
mod simplify;

pub use parse::{MAX_SEGMENTS, Scope, ScopeError};
pub use set::ScopeSet;

/// Whether `s` is a valid scope pattern (§2.1).
///
/// ```
/// use authx::scopes::validate;
/// assert!(validate("AuthX:role.*:update.**"));
/// assert!(!validate("AuthX:role.*:update.**\n"));
/// assert!(!validate("AuthX:role"));
/// ```
pub fn validate(s: &str) -> bool {
    parse::tokenize(s).is_ok()
}

/// The normal form of the pattern `s` (§2.2).
///
/// ```
/// use authx::scopes::normalize;
/// assert_eq!(normalize("a:a.**.**.b:c")?, "a:a.*.**.b:c");
/// assert!(normalize("a:***:c").is_err());
/// # Ok::<(), authx::scopes::ScopeError>(())
/// ```
pub fn normalize(s: &str) -> Result<String, ScopeError> {
    Ok(Scope::parse(s)?.to_string())
}

/// Whether `pattern` covers `scope`: every concrete scope matched by `scope` is matched by
/// `pattern` (exact; both may hold wildcards).
///
/// ```
/// use authx::scopes::covers;
/// assert!(covers("x:*.**:y", "x:**.a:y")?);
/// assert!(covers("a:a.*.**:c", "a:a.**.b:c")?);
/// assert!(!covers("a:*:c", "a:**:c")?);
/// assert!(!covers("a:b.**:c", "a:b:c")?);
/// # Ok::<(), authx::scopes::ScopeError>(())
/// ```
pub fn covers(pattern: &str, scope: &str) -> Result<bool, ScopeError> {
    Ok(Scope::parse(pattern)?.covers(&Scope::parse(scope)?))
}

/// Whether every member of `b` is covered by some member of `a` (∀b ∃a). Empty `b` → `true`;
/// empty `a` with non-empty `b` → `false`.
///
/// ```
/// use authx::scopes::is_superset;
/// assert!(is_superset(&["a:**:c"], &["a:b:c", "a:b.d:c"])?);
/// assert!(!is_superset(&["a:*:c"], &["a:b:c", "a:b.d:c"])?);
/// assert!(is_superset(&[], &[])?);
/// # Ok::<(), authx::scopes::ScopeError>(())
/// ```
pub fn is_superset(a: &[&str], b: &[&str]) -> Result<bool, ScopeError> {
    Ok(ScopeSet::parse(a)?.is_superset(&ScopeSet::parse(b)?))
}

/// Patterns whose union is exactly the set of concrete scopes matched by both `a` and `b`,
/// simplified (see [`simplify`]).
///
/// ```
/// use authx::scopes::intersect;
/// assert_eq!(intersect(&["x:**.y:z"], &["x:x.**:z"])?, ["x:x.**.y:z", "x:x.y:z"]);
/// assert_eq!(intersect(&["a:*.*.c:z"], &["a:a.**:z"])?, ["a:a.*.c:z"]);
/// assert!(intersect(&["a:b:c"], &["a:d:c"])?.is_empty());
/// # Ok::<(), authx::scopes::ScopeError>(())
/// ```
pub fn intersect(a: &[&str], b: &[&str]) -> Result<Vec<String>, ScopeError> {
    Ok(ScopeSet::parse(a)?
        .intersect(&ScopeSet::parse(b)?)?
        .to_strings())
}

/// Whether some concrete scope is matched by both `a` and `b`.
///
/// ```
/// use authx::scopes::has_intersection;
/// assert!(has_intersection(&["x:**.y:z"], &["x:x.**:z"])?);
/// assert!(!has_intersection(&["x:*:z"], &["x:a.b:z"])?);
/// # Ok::<(), authx::scopes::ScopeError>(())
/// ```
pub fn has_intersection(a: &[&str], b: &[&str]) -> Result<bool, ScopeError> {
    Ok(ScopeSet::parse(a)?.has_intersection(&ScopeSet::parse(b)?))
}

/// `a` normalized, deduplicated, without members covered by another member, sorted in byte
/// order. Deterministic and idempotent; the union is unchanged.
///
/// ```
/// use authx::scopes::simplify;
/// assert_eq!(simplify(&["b:b:b", "a:**.*:c", "a:x.y:c", "b:b:b"])?, ["a:*.**:c", "b:b:b"]);
/// # Ok::<(), authx::scopes::ScopeError>(())
/// ```
pub fn simplify(a: &[&str]) -> Result<Vec<String>, ScopeError> {
    Ok(ScopeSet::parse(a)?.simplify().to_strings())
}

/// The authorization decision (§2.5): some `access` pattern covers `scope` and no `deny`
/// pattern intersects it.
///
/// ```
/// use authx::scopes::allows;
/// let access = ["AuthX:role.*:**"];
/// assert!(allows(&access, &[], "AuthX:role.ops:update.scopes")?);
/// assert!(!allows(&access, &["AuthX:role.root:**"], "AuthX:role.root:read")?);
/// assert!(!allows(&access, &["AuthX:role.root:**"], "AuthX:role.*:read")?);
/// # Ok::<(), authx::scopes::ScopeError>(())
/// ```
pub fn allows(access: &[&str], deny: &[&str], scope: &str) -> Result<bool, ScopeError> {
    Ok(ScopeSet::parse(access)?.allows(&ScopeSet::parse(deny)?, &Scope::parse(scope)?))
}
