-- authx initial schema (PostgreSQL). The SQLite tree holds the same migration with the same version
-- and file name; keep the two in lockstep (a test compares the file lists).
--
-- Portable column types, so that one set of queries serves both backends:
--   * ids are TEXT: UUIDv7 strings for rows the server creates (they sort by creation time, which
--     cursor pagination relies on), admin-chosen slugs for authorities, clients and roles;
--   * timestamps are BIGINT unix seconds (no time-zone or format drift between backends);
--   * booleans are BOOLEAN (both sqlx drivers map Rust `bool`);
--   * JSON documents and string lists are TEXT holding JSON, (de)serialised by the application.
-- Secrets (tokens, codes, keys, session ids) are only ever stored as SHA-256 hex digests.
-- Foreign keys cascade where the child means nothing without its parent.
-- Text ids are compared with the database collation; ordering by id (cursor pagination) is
-- consistent within one database whatever its collation, and UUIDs and slugs are ASCII.

-- Users: people and clients' service accounts.
CREATE TABLE users (
    id           TEXT    NOT NULL PRIMARY KEY,
    kind         TEXT    NOT NULL CHECK (kind IN ('human', 'machine')),
    status       TEXT    NOT NULL CHECK (status IN ('active', 'disabled')),
    username     TEXT    NULL,
    -- The primary email address, lower-cased. Deliberately not unique: an address may be shared or
    -- move between accounts; identity is decided by credentials, which are unique.
    email        TEXT    NULL,
    display_name TEXT    NULL,
    -- Portable Contacts profile (JSON object); never trusted for authentication.
    profile      TEXT    NOT NULL DEFAULT '{}',
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    CONSTRAINT users_username_key UNIQUE (username)
);
CREATE INDEX users_email_idx ON users (email);

-- Authorities: configured ways to authenticate. `strategy` is immutable (enforced by the store API).
CREATE TABLE authorities (
    id         TEXT    NOT NULL PRIMARY KEY,
    strategy   TEXT    NOT NULL CHECK (strategy IN ('password', 'email', 'google', 'saml')),
    name       TEXT    NOT NULL,
    enabled    BOOLEAN NOT NULL DEFAULT TRUE,
    details    TEXT    NOT NULL DEFAULT '{}',
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);

-- Credentials link a user to an authority; an upstream identity maps to at most one user.
CREATE TABLE credentials (
    id                TEXT   NOT NULL PRIMARY KEY,
    user_id           TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- No cascade: deleting an authority that still has credentials is refused; the admin must
    -- decide what happens to those users first.
    authority_id      TEXT   NOT NULL REFERENCES authorities (id),
    authority_user_id TEXT   NOT NULL,
    details           TEXT   NOT NULL DEFAULT '{}',
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    last_used_at      BIGINT NULL,
    CONSTRAINT credentials_authority_user_key UNIQUE (authority_id, authority_user_id)
);
CREATE INDEX credentials_user_id_idx ON credentials (user_id);

-- Clients: downstream applications. A client acts as its own machine user for client_credentials.
CREATE TABLE clients (
    id                        TEXT    NOT NULL PRIMARY KEY,
    name                      TEXT    NOT NULL,
    type                      TEXT    NOT NULL CHECK (type IN ('confidential', 'public')),
    redirect_uris             TEXT    NOT NULL DEFAULT '[]',
    post_logout_redirect_uris TEXT    NOT NULL DEFAULT '[]',
    -- The ceiling of what the client may ever receive (JSON list of scope patterns).
    scopes                    TEXT    NOT NULL DEFAULT '[]',
    trusted                   BOOLEAN NOT NULL DEFAULT FALSE,
    enabled                   BOOLEAN NOT NULL DEFAULT TRUE,
    -- SET NULL: deleting the service account must not delete the client; it gets a new one.
    machine_user_id           TEXT    NULL REFERENCES users (id) ON DELETE SET NULL,
    created_at                BIGINT  NOT NULL,
    updated_at                BIGINT  NOT NULL
);
CREATE INDEX clients_machine_user_id_idx ON clients (machine_user_id);

