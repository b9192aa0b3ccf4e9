//! Engine unit tests: the grants and the admin commands called directly, with the clock passed
//! in and no server (no HTTP, no listener), on an in-memory SQLite database. They sit beside the
//! integration suite under `tests/`, which drives the same rules through the adapters.

mod admin;
mod fixture;
mod grants;
