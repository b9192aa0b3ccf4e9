-- wrk script: Ego's POST /o/check_api_key with client_secret_basic and the key as a form field.
--   BENCH_BASIC  base64("client_id:client_secret")
--   BENCH_TOKEN  the API key (axk_…)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC")
wrk.body = "apiKey=" .. os.getenv("BENCH_TOKEN")
