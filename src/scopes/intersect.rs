//! Intersection of two patterns: whether they share a concrete scope (allocation-free), and a
//! list of patterns whose union is exactly the set of scopes both match.
//!
//! Both work on the product of the two domains' NFAs (see `covers.rs` for the NFA): a state is
//! a pair of positions `(i, j)`; one concrete segment moves both sides at once, and is possible
//! iff the two segments meet (two literals must be equal; a wildcard meets anything). A `**`
//! side may also stay where it is (it eats at least one more segment later). The intersection
//! is non-empty iff `(len a, len b)` is reachable from `(0, 0)`.
//!
//! - `dom_intersects` fills the reachability table row by row with two stack arrays
//!   (positions only grow, so one forward sweep suffices): O(len a · len b), no heap.
//! - `dom_intersect` builds, for every product state, the patterns of the suffix intersection,
//!   from the end backwards. A step emits the meet of the two segments: a literal if either
//!   side is one, `*` if both are wildcards and one is a `*` or the `**`s stop here, and `**`
//!   when both `**` go on (the stretch both `**` eat together, one or more segments). It uses
//!   the identity `** = * ∪ *.**` on the side whose `**` goes on alone. Every table entry is
//!   pruned to its maximal patterns, which keeps the work polynomial in practice although the
//!   number of paths is exponential in the number of `**`. Callers still simplify the product
//!   of the three domains.

use super::MAX_SEGMENTS;
use super::parse::{Dom, Scope, ScopeError, Tok};

/// Whether one concrete segment can be matched by both `a` and `b`.
#[inline]
fn meet_ok(a: Tok<'_>, b: Tok<'_>) -> bool {
    match (a, b) {
        (Tok::Lit(x), Tok::Lit(y)) => x == y,
        _ => true,
    }
}

/// Whether the domain patterns `a` and `b` match a common concrete domain. No heap allocation.
pub(crate) fn dom_intersects(a: &Dom<'_>, b: &Dom<'_>) -> bool {
    if a.raw == b.raw {
        return true;
    }
    if a.is_concrete() && b.is_concrete() {
        return false;
    }
    let (n, m) = (a.len(), b.len());
    // prev[j] = (i - 1, j) reachable; cur[j] = (i, j) reachable.
    let mut prev = [false; MAX_SEGMENTS + 1];
    let mut cur = [false; MAX_SEGMENTS + 1];
    for i in 0..=n {
        for j in 0..=m {
            cur[j] = (i == 0 && j == 0)
                // both sides advance on one segment
                || (i > 0 && j > 0 && prev[j - 1] && meet_ok(a.tok(i - 1), b.tok(j - 1)))
                // `a` advances, `b`'s `**` at j eats the segment and stays
                || (i > 0 && j < m && prev[j] && b.tok(j) == Tok::DStar)
                // `b` advances, `a`'s `**` at i eats the segment and stays
                || (j > 0 && i < n && cur[j - 1] && a.tok(i) == Tok::DStar);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[m]
}

/// A one-segment filler domain, to hold a domain pattern in a `Scope` for `covers`.
const FILLER: [Tok<'static>; 1] = [Tok::Lit("x")];

/// Patterns (token lists) whose union is L(a) ∩ L(b), none covering another.
///
/// `res[i][j]` holds the patterns for the suffixes `a[i..]` ∩ `b[j..]`, computed from the end
/// backwards: one step emits the meet of `a[i]` and `b[j]` and continues at every state the
/// product NFA can move to. Each table entry is pruned to its maximal members (see
/// [`super::simplify::retain_maximal`]); that is sound because prefixing the same segment keeps
/// inclusion, and it is what keeps the tables small (the raw number of paths is exponential in
/// the number of `**`).
pub(crate) fn dom_intersect<'a>(a: &Dom<'a>, b: &Dom<'a>) -> Result<Vec<Vec<Tok<'a>>>, ScopeError> {
    if a.raw == b.raw {
        return Ok(vec![(0..a.len()).map(|i| a.tok(i)).collect()]);
    }
    if !dom_intersects(a, b) {
        return Ok(Vec::new());
    }
    let (n, m) = (a.len(), b.len());
    let width = m + 1;
    let mut res: Vec<Vec<Vec<Tok<'a>>>> = vec![Vec::new(); (n + 1) * width];
    res[n * width + m] = vec![Vec::new()];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            let (ta, tb) = (a.tok(i), b.tok(j));
            if !meet_ok(ta, tb) {
                continue;
            }
            // The emitted segment, and which moves besides "both advance" exist: only `a`
            // advances while `b`'s `**` eats on, or only `b` advances while `a`'s `**` does.
            // With both `**` and both going on, the stretch they eat together is one `**`.
            let (seg, a_only, b_only) = match (ta, tb) {
                (Tok::DStar, Tok::DStar) => (Tok::DStar, true, true),
                (Tok::DStar, t) => (t, false, true),
                (t, Tok::DStar) => (t, true, false),
                (Tok::Lit(x), _) => (Tok::Lit(x), false, false),
                (Tok::Star, t) => (t, false, false),
            };
            let mut cands = Vec::new();
            let mut extend = |next: &[Vec<Tok<'a>>]| {
                for suffix in next {
                    let mut p = Vec::with_capacity(suffix.len() + 1);
                    p.push(seg);
                    p.extend_from_slice(suffix);
                    cands.push(p);
                }
            };
            extend(&res[(i + 1) * width + j + 1]);
            if a_only {
                extend(&res[(i + 1) * width + j]);
            }
            if b_only {
                extend(&res[i * width + j + 1]);
            }
            res[i * width + j] = prune(cands)?;
        }
    }
    Ok(std::mem::take(&mut res[0]))
}

/// Keeps the maximal domain patterns of `cands` (normalized, deduplicated, none covered by
/// another).
fn prune<'a>(cands: Vec<Vec<Tok<'a>>>) -> Result<Vec<Vec<Tok<'a>>>, ScopeError> {
    if cands.len() < 2 {
        return Ok(cands);
    }
    let mut built = cands
        .into_iter()
        .map(|c| Ok((Scope::build([&FILLER, &c, &FILLER])?, c)))
        .collect::<Result<Vec<_>, ScopeError>>()?;
    super::simplify::retain_maximal(&mut built, |(s, _)| s);
    Ok(built.into_iter().map(|(_, c)| c).collect())
}

