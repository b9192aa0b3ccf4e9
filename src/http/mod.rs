//! HTTP plumbing shared by every route: request ids, metrics, and the operational endpoints.
//!
//! The protocol adapters (admin API, OAuth2, pages) live in their own modules; this one holds what
//! wraps all of them.

pub mod api;
pub mod metrics;
pub mod oauth2;
pub mod ops;
pub mod request_id;
pub mod routes;
pub mod web;
