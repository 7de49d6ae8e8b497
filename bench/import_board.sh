#!/usr/bin/env bash
# Times `taskledger import-board` on a generated kanban board (hermes-board.md schema):
# N tasks (default 100000); every third depends on the task ten before it (the generator
# does not wait for parents, so those links come out as anomalies, kept in payloads); one
# or two runs each with claims, spawns, heartbeats, a crash and retry for every tenth task,
# and every 50th task a zombie whose claim is extended for an hour, then blocked by hand.
#   bench/import_board.sh [TASKS] [BUILD_DIR]
set -euo pipefail
tasks=${1:-100000}
build=${2:-build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work/kanban.db" "$tasks" <<'PY'
import json, sqlite3, sys
path, n = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(path)
db.executescript("""
PRAGMA journal_mode=WAL;
CREATE TABLE tasks (id TEXT PRIMARY KEY, title TEXT NOT NULL, body TEXT, assignee TEXT, status TEXT NOT NULL,
  priority INTEGER DEFAULT 0, created_by TEXT, created_at INTEGER NOT NULL, started_at INTEGER, completed_at INTEGER,
  workspace_kind TEXT NOT NULL DEFAULT 'scratch', result TEXT, claim_lock TEXT, claim_expires INTEGER,
  worker_pid INTEGER, last_heartbeat_at INTEGER, max_runtime_seconds INTEGER, current_run_id INTEGER,
  consecutive_failures INTEGER NOT NULL DEFAULT 0, last_failure_error TEXT, max_retries INTEGER);
CREATE TABLE task_links (parent_id TEXT NOT NULL, child_id TEXT NOT NULL, PRIMARY KEY (parent_id, child_id));
CREATE TABLE task_comments (id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, author TEXT NOT NULL,
  body TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE task_events (id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, run_id INTEGER,
  kind TEXT NOT NULL, payload TEXT, created_at INTEGER NOT NULL);
CREATE TABLE task_runs (id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, profile TEXT, step_key TEXT,
  status TEXT NOT NULL, claim_lock TEXT, claim_expires INTEGER, worker_pid INTEGER, max_runtime_seconds INTEGER,
  last_heartbeat_at INTEGER, started_at INTEGER NOT NULL, ended_at INTEGER, outcome TEXT, summary TEXT,
  error TEXT, metadata TEXT);
""")
t0 = 1764400000
tasks, links, events, runs = [], [], [], []
run_id = 0
for i in range(n):
    tid = "t_%08x" % i
    at = t0 + i
    zombie = i % 50 == 7
    crash = i % 10 == 3
    status = "blocked" if zombie else "done"
    tasks.append((tid, "task %d" % i, "generated", "coder", status, i % 5, "bench", at, "r%d" % i))
    if i >= 10 and i % 3 == 0:
        links.append(("t_%08x" % (i - 10), tid))
    events.append((tid, None, "created", None, at))
    t = at + 5
    for attempt in range(2 if crash else 1):
        run_id += 1
        lock, pid = "host-%d:%d" % (i % 7, 1000 + i % 5000), 20000 + i % 30000
        events.append((tid, run_id, "claimed", json.dumps({"lock": lock, "expires": t + 900, "run_id": run_id}), t))
        events.append((tid, run_id, "spawned", json.dumps({"pid": pid}), t + 1))
        events.append((tid, run_id, "heartbeat", None, t + 30))
        events.append((tid, run_id, "heartbeat", None, t + 90))
        if crash and attempt == 0:
            end, outcome = t + 120, "crashed"
            events.append((tid, run_id, "crashed", json.dumps({"pid": pid, "claimer": lock, "exit_code": 1}), end))
        elif zombie:
            for k in range(60):
                events.append((tid, run_id, "claim_extended", json.dumps({"reason": "pid alive", "worker_pid": pid}), t + 990 + 60 * k))
            end, outcome = t + 990 + 3600, "blocked"
            events.append((tid, run_id, "blocked", json.dumps({"reason": "stuck", "kind": "manual"}), end))
        else:
            end, outcome = t + 150, "completed"
            events.append((tid, run_id, "completed", json.dumps({"summary": "ok", "result_len": 2}), end))
        runs.append((run_id, tid, "coder", outcome if outcome != "completed" else "done", t, end, outcome))
        t = end + 10
db.executemany("INSERT INTO tasks (id, title, body, assignee, status, priority, created_by, created_at, result) VALUES (?,?,?,?,?,?,?,?,?)", tasks)
db.executemany("INSERT INTO task_links VALUES (?,?)", links)
events.sort(key=lambda e: e[4])  # the board's ids follow its clock
db.executemany("INSERT INTO task_events (task_id, run_id, kind, payload, created_at) VALUES (?,?,?,?,?)", events)
db.executemany("INSERT INTO task_runs (id, task_id, profile, status, started_at, ended_at, outcome) VALUES (?,?,?,?,?,?,?)", runs)
db.commit()
print("board: %d tasks, %d runs, %d events, %d links" % (n, len(runs), len(events), len(links)), file=sys.stderr)
PY
echo "import-board of $tasks tasks:" >&2
/usr/bin/time -f "%e s wall, %M KiB max RSS" "$build/tools/taskledger" --db "$work/ledger" import-board "$work/kanban.db" > "$work/summary.txt"
head -6 "$work/summary.txt"
"$build/tools/taskledger" --db "$work/ledger" verify
