//! Clients: downstream applications (reference §1, §4), and their secrets.
//!
//! A `confidential` client authenticates with one of its secrets; a `public` client has none. Secrets
//! are high-entropy random strings stored as SHA-256 hex digests (reference §5): the hash never leaves the
//! store, [`ClientSecret`] is the metadata only.

use serde::{Deserialize, Serialize};

use crate::domain::signing_key::SigningAlg;

/// Whether a client can keep a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientType {
    /// Authenticates with a secret (`client_secret_basic` / `client_secret_post`).
    Confidential,
    /// Cannot keep a secret (SPAs, native apps): no secrets, PKCE required.
    Public,
}

impl ClientType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "confidential" => Some(Self::Confidential),
            "public" => Some(Self::Public),
            _ => None,
        }
    }
}

/// A stored client. Lists are kept in the order given (exact redirect URIs; scope patterns are
/// validated by the caller with the scope engine).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// An admin-chosen slug.
    pub id: String,
    pub name: String,
    pub client_type: ClientType,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// The ceiling of what the client may ever receive.
    pub scopes: Vec<String>,
    /// First-party: skip the consent screen.
    pub trusted: bool,
    pub enabled: bool,
    /// The client's own `machine` user (client_credentials); `None` when it has none (yet).
    pub machine_user_id: Option<String>,
    /// The algorithm its ID tokens are signed with (`id_token_signed_response_alg`); `None`: the
    /// default, RS256.
    pub id_token_alg: Option<SigningAlg>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Client {
    /// The algorithm of this client's ID tokens: the registered one, else RS256 (OpenID Connect
    /// Core §15.1: what a provider must support for clients that register none).
    pub fn id_token_alg(&self) -> SigningAlg {
        self.id_token_alg.unwrap_or(SigningAlg::Rs256)
    }
}

/// What `create_client` needs; the store sets the timestamps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewClient {
    pub id: String,
    pub name: String,
    pub client_type: ClientType,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub trusted: bool,
    pub enabled: bool,
    pub machine_user_id: Option<String>,
    pub id_token_alg: Option<SigningAlg>,
}

/// A partial update: `None` leaves a field as it is; lists, when given, replace the whole list;
/// `machine_user_id: Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientPatch {
    pub name: Option<String>,
    pub client_type: Option<ClientType>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub trusted: Option<bool>,
    pub enabled: Option<bool>,
    pub machine_user_id: Option<Option<String>>,
    /// `Some(None)` returns to the default (RS256).
    pub id_token_alg: Option<Option<SigningAlg>>,
}

/// A stored client secret's metadata (never the hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSecret {
    pub id: String,
    pub client_id: String,
    pub description: Option<String>,
    pub created_at: i64,
    /// The secret stops working at this time (unix seconds); `None`: never.
    pub expires_at: Option<i64>,
    /// Recorded sparingly by the caller (`touch_client_secret_by_hash`), not on every check.
    pub last_used_at: Option<i64>,
}

/// What `add_client_secret` / `rotate_client_secret` need; the store assigns id and `created_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewClientSecret {
    pub client_id: String,
    /// SHA-256 hex digest of the secret.
    pub secret_hash: String,
    pub description: Option<String>,
    pub expires_at: Option<i64>,
}

/// The first secret of a client that does not exist yet (`create_client`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitialClientSecret {
    /// SHA-256 hex digest of the secret.
    pub secret_hash: String,
    pub description: Option<String>,
    pub expires_at: Option<i64>,
}

impl InitialClientSecret {
    /// This secret for the client `client_id`.
    pub fn for_client(self, client_id: impl Into<String>) -> NewClientSecret {
        NewClientSecret {
            client_id: client_id.into(),
            secret_hash: self.secret_hash,
            description: self.description,
            expires_at: self.expires_at,
        }
    }
}
