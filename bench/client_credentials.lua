-- wrk script: POST /oauth2/token with grant_type=client_credentials and client_secret_basic.
-- Every request issues and signs a fresh access token (ES256) and records its jti.
--   BENCH_BASIC  base64("client_id:client_secret")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC")
wrk.body = "grant_type=client_credentials"
