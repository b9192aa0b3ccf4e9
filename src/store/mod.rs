//! Persistence: one small async trait per aggregate, [`StoreError`], and [`connect`], which picks the
//! backend (SQLite or PostgreSQL) by the URL scheme.
//!
//! Both backends use concrete sqlx drivers. Each aggregate's SQL is written once, in `sql/*.rs`, and
//! compiled into both backend modules with `#[path]`; those files see the backend only through the
//! items each backend module defines (`Db`, `Pool`, `Backend`, `begin_write`, `map_err`). Queries
//! use `$N` placeholders, which both drivers accept, and keep each SQL string's bind types fixed
//! (PostgreSQL caches statements by text).
//!
//! Conventions: `get_*`/`find_*` return `Ok(None)` for a missing row; updates and deletes of a missing
//! row return [`StoreError::NotFound`]. Uniqueness is enforced by the database and reported as
//! [`StoreError::Conflict`], missing referenced rows as [`StoreError::Reference`]; error messages
//! never contain driver text or values from the database. List methods take a [`Page`] whose limit
//! is clamped to 1..=100 and whose cursor is the id of the last item of the previous page.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use conflict::{Conflict, UniqueKey};

use crate::domain::Page;
use crate::domain::api_key::{ApiKey, ApiKeyFilter, NewApiKey};
use crate::domain::audit::{AuditEvent, AuditFilter, NewAuditEvent};
use crate::domain::authority::{Authority, AuthorityPatch, NewAuthority};
use crate::domain::client::{
    Client, ClientPatch, ClientSecret, InitialClientSecret, NewClient, NewClientSecret,
};
use crate::domain::credential::{Credential, NewCredential, NewUserCredential};
use crate::domain::email_token::{EmailToken, EmailTokenPurpose, NewEmailToken};
use crate::domain::grant::{Grant, GrantFilter};
use crate::domain::role::{NewRole, Role, RolePatch, UserAccess};
use crate::domain::session::{NewSession, Session};
use crate::domain::signing_key::{SigningAlg, SigningKey};
use crate::domain::token::{
    AccessTokenRecord, AuthorizationCode, NewAccessToken, NewAuthorizationCode, NewRefreshToken,
    RefreshToken,
};
use crate::domain::user::{NewUser, User, UserFilter, UserPatch};
use crate::sealing::{Reseal, Sealer};

pub mod conflict;
pub mod outage;
pub mod postgres;
pub mod sqlite;

/// Errors of the storage layer. `Display` never contains driver text, SQL or stored values, so it is
/// safe to log; the `source()` chain carries the driver error for the logs of 500s.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row to update or delete does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness constraint was violated: which key, and a message naming what clashed.
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// A referenced row does not exist (foreign-key violation); the message names it.
    #[error("reference: {0}")]
    Reference(String),
    /// The database cannot be reached (connection refused, pool timeout, I/O, busy).
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Applying the migrations failed.
    #[error("database migration failed")]
    Migration(#[source] sqlx::migrate::MigrateError),
    /// The database URL is not usable (unknown scheme, unparsable); never echoes the URL.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// Any other database error.
    #[error("database error")]
    Backend(#[source] sqlx::Error),
    /// A value given to the store cannot be stored (e.g. text with a NUL character on PostgreSQL);
    /// the message says why, never which value.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// A stored value could not be decoded (bad JSON, unknown enum value).
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// A secret could not be sealed or opened (no key, another node's key, tampered with).
    #[error(transparent)]
    Sealed(#[from] crate::sealing::SealError),
}

/// How to connect. Independent of the config module on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// `sqlite:path`, `sqlite://path`, `sqlite::memory:`, `postgres://…` or `postgresql://…`.
    pub url: String,
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before [`StoreError::Unavailable`].
    pub acquire_timeout: Duration,
}

impl ConnectOptions {
    /// Options with the defaults: 8 connections, 5 s acquire timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// Connection-pool figures for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
}

/// Connects to the database named by `opts.url` (eagerly: an unreachable database is reported now,
/// as [`StoreError::Unavailable`]), sealing and opening secrets at rest with `sealer`. Does not run
/// migrations; call [`Store::migrate`].
pub async fn connect(
    opts: &ConnectOptions,
    sealer: Arc<Sealer>,
) -> Result<Arc<dyn Store>, StoreError> {
    let scheme = opts
        .url
        .split_once(':')
        .map(|(scheme, _)| scheme)
        .ok_or_else(|| StoreError::InvalidUrl("missing URL scheme".to_owned()))?;
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => Ok(Arc::new(sqlite::SqliteStore::connect(opts, sealer).await?)),
        "postgres" | "postgresql" => Ok(Arc::new(postgres::PgStore::connect(opts, sealer).await?)),
        _ => {
            // Only the scheme is echoed, and only if it looks like one (no credentials can hide in it).
            let shown = if !scheme.is_empty()
                && scheme.len() <= 32
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
            {
                format!("unsupported scheme '{scheme}' (use sqlite: or postgres://)")
            } else {
                "unsupported scheme (use sqlite: or postgres://)".to_owned()
            };
            Err(StoreError::InvalidUrl(shown))
        }
    }
}

