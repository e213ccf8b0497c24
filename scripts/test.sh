#!/usr/bin/env bash
# Quick start 2: install what is missing, build, and run the whole test suite.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
if [ -f "$root/integration/api/package.json" ] && command -v npm >/dev/null; then
  (cd "$root/integration/api" && npm ci --no-audit --no-fund)
fi
build=$root/build-test
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DARSENAL_BUILD_BENCH=OFF
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure -j2 --timeout 600
