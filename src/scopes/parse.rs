//! Syntax, validation and normal form: turns text into a [`Scope`] or a [`ScopeError`].
//!
//! Invariants every `Scope` upholds once built (the other submodules rely on them):
//! - it has exactly three domains, each with 1..=[`MAX_SEGMENTS`] segments;
//! - it is in normal form: in every run of adjacent wildcard segments that holds a `**`, the
//!   `**` is the run's last segment and the only `**` in it (`**.*` → `*.**`, `**.**` → `*.**`);
//! - `text` is the canonical spelling of the normal form, so two scopes denote the same pattern
//!   iff their texts are equal, and equality, ordering and hashing use the text alone;
//! - `segs` and the per-domain masks are derived from `text` and never change, so matching needs
//!   no parsing and no allocation.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The most segments one domain may have.
///
/// The matcher of [`Scope::covers`] keeps the positions of a domain as bits of a `u128`
/// (segments + 1 positions), which is what bounds this. Real scopes have a handful of segments.
///
/// ```
/// use authx::scopes::{MAX_SEGMENTS, Scope};
/// let long = vec!["a"; MAX_SEGMENTS + 1].join(".");
/// assert!(format!("x:{long}:y").parse::<Scope>().is_err());
/// ```
pub const MAX_SEGMENTS: usize = 64;

/// Why a text is not a valid scope. Every variant names the offending input (escaped, so a
/// trailing newline shows as `\n`) and says what is wrong; domains are numbered from 1.
///
/// ```
/// use authx::scopes::{Scope, ScopeError};
/// let err = "a:b..c:d".parse::<Scope>().unwrap_err();
/// assert_eq!(err.to_string(), "empty segment in domain 2 of 'a:b..c:d'");
/// assert!(matches!(err, ScopeError::EmptySegment { domain: 2, .. }));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// The input is the empty string.
    #[error("empty scope '': expected 'realm:resource:action'")]
    Empty,
    /// The input holds a character outside `[A-Za-z0-9_-]`, `*`, `.` and `:` (whitespace,
    /// control characters, non-ASCII, other punctuation).
    #[error("invalid character {ch:?} at byte {offset} of '{}'", .input.escape_debug())]
    InvalidChar {
        /// The whole input.
        input: String,
        /// The offending character.
        ch: char,
        /// Its byte offset in `input`.
        offset: usize,
    },
    /// The input does not have exactly three `:`-separated domains.
    #[error("expected 3 domains separated by ':' but found {found} in '{}'", .input.escape_debug())]
    DomainCount {
        /// The whole input.
        input: String,
        /// How many domains it has.
        found: usize,
    },
    /// A domain is empty (`a::c`).
    #[error("empty domain {domain} in '{}'", .input.escape_debug())]
    EmptyDomain {
        /// The whole input.
        input: String,
        /// Which domain (1, 2 or 3).
        domain: usize,
    },
    /// A segment is empty (`a:b..c:d`, `a:.b:c`, `a:b.:c`).
    #[error("empty segment in domain {domain} of '{}'", .input.escape_debug())]
    EmptySegment {
        /// The whole input.
        input: String,
        /// Which domain (1, 2 or 3).
        domain: usize,
    },
    /// A segment made only of three or more `*` (`***`).
    #[error("invalid wildcard '{segment}' in domain {domain} of '{}': a wildcard segment is exactly '*' or '**'", .input.escape_debug())]
    BadWildcard {
        /// The whole input.
        input: String,
        /// Which domain (1, 2 or 3).
        domain: usize,
        /// The offending segment.
        segment: String,
    },
    /// A segment mixes `*` with other characters (`a*`, `*a`, `a*b`).
    #[error("segment '{segment}' in domain {domain} of '{}' mixes '*' with text: a wildcard must be a whole segment", .input.escape_debug())]
    MixedWildcard {
        /// The whole input.
        input: String,
        /// Which domain (1, 2 or 3).
        domain: usize,
        /// The offending segment.
        segment: String,
    },
    /// A domain has more than [`MAX_SEGMENTS`] segments. Besides parsing, this can also come out
    /// of an intersection of two long patterns, whose result may be longer than either.
    #[error("domain {domain} of '{}' has {count} segments, more than the supported {max}", .input.escape_debug(), max = MAX_SEGMENTS)]
    TooManySegments {
        /// The whole input (or the computed pattern).
        input: String,
        /// Which domain (1, 2 or 3).
        domain: usize,
        /// How many segments it has.
        count: usize,
    },
}

