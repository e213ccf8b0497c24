#!/usr/bin/env bash
# Loopback HTTP benchmark of the API against list_operations, with wrk (Debian package wrk).
# Usage: bench/api/run.sh [SERVER_BINARY] [DURATION_S] [CONNECTIONS]
#   SERVER_BINARY: arsenald-compatible server printing "listening HOST:PORT" and
#   "bootstrap-key-file PATH"; default: build*/integration/api/arsenal_api_testd.
# Rate limiting is disabled for the run (--no-rate-limit). Bounded: one run of DURATION_S
# (default 10 s) on 127.0.0.1 with 2 wrk threads; the server is stopped afterwards.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
server=${1:-$(ls -t "$root"/build*/integration/api/arsenal_api_testd 2>/dev/null | head -1)}
duration=${2:-10}
connections=${3:-16}
command -v wrk >/dev/null || { echo "wrk not installed (apt-get install wrk)" >&2; exit 2; }
[ -x "$server" ] || { echo "server binary not found; build arsenal_api_testd" >&2; exit 2; }
state=$(mktemp -d)
out=$state/server.out
"$server" --listen 127.0.0.1:0 --state-dir "$state" --no-rate-limit >"$out" 2>"$state/server.err" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$state"' EXIT
for _ in $(seq 50); do grep -q '^bootstrap-key-file' "$out" && break; sleep 0.1; done
endpoint=$(awk '/^listening/{print $2}' "$out")
export ARSENAL_KEY=$(cat "$(awk '/^bootstrap-key-file/{print $2}' "$out")")
wrk -t2 -c"$connections" -d"${duration}s" --latency -s "$here/list_operations.lua" \
  "http://$endpoint" | tee "$state/wrk.out" | grep -E 'RESULT|Requests/sec|Latency' || true
