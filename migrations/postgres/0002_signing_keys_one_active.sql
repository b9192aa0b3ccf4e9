-- At most one active signing key: nodes racing to create the first key (or to rotate) cannot both
-- succeed; the loser gets a unique violation and re-reads the winner's key.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (status) WHERE status = 'active';
