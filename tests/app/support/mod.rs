//! Shared test support: throwaway databases, a running authx, and the `authx` binary.

pub mod app;
pub mod binary;
pub mod db;
pub mod principals;
