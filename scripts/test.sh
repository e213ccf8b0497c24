#!/usr/bin/env bash
# Quick start 2: install what is missing, build, and run the whole test suite.
#
# Two stages, both in CI:
#  1. One instrumented Debug build (the coverage preset) runs every test, then gcovr prints the
#     line coverage of engine/ and fails below ARSENAL_MIN_ENGINE_COVERAGE (default 90).
#  2. The asan preset (AddressSanitizer + UndefinedBehaviorSanitizer) builds, at idle priority
#     while stage 1's tests run, and then runs the unit tests of the libraries. ARSENAL_ASAN=0
#     skips it (for a quicker local run).
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
asan=${ARSENAL_ASAN:-1}
asan_log=build/asan-build.log
asan_pid=""
build() {  # build PRESET
  cmake --preset "$1" >/dev/null && cmake --build --preset "$1" -j"$(nproc)"
}
# The asan build runs in the background while the coverage tests and report run, at idle CPU
# priority (SCHED_IDLE): those tests spend much of their time waiting on processes, sandboxes and
# timers, and the compiler takes only the CPU they leave, so their timing is unaffected.
start_asan_build() {
  [ "$asan" != 0 ] || return 0
  mkdir -p build
  if command -v chrt >/dev/null; then
    chrt --idle 0 nice -n 19 bash -c "$(declare -f build); build asan" >"$asan_log" 2>&1 &
  else
    nice -n 19 bash -c "$(declare -f build); build asan" >"$asan_log" 2>&1 &
  fi
  asan_pid=$!
}
coverage_build_and_test() {
  build coverage || return 1
  find build/coverage -name '*.gcda' -delete
  start_asan_build
  ctest --preset coverage
}
asan_test() {
  if ! wait "$asan_pid"; then
    tail -n 200 "$asan_log"
    echo "the asan build failed (full log: $asan_log)"
    return 1
  fi
  echo "asan build finished; its log: $asan_log"
  ctest --preset asan
}
stage "build and test (coverage preset)" coverage_build_and_test
stage "engine/ line coverage" "$root/scripts/coverage-report.sh" build/coverage
if [ "$asan" != 0 ]; then
  if [ -z "$asan_pid" ]; then start_asan_build; fi  # the coverage build failed before starting it
  stage "unit tests under ASan+UBSan (asan preset; built alongside the coverage tests)" asan_test
fi
exit $status
