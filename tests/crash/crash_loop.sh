#!/usr/bin/env bash
# The crash loop: kill -9 a loaded `taskledger serve` at random moments, restart it, and
# check that no acknowledged event was lost (tests/crash/crash_loop.cc says how).
#   tests/crash/crash_loop.sh --short   20 kills (what ctest runs, label `crash`)
#   tests/crash/crash_loop.sh --long    500 kills (about 30 minutes; stops at an hour)
# Options after the mode go to the driver: --seed S, --clients N, --kills N, --work DIR.
# BUILD_DIR (default build) names the build to use; it is built first.
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:---short}
shift || true
case "$mode" in
  --short) kills=20; limit=150 ;;
  --long) kills=500; limit=3600 ;;
  *) echo "usage: $0 --short|--long [driver options]" >&2; exit 2 ;;
esac
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target taskledger taskledger_crash_loop >/dev/null
exec "$BUILD_DIR/tests/crash/taskledger_crash_loop" --bin "$BUILD_DIR/tools/taskledger" \
  --kills "$kills" --max-seconds "$limit" --seed "${SEED:-$RANDOM}" "$@"
