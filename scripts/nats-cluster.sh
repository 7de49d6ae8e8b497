#!/usr/bin/env bash
# NATS servers with JetStream on this machine's loopback, for a taskledger cluster on one
# machine, its benchmarks (bench/cluster_append.sh) or trying it by hand
# (docs/scale-out.md "Running a NATS cluster on one machine").
#
#   scripts/nats-cluster.sh start DIR [--size 1|3] [--port BASE] [--sync always|default]
#   scripts/nats-cluster.sh stop DIR
#
# start: one server alone, or three clustered (the default), each with its own store in
#   DIR/nI and its log in DIR/nI.log; the client port of server I is BASE + 2I (its
#   cluster port BASE + 2I + 1); BASE defaults to a random one in 10000-29999, below the
#   kernel's ephemeral range. Waits until every server is ready, then prints their client
#   URLs on one line, comma-separated (what JetStreamLogOptions::servers takes).
#   --sync always (the default) makes every server fsync each write (JetStream's
#   sync_interval: always), the setting comparable to RocksDB's sync=true; --sync default
#   keeps NATS's own (a flush every 2 minutes).
# stop: kill -9 the servers started in DIR and wait for them. DIR is left for their logs.
# The server is /opt/taskledger-nats/nats-server (scripts/install-nats-server.sh), or
# $TASKLEDGER_NATS_SERVER.
set -euo pipefail

usage() {
  echo "usage: scripts/nats-cluster.sh start DIR [--size 1|3] [--port BASE] [--sync always|default]" >&2
  echo "       scripts/nats-cluster.sh stop DIR" >&2
  exit 2
}
[[ $# -ge 2 ]] || usage
action=$1 dir=$2
shift 2

# Kills the servers listed in DIR/pids that are still the ones started there (a pid is
# checked against its command line, in case the file outlived them and the pid was reused).
stop_servers() {
  local pid
  while read -r pid; do
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir/n"; then kill -9 "$pid" 2>/dev/null || true; fi
  done <"$dir/pids"
  # Not our children when started by another shell: wait until they are gone.
  while read -r pid; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  done <"$dir/pids"
  rm -f "$dir/pids"
}

if [[ $action == stop ]]; then
  [[ $# -eq 0 ]] || usage
  [[ -f $dir/pids ]] || { echo "nats-cluster: no servers were started in $dir" >&2; exit 1; }
  stop_servers
  exit 0
fi
[[ $action == start ]] || usage

size=3 base=$(( 10000 + RANDOM % 20000 )) sync=always
while [[ $# -gt 0 ]]; do
  [[ $# -ge 2 ]] || usage  # every option takes a value
  case $1 in
    --size) size=$2 ;;
    --port) base=$2 ;;
    --sync) sync=$2 ;;
    *) usage ;;
  esac
  shift 2
done
case $size in 1|3) ;; *) echo "nats-cluster: --size is 1 or 3, not '$size'" >&2; exit 2 ;; esac
case $sync in always|default) ;; *) echo "nats-cluster: --sync is always or default, not '$sync'" >&2; exit 2 ;; esac
[[ $base =~ ^[0-9]+$ ]] && (( base >= 1024 && base + 2 * size <= 65535 )) ||
  { echo "nats-cluster: --port is a port from 1024 to $(( 65535 - 2 * size )), not '$base'" >&2; exit 2; }
server=${TASKLEDGER_NATS_SERVER:-/opt/taskledger-nats/nats-server}
[[ -x $server ]] || { echo "nats-cluster: no $server: run scripts/install-nats-server.sh" >&2; exit 1; }
mkdir -p "$dir"
[[ ! -s $dir/pids ]] || { echo "nats-cluster: servers already started in $dir (stop them first)" >&2; exit 1; }

# Whatever goes wrong before every server is ready, none is left running.
trap 'stop_servers' ERR INT TERM
urls=()
for (( i = 0; i < size; i++ )); do
  name=n$i port=$(( base + 2 * i )) conf=$dir/n$i.conf
  {
    echo "server_name: $name"
    echo "listen: 127.0.0.1:$port"
    echo "jetstream { store_dir: \"$dir/$name\""
    [[ $sync == always ]] && echo "  sync_interval: always"
    echo "}"
    if (( size > 1 )); then
      routes=
      for (( j = 0; j < size; j++ )); do
        (( j == i )) || routes+="${routes:+, }nats://127.0.0.1:$(( base + 2 * j + 1 ))"
      done
      echo "cluster { name: taskledger, listen: 127.0.0.1:$(( port + 1 )), routes: [$routes] }"
    fi
  } >"$conf"
  "$server" -c "$conf" >"$dir/$name.log" 2>&1 &
  echo $! >>"$dir/pids"
  urls+=("nats://127.0.0.1:$port")
done
for (( i = 0; i < size; i++ )); do
  for _ in $(seq 200); do grep -q "Server is ready" "$dir/n$i.log" 2>/dev/null && break; sleep 0.05; done
  if ! grep -q "Server is ready" "$dir/n$i.log"; then
    echo "nats-cluster: n$i did not start (its log: $dir/n$i.log):" >&2
    tail -5 "$dir/n$i.log" >&2
    stop_servers
    exit 1
  fi
done
trap - ERR INT TERM
(IFS=,; echo "${urls[*]}")
