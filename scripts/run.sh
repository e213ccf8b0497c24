#!/usr/bin/env bash
# Quick start 1: install what is missing, build, and start arsenald on loopback with its
# embedded defaults (SQLite under the state directory, single node).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/build-release" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DARSENAL_BUILD_TESTS=OFF -DARSENAL_BUILD_BENCH=OFF
cmake --build "$root/build-release" --target arsenald arsenal arsenal-plugin-host
exec "$root/build-release/cli/arsenald" "$@"
