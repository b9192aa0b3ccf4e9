//! Plain data types of the authx model (reference §1): users, roles, authorities, credentials and audit
//! events, as the store reads and writes them. No HTTP and no SQL here: adapters translate requests
//! into these types, the store persists them.
//!
//! Conventions: ids of rows the server creates are UUIDv7 strings (they sort by creation time, which
//! the store uses for cursor pagination); ids an administrator chooses (roles, authorities, clients)
//! are slugs (`[a-z0-9][a-z0-9_-]{0,62}`, see [`id::is_valid_slug`]); timestamps are `i64` unix
//! seconds (see [`now`]).

pub mod access;
pub mod api_key;
pub mod audit;
pub mod authority;
pub mod client;
pub mod credential;
pub mod email_token;
pub mod grant;
pub mod id;
pub mod role;
pub mod session;
pub mod signing_key;
pub mod token;
pub mod user;

/// The current time as unix seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A page request for cursor pagination: at most `limit` items (clamped to 1..=100 by
/// [`Page::clamped_limit`], the store applies it too) after the item whose id is `after`.
/// `Page::default()` is the first page of [`Page::DEFAULT_LIMIT`] items.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Page {
    pub limit: u32,
    pub after: Option<String>,
}

impl Default for Page {
    fn default() -> Self {
        Self::first(Self::DEFAULT_LIMIT)
    }
}

impl Page {
    /// The largest page the store returns.
    pub const MAX_LIMIT: u32 = 100;
    /// The page size when none is asked for.
    pub const DEFAULT_LIMIT: u32 = 50;

    /// The first page of `limit` items.
    pub fn first(limit: u32) -> Self {
        Self { limit, after: None }
    }

    /// The page of `limit` items after the item with id `after`.
    pub fn after(limit: u32, after: impl Into<String>) -> Self {
        Self {
            limit,
            after: Some(after.into()),
        }
    }

    /// `limit` clamped to `1..=MAX_LIMIT`.
    pub fn clamped_limit(&self) -> u32 {
        self.limit.clamp(1, Self::MAX_LIMIT)
    }
}
