//! Credentials: link a user to an authority. `(authority_id, authority_user_id)` is unique: an
//! upstream identity maps to at most one user.

use serde::{Deserialize, Serialize};

/// A stored credential. `details` hold strategy data (a bcrypt hash, a profile snapshot): never
/// render them to anyone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    pub id: String,
    pub user_id: String,
    pub authority_id: String,
    /// The email address, the OIDC `sub`, the SAML NameID, or the user id for passwords.
    pub authority_user_id: String,
    pub details: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_used_at: Option<i64>,
}

/// What `create_credential` needs; the store assigns the id and timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredential {
    pub user_id: String,
    pub authority_id: String,
    pub authority_user_id: String,
    pub details: serde_json::Value,
}

/// A credential for a user that does not exist yet (`create_user_with_credentials`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUserCredential {
    pub authority_id: String,
    pub authority_user_id: String,
    pub details: serde_json::Value,
}

impl NewUserCredential {
    /// This credential for the user `user_id`.
    pub fn for_user(self, user_id: impl Into<String>) -> NewCredential {
        NewCredential {
            user_id: user_id.into(),
            authority_id: self.authority_id,
            authority_user_id: self.authority_user_id,
            details: self.details,
        }
    }
}

/// How a credential's identity was proven, kept in its `details` under `verification` (reference
/// §3.6). Only [`Verification::proves_email`] records make an address count as verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Verification {
    /// The holder followed a link emailed to the address.
    EmailLink { at: i64 },
    /// An upstream login (OpenID Connect or SAML) completed; `email_verified` is whether the
    /// authority vouched for the email address it sent.
    Upstream { at: i64, email_verified: bool },
    /// An administrator asserted it through the admin API; `by` is their user id. It proves
    /// nothing about an address until the holder signs in with it.
    Admin { at: i64, by: String },
    /// The holder set it themselves (a password).
    Holder { at: i64 },
}

impl Verification {
    /// The record in `details`, if any (credentials written before records existed have none).
    pub fn of(details: &serde_json::Value) -> Option<Self> {
        details
            .get("verification")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// Whether this record proves control of the credential's email address.
    pub fn proves_email(&self) -> bool {
        match self {
            Self::EmailLink { .. } => true,
            Self::Upstream { email_verified, .. } => *email_verified,
            Self::Admin { .. } | Self::Holder { .. } => false,
        }
    }

    /// The method's name as the API shows it.
    pub fn method(&self) -> &'static str {
        match self {
            Self::EmailLink { .. } => "email_link",
            Self::Upstream { .. } => "upstream",
            Self::Admin { .. } => "admin",
            Self::Holder { .. } => "holder",
        }
    }

    /// When it was proven (Unix seconds).
    pub fn at(&self) -> i64 {
        match self {
            Self::EmailLink { at } | Self::Upstream { at, .. } | Self::Admin { at, .. } => *at,
            Self::Holder { at } => *at,
        }
    }

    /// `details` with this record set under `verification` (other keys kept).
    pub fn written_into(&self, details: serde_json::Value) -> serde_json::Value {
        let mut map = match details {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        if let Ok(value) = serde_json::to_value(self) {
            map.insert("verification".to_owned(), value);
        }
        serde_json::Value::Object(map)
    }

    /// Whether `other` records the same proof (times aside): a sign-in rewrites the record only
    /// when what it proves changes.
    pub fn same_proof(&self, other: &Self) -> bool {
        match (self, other) {
            (
                Self::Upstream {
                    email_verified: a, ..
                },
                Self::Upstream {
                    email_verified: b, ..
                },
            ) => a == b,
            _ => self.method() == other.method(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_only_links_and_vouching_upstreams_prove_an_address() {
        let cases = [
            (Verification::EmailLink { at: 1 }, true),
            (
                Verification::Upstream {
                    at: 2,
                    email_verified: true,
                },
                true,
            ),
            (
                Verification::Upstream {
                    at: 2,
                    email_verified: false,
                },
                false,
            ),
            (
                Verification::Admin {
                    at: 3,
                    by: "root".into(),
                },
                false,
            ),
            (Verification::Holder { at: 4 }, false),
        ];
        for (record, proves) in cases {
            let details = record.written_into(serde_json::json!({"hash": "h"}));
            assert_eq!(details["hash"], "h", "other keys are kept");
            assert_eq!(details["verification"]["method"], record.method());
            assert_eq!(Verification::of(&details), Some(record.clone()));
            assert_eq!(record.proves_email(), proves, "{record:?}");
        }
        assert_eq!(Verification::of(&serde_json::json!({})), None);
        assert_eq!(
            Verification::of(&serde_json::json!({"verification": {"method": "x"}})),
            None
        );
    }
}
