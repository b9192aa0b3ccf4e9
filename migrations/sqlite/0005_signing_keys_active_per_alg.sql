-- One active signing key per algorithm: access tokens are signed with `tokens.signing_alg`, ID
-- tokens with each client's `id_token_signed_response_alg` (RS256 by default), so a key of every
-- published algorithm is active at once. Nodes racing to create or rotate the key of one
-- algorithm still cannot both succeed: the loser gets a unique violation and re-reads.
DROP INDEX signing_keys_one_active;
CREATE UNIQUE INDEX signing_keys_one_active_per_alg ON signing_keys (alg) WHERE status = 'active';

-- A client's registered ID-token algorithm (OpenID Connect Dynamic Client Registration
-- `id_token_signed_response_alg`); NULL: RS256.
ALTER TABLE clients ADD COLUMN id_token_alg TEXT NULL;
