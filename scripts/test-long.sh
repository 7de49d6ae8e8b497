#!/usr/bin/env bash
# The long modes of the reliability suites (not in CI; hours on 2 cores):
#   the simulation on 10,000 seeds, the crash loop with 500 kills, every fuzz target for
#   10 minutes. Each prints its counts; the script fails if any of them fails.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
scripts/build.sh
TASKLEDGER_SIM_SEEDS=${TASKLEDGER_SIM_SEEDS:-10000} "$BUILD_DIR/tests/sim/taskledger_sim_tests" \
  --gtest_filter='Simulation.EverySeed*'
BUILD_DIR=$BUILD_DIR tests/crash/crash_loop.sh --long
tests/fuzz/run.sh --long