/// Everything the server persists (so far), plus administration of the connection.
#[async_trait]
pub trait Store:
    UserStore
    + RoleStore
    + AuthorityStore
    + CredentialStore
    + AuditStore
    + ClientStore
    + ApiKeyStore
    + GrantStore
    + SessionStore
    + EmailTokenStore
    + RateLimitStore
    + SigningKeyStore
    + TokenStore
    + UpstreamLoginStore
    + Send
    + Sync
{
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;
    /// A round trip (`SELECT 1`), for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Applies the embedded migrations that are not applied yet; returns how many were applied.
    /// Idempotent, and safe to run from several nodes at once.
    async fn migrate(&self) -> Result<usize, StoreError>;
    /// Rewrites the stored secrets `mode` names under the current key (see `crate::sealing`);
    /// returns how many values were rewritten. Idempotent, and safe beside a running server.
    async fn reseal_secrets(&self, mode: Reseal) -> Result<usize, StoreError>;
    fn pool_stats(&self) -> PoolStats;
    /// Closes the pool, waiting for checked-out connections to return.
    async fn close(&self);
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user with a new UUIDv7 id. The email is lower-cased.
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError>;
    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError>;
    /// Exact match on the username.
    async fn find_user_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;
    async fn update_user(&self, id: &str, patch: UserPatch) -> Result<User, StoreError>;
    /// Deletes the user with its credentials, role memberships, grants, tokens, keys and sessions.
    async fn delete_user(&self, id: &str) -> Result<(), StoreError>;
    /// Users matching `filter`, ordered by id (= creation).
    async fn list_users(&self, filter: &UserFilter, page: &Page) -> Result<Vec<User>, StoreError>;
    /// Creates a user, its credentials and its role memberships in one transaction: all or nothing.
    async fn create_user_with_credentials(
        &self,
        user: NewUser,
        credentials: Vec<NewUserCredential>,
        role_ids: Vec<String>,
    ) -> Result<User, StoreError>;
}

