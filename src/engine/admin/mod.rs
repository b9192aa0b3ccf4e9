//! The admin commands, one module per resource: each authorizes the actor, validates the input,
//! writes (in one transaction where it writes more than one row) and audits, in that order, in one
//! place. The admin API and the account pages call the same commands.

pub mod administrators;
pub mod api_keys;
pub mod authorities;
pub mod clients;
pub mod credentials;
pub mod roles;
pub mod users;
