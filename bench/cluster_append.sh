#!/usr/bin/env bash
# Appends to partitions' replicated logs on NATS JetStream, R1 and R3, at 1, 2 and 4
# partitions, beside a raw RocksDB sync put measured before and after in the same run
# (bench/jetstream_bench.cc; docs/scale-out.md "First figures").
#
#   bench/cluster_append.sh [--smoke|--quick|--full] [--sync always|default] [BENCH_BINARY]
#
# quick (default): 3 s per figure; full: 10 s; smoke: 0.3 s (bench_smoke runs this).
# --sync always (default): every server fsyncs each write (jetstream sync_interval: always),
# the setting comparable to RocksDB's sync=true. --sync default: NATS's own default (a
# flush every 2 minutes; an R3 append is then held in the memory of 2 of 3 servers).
# Starts one lone server and a cluster of three on loopback (scripts/nats-cluster.sh), all
# removed at the end (their logs are kept, and their place printed, if the benchmark fails).
# The binary defaults to build-bench/bench/jetstream_bench (Release, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=quick sync=always bench=
while [[ $# -gt 0 ]]; do
  case $1 in
    --smoke) mode=smoke ;;
    --quick) mode=quick ;;
    --full) mode=full ;;
    --sync) sync=${2:?}; shift ;;
    -*) echo "usage: bench/cluster_append.sh [--smoke|--quick|--full] [--sync always|default] [BENCH_BINARY]" >&2
        exit 2 ;;
    *) bench=$1 ;;
  esac
  shift
done
case $sync in always|default) ;; *) echo "cluster_append: --sync is always or default, not '$sync'" >&2; exit 2 ;; esac
nats_server=${TASKLEDGER_NATS_SERVER:-/opt/taskledger-nats/nats-server}
if [[ ! -x $nats_server ]]; then
  echo "cluster_append: no $nats_server: run scripts/install-nats-server.sh" >&2
  exit 1
fi
if [[ -z $bench ]]; then
  BUILD_DIR=${BUILD_DIR:-build-bench}
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
  cmake --build "$BUILD_DIR" -j "$(nproc)" --target jetstream_bench >/dev/null
  bench=$BUILD_DIR/bench/jetstream_bench
fi

scratch=$(mktemp -d /var/tmp/taskledger-cluster-append-XXXXXX)
cleanup() {
  local status=$?
  for cluster in r1 r3; do
    [[ -f $scratch/$cluster/pids ]] && { scripts/nats-cluster.sh stop "$scratch/$cluster" || true; }
  done
  if [[ $status == 0 ]]; then
    rm -rf "$scratch"
  else
    echo "cluster_append: failed; the servers' logs are in $scratch" >&2
  fi
}
trap cleanup EXIT

export TASKLEDGER_NATS_SERVER=$nats_server
base=$(( 10000 + RANDOM % 20000 ))  # one base for both, so that their ports never meet
r1_urls=$(scripts/nats-cluster.sh start "$scratch/r1" --size 1 --port "$base" --sync "$sync")
r3_urls=$(scripts/nats-cluster.sh start "$scratch/r3" --size 3 --port $(( base + 10 )) --sync "$sync")

echo "cluster_append: mode $mode, sync $sync, $("$nats_server" --version), load $(cut -d' ' -f1-3 /proc/loadavg)"
TASKLEDGER_BENCH_MODE=$mode TASKLEDGER_BENCH_DIR=$scratch \
  TASKLEDGER_NATS_R1=$r1_urls TASKLEDGER_NATS_R3=$r3_urls \
  "$bench" --benchmark_min_time=0
