#!/usr/bin/env bash
# Builds taskledger and runs the whole test suite; ends with ctest's summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
scripts/build.sh -DTASKLEDGER_WERROR=ON -DBUILD_TESTING=ON
cd "$BUILD_DIR"
# No retries: a test that fails once fails the run (a flaky test is a bug to fix).
ctest --output-on-failure -j "$(nproc)" --timeout 900
