//! Exact pattern inclusion: `a.covers(b)` iff every concrete scope matched by `b` is matched by
//! `a` (L(b) ⊆ L(a)), with no false negatives, on the stack (see "Cost" for the one case that
//! allocates).
//!
//! A scope's set is the product of its three domains' sets, none of them empty, so inclusion of
//! scopes is inclusion in each domain. Within a domain, pattern `a` is read as an NFA over
//! segments whose states are the positions `0..=len(a)` (bit `i` of a `u128` = "the first `i`
//! segments of `a` are matched"; hence [`MAX_SEGMENTS`](super::MAX_SEGMENTS)):
//! a literal or `*` at `i` moves to `i + 1`, a `**` at `i` moves to `i + 1` (it may stop) and
//! stays at `i` (it still has to eat at least one more segment). Position `len(a)` accepts.
//!
//! `b` is read symbolically, segment by segment, keeping the state set:
//! - a literal of `b` steps the NFA on that literal;
//! - a `*` of `b` steps on a *fresh* literal, one that no literal of `a` equals. Any literal
//!   reaches a superset of the states a fresh one reaches, acceptance is monotone in the state
//!   set, and fresh literals exist (the alphabet is infinite), so the fresh literal is the
//!   adversary's best choice and checking it alone is exact;
//! - a `**` of `b` means "fresh literal k times" for an adversary-chosen k ≥ 1, so every k must
//!   lead to acceptance. After `len(a) + 1` fresh steps the state set no longer changes (only
//!   states reachable through a `**` self-loop survive that long), so we branch over k until the
//!   set reaches a fixed point, recursing for the rest of `b`. Branches whose state set is a
//!   superset of one already accepted are skipped (monotonicity again).
//!
//! Cost: one pass over `b` with a few word operations per segment when `b` has no `**` (the hot
//! path: concrete scopes); each `**` of `b` multiplies by at most `len(a) + 2` branches. Real
//! patterns have one or two `**`, so this stays tiny and allocation-free. Past a budget of
//! branches (patterns with many `**` on both sides) the search memoizes the `(position in b,
//! state set)` pairs proven to accept, in a heap `HashSet`, which bounds the work by the number
//! of distinct pairs instead of the number of paths.

use std::collections::HashSet;

use super::MAX_SEGMENTS;
use super::parse::{Dom, Scope};

/// Whether the domain pattern `a` covers the domain pattern `b`.
pub(crate) fn dom_covers(a: &Dom<'_>, b: &Dom<'_>) -> bool {
    // Normal forms are canonical spellings: equal text ⇒ equal sets.
    if a.raw == b.raw {
        return true;
    }
    // A concrete `a` denotes one domain; `b` differs from it, so either it is another concrete
    // domain or it has a wildcard and denotes infinitely many.
    if a.is_concrete() {
        return false;
    }
    // The hot path: a concrete `b` is one word, a plain NFA run.
    if b.is_concrete() {
        let mut states = 1u128;
        for j in 0..b.len() {
            let Some(lit) = b.lit(j) else {
                return false; // unreachable: `b` is concrete
            };
            states = step_lit(a, states, lit);
            if states == 0 {
                return false;
            }
        }
        return states & (1u128 << a.len()) != 0;
    }
    Search {
        a,
        b,
        branches: 0,
        memo: None,
    }
    .accepts_all(1, 0)
}

/// Whether the state set `small` is included in `big`.
#[inline]
fn is_subset(small: u128, big: u128) -> bool {
    small & !big == 0
}

/// Steps the NFA of `a` from `states` on a fresh literal (one only wildcards accept).
#[inline]
fn step_fresh(a: &Dom<'_>, states: u128) -> u128 {
    let d = states & a.dstar;
    ((states & a.star) << 1) | d | (d << 1)
}

/// Steps the NFA of `a` from `states` on the literal `lit`.
#[inline]
fn step_lit(a: &Dom<'_>, states: u128, lit: &[u8]) -> u128 {
    let mut next = step_fresh(a, states);
    let mut lits = states & !(a.star | a.dstar);
    let len = a.len();
    while lits != 0 {
        let i = lits.trailing_zeros() as usize;
        lits &= lits - 1;
        // Position `len` is the accepting state, it has no outgoing segment.
        if i < len && a.lit(i) == Some(lit) {
            next |= 1u128 << (i + 1);
        }
    }
    next
}

/// How many `**` branches the search explores before it starts remembering the
/// `(position in b, state set)` pairs already proven to accept. Real patterns never get near
/// it, so the hot path stays allocation-free; adversarial ones (many `**` on both sides) switch
/// to the memo, which keeps them from blowing up exponentially.
const BRANCH_BUDGET: u32 = 512;

