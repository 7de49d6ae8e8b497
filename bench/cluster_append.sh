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
# Starts one lone server and a cluster of three on loopback (nats-server from
# /opt/taskledger-nats, scripts/install-nats-server.sh), all removed at the end (their logs
# are kept, and their place printed, if the benchmark fails).
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
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ $status == 0 ]]; then
    rm -rf "$scratch"
  else
    echo "cluster_append: failed; the servers' logs are in $scratch" >&2
  fi
}
trap cleanup EXIT

# Loopback ports below the kernel's ephemeral range (32768 and up), so that no outgoing
# connection holds one: a client port and a cluster port per server.
base=$(( 10000 + RANDOM % 20000 ))
start_server() {  # NAME PORT CLUSTER_PORT ROUTES (empty: alone)
  local name=$1 port=$2 cluster_port=$3 routes=$4 conf=$scratch/$1.conf
  {
    echo "server_name: $name"
    echo "listen: 127.0.0.1:$port"
    echo "jetstream { store_dir: \"$scratch/$name\""
    [[ $sync == always ]] && echo "  sync_interval: always"
    echo "}"
    if [[ -n $routes ]]; then
      echo "cluster { name: taskledger, listen: 127.0.0.1:$cluster_port, routes: [$routes] }"
    fi
  } >"$conf"
  "$nats_server" -c "$conf" >"$scratch/$name.log" 2>&1 &
  pids+=($!)
}
start_server alone $base 0 ""
r3_urls=()
for i in 0 1 2; do
  routes=
  for j in 0 1 2; do
    [[ $j == "$i" ]] || routes+="${routes:+, }nats://127.0.0.1:$(( base + 10 + 2 * j + 1 ))"
  done
  start_server "n$i" $(( base + 10 + 2 * i )) $(( base + 10 + 2 * i + 1 )) "$routes"
  r3_urls+=("nats://127.0.0.1:$(( base + 10 + 2 * i ))")
done
for name in alone n0 n1 n2; do
  for _ in $(seq 200); do grep -q "Server is ready" "$scratch/$name.log" 2>/dev/null && break; sleep 0.05; done
  grep -q "Server is ready" "$scratch/$name.log" || { echo "cluster_append: $name did not start:" >&2; cat "$scratch/$name.log" >&2; exit 1; }
done

echo "cluster_append: mode $mode, sync $sync, $("$nats_server" --version), load $(cut -d' ' -f1-3 /proc/loadavg)"
TASKLEDGER_BENCH_MODE=$mode TASKLEDGER_BENCH_DIR=$scratch \
  TASKLEDGER_NATS_R1="nats://127.0.0.1:$base" TASKLEDGER_NATS_R3=$(IFS=,; echo "${r3_urls[*]}") \
  "$bench" --benchmark_min_time=0
