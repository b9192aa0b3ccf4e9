//! The contract shared by every authx login strategy (reference §3).
//!
//! A strategy (password, email, OpenID Connect, SAML) proves who someone is at an *authority* and
//! hands the server one thing: an [`UpstreamIdentity`], the verified `(authority_id,
//! authority_user_id, profile, email?)` that the server then resolves to a user (existing
//! credential, account linking, match by verified email, or user creation). Strategies never touch
//! the server's store or sessions; they depend only on this crate.
//!
//! The [`DetailsRules`] trait covers what the server does for every strategy alike: validating and
//! normalising the strategy-specific `details` object of an authority (the admin API stores it),
//! and redacting write-only secrets from it before it is shown. The interactive flows (checking a
//! password, issuing and redeeming an email link, the OIDC or SAML round trip) differ too much to
//! share one signature: each strategy crate exposes them as its own API, and the server's login
//! pages call them directly.
//!
//! [`StrategyError`] is what those flows return; its `Display` is safe to show to the person
//! logging in and never reveals whether an account exists.
//!
//! [`outbound`] is the rule for where the strategies' HTTP clients may connect, and [`network`]
//! the CIDR lists it (and the server's trusted proxies) are written in.

use serde::{Deserialize, Serialize};

pub mod network;
pub mod outbound;

/// Profile attributes an authority reports about the person; all optional, none verified.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpstreamProfile {
    /// The full name to show, e.g. "Ada Lovelace".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The given (first) name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// The family (last) name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// URL of a profile picture.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
}

/// The verified identity every strategy returns after a successful login (reference §3).
///
/// `authority_id` and `authority_user_id` together identify a credential; the server maps them to
/// a user. `email` is only a hint for linking and user creation unless `email_verified` is true —
/// the server never links accounts on an unverified address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamIdentity {
    /// The id of the authority (the configured strategy instance) that verified the person.
    pub authority_id: String,
    /// The person's stable identifier at that authority (OIDC `sub`, SAML NameID, the email
    /// address for the email strategy, the user id for the password strategy).
    pub authority_user_id: String,
    /// Profile attributes reported by the authority.
    pub profile: UpstreamProfile,
    /// The person's email address, lower-cased, if the authority reported one.
    pub email: Option<String>,
    /// Whether the authority asserts that the person controls `email`.
    pub email_verified: bool,
}

impl UpstreamIdentity {
    /// An identity with an empty profile and no email; set the rest with the builder methods.
    pub fn new(authority_id: impl Into<String>, authority_user_id: impl Into<String>) -> Self {
        Self {
            authority_id: authority_id.into(),
            authority_user_id: authority_user_id.into(),
            profile: UpstreamProfile::default(),
            email: None,
            email_verified: false,
        }
    }

    /// Sets the email address (lower-cased and trimmed here) and whether it is verified.
    #[must_use]
    pub fn with_email(mut self, email: &str, verified: bool) -> Self {
        self.email = Some(normalize_email(email));
        self.email_verified = verified;
        self
    }

    /// Sets the profile.
    #[must_use]
    pub fn with_profile(mut self, profile: UpstreamProfile) -> Self {
        self.profile = profile;
        self
    }
}

/// The canonical form of an email address for storage and comparison: trimmed, ASCII letters
/// lower-cased, everything else kept.
pub fn normalize_email(email: &str) -> String {
    // ASCII only: Unicode case folding merges distinct addresses (U+212A KELVIN SIGN lower-cases
    // to `k`), and an address that folds into someone else's must not become theirs.
    email.trim().to_ascii_lowercase()
}

/// Why a strategy refused or failed. Every `Display` is safe to show to the person logging in.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StrategyError {
    /// Unknown user or wrong password — deliberately one message for both, so the answer does not
    /// reveal whether an account exists.
    #[error("the email address/username or password is incorrect")]
    InvalidCredentials,
    /// A strategy `details` object (or a form field) is invalid; `field` names it, e.g.
    /// `details.min_length`.
    #[error("{field}: {message}")]
    InvalidDetails {
        /// The offending field, as a dotted path (`details.<name>`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A one-time link or token is expired, already used, unknown or tampered with — one message
    /// for all, so nothing is learnt by probing.
    #[error("this link is invalid or has expired; please request a new one")]
    TokenInvalid,
    /// The upstream authority (identity provider, mail server) failed or refused; the text is a
    /// short, non-secret description.
    #[error("the identity provider could not complete the login: {0}")]
    Upstream(String),
    /// An internal failure; the text is for logs and is not shown verbatim by the server.
    #[error("an internal error occurred")]
    Internal(String),
}

impl StrategyError {
    /// An [`StrategyError::InvalidDetails`] for `details.<name>`.
    pub fn invalid_detail(name: &str, message: impl Into<String>) -> Self {
        Self::InvalidDetails {
            field: format!("details.{name}"),
            message: message.into(),
        }
    }
}

/// What the server does alike for every strategy: validating and redacting an authority's
/// strategy-specific `details`.
///
/// Interactive flows (password check, email links, OIDC and SAML round trips) are not part of this
/// trait: each strategy crate exposes them as its own API.
pub trait DetailsRules: Send + Sync {
    /// The strategy's name as stored in `authorities.strategy`: `password`, `email`, `google`,
    /// `saml`.
    fn strategy(&self) -> &'static str;

    /// Validates an authority's `details` object and returns its normalised form (defaults filled
    /// in). `null` counts as `{}`. Unknown keys are errors; every error names the field as
    /// `details.<name>` (the object itself as `details`).
    fn validate_details(
        &self,
        details: &serde_json::Value,
    ) -> Result<serde_json::Value, StrategyError>;

