#!/usr/bin/env bash
# Quick start 2: install what is missing, build, and run the whole test suite.
#
# Two stages, both in CI:
#  1. One instrumented Debug build (the coverage preset) runs every test, then gcovr prints the
#     line coverage of engine/ and fails below ARSENAL_MIN_ENGINE_COVERAGE (default 90).
#  2. The asan preset (AddressSanitizer + UndefinedBehaviorSanitizer) builds and runs the unit
#     tests of the libraries. ARSENAL_ASAN=0 skips it (for a quicker local run).
# Both builds are unity builds (ARSENAL_UNITY_BUILD), which is what keeps the two within CI's 30
# minutes on 2 cores (docs/decisions.md, "CI time"). The script fails if any stage fails, after
# running all of them.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/install-deps.sh" || exit 1
if [ -f integration/api/package.json ] && command -v npm >/dev/null; then
  (cd integration/api && npm ci --no-audit --no-fund) || exit 1
fi
status=0
stage() {  # stage NAME COMMAND...: runs a stage, prints its duration, remembers a failure
  local name=$1 start=$SECONDS
  shift
  echo "== $name"
  if "$@"; then echo "== $name: passed in $((SECONDS - start)) s"
  else echo "== $name: FAILED in $((SECONDS - start)) s"; status=1; fi
}
build_and_test() {  # build_and_test PRESET
  cmake --preset "$1" >/dev/null && cmake --build --preset "$1" -j"$(nproc)" || return 1
  find "build/$1" -name '*.gcda' -delete
  ctest --preset "$1"
}
stage "build and test (coverage preset)" build_and_test coverage
stage "engine/ line coverage" "$root/scripts/coverage-report.sh" build/coverage
if [ "${ARSENAL_ASAN:-1}" != 0 ]; then
  stage "unit tests under ASan+UBSan (asan preset)" build_and_test asan
fi
exit $status
