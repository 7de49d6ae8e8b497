#!/usr/bin/env bash
# Builds taskledger and runs the whole test suite; ends with ctest's summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
scripts/build.sh -DTASKLEDGER_WERROR=ON -DBUILD_TESTING=ON
cd "$BUILD_DIR"
# Tests that drive real processes on a shared 2-core machine get one retry; a retry is
# printed by ctest, and a test that fails twice fails the run.
ctest --output-on-failure -j "$(nproc)" --timeout 900 --repeat until-pass:2
