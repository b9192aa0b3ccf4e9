-- wrk script: POST /oauth2/token with grant_type=refresh_token and client_secret_basic, walking
-- refresh-token chains.
--
-- authx rotates refresh tokens on every use (reference §4): the answer carries the successor, and a
-- token that has been used is dead. Presenting it again is reuse: within
-- tokens.refresh_reuse_grace_secs of the rotation it is refused (invalid_grant), later the whole
-- family is revoked as stolen (RFC 9700 §4.14.2). A fixed wrk.body would therefore measure one
-- success and then only errors, and two connections sharing a token would race and break it.
--
-- So each chain is walked by one request at a time: every response's refresh_token is parsed and
-- used for the next request. wrk's Lua API does not say which connection a request() or
-- response() belongs to, so each thread keeps a queue of the chain heads that are not in flight:
-- request() takes one, response() puts back the successor. A connection has one request in
-- flight (no pipelining) and wrk calls response() before that connection's next request(), so no
-- token is ever sent twice and each chain is in effect walked by one connection at a time. Each
-- thread needs at least as many chains as it has connections; load.sh mints
-- BENCH_CONNECTIONS / BENCH_THREADS + 4 per thread. A chain breaks only on a failed refresh (counted by wrk as
-- non-2xx, and reported as broken chains at the end); a thread with no chain left sends a
-- token that is refused, so the failure shows in the non-2xx count instead of stalling.
--
--   BENCH_BASIC           base64("client_id:client_secret")
--   BENCH_REFRESH_TOKENS  the chain heads, separated by spaces (minted by bench/refresh_chains.py)
--   BENCH_THREADS         wrk's -t (to share the chains out between the threads)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC")

-- Main state: deal the chains out to the threads, round robin.
local threads = {}
function setup(thread)
    local count = tonumber(os.getenv("BENCH_THREADS") or "1")
    local index = #threads
    table.insert(threads, thread)
    local mine, i = {}, 0
    for token in string.gmatch(os.getenv("BENCH_REFRESH_TOKENS") or "", "%S+") do
        if i % count == index then
            table.insert(mine, token)
        end
        i = i + 1
    end
    thread:set("chains", table.concat(mine, " "))
end

-- Thread state: the queue of chain heads not in flight.
local queue, first, last = {}, 1, 0
broken = 0

function init(args)
    for token in string.gmatch(chains, "%S+") do
        last = last + 1
        queue[last] = token
    end
end

function request()
    local token = "axr_no_chain_left"
    if first <= last then
        token = queue[first]
        queue[first] = nil
        first = first + 1
    end
    return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, headers, body)
    local successor = status == 200 and string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
    if successor then
        last = last + 1
        queue[last] = successor
    else
        broken = broken + 1
    end
end

function done(summary, latency, requests)
    local total = 0
    for _, thread in ipairs(threads) do
        total = total + (thread:get("broken") or 0)
    end
    io.write(string.format("refresh chains broken: %d\n", total))
end
