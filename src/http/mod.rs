//! HTTP plumbing shared by every route: request ids, metrics, and the operational endpoints.
//!
//! The protocol adapters (admin API, OAuth2, pages) live in their own modules; this one holds what
//! wraps all of them.

pub mod metrics;
pub mod ops;
pub mod request_id;