#[async_trait]
pub trait RoleStore: Send + Sync {
    /// Creates the role with its scope and deny patterns in one transaction.
    async fn create_role(&self, role: NewRole) -> Result<Role, StoreError>;
    async fn get_role(&self, id: &str) -> Result<Option<Role>, StoreError>;
    /// Roles ordered by id.
    async fn list_roles(&self, page: &Page) -> Result<Vec<Role>, StoreError>;
    /// Updates the role; given `scopes`/`deny` lists replace the old ones atomically.
    async fn update_role(&self, id: &str, patch: RolePatch) -> Result<Role, StoreError>;
    /// Deletes the role with its patterns and memberships.
    async fn delete_role(&self, id: &str) -> Result<(), StoreError>;
    /// Makes the user an explicit member; idempotent.
    async fn add_role_member(&self, role_id: &str, user_id: &str) -> Result<(), StoreError>;
    /// `NotFound` when the user is not an explicit member.
    async fn remove_role_member(&self, role_id: &str, user_id: &str) -> Result<(), StoreError>;
    /// Ids of the explicit members, ordered by user id (empty for an unknown role).
    async fn list_role_members(
        &self,
        role_id: &str,
        page: &Page,
    ) -> Result<Vec<String>, StoreError>;
    /// The roles the user is an explicit member of (enabled or not), ordered by id.
    async fn roles_of_user(&self, user_id: &str) -> Result<Vec<Role>, StoreError>;
    /// The hot path: the user's status and the patterns of every enabled role that includes the user
    /// (explicit or default), in one query. `None` for an unknown user.
    async fn access_of_user(&self, user_id: &str) -> Result<Option<UserAccess>, StoreError>;
}

#[async_trait]
pub trait AuthorityStore: Send + Sync {
    async fn create_authority(&self, authority: NewAuthority) -> Result<Authority, StoreError>;
    async fn get_authority(&self, id: &str) -> Result<Option<Authority>, StoreError>;
    /// All authorities ordered by id (there are few).
    async fn list_authorities(&self) -> Result<Vec<Authority>, StoreError>;
    async fn update_authority(
        &self,
        id: &str,
        patch: AuthorityPatch,
    ) -> Result<Authority, StoreError>;
    /// Refused with `Reference` while credentials still use the authority.
    async fn delete_authority(&self, id: &str) -> Result<(), StoreError>;
}

#[async_trait]
pub trait CredentialStore: Send + Sync {
    async fn create_credential(&self, credential: NewCredential) -> Result<Credential, StoreError>;
    async fn get_credential(&self, id: &str) -> Result<Option<Credential>, StoreError>;
    async fn find_credential(
        &self,
        authority_id: &str,
        authority_user_id: &str,
    ) -> Result<Option<Credential>, StoreError>;
    /// The user's credentials ordered by id (= creation).
    async fn list_credentials_of_user(&self, user_id: &str) -> Result<Vec<Credential>, StoreError>;
    /// Ids of the users holding a credential at `authority_id`, ordered by user id: whom the
    /// authority can sign in.
    async fn users_with_credential_at(
        &self,
        authority_id: &str,
        page: &Page,
    ) -> Result<Vec<String>, StoreError>;
    async fn update_credential_details(
        &self,
        id: &str,
        details: serde_json::Value,
    ) -> Result<Credential, StoreError>;
    /// Records a use (successful login) at `at`.
    async fn touch_credential(&self, id: &str, at: i64) -> Result<(), StoreError>;
    async fn delete_credential(&self, id: &str) -> Result<(), StoreError>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn append_audit(&self, event: NewAuditEvent) -> Result<AuditEvent, StoreError>;
    /// Events matching `filter`, newest first; the cursor is the id of the last event seen.
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: &Page,
    ) -> Result<Vec<AuditEvent>, StoreError>;
}