/// How many accepted state sets one `**` branching remembers for skipping supersets.
const REMEMBERED: usize = 8;

/// The search over the words of `b`, with its lazily allocated memo.
struct Search<'x, 'a> {
    a: &'x Dom<'a>,
    b: &'x Dom<'a>,
    branches: u32,
    memo: Option<HashSet<(usize, u128)>>,
}

impl Search<'_, '_> {
    /// Whether every concrete word of `b[j..]` takes the NFA of `a` from `states` to
    /// acceptance.
    fn accepts_all(&mut self, mut states: u128, mut j: usize) -> bool {
        let (a, b) = (self.a, self.b);
        let accept = 1u128 << a.len();
        while j < b.len() {
            if states == 0 {
                return false;
            }
            match b.lit(j) {
                Some(lit) => states = step_lit(a, states, lit),
                None if b.dstar & (1u128 << j) != 0 => return self.accepts_all_repeats(states, j),
                None => states = step_fresh(a, states),
            }
            j += 1;
        }
        states & accept != 0
    }

    /// `b[j]` is `**`: every k ≥ 1 fresh literals, followed by any word of `b[j + 1..]`, must
    /// be accepted from `states`.
    fn accepts_all_repeats(&mut self, states: u128, j: usize) -> bool {
        if self.memo.as_ref().is_some_and(|m| m.contains(&(j, states))) {
            return true;
        }
        // The first few sets already accepted, so that supersets of them can be skipped
        // (remembering fewer only prunes less; a small array keeps this cheap to set up).
        let mut accepted = [0u128; REMEMBERED];
        let mut n_accepted = 0;
        let mut cur = step_fresh(self.a, states);
        for _ in 0..MAX_SEGMENTS + 2 {
            let dominated = accepted[..n_accepted].iter().any(|&s| is_subset(s, cur));
            if !dominated {
                self.branches = self.branches.saturating_add(1);
                if !self.accepts_all(cur, j + 1) {
                    return false;
                }
                if n_accepted < REMEMBERED {
                    accepted[n_accepted] = cur;
                    n_accepted += 1;
                }
            }
            let next = step_fresh(self.a, cur);
            if next == cur {
                if self.branches > BRANCH_BUDGET {
                    self.memo
                        .get_or_insert_with(HashSet::new)
                        .insert((j, states));
                }
                return true;
            }
            cur = next;
        }
        // Unreachable: the sequence is constant after len(a) + 1 ≤ MAX_SEGMENTS + 1 steps
        // (see the module docs). Answering "not covered" is the safe side.
        false
    }
}

impl Scope {
    /// Whether this pattern covers `other`: every concrete scope `other` matches, `self` matches
    /// too (exact set inclusion; both may hold wildcards).
    ///
    /// No heap allocation when `other` is concrete (the authorization hot path), nor for any
    /// pattern with a few `**`; only a search past a large budget (many `**` on both sides)
    /// allocates its memo (see the module docs of `covers.rs`).
    ///
    /// ```
    /// use authx::scopes::Scope;
    /// let p = |s: &str| s.parse::<Scope>().unwrap();
    /// assert!(p("AuthX:role.*:update.**").covers(&p("AuthX:role.42:update.scopes")));
    /// assert!(p("x:*.**:y").covers(&p("x:**.a:y")));
    /// assert!(!p("x:*:y").covers(&p("x:**:y")));
    /// assert!(!p("x:role.*:y").covers(&p("x:role:y")));
    /// ```
    pub fn covers(&self, other: &Scope) -> bool {
        (0..3).all(|d| dom_covers(&self.dom(d), &other.dom(d)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn covers(a: &str, b: &str) -> bool {
        let a: Scope = format!("x:{a}:y").parse().unwrap();
        let b: Scope = format!("x:{b}:y").parse().unwrap();
        a.covers(&b)
    }

    #[test]
    fn domain_cases() {
        assert!(covers("*.**", "**.a"));
        assert!(covers("**.*", "**.b"));
        assert!(covers("a.*.**", "a.**.b"));
        assert!(covers("**", "*"));
        assert!(covers("**", "a.b.c"));
        assert!(!covers("*", "**"));
        assert!(!covers("a.**", "a"));
        assert!(!covers("a.**.b", "a.b"));
        assert!(covers("a.**.b", "a.c.b"));
        assert!(!covers("role.*", "role"));
        assert!(!covers("role.*", "role.a.b"));
        assert!(covers("**.a.**", "b.a.a.**"));
        assert!(!covers("**.a.**", "**.b"));
        assert!(covers("**.a.**", "**.a.b.**"));
        assert!(!covers("*.a", "**.a"));
        assert!(covers("**", "**"));
    }
}
