#!/usr/bin/env bash
# Line coverage of engine/: builds the coverage preset (Debug + gcov), runs every test, and prints
# gcovr's report. ARSENAL_MIN_ENGINE_COVERAGE=N fails the script below N percent.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/install-deps.sh"
cmake --preset coverage
cmake --build --preset coverage -j"$(nproc)"
find build/coverage -name '*.gcda' -delete
ctest --preset coverage || echo "coverage: some tests failed; the report covers what ran" >&2
gate=()
[ -n "${ARSENAL_MIN_ENGINE_COVERAGE:-}" ] && gate=(--fail-under-line "$ARSENAL_MIN_ENGINE_COVERAGE")
gcovr --root "$root" --object-directory build/coverage --filter 'engine/' \
  --exclude-unreachable-branches --exclude-throw-branches --gcov-ignore-parse-errors \
  --txt build/coverage/coverage-engine.txt --print-summary "${gate[@]}"
cat build/coverage/coverage-engine.txt