#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Creates the client and, if given, its first secret in one transaction: all or nothing.
    async fn create_client(
        &self,
        client: NewClient,
        secret: Option<InitialClientSecret>,
    ) -> Result<(Client, Option<ClientSecret>), StoreError>;
    async fn get_client(&self, id: &str) -> Result<Option<Client>, StoreError>;
    /// Clients ordered by id.
    async fn list_clients(&self, page: &Page) -> Result<Vec<Client>, StoreError>;
    /// Updates the client in one statement; given lists replace the old ones.
    async fn update_client(&self, id: &str, patch: ClientPatch) -> Result<Client, StoreError>;
    /// Deletes the client with its secrets and grants (and, through the grants, codes and tokens).
    async fn delete_client(&self, id: &str) -> Result<(), StoreError>;
    /// Adds a secret to an existing client (`Reference` for an unknown client).
    async fn add_client_secret(&self, secret: NewClientSecret) -> Result<ClientSecret, StoreError>;
    /// The client's secrets (metadata, expired ones included) ordered by id (= creation).
    async fn list_client_secrets(&self, client_id: &str) -> Result<Vec<ClientSecret>, StoreError>;
    /// `NotFound` unless `secret_id` is a secret of `client_id`.
    async fn delete_client_secret(
        &self,
        client_id: &str,
        secret_id: &str,
    ) -> Result<(), StoreError>;
    /// In one transaction: adds `secret` and makes every other secret of the client expire at
    /// `retire_others_at` at the latest (`now`: at once; `now + grace`: after a grace period).
    async fn rotate_client_secret(
        &self,
        secret: NewClientSecret,
        retire_others_at: i64,
    ) -> Result<ClientSecret, StoreError>;
    /// The hot path, one indexed query and no write: the client if it has a secret with exactly
    /// this hash that has not expired at `now` (enabled or not: the caller checks `enabled`).
    async fn authenticate_client(
        &self,
        client_id: &str,
        secret_hash: &str,
        now: i64,
    ) -> Result<Option<Client>, StoreError>;
    /// Records a use of the secret with this hash at `at`; call sparingly (not per check).
    async fn touch_client_secret_by_hash(
        &self,
        secret_hash: &str,
        at: i64,
    ) -> Result<(), StoreError>;
}

#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Stores a new key (`Reference` for an unknown user, `Conflict` for a hash that exists).
    async fn create_api_key(&self, key: NewApiKey) -> Result<ApiKey, StoreError>;
    /// The hot path, one query on the unique hash index; revoked and expired keys are returned
    /// too (check [`ApiKey::is_active`]).
    async fn find_api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError>;
    async fn get_api_key(&self, id: &str) -> Result<Option<ApiKey>, StoreError>;
    /// Keys matching `filter` ordered by id (= creation); revoked ones only with `include_revoked`.
    async fn list_api_keys(
        &self,
        filter: &ApiKeyFilter,
        page: &Page,
    ) -> Result<Vec<ApiKey>, StoreError>;
    /// Sets `revoked_at = at` unless already revoked (then unchanged); `NotFound` for a missing key.
    async fn revoke_api_key(&self, id: &str, at: i64) -> Result<ApiKey, StoreError>;
    /// Sweeps keys that expired before `before`; returns how many were deleted.
    async fn delete_expired_api_keys(&self, before: i64) -> Result<u64, StoreError>;
}

#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Creates the `(user_id, client_id)` grant or replaces its scopes, keeping its id, in one
    /// statement.
    async fn upsert_grant(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: Vec<String>,
    ) -> Result<Grant, StoreError>;
    async fn get_grant(&self, id: &str) -> Result<Option<Grant>, StoreError>;
    /// The grant of `user_id` to `client_id`, if any.
    async fn find_grant(&self, user_id: &str, client_id: &str)
    -> Result<Option<Grant>, StoreError>;
    /// Grants matching `filter` ordered by id (= creation).
    async fn list_grants(
        &self,
        filter: &GrantFilter,
        page: &Page,
    ) -> Result<Vec<Grant>, StoreError>;
    /// Deletes the grant with its authorization codes and refresh tokens (cascading FKs), and marks
    /// the access tokens issued through it revoked at `now`, in one transaction.
    async fn delete_grant(&self, id: &str) -> Result<(), StoreError>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session (`Reference` for an unknown user, `Conflict` for an existing hash);
    /// `created_at` and `last_seen_at` are now.
    async fn create_session(&self, session: NewSession) -> Result<Session, StoreError>;
    /// The session with this id hash, expired or not (check [`Session::is_active`]).
    async fn get_session(&self, id_hash: &str) -> Result<Option<Session>, StoreError>;
    /// Slides the idle expiry and records the use; `NotFound` for a missing session.
    async fn touch_session(
        &self,
        id_hash: &str,
        idle_expires_at: i64,
        last_seen_at: i64,
    ) -> Result<(), StoreError>;
    /// `NotFound` for a missing session.
    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError>;
    /// Ends every session of the user; returns how many there were.
    async fn delete_user_sessions(&self, user_id: &str) -> Result<u64, StoreError>;
    /// The user's sessions (expired ones too, until swept), newest first.
    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<Session>, StoreError>;
    /// Sweeps sessions whose absolute or idle expiry is at or before `now`; returns how many.
    async fn delete_expired_sessions(&self, now: i64) -> Result<u64, StoreError>;
}

