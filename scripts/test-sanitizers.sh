#!/usr/bin/env bash
# The test suites under sanitizers (CI runs this before scripts/test.sh):
#   asan  build-asan, ASan+UBSan: the whole suite (ctest), except tests labelled no-asan.
#   tsan  build-tsan, TSan: the concurrency tests: the server end to end (e2e, real
#         processes: the server binary is TSan-built too) and the GroupCommitter under
#         many submitter threads (concurrency).
# Usage: scripts/test-sanitizers.sh [asan|tsan|all]   (default all)
# Builds with -Werror like CI. Prints a summary line per suite.
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
jobs=$(nproc)
# abort_on_error: a finding fails the test that made it, with a stack trace in its output.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan.supp}

if [ "$which" = all ] || [ "$which" = asan ]; then
  start=$(date +%s)
  BUILD_DIR=build-asan scripts/build.sh -DTASKLEDGER_SANITIZE=address -DTASKLEDGER_WERROR=ON
  # No retries, as in scripts/test.sh: a test that fails once fails the run.
  (cd build-asan && ctest --output-on-failure -j "$jobs" --timeout 900 -LE no-asan)
  echo "sanitizers: ASan+UBSan suite passed in $(( $(date +%s) - start )) s"
fi

if [ "$which" = all ] || [ "$which" = tsan ]; then
  start=$(date +%s)
  cmake -S . -B build-tsan -G Ninja -DTASKLEDGER_SANITIZE=thread -DTASKLEDGER_WERROR=ON >/dev/null
  cmake --build build-tsan -j "$jobs" --target taskledger taskledger_e2e_tests taskledger_concurrency_tests
  build-tsan/tests/concurrency/taskledger_concurrency_tests
  build-tsan/tests/e2e/taskledger_e2e_tests
  echo "sanitizers: TSan concurrency suites passed in $(( $(date +%s) - start )) s"
fi
