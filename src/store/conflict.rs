//! Unique-key conflicts as a typed kind: which key a write clashed with, so callers can say which
//! field is taken without reading driver text. PostgreSQL names the violated constraint and its
//! table; SQLite names only the columns (`UNIQUE constraint failed: users.username`), which is
//! the one place a driver message is read, and only for table and column names.

use std::fmt;
use std::ops::Deref;

/// The unique keys of the schema a write can clash with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueKey {
    UserId,
    Username,
    CredentialId,
    /// One credential per `(authority_id, authority_user_id)`.
    CredentialIdentity,
    RoleId,
    RoleScope,
    RoleDeny,
    RoleMember,
    AuthorityId,
    AuditEventId,
    ClientId,
    ClientSecretId,
    ClientSecretHash,
    GrantId,
    /// One grant per `(user_id, client_id)`.
    GrantPair,
    ApiKeyId,
    ApiKeyHash,
    Session,
    UpstreamLogin,
    SamlAssertion,
    EmailTokenHash,
    /// One active signing key per algorithm.
    ActiveSigningKey,
    SigningKeyId,
    /// A key this list does not know yet.
    Other,
}

impl UniqueKey {
    /// The key of `table` the database named by `hint` (a constraint name or a column list).
    pub fn of(table: &str, hint: &str) -> Self {
        match table {
            "users" if hint.contains("username") => Self::Username,
            "users" => Self::UserId,
            "credentials" if hint.contains("authority") => Self::CredentialIdentity,
            "credentials" => Self::CredentialId,
            "roles" => Self::RoleId,
            "role_scopes" => Self::RoleScope,
            "role_deny" => Self::RoleDeny,
            "role_members" => Self::RoleMember,
            "authorities" => Self::AuthorityId,
            "audit_events" => Self::AuditEventId,
            "clients" => Self::ClientId,
            "client_secrets" if hint.contains("secret_hash") => Self::ClientSecretHash,
            "client_secrets" => Self::ClientSecretId,
            "grants" if hint.contains("user") => Self::GrantPair,
            "grants" => Self::GrantId,
            "api_keys" if hint.contains("key_hash") => Self::ApiKeyHash,
            "api_keys" => Self::ApiKeyId,
            "sessions" => Self::Session,
            "upstream_logins" => Self::UpstreamLogin,
            "saml_assertions" => Self::SamlAssertion,
            "email_tokens" => Self::EmailTokenHash,
            "signing_keys"
                if hint.contains("status")
                    || hint.contains("one_active")
                    || hint.contains("alg") =>
            {
                Self::ActiveSigningKey
            }
            "signing_keys" => Self::SigningKeyId,
            _ => Self::Other,
        }
    }

    /// The input field the key is about, as the admin API names fields; `None` for keys no
    /// caller chooses (hashes, generated ids).
    pub fn field(self) -> Option<&'static str> {
        match self {
            Self::Username => Some("username"),
            Self::CredentialIdentity => Some("authority_user_id"),
            Self::RoleId | Self::AuthorityId | Self::ClientId => Some("id"),
            Self::RoleScope => Some("scopes"),
            Self::RoleDeny => Some("deny"),
            Self::RoleMember => Some("user_id"),
            Self::GrantPair => Some("client_id"),
            Self::ActiveSigningKey => Some("alg"),
            _ => None,
        }
    }

    /// What clashed, in words.
    pub fn message(self) -> &'static str {
        match self {
            Self::UserId => "user id already exists",
            Self::Username => "a user with this username already exists",
            Self::CredentialId => "credential id already exists",
            Self::CredentialIdentity => {
                "credential (authority_id, authority_user_id) already exists"
            }
            Self::RoleId => "role id already exists",
            Self::RoleScope => "duplicate role scope pattern",
            Self::RoleDeny => "duplicate role deny pattern",
            Self::RoleMember => "role membership already exists",
            Self::AuthorityId => "authority id already exists",
            Self::AuditEventId => "audit event id already exists",
            Self::ClientId => "client id already exists",
            Self::ClientSecretId => "client secret id already exists",
            Self::ClientSecretHash => "client secret hash already exists",
            Self::GrantId => "grant id already exists",
            Self::GrantPair => "grant (user_id, client_id) already exists",
            Self::ApiKeyId => "api key id already exists",
            Self::ApiKeyHash => "api key hash already exists",
            Self::Session => "session already exists",
            Self::UpstreamLogin => "pending upstream login already exists",
            Self::SamlAssertion => "assertion already recorded",
            Self::EmailTokenHash => "email token hash already exists",
            Self::ActiveSigningKey => "another signing key of this algorithm is already active",
            Self::SigningKeyId => "signing key id already exists",
            Self::Other => "a row with the same unique key already exists",
        }
    }
}

/// A write refused by a unique key: the key, and a message naming what clashed (the key's own
/// words, or the store's more precise ones, such as "client 'shop' already exists"). It reads
/// as its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub key: UniqueKey,
    pub message: String,
}

impl Conflict {
    /// A clash on `key`, in the key's words.
    pub fn on(key: UniqueKey) -> Self {
        Self {
            key,
            message: key.message().to_owned(),
        }
    }

    /// The same clash in more precise words.
    #[must_use]
    pub fn saying(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }
}

impl Deref for Conflict {
    type Target = str;

    fn deref(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::UniqueKey;

    #[test]
    fn both_drivers_hints_name_the_same_key() {
        // PostgreSQL's constraint names and SQLite's column lists.
        assert_eq!(
            UniqueKey::of("users", "users_username_key"),
            UniqueKey::Username
        );
        assert_eq!(
            UniqueKey::of("users", "users.username"),
            UniqueKey::Username
        );
        assert_eq!(UniqueKey::of("users", "users_pkey"), UniqueKey::UserId);
        assert_eq!(
            UniqueKey::of(
                "credentials",
                "credentials.authority_id, credentials.authority_user_id"
            ),
            UniqueKey::CredentialIdentity
        );
        assert_eq!(
            UniqueKey::of("clients", "clients_pkey"),
            UniqueKey::ClientId
        );
        assert_eq!(UniqueKey::ClientId.field(), Some("id"));
        assert_eq!(UniqueKey::of("nope", ""), UniqueKey::Other);
        assert_eq!(UniqueKey::ApiKeyHash.field(), None);
    }
}
