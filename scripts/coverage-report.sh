#!/usr/bin/env bash
# Line coverage of engine/ from the .gcda files of an instrumented build that has run its tests
# (scripts/test.sh does both). Prints gcovr's per-file table and summary; fails below
# ARSENAL_MIN_ENGINE_COVERAGE percent (default 90).
# Usage: scripts/coverage-report.sh [BUILD_DIR]   (default build/coverage)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/coverage}
gcovr --root "$root" --object-directory "$build" --filter "$root/engine/" \
  --exclude-unreachable-branches --exclude-throw-branches --gcov-ignore-parse-errors \
  --txt "$build/coverage-engine.txt" --print-summary \
  --fail-under-line "${ARSENAL_MIN_ENGINE_COVERAGE:-90}" || { cat "$build/coverage-engine.txt"; exit 1; }
cat "$build/coverage-engine.txt"
