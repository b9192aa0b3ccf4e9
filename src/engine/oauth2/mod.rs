//! The OAuth 2.0 / OpenID Connect provider's rules (reference §4): the grants of the token endpoint,
//! the authorization decision, client authentication (RFC 6749 §2.3), the token checks behind
//! introspection, userinfo and the admin API, revocation (RFC 7009), the JWTs and their signing
//! keys, scopes and PKCE. The wire formats (forms, JSON answers, redirects) are `http::oauth2`'s.
//!
//! The checks are the hottest paths of the server (downstream services call them per request):
//! no bcrypt, no writes, and a per-node decision cache of at most a second, so a revocation or a
//! role change shows within a second everywhere.

pub mod authorize;
pub mod bearer;
pub mod claims;
pub mod client_auth;
pub mod error;
pub mod grant;
pub mod introspect;
pub mod jwt;
pub mod keys;
pub mod logout;
pub mod origins;
pub mod params;
pub mod pkce;
pub mod redirect;
pub mod revoke;
pub mod scope;
