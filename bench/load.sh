#!/usr/bin/env bash
# Load benchmark of the token check and the token endpoint (not a test): for SQLite and
# PostgreSQL, bootstrap an admin with a password and an API key, start `authx serve` on a free
# loopback port, create a trusted confidential client, and drive it with wrk against GET /healthz
# (the baseline), POST /oauth2/introspect with the API key, Ego's POST /o/check_api_key,
# POST /oauth2/token (client_credentials, then refresh_token walking rotation chains) and
# POST /oauth2/introspect with a JWT access token, and GET /api/v1/me with that token as the Bearer
# credential. Prints req/s, p50 and p99 per endpoint and the
# ratio to /healthz: absolute figures on shared machines vary by 2x between runs, ratios much less
# (TESTING.md).
#
# Usage: bench/load.sh            (both backends)
#        BENCH_BACKENDS=sqlite bench/load.sh
# Environment: BENCH_DURATION (default 10s), BENCH_THREADS (2), BENCH_CONNECTIONS (64),
#              BENCH_POSTGRES_URL (admin connection, default postgres://postgres@127.0.0.1:5432/postgres),
#              BENCH_SKIP_BUILD=1 (use the existing target/release/authx, e.g. while the tree does
#              not build).
# Everything is bounded in time and stays on 127.0.0.1; the PostgreSQL database
# authx_bench_<random> is created for the run and dropped at the end, also on failure.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="$ROOT/bench"
DURATION="${BENCH_DURATION:-10s}"
THREADS="${BENCH_THREADS:-2}"
CONNECTIONS="${BENCH_CONNECTIONS:-64}"
BACKENDS="${BENCH_BACKENDS:-sqlite postgres}"
PG_ADMIN="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
BIN="$ROOT/target/release/authx"
# The bench client's redirect URI (nothing listens there: refresh_chains.py reads the Location)
# and its scope ceiling.
REDIRECT_URI="http://127.0.0.1/callback"
BENCH_SCOPE="AuthX:me:read"

WORK="$(mktemp -d -t authx-bench.XXXXXX)"
SERVER_PID=""
PG_DB=""
RESULTS="$WORK/results.tsv"
: >"$RESULTS"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}

drop_pg_db() {
    if [[ -n "$PG_DB" ]]; then
        timeout 30 psql "$PG_ADMIN" -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 \
            || printf 'bench: could not drop database %s\n' "$PG_DB" >&2
        PG_DB=""
    fi
}

cleanup() {
    stop_server
    drop_pg_db
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools -----------------------------------------------------------------------------------
if ! command -v wrk >/dev/null 2>&1; then
    log "installing wrk (Debian package)"
    timeout 300 apt-get install -y wrk >/dev/null 2>&1 \
        || { timeout 300 apt-get update >/dev/null 2>&1 && timeout 300 apt-get install -y wrk >/dev/null 2>&1; } \
        || die "cannot install wrk"
fi
for tool in curl python3 openssl; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done

if [[ "${BENCH_SKIP_BUILD:-0}" == 1 ]]; then
    log "using the existing $BIN (BENCH_SKIP_BUILD=1)"
else
    log "building authx (release)"
    (cd "$ROOT" && timeout 1800 cargo build --release --quiet) || die "cargo build --release failed"
fi
[[ -x "$BIN" ]] || die "no binary at $BIN"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

json_field() { # json_field FIELD < json
    python3 -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$1"
}

# The binary runs with a clean AUTHX_* environment plus what we set.
CLEAN_ENV=(env)
while IFS= read -r name; do CLEAN_ENV+=(-u "$name"); done < <(compgen -e | grep '^AUTHX_' || true)
CLEAN_ENV+=(AUTHX_LOG__LEVEL=warn)
# The key secrets at rest are sealed under (required on PostgreSQL).
openssl rand -base64 32 >"$WORK/secrets.key"
CLEAN_ENV+=(AUTHX_SECRETS__KEY_FILE="$WORK/secrets.key")

# Converts a wrk latency ("812.00us", "1.23ms", "1.01s") to milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n = n / 1000
        else if (v ~ /ms$/) n = n
        else if (v ~ /m$/) n = n * 60000
        else if (v ~ /s$/) n = n * 1000
        printf "%.2f", n
    }'
}

