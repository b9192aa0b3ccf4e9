-- When a key starts signing (unix seconds). A rotation publishes the new key first and lets it
-- sign only once every verifier's cached key set holds it (`tokens.key_publish_lead_secs`);
-- an emergency rotation (`keys rotate --now`) signs at once. NULL (keys made before this
-- column): from `created_at`.
ALTER TABLE signing_keys ADD COLUMN signs_from BIGINT NULL;