    /// The `details` object as it may be shown: write-only secrets are removed and replaced by a
    /// marker (e.g. `client_secret` → `client_secret_set: true`).
    fn redact_details(&self, details: &serde_json::Value) -> serde_json::Value;
}

/// Helpers for implementing [`DetailsRules::validate_details`].
pub mod details {
    use serde_json::{Map, Value};

    use crate::StrategyError;

    /// The details as an object: `null` becomes `{}`, anything else that is not an object is an
    /// error on `details`. Keys outside `known` are errors naming the key.
    pub fn object(details: &Value, known: &[&str]) -> Result<Map<String, Value>, StrategyError> {
        let map = match details {
            Value::Null => Map::new(),
            Value::Object(map) => map.clone(),
            _ => {
                return Err(StrategyError::InvalidDetails {
                    field: "details".to_owned(),
                    message: "must be an object".to_owned(),
                });
            }
        };
        if let Some(unknown) = map.keys().find(|key| !known.contains(&key.as_str())) {
            let message = if known.is_empty() {
                "unknown field; this strategy takes no details".to_owned()
            } else {
                format!("unknown field; expected one of: {}", known.join(", "))
            };
            return Err(StrategyError::invalid_detail(unknown, message));
        }
        Ok(map)
    }

    /// `patch` applied to `target` as a JSON merge patch (RFC 7396): an object's members replace
    /// the target's, recursively for objects; a `null` member removes the key; anything that is
    /// not an object replaces the target whole. A partial update of an authority's details
    /// therefore changes only what it names and cannot drop a restriction by leaving it out.
    pub fn merge_patch(target: &Value, patch: &Value) -> Value {
        let Value::Object(patch) = patch else {
            return patch.clone();
        };
        let mut merged = match target {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        };
        for (key, value) in patch {
            if value.is_null() {
                merged.remove(key);
            } else {
                let current = merged.get(key).cloned().unwrap_or(Value::Null);
                merged.insert(key.clone(), merge_patch(&current, value));
            }
        }
        Value::Object(merged)
    }

    /// An optional unsigned integer field in `min..=max`; `default` when absent.
    pub fn integer_in(
        map: &Map<String, Value>,
        name: &str,
        min: u64,
        max: u64,
        default: u64,
    ) -> Result<u64, StrategyError> {
        match map.get(name) {
            None => Ok(default),
            Some(value) => value
                .as_u64()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| {
                    StrategyError::invalid_detail(
                        name,
                        format!("must be an integer from {min} to {max}"),
                    )
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let target = json!({"issuer": "https://a", "hosted_domains": ["corp.example"],
                            "nested": {"x": 1, "y": 2}});
        let merged = details::merge_patch(
            &target,
            &json!({"issuer": "https://b",
                                                          "nested": {"y": null, "z": 3}}),
        );
        assert_eq!(
            merged,
            json!({"issuer": "https://b", "hosted_domains": ["corp.example"],
                                  "nested": {"x": 1, "z": 3}})
        );
        assert_eq!(
            details::merge_patch(&target, &json!({"hosted_domains": null})).get("hosted_domains"),
            None
        );
        assert_eq!(details::merge_patch(&target, &json!([1])), json!([1]));
        assert_eq!(
            details::merge_patch(&json!(null), &json!({"a": 1})),
            json!({"a": 1})
        );
    }

    #[test]
    fn identity_lowercases_email() {
        let id = UpstreamIdentity::new("a1", "u1").with_email("  Ada@Example.COM ", true);
        assert_eq!(id.email.as_deref(), Some("ada@example.com"));
        assert!(id.email_verified);
        assert_eq!(id.profile, UpstreamProfile::default());
    }

    #[test]
    fn profile_serde_skips_absent() {
        let profile = UpstreamProfile {
            display_name: Some("Ada".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&profile).unwrap(),
            json!({"display_name": "Ada"})
        );
        let back: UpstreamProfile = serde_json::from_value(json!({})).unwrap();
        assert_eq!(back, UpstreamProfile::default());
    }

    #[test]
    fn error_messages_are_user_safe() {
        assert_eq!(
            StrategyError::InvalidCredentials.to_string(),
            "the email address/username or password is incorrect"
        );
        assert_eq!(
            StrategyError::Internal("db down at 10.0.0.1".into()).to_string(),
            "an internal error occurred"
        );
        assert_eq!(
            StrategyError::invalid_detail("min_length", "too big").to_string(),
            "details.min_length: too big"
        );
    }

    #[test]
    fn details_object_rejects_unknown_and_non_objects() {
        assert!(details::object(&json!(null), &[]).unwrap().is_empty());
        assert_eq!(
            details::object(&json!([]), &["a"]),
            Err(StrategyError::InvalidDetails {
                field: "details".into(),
                message: "must be an object".into()
            })
        );
        match details::object(&json!({"x": 1}), &["a"]) {
            Err(StrategyError::InvalidDetails { field, .. }) => assert_eq!(field, "details.x"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn details_integer_in_range() {
        let map = details::object(&json!({"n": 5, "bad": "x"}), &["n", "bad"]).unwrap();
        assert_eq!(details::integer_in(&map, "n", 1, 10, 3).unwrap(), 5);
        assert_eq!(details::integer_in(&map, "absent", 1, 10, 3).unwrap(), 3);
        assert!(details::integer_in(&map, "n", 6, 10, 7).is_err());
        assert!(details::integer_in(&map, "bad", 1, 10, 3).is_err());
    }
}