# run_wrk BACKEND ENDPOINT URL [LUA]: appends "backend endpoint req/s p50 p99 errors" to RESULTS.
run_wrk() {
    local backend="$1" endpoint="$2" url="$3" script="${4:-}"
    local out="$WORK/wrk-$backend-${endpoint//\//_}.txt"
    local args=(-t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency --timeout 5s)
    [[ -n "$script" ]] && args+=(-s "$script")
    log "$backend: wrk ${args[*]} $endpoint"
    timeout 120 wrk "${args[@]}" "$url" >"$out" 2>&1 || die "wrk failed: $(cat "$out")"
    local rps p50 p99 bad
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    p50="$(awk '$1 == "50%" {print $2}' "$out")"
    p99="$(awk '$1 == "99%" {print $2}' "$out")"
    bad="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")"
    [[ -n "$rps" && -n "$p50" && -n "$p99" ]] || die "cannot parse wrk output: $(cat "$out")"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$backend" "$endpoint" "$rps" "$(to_ms "$p50")" "$(to_ms "$p99")" "${bad:-0}" >>"$RESULTS"
}

# --- one backend ---------------------------------------------------------------------------
bench_backend() {
    local backend="$1" url
    case "$backend" in
        sqlite)
            url="sqlite://$WORK/bench.db"
            ;;
        postgres)
            PG_DB="authx_bench_$(openssl rand -hex 6)"
            timeout 30 psql "$PG_ADMIN" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"$PG_DB\"" >/dev/null \
                || die "cannot create database $PG_DB through $PG_ADMIN"
            url="${PG_ADMIN%/*}/$PG_DB"
            ;;
        *) die "unknown backend $backend" ;;
    esac

    log "$backend: bootstrap-admin --password-stdin --issue-api-key"
    local boot key password
    # The password signs the admin in through the login form, to mint refresh tokens below.
    password="bench-$(openssl rand -hex 16)"
    boot="$(printf '%s\n' "$password" | timeout 120 "${CLEAN_ENV[@]}" "$BIN" --database-url "$url" \
        bootstrap-admin --email bench@example.com --password-stdin --issue-api-key)" \
        || die "bootstrap-admin failed"
    key="$(grep -o 'axk_[A-Za-z0-9_-]*' <<<"$boot" | head -n1)"
    [[ -n "$key" ]] || die "bootstrap-admin printed no API key"

    local port base
    port="$(free_port)"
    base="http://127.0.0.1:$port"
    # `env` execs the binary, so $! is the server itself.
    "${CLEAN_ENV[@]}" "$BIN" --database-url "$url" serve --listen "127.0.0.1:$port" >"$WORK/server-$backend.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 150); do
        curl -fsS -o /dev/null --max-time 2 "$base/readyz" 2>/dev/null && break
        kill -0 "$SERVER_PID" 2>/dev/null || die "server exited: $(cat "$WORK/server-$backend.log")"
        sleep 0.2
    done
    curl -fsS -o /dev/null --max-time 2 "$base/readyz" || die "server not ready after 30 s"

    # A confidential client through the admin API: the checker of the key checks, and the OAuth
    # client of the token endpoint runs. Trusted (no consent page) with a loopback redirect URI, so
    # refresh_chains.py can run the code flow; its ceiling AuthX:me:read is what its machine user
    # (every user has the bootstrap's `default` role, AuthX:me:*) gets by client_credentials.
    local client_id="bench" client_secret="" created
    created="$(curl -sS --max-time 10 -X POST "$base/api/v1/clients" \
        -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        -d "{\"id\":\"$client_id\",\"name\":\"Benchmark client\",\"type\":\"confidential\",\"trusted\":true,
             \"redirect_uris\":[\"$REDIRECT_URI\"],\"scopes\":[\"$BENCH_SCOPE\"]}")" \
        || die "POST /api/v1/clients failed"
    client_secret="$(json_field secret <<<"$created" 2>/dev/null || true)"
    [[ "$client_secret" == axs_* ]] || die "POST /api/v1/clients gave no secret: $created"

    export BENCH_BASIC BENCH_TOKEN
    BENCH_BASIC="$(printf '%s:%s' "$client_id" "$client_secret" | base64 -w0)"
    BENCH_TOKEN="$key"
    # The check must really be active, or we would be measuring the refusal path.
    local answer
    answer="$(curl -sS --max-time 5 -X POST "$base/oauth2/introspect" -H "Authorization: Basic $BENCH_BASIC" \
        --data-urlencode "token=$key")"
    [[ "$(json_field active <<<"$answer")" == "True" ]] || die "introspection is not active: $answer"

    # The refresh chains: one family per chain, BENCH_CONNECTIONS / BENCH_THREADS + 4 per thread
    # so every connection has its own and a few spare (refresh.lua explains why tokens are never
    # shared).
    local chains=$(( (CONNECTIONS / THREADS + 4) * THREADS ))
    log "$backend: minting $chains refresh-token chains (login form + code flow)"
    export BENCH_REFRESH_TOKENS BENCH_THREADS="$THREADS"
    BENCH_REFRESH_TOKENS="$(BENCH_LOGIN=bench@example.com BENCH_PASSWORD="$password" timeout 300 \
        python3 "$BENCH_DIR/refresh_chains.py" "$base" "$client_id" "$REDIRECT_URI" "offline_access $BENCH_SCOPE" "$chains" \
        | tr '\n' ' ')" || die "cannot mint refresh tokens"

    run_wrk "$backend" "GET /healthz" "$base/healthz"
    run_wrk "$backend" "POST /oauth2/introspect" "$base/oauth2/introspect" "$BENCH_DIR/introspect.lua"
    run_wrk "$backend" "POST /o/check_api_key" "$base/o/check_api_key" "$BENCH_DIR/check_api_key.lua"
    run_wrk "$backend" "POST /oauth2/token (client_credentials)" "$base/oauth2/token" "$BENCH_DIR/client_credentials.lua"
    run_wrk "$backend" "POST /oauth2/token (refresh_token)" "$base/oauth2/token" "$BENCH_DIR/refresh.lua"
    log "$backend: $(grep -h '^refresh chains broken:' "$WORK"/wrk-"$backend"-*refresh_token*.txt || echo 'refresh chains broken: ?')"

    # Introspection of a JWT access token (signature, claims, the jti's revocation state and the
    # user's current access), issued just now so it outlives the run (10 min by default).
    local jwt
    jwt="$(curl -sS --max-time 5 -X POST "$base/oauth2/token" -H "Authorization: Basic $BENCH_BASIC" \
        --data-urlencode grant_type=client_credentials | json_field access_token)"
    [[ "$jwt" == *.*.* ]] || die "client_credentials gave no JWT"
    BENCH_TOKEN="$jwt"
    answer="$(curl -sS --max-time 5 -X POST "$base/oauth2/introspect" -H "Authorization: Basic $BENCH_BASIC" \
        --data-urlencode "token=$jwt")"
    [[ "$(json_field active <<<"$answer")" == "True" ]] || die "JWT introspection is not active: $answer"
    run_wrk "$backend" "POST /oauth2/introspect (JWT)" "$base/oauth2/introspect" "$BENCH_DIR/introspect.lua"
    # The same token as the admin API's Bearer credential (its scope is the client's AuthX:me:read).
    local me
    me="$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $jwt" "$base/api/v1/me")"
    [[ "$me" == 200 ]] || die "GET /api/v1/me with the JWT answered $me"
    run_wrk "$backend" "GET /api/v1/me (JWT bearer)" "$base/api/v1/me" "$BENCH_DIR/me_bearer.lua"

    stop_server
    [[ "$backend" == postgres ]] && drop_pg_db
    unset BENCH_BASIC BENCH_TOKEN BENCH_REFRESH_TOKENS
}

