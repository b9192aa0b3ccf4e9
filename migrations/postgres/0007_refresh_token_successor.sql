-- A rotated refresh token keeps its successor, sealed under the key-encryption key, for the
-- reuse grace window (`tokens.refresh_reuse_grace_secs`): a client whose answer was lost retries
-- with the same token and gets the same successor again, instead of tripping reuse detection.
-- The sweeper clears it once no grace window can still be open.
ALTER TABLE refresh_tokens ADD COLUMN successor_sealed TEXT NULL;
CREATE INDEX refresh_tokens_kept_successor ON refresh_tokens (used_at)
    WHERE successor_sealed IS NOT NULL;