/// One segment of a pattern while it is being parsed or built, borrowing literal text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tok<'a> {
    /// A literal segment, `[A-Za-z0-9_-]+`.
    Lit(&'a str),
    /// `*`: exactly one segment.
    Star,
    /// `**`: one or more segments.
    DStar,
}

impl Tok<'_> {
    fn is_wild(self) -> bool {
        !matches!(self, Tok::Lit(_))
    }
}

/// A stored segment: literals are byte ranges into the scope's own text, so a `Scope` is two
/// allocations however many segments it has, and comparing literals is comparing slices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    Lit { start: usize, end: usize },
    Star,
    DStar,
}

/// Per-domain data precomputed for the matchers (see `covers.rs`).
#[derive(Clone, Copy, Debug, Default)]
struct DomInfo {
    /// Range of this domain in `Scope::segs`.
    seg_start: usize,
    seg_end: usize,
    /// Range of this domain in `Scope::text`.
    text_start: usize,
    text_end: usize,
    /// Bit `i` set iff segment `i` is `*`.
    star: u128,
    /// Bit `i` set iff segment `i` is `**`.
    dstar: u128,
}

/// A borrowed view of one domain of a [`Scope`], what the algorithms work on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dom<'a> {
    text: &'a str,
    segs: &'a [Seg],
    /// The domain's own text (for the equal-text fast paths), as bytes: comparing bytes skips
    /// the char-boundary checks of `str` slicing, which show on the hot path.
    pub(crate) raw: &'a [u8],
    pub(crate) star: u128,
    pub(crate) dstar: u128,
}

impl<'a> Dom<'a> {
    /// Number of segments (1..=MAX_SEGMENTS).
    pub(crate) fn len(&self) -> usize {
        self.segs.len()
    }

    /// Segment `i` (`i < len`).
    pub(crate) fn tok(&self, i: usize) -> Tok<'a> {
        match self.segs[i] {
            Seg::Lit { start, end } => Tok::Lit(&self.text[start..end]),
            Seg::Star => Tok::Star,
            Seg::DStar => Tok::DStar,
        }
    }

    /// Segment `i` as literal bytes, `None` for a wildcard (`i < len`). The hot-path twin of
    /// [`Dom::tok`].
    #[inline]
    pub(crate) fn lit(&self, i: usize) -> Option<&'a [u8]> {
        match self.segs[i] {
            Seg::Lit { start, end } => Some(&self.text.as_bytes()[start..end]),
            Seg::Star | Seg::DStar => None,
        }
    }

    /// Whether the domain has no wildcard (denotes exactly one concrete domain).
    pub(crate) fn is_concrete(&self) -> bool {
        self.star | self.dstar == 0
    }
}

/// A validated pattern `realm:resource:action` in normal form.
///
/// Parse with [`str::parse`] / [`Scope::parse`]; [`Display`](fmt::Display) and `as_str` give the
/// normal form. Serialized as that string; deserializing validates (and normalizes). Equality,
/// ordering (byte order of the normal form) and hashing are those of the normal form, so
/// `"a:**.*:c"` and `"a:*.**:c"` are the same `Scope`.
///
/// ```
/// use authx::scopes::Scope;
/// let s: Scope = "AuthX:role.**.*:read".parse()?;
/// assert_eq!(s.to_string(), "AuthX:role.*.**:read");
/// assert!(s.covers(&"AuthX:role.admin.x:read".parse()?));
/// let json = serde_json::to_string(&s).unwrap();
/// assert_eq!(json, r#""AuthX:role.*.**:read""#);
/// assert!(serde_json::from_str::<Scope>(r#""a:b""#).is_err());
/// # Ok::<(), authx::scopes::ScopeError>(())
/// ```
#[derive(Clone)]
pub struct Scope {
    text: Box<str>,
    segs: Box<[Seg]>,
    doms: [DomInfo; 3],
}

impl Scope {
    /// Validates and normalizes `s`; same as `s.parse::<Scope>()`.
    ///
    /// ```
    /// use authx::scopes::Scope;
    /// assert_eq!(Scope::parse("a:**.**:c")?.as_str(), "a:*.**:c");
    /// assert!(Scope::parse("a:b*:c").is_err());
    /// # Ok::<(), authx::scopes::ScopeError>(())
    /// ```
    pub fn parse(s: &str) -> Result<Scope, ScopeError> {
        let doms = tokenize(s)?;
        Scope::build([&doms[0], &doms[1], &doms[2]])
    }