#[async_trait]
pub trait EmailTokenStore: Send + Sync {
    /// Stores a token (`Reference` for an unknown user, `Conflict` for an existing hash). The
    /// email is lower-cased.
    async fn create_email_token(&self, token: NewEmailToken) -> Result<EmailToken, StoreError>;
    /// Marks the token used and returns it, in one statement, if it exists with this purpose, is
    /// unused and has not expired at `now`; otherwise `None`. Of concurrent consumers of one token
    /// exactly one gets it.
    async fn consume_email_token(
        &self,
        token_hash: &str,
        purpose: EmailTokenPurpose,
        now: i64,
    ) -> Result<Option<EmailToken>, StoreError>;
    /// The token with this hash and purpose if it is unused and has not expired at `now`, without
    /// using it (the page a link opens reads where the login will lead).
    async fn find_email_token(
        &self,
        token_hash: &str,
        purpose: EmailTokenPurpose,
        now: i64,
    ) -> Result<Option<EmailToken>, StoreError>;
    /// Sweeps tokens that expired before `before` (used or not); returns how many.
    async fn delete_expired_email_tokens(&self, before: i64) -> Result<u64, StoreError>;
}

/// JWT signing keys (reference §4). At most one key of each algorithm is `active` at a time (a partial
/// unique index enforces it, so nodes racing to create the first key of an algorithm cannot both
/// win: the loser gets `Conflict` and re-reads). Lists put the active keys first, then the others
/// newest first (`created_at`, then `kid`).
#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    /// Stores `key` as given (`Conflict` for an existing kid, or for an `active` key while another
    /// key of its algorithm is active).
    async fn create_signing_key(&self, key: SigningKey) -> Result<SigningKey, StoreError>;
    /// The active key of `alg`, if any.
    async fn active_signing_key(&self, alg: SigningAlg) -> Result<Option<SigningKey>, StoreError>;
    /// The keys that verify at `now`: the active ones and retired ones with `publish_until > now`,
    /// active first, then newest first.
    async fn published_signing_keys(&self, now: i64) -> Result<Vec<SigningKey>, StoreError>;
    async fn get_signing_key(&self, kid: &str) -> Result<Option<SigningKey>, StoreError>;
    /// Every stored key (published or not, until swept), active first, then newest first.
    async fn list_signing_keys(&self) -> Result<Vec<SigningKey>, StoreError>;
    /// Retires the active key of `alg` (`retired_at = at`, `publish_until`); returns its kid(s).
    async fn retire_active_signing_keys(
        &self,
        alg: SigningAlg,
        at: i64,
        publish_until: i64,
    ) -> Result<Vec<String>, StoreError>;
    /// In one transaction: retires the active key of `new`'s algorithm as
    /// [`Self::retire_active_signing_keys`] does and stores `new` (which should be `active`).
    /// Returns the retired kids. A concurrent rotation on another node may make this fail with
    /// `Conflict`; retrying is safe.
    async fn rotate_signing_key(
        &self,
        new: SigningKey,
        at: i64,
        publish_until: i64,
    ) -> Result<Vec<String>, StoreError>;
    /// Sweeps retired keys that are no longer published at `now`; returns how many.
    async fn delete_expired_signing_keys(&self, now: i64) -> Result<u64, StoreError>;
}