for backend in $BACKENDS; do
    if [[ "$backend" == postgres ]] && ! timeout 10 psql "$PG_ADMIN" -qAtc 'SELECT 1' >/dev/null 2>&1; then
        log "postgres: $PG_ADMIN is not reachable; skipping"
        continue
    fi
    bench_backend "$backend"
done

# --- report ---------------------------------------------------------------------------------
printf '\nauthx load benchmark — %s — %s, %s CPU(s); wrk -t%s -c%s -d%s\n\n' \
    "$(date -u +%Y-%m-%dT%H:%MZ)" "$(uname -m)" "$(nproc)" "$THREADS" "$CONNECTIONS" "$DURATION"
python3 - "$RESULTS" <<'PY'
import sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
base = {r[0]: float(r[2]) for r in rows if r[1] == "GET /healthz"}
print("| backend | endpoint | req/s | p50 (ms) | p99 (ms) | vs healthz | non-2xx |")
print("|---|---|---:|---:|---:|---:|---:|")
for backend, endpoint, rps, p50, p99, bad in rows:
    ratio = float(rps) / base[backend] if base.get(backend) else float("nan")
    print(f"| {backend} | {endpoint} | {float(rps):,.0f} | {p50} | {p99} | {ratio:.2f} | {bad} |")
PY