-- Client secrets: high-entropy, so SHA-256 (not bcrypt) keeps the token check fast (SPEC §5).
CREATE TABLE client_secrets (
    id           TEXT   NOT NULL PRIMARY KEY,
    client_id    TEXT   NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    secret_hash  TEXT   NOT NULL,
    description  TEXT   NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NULL,
    last_used_at BIGINT NULL,
    CONSTRAINT client_secrets_secret_hash_key UNIQUE (secret_hash)
);
CREATE INDEX client_secrets_client_id_idx ON client_secrets (client_id);

-- Grants: a user's consent to a client.
CREATE TABLE grants (
    id         TEXT   NOT NULL PRIMARY KEY,
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT   NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     TEXT   NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT grants_user_client_key UNIQUE (user_id, client_id)
);
CREATE INDEX grants_client_id_idx ON grants (client_id);

-- Authorization codes (single use, short-lived), stored by hash. `used_at` is kept after redemption
-- so a replay can be detected and the tokens issued from the code revoked (RFC 9700 §4.5).
CREATE TABLE authorization_codes (
    code_hash             TEXT   NOT NULL PRIMARY KEY,
    grant_id              TEXT   NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    client_id             TEXT   NOT NULL,
    user_id               TEXT   NOT NULL,
    redirect_uri          TEXT   NOT NULL,
    scopes                TEXT   NOT NULL DEFAULT '[]',
    nonce                 TEXT   NULL,
    code_challenge        TEXT   NULL,
    code_challenge_method TEXT   NULL,
    auth_time             BIGINT NOT NULL,
    session_id            TEXT   NULL,
    created_at            BIGINT NOT NULL,
    expires_at            BIGINT NOT NULL,
    used_at               BIGINT NULL
);
CREATE INDEX authorization_codes_expires_at_idx ON authorization_codes (expires_at);
CREATE INDEX authorization_codes_grant_id_idx ON authorization_codes (grant_id);

-- Refresh tokens, rotated on every use; a family is the chain of rotations from one code.
CREATE TABLE refresh_tokens (
    id         TEXT   NOT NULL PRIMARY KEY,
    token_hash TEXT   NOT NULL,
    family_id  TEXT   NOT NULL,
    grant_id   TEXT   NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    client_id  TEXT   NOT NULL,
    user_id    TEXT   NOT NULL,
    scopes     TEXT   NOT NULL DEFAULT '[]',
    parent_id  TEXT   NULL,
    -- The authorization code this family was issued from, for revocation on code replay.
    code_hash  TEXT   NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT NULL,
    revoked_at BIGINT NULL,
    CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_grant_id_idx ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_code_hash_idx ON refresh_tokens (code_hash);
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);

-- A record of issued access-token JWTs (by jti), so that revocation by family or by code reaches
-- them (introspection answers from here). No FK to grants: client_credentials tokens have no grant.
CREATE TABLE access_tokens (
    jti        TEXT   NOT NULL PRIMARY KEY,
    grant_id   TEXT   NULL,
    client_id  TEXT   NOT NULL,
    user_id    TEXT   NOT NULL,
    family_id  TEXT   NULL,
    code_hash  TEXT   NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NULL
);
CREATE INDEX access_tokens_expires_at_idx ON access_tokens (expires_at);
CREATE INDEX access_tokens_family_id_idx ON access_tokens (family_id);
CREATE INDEX access_tokens_code_hash_idx ON access_tokens (code_hash);
CREATE INDEX access_tokens_grant_id_idx ON access_tokens (grant_id);

-- Roles bestow scopes (and deny scopes) on their members; default roles include every user.
CREATE TABLE roles (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    description TEXT    NULL,
    is_default  BOOLEAN NOT NULL DEFAULT FALSE,
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);
-- access_of_user looks up the (few) default roles on every token check.
CREATE INDEX roles_is_default_idx ON roles (is_default);

-- Scope and deny patterns as rows (not JSON) so access_of_user collects them in one query.
CREATE TABLE role_scopes (
    role_id TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    pattern TEXT NOT NULL,
    PRIMARY KEY (role_id, pattern)
);

CREATE TABLE role_deny (
    role_id TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    pattern TEXT NOT NULL,
    PRIMARY KEY (role_id, pattern)
);

