#!/usr/bin/env bash
# Loopback HTTP benchmark of a Release arsenald with wrk (Debian package wrk): get_process_info
# and list_processes (page size 50) with N managed sleeping processes.
#
# Usage: bench/api/run.sh [--processes N] [--duration S] [--rate R] [--build-dir DIR]
#                         [--arsenald PATH]
#   --processes  managed processes to create first (default 1000)
#   --duration   seconds per wrk run (default 10)
#   --rate       requests/s of the constant-rate runs (default 1000)
#   --build-dir  Release build tree to build arsenald in (default build-release; configured with
#                -DCMAKE_BUILD_TYPE=Release if it does not exist yet)
#   --arsenald   use this binary instead of building one
#
# For each endpoint it runs wrk twice: at full speed (16 connections, 2 threads: the maximum
# throughput) and at a constant rate (the target: p99 <= 2 ms at 1,000 requests/s). wrk 4 has no
# rate flag, so the constant rate is held by constant_rate.lua: each wrk thread sends on a
# timetable of slots (the achieved rate is printed next to the target). Everything runs on 127.0.0.1; the daemon gets a temporary state dir
# and port, and is stopped (by its pid) and its processes with it at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
processes=1000
duration=10
rate=1000
build_dir=$root/build-release
arsenald=""
while [ $# -gt 0 ]; do
  case $1 in
    --processes) processes=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --arsenald) arsenald=$2; shift 2 ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "wrk not installed (apt-get install wrk)" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl not installed (apt-get install curl)" >&2; exit 2; }

if [ -z "$arsenald" ]; then
  . "$root/bench/release-binary.sh"
  arsenald=$(release_binary "$build_dir" arsenald) || exit 2
fi
[ -x "$arsenald" ] || { echo "arsenald not found" >&2; exit 2; }

# One pidfd (and a few pipes) per managed process.
ulimit -n "$(ulimit -Hn)"
state=$(mktemp -d /tmp/arsenal-api-bench.XXXXXX)
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true  # the daemon kills and reaps its processes
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$state"
}
trap cleanup EXIT
cat >"$state/config.json" <<EOF
{"api": {"rate_limit": {"per_second": 0}},
 "process": {"exited_retention": 100}}
EOF
"$arsenald" --config "$state/config.json" --listen 127.0.0.1:0 --state-dir "$state/state" \
  --log-level info >"$state/daemon.log" 2>&1 &
pid=$!
endpoint="" key_file=""
for _ in $(seq 100); do
  endpoint=$(sed -n 's|.*serving on http://\([^ ]*\) .*|\1|p' "$state/daemon.log" | head -1)
  key_file=$(sed -n 's|.*first admin API key written to \(.*\)$|\1|p' "$state/daemon.log" | head -1)
  [ -n "$endpoint" ] && [ -n "$key_file" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$state/daemon.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$endpoint" ] || { echo "arsenald did not start" >&2; cat "$state/daemon.log" >&2; exit 1; }
ARSENAL_KEY=$(cat "$key_file")
export ARSENAL_KEY
base="http://$endpoint"

# The processes, 100 per atomic batch.
created=0
while [ "$created" -lt "$processes" ]; do
  n=$((processes - created < 100 ? processes - created : 100))
  steps=$(for _ in $(seq "$n"); do
    printf '{"operation":"start_process","params":{"argv":["/bin/sleep","100000"]}},'
  done)
  curl -sf -o /dev/null -H "Authorization: Bearer $ARSENAL_KEY" \
    -H 'Content-Type: application/json' -X POST "$base/api/v1/batch" \
    --data "{\"operations\":[${steps%,}]}" || { echo "creating processes failed" >&2; exit 1; }
  created=$((created + n))
done

export BENCH_PROCESSES=$processes
run() {  # name, path-or-empty, mode (max|rate)[, base URL]
  local name=$1 path=$2 mode=$3 url=${4:-$base} out
  export BENCH_PATH=$path
  if [ "$mode" = max ]; then
    unset BENCH_RATE
    out=$(wrk -t2 -c16 -d"${duration}s" --latency -s "$here/constant_rate.lua" "$url")
  else
    export BENCH_RATE=$rate BENCH_THREADS=2
    out=$(wrk -t2 -c10 -d"${duration}s" --latency -s "$here/constant_rate.lua" "$url")
  fi
  echo "$out" >"$state/wrk-$name-$mode.out"
  local line
  line=$(echo "$out" | grep '^RESULT' || true)
  [ -n "$line" ] || { echo "$out" >&2; return 1; }
  printf '%-18s %-12s %s\n' "$name" "$mode" "${line#RESULT }"
  results["$name $mode"]=${line#RESULT }
}
declare -A results
p99() { sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' <<<"${results[$1]}"; }
echo "arsenald $arsenald, $processes managed processes, wrk ${duration}s per row, loopback"
printf '%-18s %-12s %s\n' endpoint load result
run get_process_info "" max
run get_process_info "" rate
run list_processes "/api/v1/processes?page%5Bsize%5D=50" max
run list_processes "/api/v1/processes?page%5Bsize%5D=50" rate

# The machine's floor, in the same run: a trivial node HTTP server with a fixed body of the same
# size class. The p99 ratios to it separate Arsenal's cost from this machine's wake-up latency.
if command -v node >/dev/null; then
  node "$here/baseline_server.js" >"$state/baseline.port" &
  baseline_pid=$!
  for _ in $(seq 50); do [ -s "$state/baseline.port" ] && break; sleep 0.1; done
  if [ -s "$state/baseline.port" ]; then
    run node_baseline /x max "http://127.0.0.1:$(cat "$state/baseline.port")"
    run node_baseline /x rate "http://127.0.0.1:$(cat "$state/baseline.port")"
    for name in get_process_info list_processes; do
      awk -v n="$name" -v a="$(p99 "$name rate")" -v b="$(p99 "node_baseline rate")" \
        'BEGIN { if (b > 0) printf "%-18s p99 at the constant rate / node baseline p99: %.2f\n", n, a / b }'
    done
  fi
  kill "$baseline_pid" 2>/dev/null || true
  wait "$baseline_pid" 2>/dev/null || true
fi
