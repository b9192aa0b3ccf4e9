-- wrk script: GET /api/v1/me with a JWT access token as the Bearer credential (the admin API's
-- bearer check: signature, claims, the jti's revocation state, the user's current access).
-- The token comes from the environment (set by bench/load.sh), never from this file:
--   BENCH_TOKEN  the access token
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
