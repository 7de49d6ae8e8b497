#!/usr/bin/env bash
# Runs every libFuzzer target (ASan+UBSan, clang-14) for SECONDS each.
#   tests/fuzz/run.sh [SECONDS]        default 10; CI passes a few
#   tests/fuzz/run.sh --long           10 minutes each
#   tests/fuzz/run.sh --update-corpus SECONDS
#                                      also merges what the run found into the checked-in
#                                      corpus (tests/fuzz/corpus/<target>, kept minimal)
# Builds into build-fuzz (or $FUZZ_BUILD_DIR). A crash fails the run and leaves the input
# in $FUZZ_BUILD_DIR/crashes/<target>/; replay it with `$FUZZ_BUILD_DIR/tests/fuzz/<target> FILE`.
# Prints one line per target: seconds, executions, corpus size, crashes.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=10
update=0
while [ $# -gt 0 ]; do
  case "$1" in
    --long) seconds=600 ;;
    --update-corpus) update=1 ;;
    [0-9]*) seconds=$1 ;;
    *) echo "usage: $0 [SECONDS | --long] [--update-corpus]" >&2; exit 2 ;;
  esac
  shift
done
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
CC=${FUZZ_CC:-clang-14}
CXX=${FUZZ_CXX:-clang++-14}
targets=(fuzz_decode_event fuzz_time_text fuzz_rpc_message fuzz_import_jsonl)
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" \
  -DTASKLEDGER_FUZZ=ON -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# The taskledger binary too: this clang build is where -Wthread-safety (an error) checks
# every lock annotation of the libraries and the tools.
cmake --build "$BUILD" -j "$(nproc)" --target "${targets[@]}" fuzz_make_seeds taskledger >/dev/null
rm -rf "$BUILD/seeds" && "$BUILD/tests/fuzz/fuzz_make_seeds" "$BUILD/seeds"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
for target in "${targets[@]}"; do
  corpus=tests/fuzz/corpus/$target
  work=$BUILD/work/$target
  crashes=$BUILD/crashes/$target
  mkdir -p "$corpus" "$work" "$crashes"
  log=$BUILD/$target.log
  set +e
  "$BUILD/tests/fuzz/$target" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$crashes/" "$work" "$corpus" "$BUILD/seeds/$target" >"$log" 2>&1
  status=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  found=$(find "$crashes" -type f | wc -l)
  if [ "$status" -ne 0 ] || [ "$found" -ne 0 ]; then
    failed=1
    echo "fuzz: $target FAILED (exit $status, $found crashing input(s) in $crashes); the end of $log:" >&2
    tail -40 "$log" >&2
  fi
  if [ "$update" = 1 ]; then
    merged=$BUILD/merged/$target
    rm -rf "$merged" && mkdir -p "$merged"
    "$BUILD/tests/fuzz/$target" -merge=1 "$merged" "$corpus" "$work" >/dev/null 2>&1
    rm -rf "$corpus" && mv "$merged" "$corpus"
  fi
  echo "fuzz: $target ${seconds}s, ${execs:-0} executions, corpus $(ls "$corpus" | wc -l) files, crashes $found"
done
exit "$failed"
