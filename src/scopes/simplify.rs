//! Simplification of a list of patterns: the smallest equivalent list this engine computes.
//!
//! Result invariants: every member is in normal form (all `Scope`s are), no two are equal, no
//! member is covered by another one, and the list is sorted in byte order. The union of the
//! denoted sets is unchanged (a member is dropped only when another kept member covers it), and
//! the result depends only on the input's set of patterns, never on its order, so simplifying
//! is deterministic and idempotent.

use super::parse::Scope;

/// Sorts, dedups and drops every member covered by another member.
pub(crate) fn simplify_scopes(mut scopes: Vec<Scope>) -> Vec<Scope> {
    retain_maximal(&mut scopes, |s| s);
    scopes
}

/// Sorts `items` by their scope, dedups equal scopes and drops every item whose scope is
/// covered by another item's.
///
/// Normal forms are canonical, so two distinct scopes never cover each other; should they
/// ever, the byte-order-smaller one is kept, which keeps the result deterministic either way.
/// Cost: O(n²) calls to `covers` (cheap, allocation-free) after an O(n log n) sort.
pub(crate) fn retain_maximal<T>(items: &mut Vec<T>, scope: impl Fn(&T) -> &Scope) {
    items.sort_unstable_by(|x, y| scope(x).cmp(scope(y)));
    items.dedup_by(|x, y| scope(x) == scope(y));
    let keep: Vec<bool> = items
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let s = scope(x);
            !items.iter().enumerate().any(|(j, y)| {
                let t = scope(y);
                j != i && t.covers(s) && (j < i || !s.covers(t))
            })
        })
        .collect();
    let mut flags = keep.into_iter();
    items.retain(|_| flags.next().unwrap_or(true));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn simp(v: &[&str]) -> Vec<String> {
        let scopes = v.iter().map(|s| s.parse::<Scope>().unwrap()).collect();
        simplify_scopes(scopes)
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn drops_covered_and_duplicates() {
        assert_eq!(
            simp(&["a:b:c", "a:*:c", "a:**.*:c", "a:*.**:c", "z:z:z"]),
            ["a:*.**:c", "a:*:c", "z:z:z"]
        );
        assert_eq!(simp(&["a:**:c", "a:*:c", "a:b.c:c"]), ["a:**:c"]);
        assert!(simp(&[]).is_empty());
    }
}
