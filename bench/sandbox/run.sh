#!/usr/bin/env bash
# Start-up cost of a one-shot sandbox: `arsenal run` (default isolation plus memory and pids
# limits) against bwrap, unshare and a plain /bin/true, measured in one run and interleaved, so
# that the ratios are comparable even on a busy machine.
#
# Usage: bench/sandbox/run.sh [--runs N] [--build-dir DIR] [--arsenal PATH]
#   --runs       measured runs of each command (default 300, after 20 warm-up runs each)
#   --build-dir  Release build tree to build `arsenal` in (default build-release; configured
#                with -DCMAKE_BUILD_TYPE=Release if it does not exist yet)
#   --arsenal    use this binary instead of building one
#
# Each round runs every command once, in a shuffled order, and the wall time of each run is
# taken from fork to reap by the driver (python3). It prints per command the median, p10 and p90
# in milliseconds and the ratio of each median to bwrap's. Needs root (cgroup limits), bwrap
# (Debian package bubblewrap) and python3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=300
build_dir=$root/build-release
arsenal=""
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --arsenal) arsenal=$2; shift 2 ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
command -v bwrap >/dev/null || { echo "bwrap not installed (apt-get install bubblewrap)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 not installed" >&2; exit 2; }

if [ -z "$arsenal" ]; then
  . "$root/bench/release-binary.sh"
  arsenal=$(release_binary "$build_dir" arsenal) || exit 2
fi
[ -x "$arsenal" ] || { echo "arsenal not found" >&2; exit 2; }

# The check fails loudly (instead of timing an error path) if the sandbox cannot start here.
"$arsenal" run --memory 64M --pids 32 -- /bin/true ||
  { echo "arsenal run failed on this machine; see \`$arsenal check\`" >&2; exit 1; }

exec python3 - "$runs" "$arsenal" <<'EOF'
import os, random, statistics, subprocess, sys, time

runs = int(sys.argv[1])
arsenal = sys.argv[2]
commands = {
    "arsenal run (default isolation, --memory 64M --pids 32)":
        [arsenal, "run", "--memory", "64M", "--pids", "32", "--", "/bin/true"],
    "bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev":
        ["bwrap", "--unshare-all", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
         "/bin/true"],
    "unshare -Urpimnf": ["unshare", "-Urpimnf", "/bin/true"],
    "/bin/true": ["/bin/true"],
}

def once(argv):
    start = time.perf_counter_ns()
    rc = subprocess.call(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, close_fds=True)
    elapsed = time.perf_counter_ns() - start
    if rc != 0:
        sys.exit(f"{argv[0]} exited with {rc}; the comparison would be meaningless")
    return elapsed / 1e6

samples = {name: [] for name in commands}
names = list(commands)
for _ in range(20):
    for name in names:
        once(commands[name])
for _ in range(runs):
    random.shuffle(names)
    for name in names:
        samples[name].append(once(commands[name]))

def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

bwrap = statistics.median(samples[list(commands)[1]])
print(f"{runs} runs each, interleaved; times in ms (fork to reap)")
print(f"{'command':58} {'median':>8} {'p10':>8} {'p90':>8} {'/bwrap':>8}")
for name in commands:
    values = samples[name]
    median = statistics.median(values)
    print(f"{name:58} {median:8.3f} {pct(values, 0.1):8.3f} {pct(values, 0.9):8.3f} "
          f"{median / bwrap:8.2f}")
EOF
