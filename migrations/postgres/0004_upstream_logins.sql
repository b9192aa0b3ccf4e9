-- Upstream logins (SPEC §3 google and saml) (PostgreSQL; the SQLite tree holds the same file).
--
-- A pending login is the state authx keeps between sending the browser to an identity provider and
-- the provider sending it back: for OpenID Connect the state, nonce and PKCE verifier, for SAML the
-- AuthnRequest id. It is bound to the browser that started it by a cookie holding a random 256-bit
-- value, of which the row keeps only the SHA-256 (`id_hash`), and it is used at most once: the
-- callback deletes the row and reads it in one statement.
--
-- `request_hash` is a second, optional way to find a row: the SHA-256 of a correlation id the
-- provider echoes back. SAML needs it because its ACS is a cross-site POST, on which browsers do
-- not send SameSite=Lax cookies; the ACS finds its row by the response's InResponseTo instead
-- (the AuthnRequest id, 128 random bits, single use like the row). OpenID Connect rows leave it
-- NULL (its callback is a top-level GET, which carries the cookie). NULLs never clash in a unique
-- index on either backend.
CREATE TABLE upstream_logins (
    id_hash         TEXT   NOT NULL PRIMARY KEY,
    authority_id    TEXT   NOT NULL REFERENCES authorities (id) ON DELETE CASCADE,
    request_hash    TEXT   NULL,
    -- The strategy's JSON (never shown, never logged): state, nonce and PKCE verifier, or the
    -- SAML request id.
    data            TEXT   NOT NULL DEFAULT '{}',
    -- Where to send the browser afterwards (a local path, validated before it was stored).
    return_to       TEXT   NULL,
    -- Set when a signed-in user is linking this authority to their account.
    linking_user_id TEXT   NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX upstream_logins_request_hash_key ON upstream_logins (request_hash);
CREATE INDEX upstream_logins_expires_at_idx ON upstream_logins (expires_at);
CREATE INDEX upstream_logins_linking_user_id_idx ON upstream_logins (linking_user_id);
CREATE INDEX upstream_logins_authority_id_idx ON upstream_logins (authority_id);

-- SAML assertion ids seen, per authority, kept until the assertion itself expires: a second
-- response carrying the same assertion is a replay. The primary key is the check: an insert that
-- clashes with an unexpired row means "seen before".
CREATE TABLE saml_assertions (
    authority_id TEXT   NOT NULL REFERENCES authorities (id) ON DELETE CASCADE,
    assertion_id TEXT   NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (authority_id, assertion_id)
);
CREATE INDEX saml_assertions_expires_at_idx ON saml_assertions (expires_at);
