#!/usr/bin/env bash
# The reported bug, replayed: a worker is told to stop (SIGTERM) and hangs like a zombie.
# Its lease lapses within the grace, another worker takes the task, the dependent task
# proceeds, and the zombie's late messages are refused and recorded as evidence.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh -DBUILD_TESTING=OFF >/dev/null
TL="$PWD/build/tools/taskledger"
export TASKLEDGER_DB=${TASKLEDGER_DB:-$PWD/taskledger.db}
rm -rf "$TASKLEDGER_DB"
say() { printf '\n== %s\n' "$*"; }

say "a dispatcher creates two tasks; 'report' runs after 'etl'"
"$TL" create etl --title "nightly ETL" --ttl 3s
"$TL" create report --title "daily report" --after etl

say "worker w1 claims etl with a 3 s lease"
read -r TASK TOKEN DEADLINE < <("$TL" claim --next --worker w1)
echo "task=$TASK token=$TOKEN deadline=$DEADLINE"
"$TL" heartbeat etl --token "$TOKEN" --note "extracting" >/dev/null

say "w1's supervisor gets SIGTERM (a restart) and records it with 1 s of grace; w1 hangs"
"$TL" signal etl --token "$TOKEN" --signal TERM --grace 1s

say "no liveness check, no extension: the dispatcher simply waits for etl to be claimable"
for _ in $(seq 1 50); do
  if OUT=$("$TL" claim etl --worker w2 2>/dev/null); then break; fi
  sleep 0.1
done
read -r _ TOKEN2 _ <<<"$OUT"
echo "w2 claimed etl with token $TOKEN2"

say "the zombie w1 wakes up and heartbeats: refused (exit 3), recorded as 'rejected'"
"$TL" heartbeat etl --token "$TOKEN" --note "still here" || echo "(exit $?)"

say "w2 completes etl; report is ready and runs"
"$TL" complete etl --token "$TOKEN2" --result "42 rows"
read -r _ TOKEN3 _ < <("$TL" claim --next --worker w2)
"$TL" complete report --token "$TOKEN3" --result "sent"

say "the log: every fact, in order"
"$TL" log
say "state now"
"$TL" ls
say "verify: the projection equals a replay of the log"
"$TL" verify