CREATE TABLE role_members (
    role_id    TEXT   NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (role_id, user_id)
);
-- The primary key serves "members of a role"; this serves "roles of a user" (the hot path).
CREATE INDEX role_members_user_id_idx ON role_members (user_id);

-- API keys (Ego): stored as SHA-256 of the secret; `hint` is the first characters, for display.
CREATE TABLE api_keys (
    id           TEXT   NOT NULL PRIMARY KEY,
    user_id      TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key_hash     TEXT   NOT NULL,
    hint         TEXT   NOT NULL,
    description  TEXT   NULL,
    scopes       TEXT   NOT NULL DEFAULT '[]',
    -- Allowed client ids (JSON list); empty means any client.
    clients      TEXT   NOT NULL DEFAULT '[]',
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT NULL,
    last_used_at BIGINT NULL,
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash)
);
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id);
CREATE INDEX api_keys_expires_at_idx ON api_keys (expires_at);

-- Browser sessions at authx itself; the cookie holds a random id, the row its hash.
CREATE TABLE sessions (
    id_hash         TEXT   NOT NULL PRIMARY KEY,
    user_id         TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    authority_id    TEXT   NOT NULL,
    csrf_token_hash TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    last_seen_at    BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    auth_time       BIGINT NOT NULL,
    ip              TEXT   NULL,
    user_agent      TEXT   NULL,
    data            TEXT   NOT NULL DEFAULT '{}'
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
CREATE INDEX sessions_idle_expires_at_idx ON sessions (idle_expires_at);

-- One-time email tokens (login link, address verification, password reset), stored by hash.
CREATE TABLE email_tokens (
    token_hash   TEXT   NOT NULL PRIMARY KEY,
    purpose      TEXT   NOT NULL CHECK (purpose IN ('login', 'verify', 'reset')),
    email        TEXT   NOT NULL,
    user_id      TEXT   NULL REFERENCES users (id) ON DELETE CASCADE,
    authority_id TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT NULL,
    return_to    TEXT   NULL
);
CREATE INDEX email_tokens_email_idx ON email_tokens (email);
CREATE INDEX email_tokens_expires_at_idx ON email_tokens (expires_at);
CREATE INDEX email_tokens_user_id_idx ON email_tokens (user_id);

-- JWT signing keys, shared by every node. Retired keys stay published until `publish_until`.
-- The private key is stored as PEM/JWK text; protect the database accordingly.
CREATE TABLE signing_keys (
    kid           TEXT   NOT NULL PRIMARY KEY,
    alg           TEXT   NOT NULL,
    private_key   TEXT   NOT NULL,
    public_jwk    TEXT   NOT NULL,
    status        TEXT   NOT NULL CHECK (status IN ('active', 'retired')),
    created_at    BIGINT NOT NULL,
    retired_at    BIGINT NULL,
    publish_until BIGINT NULL
);
CREATE INDEX signing_keys_status_idx ON signing_keys (status);

-- Audit events. The id is a UUIDv7, so "newest first" is ORDER BY id DESC; the composite indexes
-- serve the filters of the audit API with time ordering.
CREATE TABLE audit_events (
    id          TEXT   NOT NULL PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor_type  TEXT   NOT NULL,
    actor_id    TEXT   NULL,
    action      TEXT   NOT NULL,
    target_type TEXT   NULL,
    target_id   TEXT   NULL,
    outcome     TEXT   NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    ip          TEXT   NULL,
    user_agent  TEXT   NULL,
    request_id  TEXT   NULL,
    details     TEXT   NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, at);
CREATE INDEX audit_events_target_idx ON audit_events (target_id, at);
CREATE INDEX audit_events_action_idx ON audit_events (action, at);
CREATE INDEX audit_events_at_idx ON audit_events (at);

-- Login throttling shared by all nodes: one row per key (e.g. "ip:1.2.3.4", "account:<id>").
CREATE TABLE rate_limits (
    key           TEXT   NOT NULL PRIMARY KEY,
    count         BIGINT NOT NULL,
    window_start  BIGINT NOT NULL,
    blocked_until BIGINT NULL
);
CREATE INDEX rate_limits_window_start_idx ON rate_limits (window_start);