impl Scope {
    /// Whether this pattern and `other` match at least one common concrete scope. No heap
    /// allocation.
    ///
    /// ```
    /// use authx::scopes::Scope;
    /// let p = |s: &str| s.parse::<Scope>().unwrap();
    /// assert!(p("x:**.y:z").intersects(&p("x:x.**:z")));
    /// assert!(!p("x:a.*:z").intersects(&p("x:b.**:z")));
    /// ```
    pub fn intersects(&self, other: &Scope) -> bool {
        (0..3).all(|d| dom_intersects(&self.dom(d), &other.dom(d)))
    }

    /// Patterns whose union is exactly the set of concrete scopes both match, simplified
    /// (see [`simplify`](super::simplify)); empty when they share none.
    ///
    /// Errors only with [`ScopeError::TooManySegments`], when a resulting domain would exceed
    /// [`MAX_SEGMENTS`] (possible only with very long inputs).
    ///
    /// ```
    /// use authx::scopes::Scope;
    /// let p = |s: &str| s.parse::<Scope>().unwrap();
    /// let both = p("x:**.y:z").intersect(&p("x:x.**:z"))?;
    /// let texts: Vec<&str> = both.iter().map(Scope::as_str).collect();
    /// assert_eq!(texts, ["x:x.**.y:z", "x:x.y:z"]);
    /// # Ok::<(), authx::scopes::ScopeError>(())
    /// ```
    pub fn intersect(&self, other: &Scope) -> Result<Vec<Scope>, ScopeError> {
        let mut out = Vec::new();
        self.intersect_into(other, &mut out)?;
        Ok(super::simplify::simplify_scopes(out))
    }

    /// Pushes the (unsimplified) intersection patterns onto `out`.
    pub(crate) fn intersect_into(
        &self,
        other: &Scope,
        out: &mut Vec<Scope>,
    ) -> Result<(), ScopeError> {
        if !self.intersects(other) {
            return Ok(());
        }
        let d0 = dom_intersect(&self.dom(0), &other.dom(0))?;
        let d1 = dom_intersect(&self.dom(1), &other.dom(1))?;
        let d2 = dom_intersect(&self.dom(2), &other.dom(2))?;
        for p0 in &d0 {
            for p1 in &d1 {
                for p2 in &d2 {
                    out.push(Scope::build([p0, p1, p2])?);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn inter(a: &str, b: &str) -> Vec<String> {
        let a: Scope = a.parse().unwrap();
        let b: Scope = b.parse().unwrap();
        let r: Vec<String> = a
            .intersect(&b)
            .unwrap()
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(a.intersects(&b), !r.is_empty(), "{a} ∩ {b} = {r:?}");
        r
    }

    #[test]
    fn examples() {
        assert_eq!(inter("x:**.y:z", "x:x.**:z"), ["x:x.**.y:z", "x:x.y:z"]);
        assert_eq!(inter("a:*.*.c:z", "a:a.**:z"), ["a:a.*.c:z"]);
        assert_eq!(inter("a:**:z", "a:**:z"), ["a:**:z"]);
        assert_eq!(inter("a:**:z", "a:*.b:z"), ["a:*.b:z"]);
        assert_eq!(inter("a:*:z", "a:**:z"), ["a:*:z"]);
        assert!(inter("a:x.**:z", "a:x:z").is_empty());
        assert!(inter("a:b:z", "a:c:z").is_empty());
        assert!(inter("a:b:z", "b:b:z").is_empty());
    }
}
