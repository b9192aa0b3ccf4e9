-- wrk script: POST /oauth2/introspect with client_secret_basic and an API key as the token.
-- The credentials come from the environment (set by bench/load.sh), never from this file:
--   BENCH_BASIC  base64("client_id:client_secret")
--   BENCH_TOKEN  the API key (axk_…)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC")
wrk.body = "token=" .. os.getenv("BENCH_TOKEN")
