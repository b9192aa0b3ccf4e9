-- OAuth 2.0 token endpoint support (SPEC §4).
--
-- A refresh token remembers when the user authenticated (OIDC `auth_time`), because an ID token
-- issued on refresh must repeat the original authentication time (OIDC Core §12.2). Rotated tokens
-- and the access tokens issued with them inherit `code_hash` from their family's first token, so a
-- replayed authorization code revokes everything ever issued from it with one indexed update.
ALTER TABLE refresh_tokens ADD COLUMN auth_time BIGINT NULL;

