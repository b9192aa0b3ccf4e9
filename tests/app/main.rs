//! The integration-test binary: every test drives the real authx (its store, the whole server on
//! port 0, or the `authx` binary) against a fresh SQLite file and, when `AUTHX_TEST_POSTGRES_URL` is
//! set, a fresh PostgreSQL database. One binary keeps link time down (each file under `tests/` would
//! be a separate link).

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// First, so its macros are visible in every test module.
#[macro_use]
mod support;

mod api_input;
mod api_keys;
mod api_matrix;
mod api_resources;
mod api_roles;
mod api_users;
mod bootstrap;
mod browser;
mod cli;
mod example_config;
mod examples;
mod intake;
mod layering;
mod login_core;
mod mail;
mod oauth2_endpoints;
mod oauth2_flows;
mod oauth2_negative;
mod oauth2_rp;
mod oauth2_standard_clients;
mod openapi;
mod ops;
mod outage;
mod schemathesis;
mod secrets_at_rest;
mod security_clients;
mod security_identity;
mod security_roles;
mod signing_keys;
mod slow_clients;
mod store;
mod store_keys;
mod store_sessions;
mod store_tokens;
mod store_upstream;
mod upstream_oidc;
mod upstream_saml;
mod walkthrough;
mod web_email;
mod web_pages;
mod web_password;
