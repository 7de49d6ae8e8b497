#!/usr/bin/env bash
# The main job: a server on the default ledger, and the reported bug replayed against it
# with real processes (DESIGN §7 stories 1 and 2).
#   Story 1: a supervised worker gets SIGTERM and hangs like a zombie. Its lease ends with
#            the grace, another worker runs the task, and the task after it proceeds.
#   Story 2: a supervisor frozen (SIGSTOP) past its lease. Another worker takes over; when
#            the frozen one wakes, its heartbeat is refused, recorded, and it stops its child.
# The server also listens for HTTP on 127.0.0.1 (port TASKLEDGER_DEMO_HTTP_PORT, default any
# free one): the live dashboard is at its `/`. On a terminal, the script waits for Enter
# before stopping the server, so that the dashboard can be looked at.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh -DBUILD_TESTING=OFF >/dev/null
TL="$PWD/build/tools/taskledger"
WORK="$PWD/build/demo"
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK"   # the default ledger: ./taskledger.db
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wait_for() {  # wait_for SECONDS CMD...: poll until CMD succeeds
  local limit=$(( $1 * 10 )); shift
  for _ in $(seq "$limit"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timed out waiting for: $*" >&2; return 1
}

say "start the server on the default ledger ./taskledger.db, socket ./taskledger.sock, and HTTP"
"$TL" serve --http "tcp:127.0.0.1:${TASKLEDGER_DEMO_HTTP_PORT:-0}" >server.log 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
wait_for 10 test -S taskledger.sock
wait_for 10 grep -q '^http on tcp:' server.log
export TASKLEDGER_ADDR="unix:$WORK/taskledger.sock"
HTTP="http://$(sed -n 's/^http on tcp:\(.*\)$/\1/p' server.log | head -n 1)"
echo "server pid $SERVER, TASKLEDGER_ADDR=$TASKLEDGER_ADDR"
echo "dashboard: $HTTP/"

say "story 1: a dispatcher creates etl, and report after it"
"$TL" create etl --title "nightly ETL" --ttl 3s
"$TL" create report --title "daily report" --after etl

say "w1's supervisor claims etl; its worker ignores SIGTERM (the zombie of the report)"
"$TL" run etl --worker w1 --grace 2s -- sh -c 'trap "" TERM; echo "  w1: working on $TASKLEDGER_TASK (token $TASKLEDGER_TOKEN)"; while :; do sleep 0.2; done' &
W1=$!
wait_for 10 sh -c "'$TL' --json show etl | grep -q '\"status\":\"running\"'"
"$TL" show etl | sed -n 3p

say "a restart: SIGTERM to w1's supervisor. It records 'signaled', forwards it, waits 2 s, kills"
kill -TERM $W1
set +e; wait $W1; echo "w1's supervisor exited with $? (128+SIGKILL: the worker had to be killed)"; set -e

say "w2 runs etl as soon as it is claimable: no liveness check, no extension"
wait_for 10 "$TL" run etl --worker w2 -- sh -c 'echo "  w2: ETL done"'
say "report, which waited for etl, now runs"
"$TL" run --next --worker w3 -- sh -c 'echo "  w3: report sent"'

say "story 2: w4's supervisor is frozen (SIGSTOP) past its 2 s lease"
"$TL" create invoice --title "invoice run" --ttl 2s
"$TL" run invoice --worker w4 --grace 1s -- sh -c 'while :; do sleep 0.2; done' &
W4=$!
wait_for 10 sh -c "'$TL' --json show invoice | grep -q '\"status\":\"running\"'"
kill -STOP $W4
wait_for 10 "$TL" claim invoice --worker w5 --ttl 30s
TOKEN=$("$TL" --json show invoice | sed 's/.*"token":\([0-9]*\).*/\1/')
"$TL" complete invoice --token "$TOKEN" --result "by w5"
say "w4 wakes up (SIGCONT): its heartbeat is refused; it stops its worker and exits 3"
kill -CONT $W4
set +e; wait $W4; echo "w4's supervisor exited with $?"; set -e

say "the log of both stories"
"$TL" log
if "$TL" --help 2>/dev/null | grep -q explain; then
  say "explain etl";     "$TL" explain etl
  say "explain invoice"; "$TL" explain invoice
fi
say "state now";  "$TL" ls
say "verify: the projection equals a replay of the log"; "$TL" verify
say "the same over HTTP: curl -s $HTTP/v1/tasks/etl"
curl -s "$HTTP/v1/tasks/etl"; echo
echo "dashboard: $HTTP/"
if [ -t 0 ]; then
  read -r -p "press Enter to stop the server " _
fi
say "stop the server (SIGTERM: it finishes what is in flight and closes)"
kill -TERM $SERVER; wait $SERVER; trap - EXIT
echo "server stopped"
