//! The server-rendered browser pages (reference §6), built with maud: plain HTML forms that work without
//! JavaScript. Every form carries the CSRF token ([`crate::http::web::csrf`]) and every POST checks it
//! before anything else; every response carries the security headers added by
//! [`crate::http::web::page`].

pub mod account;
pub mod account_grants;
pub mod consent;
pub mod email;
pub mod errors;
pub mod layout;
pub mod login;
pub mod logout;
pub mod reset;
pub mod signed_in;
pub mod upstream;
pub mod upstream_oidc;
pub mod upstream_saml;
pub mod upstream_start;

use poem::Request;

use crate::domain::audit::NewAuditEvent;
use crate::http::web::csrf::{CSRF_FIELD, verify_csrf};
use crate::http::web::pages::errors::PageError;

/// The fields of a submitted form, in order; repeated names (checkboxes) are kept. Read with
/// `Form<Vec<(String, String)>>`, so a missing field is simply absent rather than a 400.
#[derive(Debug, Default, Clone)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, or "".
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    /// The first value of `name` if present and not blank.
    pub fn opt(&self, name: &str) -> Option<&str> {
        Some(self.get(name)).filter(|v| !v.trim().is_empty())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Refuses (403 page) unless the form's CSRF field matches the request's cookie.
    pub fn check_csrf(&self, req: &Request) -> Result<(), PageError> {
        if verify_csrf(req, self.get(CSRF_FIELD)) {
            Ok(())
        } else {
            Err(PageError::csrf())
        }
    }
}

/// An audit event from a browser request: the actor (a user, or `anonymous`), the ip, the user
/// agent and the request id.
pub fn audit_event(req: &Request, user_id: Option<&str>, action: &str) -> NewAuditEvent {
    let actor_type = if user_id.is_some() {
        "user"
    } else {
        "anonymous"
    };
    crate::http::context(req).event(actor_type, user_id, action)
}

/// Percent-encodes a query-string value.
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