    /// The normal form as text.
    ///
    /// ```
    /// use authx::scopes::Scope;
    /// assert_eq!(Scope::parse("a:b:c")?.as_str(), "a:b:c");
    /// # Ok::<(), authx::scopes::ScopeError>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the scope has no wildcard, i.e. denotes exactly one concrete scope.
    ///
    /// ```
    /// use authx::scopes::Scope;
    /// assert!(Scope::parse("a:b:c")?.is_concrete());
    /// assert!(!Scope::parse("a:*:c")?.is_concrete());
    /// # Ok::<(), authx::scopes::ScopeError>(())
    /// ```
    pub fn is_concrete(&self) -> bool {
        self.doms.iter().all(|d| d.star | d.dstar == 0)
    }

    /// View of domain `d` (0, 1 or 2).
    pub(crate) fn dom(&self, d: usize) -> Dom<'_> {
        let info = &self.doms[d];
        Dom {
            text: &self.text,
            segs: &self.segs[info.seg_start..info.seg_end],
            raw: &self.text.as_bytes()[info.text_start..info.text_end],
            star: info.star,
            dstar: info.dstar,
        }
    }

    /// Builds a scope from three token sequences that are already valid segment by segment
    /// (from [`tokenize`] or from the intersection). Normalizes, and enforces
    /// [`MAX_SEGMENTS`] (the only check that can fail here).
    pub(crate) fn build(doms: [&[Tok<'_>]; 3]) -> Result<Scope, ScopeError> {
        let normal = doms.map(normalize_tokens);
        let mut text = String::with_capacity(normal.iter().map(|d| d.len() * 4).sum());
        let mut segs = Vec::with_capacity(normal.iter().map(Vec::len).sum());
        let mut infos = [DomInfo::default(); 3];
        for (d, toks) in normal.iter().enumerate() {
            if d > 0 {
                text.push(':');
            }
            let info = &mut infos[d];
            info.seg_start = segs.len();
            info.text_start = text.len();
            for (i, tok) in toks.iter().enumerate() {
                if i > 0 {
                    text.push('.');
                }
                // Bits beyond 127 are never read: an over-long domain is rejected below.
                let bit = 1u128.checked_shl(i as u32).unwrap_or(0);
                match tok {
                    Tok::Lit(l) => {
                        let start = text.len();
                        text.push_str(l);
                        segs.push(Seg::Lit {
                            start,
                            end: text.len(),
                        });
                    }
                    Tok::Star => {
                        text.push('*');
                        segs.push(Seg::Star);
                        info.star |= bit;
                    }
                    Tok::DStar => {
                        text.push_str("**");
                        segs.push(Seg::DStar);
                        info.dstar |= bit;
                    }
                }
            }
            info.seg_end = segs.len();
            info.text_end = text.len();
        }
        for (d, toks) in normal.iter().enumerate() {
            if toks.len() > MAX_SEGMENTS {
                return Err(ScopeError::TooManySegments {
                    input: text,
                    domain: d + 1,
                    count: toks.len(),
                });
            }
        }
        Ok(Scope {
            text: text.into_boxed_str(),
            segs: segs.into_boxed_slice(),
            doms: infos,
        })
    }
}

/// Rewrites every run of adjacent wildcards that holds at least one `**` as (run length − 1)
/// `*` followed by one `**`. Such a run matches "at least run-length segments" whatever the
/// order of its members, so this keeps the denoted set and makes the spelling canonical.
fn normalize_tokens<'a>(toks: &[Tok<'a>]) -> Vec<Tok<'a>> {
    let mut out = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        if !toks[i].is_wild() {
            out.push(toks[i]);
            i += 1;
            continue;
        }
        let run_end = toks[i..]
            .iter()
            .position(|t| !t.is_wild())
            .map_or(toks.len(), |p| i + p);
        let run = &toks[i..run_end];
        if run.contains(&Tok::DStar) {
            out.extend(std::iter::repeat_n(Tok::Star, run.len() - 1));
            out.push(Tok::DStar);
        } else {
            out.extend_from_slice(run);
        }
        i = run_end;
    }
    out
}