/// OAuth 2.0 codes and tokens (reference §4). Redemption and rotation are single statements guarded by
/// `used_at IS NULL` inside one transaction with what they issue, so of N concurrent attempts
/// exactly one succeeds, and a replay detected by a loser sees (and revokes) the winner's tokens.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores a new code (`Reference` for an unknown grant).
    async fn create_authorization_code(&self, code: NewAuthorizationCode)
    -> Result<(), StoreError>;
    /// The code with this hash, used or not, expired or not.
    async fn get_authorization_code(
        &self,
        code_hash: &str,
    ) -> Result<Option<AuthorizationCode>, StoreError>;
    /// In one transaction: marks the code used at `now` if it is unused, and then stores `refresh`
    /// (if any) and records `access`. `false` (nothing written) when the code is gone or was
    /// already used.
    async fn redeem_authorization_code(
        &self,
        code_hash: &str,
        now: i64,
        refresh: Option<NewRefreshToken>,
        access: NewAccessToken,
    ) -> Result<bool, StoreError>;
    /// Revokes at `at` every refresh and access token issued from the code; returns how many.
    async fn revoke_tokens_of_code(&self, code_hash: &str, at: i64) -> Result<u64, StoreError>;
    /// Records an access token issued without a refresh token (client_credentials).
    async fn record_access_token(&self, access: NewAccessToken) -> Result<(), StoreError>;
    /// The refresh token with this hash, whatever its state.
    async fn find_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshToken>, StoreError>;
    /// In one transaction: marks the token `id` used at `now` if it is neither used nor revoked,
    /// keeping `successor` (the plaintext of `new`, sealed) for a retry, and then stores `new` and
    /// records `access`. `false` (nothing written) when another request rotated or revoked it
    /// first.
    async fn rotate_refresh_token(
        &self,
        id: &str,
        now: i64,
        new: NewRefreshToken,
        access: NewAccessToken,
        successor: &str,
    ) -> Result<bool, StoreError>;
    /// The successor kept on rotated token `id` (plaintext), unless swept.
    async fn refresh_successor(&self, id: &str) -> Result<Option<String>, StoreError>;
    /// Forgets the successors kept on tokens rotated before `used_before`; returns how many.
    async fn forget_refresh_successors(&self, used_before: i64) -> Result<u64, StoreError>;
    /// Revokes at `at` every refresh token of the family and the access tokens issued with them;
    /// returns how many tokens were revoked.
    async fn revoke_refresh_family(&self, family_id: &str, at: i64) -> Result<u64, StoreError>;
    /// Revokes at `at` every refresh and access token of the user, in one transaction; returns
    /// how many tokens were revoked.
    async fn revoke_tokens_of_user(&self, user_id: &str, at: i64) -> Result<u64, StoreError>;
    /// The record of the access token `jti`.
    async fn get_access_token(&self, jti: &str) -> Result<Option<AccessTokenRecord>, StoreError>;
    /// Marks the access token revoked at `at`; `false` when there is no such token.
    async fn revoke_access_token(&self, jti: &str, at: i64) -> Result<bool, StoreError>;
    /// Sweeps codes expired before `codes_before` (kept a while after expiry so a late replay is
    /// still recognised) and refresh and access tokens expired before `tokens_before`.
    async fn delete_expired_tokens(
        &self,
        codes_before: i64,
        tokens_before: i64,
    ) -> Result<u64, StoreError>;
}

/// A login started at an upstream identity provider (OpenID Connect, SAML) and not finished yet:
/// what the strategy needs when the provider sends the browser back. One row per attempt, bound to
/// the browser by a cookie whose SHA-256 is `id_hash`, used at most once.
#[derive(Clone, PartialEq, Eq)]
pub struct NewUpstreamLogin {
    /// SHA-256 (hex) of the random value in the browser's cookie.
    pub id_hash: String,
    /// The authority the login was started for.
    pub authority_id: String,
    /// SHA-256 (hex) of a correlation id the provider echoes back (the SAML AuthnRequest id, found
    /// again through the response's `InResponseTo`), for callbacks that arrive without the cookie.
    pub request_hash: Option<String>,
    /// The strategy's secrets for the callback (OIDC state, nonce, PKCE verifier; SAML request id).
    pub data: serde_json::Value,
    /// Where to send the browser afterwards (a validated local path).
    pub return_to: Option<String>,
    /// The signed-in user who is linking this authority to their account, if any.
    pub linking_user_id: Option<String>,
    /// Unix seconds after which the row is worthless.
    pub expires_at: i64,
}

/// A stored pending upstream login (see [`NewUpstreamLogin`]).
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamLogin {
    pub id_hash: String,
    pub authority_id: String,
    pub request_hash: Option<String>,
    pub data: serde_json::Value,
    pub return_to: Option<String>,
    pub linking_user_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

// `data` holds secrets (PKCE verifier, nonce): never print it.
impl std::fmt::Debug for NewUpstreamLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUpstreamLogin")
            .field("authority_id", &self.authority_id)
            .field("return_to", &self.return_to)
            .field("linking_user_id", &self.linking_user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for UpstreamLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamLogin")
            .field("authority_id", &self.authority_id)
            .field("return_to", &self.return_to)
            .field("linking_user_id", &self.linking_user_id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Pending upstream logins and the SAML assertion replay cache (reference §3 google, saml).
#[async_trait]
pub trait UpstreamLoginStore: Send + Sync {
    /// Stores a pending login; `created_at` is now. `Conflict` for an existing `id_hash` or
    /// `request_hash`, `Reference` for an unknown authority or linking user.
    async fn create_upstream_login(
        &self,
        login: NewUpstreamLogin,
    ) -> Result<UpstreamLogin, StoreError>;
    /// Deletes the pending login with this cookie hash and returns it, in one statement, so of
    /// concurrent callbacks exactly one gets it. `None` when there is none, or when it has expired
    /// at `now` (deleted all the same).
    async fn consume_upstream_login(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<UpstreamLogin>, StoreError>;
    /// As [`Self::consume_upstream_login`], finding the row by its authority and `request_hash`
    /// instead (a SAML ACS, which the browser posts without the cookie).
    async fn consume_upstream_login_by_request(
        &self,
        authority_id: &str,
        request_hash: &str,
        now: i64,
    ) -> Result<Option<UpstreamLogin>, StoreError>;
    /// Remembers that `authority_id` accepted the assertion `assertion_id`, until `expires_at`.
    /// `false` when that assertion was already recorded and has not expired: a replay. One
    /// statement on the primary key, so of concurrent deliveries exactly one gets `true`.
    async fn record_saml_assertion(
        &self,
        authority_id: &str,
        assertion_id: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError>;
    /// Sweeps pending logins and remembered assertions that expired at or before `now`; returns
    /// how many rows were deleted.
    async fn delete_expired_upstream_logins(&self, now: i64) -> Result<u64, StoreError>;
}

/// A throttling counter shared by every node (`rate_limits` row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// `<kind>:<sha256 of the lower-cased value>`.
    pub key: String,
    /// Events counted in the current window.
    pub count: i64,
    /// Start of the current window (unix seconds).
    pub window_start: i64,
    /// Refused until this instant, if blocked.
    pub blocked_until: Option<i64>,
}

/// How failures are counted and punished by [`RateLimitStore::record_rate_limit_failure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureRule {
    /// Failures within one window that start blocking (at least 1).
    pub threshold: i64,
    /// Length of the counting window in seconds; a failure after it starts a new window.
    pub window_secs: i64,
    /// Block length when the threshold is reached; doubles with each further failure.
    pub base_backoff_secs: i64,
    /// The longest block.
    pub max_backoff_secs: i64,
}

#[async_trait]
pub trait RateLimitStore: Send + Sync {
    async fn get_rate_limit(&self, key: &str) -> Result<Option<RateLimit>, StoreError>;
    /// Counts a failure at `now` in one atomic statement: a new window if the old one ended, and,
    /// once the count reaches `rule.threshold`, a block of `base << (count - threshold)` seconds
    /// (capped at `max_backoff_secs`) from `now`.
    async fn record_rate_limit_failure(
        &self,
        key: &str,
        now: i64,
        rule: FailureRule,
    ) -> Result<RateLimit, StoreError>;
    /// Counts an attempt as a failure like [`Self::record_rate_limit_failure`], but only if the
    /// key is not blocked at `now`, in the same atomic statement; `None` (nothing counted) if it
    /// is.
    async fn count_rate_limit_attempt(
        &self,
        key: &str,
        now: i64,
        rule: FailureRule,
    ) -> Result<Option<RateLimit>, StoreError>;
    /// Counts an event at `now` in one atomic statement (a new window if the old one ended); when
    /// the count exceeds `threshold`, the key is blocked until the window ends.
    async fn hit_rate_limit(
        &self,
        key: &str,
        now: i64,
        threshold: i64,
        window_secs: i64,
    ) -> Result<RateLimit, StoreError>;
    /// Forgets the key (after a successful login); idempotent, no `NotFound`.
    async fn reset_rate_limit(&self, key: &str) -> Result<(), StoreError>;
    /// Takes one counted failure back (an attempt counted before it was checked turned out
    /// right, or was never checked), in one atomic statement, and the key's block with it when
    /// `lift_block` (that failure had set it). Nothing happens to a missing key.
    async fn take_back_rate_limit_failure(
        &self,
        key: &str,
        lift_block: bool,
    ) -> Result<(), StoreError>;
    /// Sweeps rows whose window started before `before` and that are not blocked at `now`.
    async fn delete_stale_rate_limits(&self, before: i64, now: i64) -> Result<u64, StoreError>;
}

/// Page limit clamped to 1..=100, as the `i64` LIMIT bind.
pub(crate) fn page_limit(page: &Page) -> i64 {
    i64::from(page.clamped_limit())
}

/// Serialises a JSON column value.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Corrupt(format!("unserialisable value: {e}")))
}

/// Deserialises a JSON column value; `what` names the column for the error.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt(format!("invalid JSON in {what}")))
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub(crate) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A growing `WHERE` clause of our own fragments; each `{}` in a fragment becomes the next `$N`.
/// Values are bound by the caller in the same order, never interpolated.
pub(crate) struct Where {
    clauses: Vec<String>,
    next: usize,
}

impl Where {
    pub(crate) fn new() -> Self {
        Self {
            clauses: Vec::new(),
            next: 1,
        }
    }

    /// Adds `fragment` (ours, static) with one placeholder `{}`, which may appear several times and
    /// is replaced by the same `$N`.
    pub(crate) fn push(&mut self, fragment: &'static str) {
        let n = format!("${}", self.next);
        self.next += 1;
        self.clauses.push(fragment.replace("{}", &n));
    }

    /// The next placeholder number (for LIMIT after the filters).
    pub(crate) fn next_placeholder(&self) -> usize {
        self.next
    }

    /// ` WHERE a AND b` or an empty string.
    pub(crate) fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_builder_numbers_placeholders() {
        let mut w = Where::new();
        w.push("a = {}");
        w.push("(b = {} OR c = {})");
        assert_eq!(w.sql(), " WHERE a = $1 AND (b = $2 OR c = $2)");
        assert_eq!(w.next_placeholder(), 3);
        assert_eq!(Where::new().sql(), "");
    }

    #[test]
    fn like_escaping() {
        assert_eq!(like_escape("a%b_c\\"), "a\\%b\\_c\\\\");
    }

    #[tokio::test]
    async fn unknown_scheme_is_named_without_the_rest() {
        let opts = ConnectOptions::new("mysql://root:hunter2@db/x");
        let err = connect(&opts, Arc::new(Sealer::unconfigured()))
            .await
            .err()
            .map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.contains("'mysql'"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = connect(
            &ConnectOptions::new("no scheme here"),
            Arc::new(Sealer::unconfigured()),
        )
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("invalid database URL"), "{err}");
    }
}