fn is_segment_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Checks the syntax of §2.1 and splits `input` into three token sequences (not yet
/// normalized). Checks run from the coarsest problem to the finest, so the error names the most
/// basic thing wrong: characters, then domain count, then each domain and segment in order.
pub(crate) fn tokenize(input: &str) -> Result<[Vec<Tok<'_>>; 3], ScopeError> {
    if input.is_empty() {
        return Err(ScopeError::Empty);
    }
    if let Some((offset, ch)) = input
        .char_indices()
        .find(|&(_, c)| !(is_segment_char(c) || c == '*' || c == '.' || c == ':'))
    {
        return Err(ScopeError::InvalidChar {
            input: input.to_owned(),
            ch,
            offset,
        });
    }
    let found = input.split(':').count();
    if found != 3 {
        return Err(ScopeError::DomainCount {
            input: input.to_owned(),
            found,
        });
    }
    let mut out: [Vec<Tok<'_>>; 3] = Default::default();
    for ((d, domain), toks) in input.split(':').enumerate().zip(out.iter_mut()) {
        let domain_no = d + 1;
        if domain.is_empty() {
            return Err(ScopeError::EmptyDomain {
                input: input.to_owned(),
                domain: domain_no,
            });
        }
        for seg in domain.split('.') {
            let tok = if seg.is_empty() {
                return Err(ScopeError::EmptySegment {
                    input: input.to_owned(),
                    domain: domain_no,
                });
            } else if seg == "*" {
                Tok::Star
            } else if seg == "**" {
                Tok::DStar
            } else if seg.bytes().all(|b| b == b'*') {
                return Err(ScopeError::BadWildcard {
                    input: input.to_owned(),
                    domain: domain_no,
                    segment: seg.to_owned(),
                });
            } else if seg.contains('*') {
                return Err(ScopeError::MixedWildcard {
                    input: input.to_owned(),
                    domain: domain_no,
                    segment: seg.to_owned(),
                });
            } else {
                Tok::Lit(seg)
            };
            toks.push(tok);
        }
        if toks.len() > MAX_SEGMENTS {
            return Err(ScopeError::TooManySegments {
                input: input.to_owned(),
                domain: domain_no,
                count: toks.len(),
            });
        }
    }
    Ok(out)
}

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Scope, ScopeError> {
        Scope::parse(s)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Scope").field(&&*self.text).finish()
    }
}

impl AsRef<str> for Scope {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl PartialEq for Scope {
    fn eq(&self, other: &Scope) -> bool {
        self.text == other.text
    }
}

impl Eq for Scope {}

impl PartialOrd for Scope {
    fn partial_cmp(&self, other: &Scope) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scope {
    fn cmp(&self, other: &Scope) -> std::cmp::Ordering {
        self.text.as_bytes().cmp(other.text.as_bytes())
    }
}

impl Hash for Scope {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Scope, D::Error> {
        // Owned, so that escaped JSON strings (which cannot be borrowed) work too.
        let s = String::deserialize(deserializer)?;
        Scope::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        match Scope::parse(s) {
            Ok(x) => x.to_string(),
            Err(e) => format!("ERR {e}"),
        }
    }

    #[test]
    fn normal_form_runs() {
        assert_eq!(norm("a:**.*:c"), "a:*.**:c");
        assert_eq!(norm("a:**.**:c"), "a:*.**:c");
        assert_eq!(norm("a:a.**.**.b:c"), "a:a.*.**.b:c");
        assert_eq!(norm("a:*.**.*:c"), "a:*.*.**:c");
        assert_eq!(norm("a:*.*:c"), "a:*.*:c");
        assert_eq!(norm("**:**.x.**.*:*"), "**:**.x.*.**:*");
    }

    #[test]
    fn literal_ranges_point_into_text() {
        let s = Scope::parse("ab:**.cd.*:e").unwrap_or_else(|_| unreachable!());
        let d = s.dom(1);
        assert_eq!(d.tok(0), Tok::DStar);
        assert_eq!(d.tok(1), Tok::Lit("cd"));
        assert_eq!(d.tok(2), Tok::Star);
        assert_eq!(d.raw, b"**.cd.*");
        assert_eq!(s.dom(2).tok(0), Tok::Lit("e"));
        assert_eq!(d.star, 0b100);
        assert_eq!(d.dstar, 0b001);
    }
}
