#!/usr/bin/env bash
# Side by side with BullMQ (docs/performance.md, "Side by side with BullMQ"): the same task
# count through BullMQ on a durable Redis and through `taskledger serve`, alternately, at
# concurrency 8 and 64, each task claimed, renewed twice and completed.
#
#   bench/compare.sh [--quick] [--tasks N] [--rounds R] [--renewals K]
#                    [--bullmq-pattern worker|manual] [--tl-pattern worker|percommand]
#                    [--tl-inflight F] [--tl-lanes L] [--out FILE]
#
# full (default): 20,000 tasks per side per concurrency, 2 rounds of
#   BullMQ c8, taskledger c8, BullMQ c64, taskledger c64.
# --quick: 500 tasks, 1 round (a smoke run, well under a minute once built and installed).
#
# BullMQ side (bench/bullmq/bullmq_load.js, BullMQ and ioredis pinned by
# bench/bullmq/package-lock.json): one Node process, jobs enqueued with Queue.addBulk before
# the clock starts; a job = claim + K extendLock + complete. Redis is Debian's redis-server,
# started here on a free loopback port with its own directory, `--appendonly yes
# --appendfsync always --save ''`, and stopped at exit; a system Redis is never touched.
# taskledger side: `taskledger serve` on a fresh ledger over a unix socket, driven by
# bench/ledger_load --no-create (tasks created before the clock starts); a task cycle =
# claim --next + K heartbeats + complete. Each side uses its best documented client pattern:
#   --tl-pattern worker (default): what `taskledger worker` does (tools/worker/worker.cc),
#     ledger_load --pattern worker: concurrency C = one connection holding C leases (as
#     BullMQ's one Worker with concurrency C), one call = [complete every finished task +
#     claim --next for every free slot], one call = [heartbeat every held lease]; with
#     --tl-inflight F, C/F connections holding F leases each; with --tl-lanes L, each
#     connection's leases split into L lanes, each lane its own chain of those calls (L calls
#     in flight per connection, as a worker running L event loops would).
#   --tl-pattern percommand: one command per call; concurrency C = C connections with one
#     cycle in flight on each; with --tl-inflight F, C/F connections with F cycles in
#     flight on each.
#
# Installs what is missing: redis-server (apt-get, as root), node_modules (npm ci). Builds
# taskledger and ledger_load (Release) in $BUILD_DIR (default build-bench, as
# scripts/bench.sh). Scratch: $TASKLEDGER_BENCH_DIR (default a new directory under
# /var/tmp; both stores live there, on the same filesystem), removed at the end.
#
# Output: one JSON line (each side's figures at each concurrency and the ratios; stdout),
# then a table; both also in FILE (default $BUILD_DIR/bench-results/compare-MODE-TIME.txt),
# every run's raw JSON in FILE.d/.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

mode=full tasks= rounds= renewals=2 pattern=worker tl_pattern=worker tl_inflight= tl_lanes=1 out=
usage() {
  echo "usage: bench/compare.sh [--quick] [--tasks N] [--rounds R] [--renewals K] [--bullmq-pattern worker|manual] [--tl-pattern worker|percommand] [--tl-inflight F] [--tl-lanes L] [--out FILE]" >&2
  exit 2
}
while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) mode=quick ;;
    --tasks) tasks=${2:?}; shift ;;
    --rounds) rounds=${2:?}; shift ;;
    --renewals) renewals=${2:?}; shift ;;
    --bullmq-pattern) pattern=${2:?}; shift ;;
    --tl-pattern) tl_pattern=${2:?}; shift ;;
    --tl-inflight) tl_inflight=${2:?}; shift ;;
    --tl-lanes) tl_lanes=${2:?}; shift ;;
    --out) out=${2:?}; shift ;;
    *) usage ;;
  esac
  shift
done
if [[ $mode == full ]]; then tasks=${tasks:-20000} rounds=${rounds:-2}; else tasks=${tasks:-500} rounds=${rounds:-1}; fi
[[ $tl_pattern == worker || $tl_pattern == percommand ]] || usage
[[ $tl_lanes =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: --tl-lanes must be a positive integer" >&2; exit 2; }
[[ $tl_lanes == 1 || $tl_pattern == worker ]] || { echo "compare.sh: --tl-lanes needs --tl-pattern worker" >&2; exit 2; }
concurrencies=(8 64)
# Cycles in flight (percommand) or leases held (worker) per connection at concurrency C:
# --tl-inflight F, or by default 1 (percommand: C connections) and C (worker: one worker).
inflight_at() { if [[ -n $tl_inflight ]]; then echo "$tl_inflight"; elif [[ $tl_pattern == worker ]]; then echo "$1"; else echo 1; fi; }
for c in "${concurrencies[@]}"; do
  if ((c % $(inflight_at "$c") != 0)); then echo "compare.sh: --tl-inflight must divide ${concurrencies[*]}" >&2; exit 2; fi
done
tl_desc="pattern $tl_pattern, ledger_load --no-create --pattern $tl_pattern, $(for c in "${concurrencies[@]}"; do f=$(inflight_at "$c"); echo -n "c$c: $((c / f)) connection(s) x $f $([[ $tl_pattern == worker ]] && echo slots || echo 'in flight'); "; done)"
tl_desc=${tl_desc%; }
((tl_lanes == 1)) || tl_desc="$tl_desc; $tl_lanes lanes per connection"

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

# ---- What it needs ----
if ! command -v redis-server >/dev/null; then
  if [[ $(id -u) == 0 ]]; then
    log "installing redis-server (apt-get)"
    apt-get install -y redis-server >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y redis-server >/dev/null; }
  else
    echo "compare.sh: needs redis-server: sudo apt-get install redis-server" >&2
    exit 1
  fi
fi
# Debian's package starts a system Redis on 6379; ours is separate and that one is left alone.
command -v node >/dev/null && command -v npm >/dev/null || { echo "compare.sh: needs node (>= 18) and npm" >&2; exit 1; }
bullmq_dir=$repo/bench/bullmq
if ! cmp -s "$bullmq_dir/package-lock.json" "$bullmq_dir/node_modules/.package-lock.json.installed" 2>/dev/null; then
  log "installing BullMQ (npm ci, bench/bullmq/package-lock.json)"
  (cd "$bullmq_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$bullmq_dir/package-lock.json" "$bullmq_dir/node_modules/.package-lock.json.installed"
fi

BUILD_DIR=${BUILD_DIR:-build-bench}
if [[ ! -f $BUILD_DIR/build.ninja ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt")
[[ $build_type == Release ]] || echo "compare.sh: warning: $BUILD_DIR is a $build_type build, not Release" >&2
ninja -C "$BUILD_DIR" taskledger ledger_load >/dev/null
bin=$(cd "$BUILD_DIR" && pwd)
tl=$bin/tools/taskledger
load=$bin/bench/ledger_load

stamp=$(date -u +%Y%m%dT%H%M%SZ)
if [[ -z $out ]]; then
  mkdir -p "$bin/bench-results"
  out=$bin/bench-results/compare-$mode-$stamp.txt
fi
raw=$out.d
mkdir -p "$raw"
work=${TASKLEDGER_BENCH_DIR:-$(mktemp -d /var/tmp/taskledger-compare-XXXXXX)}
mkdir -p "$work/redis"
fs=$(df --output=fstype "$work" | tail -1 | tr -d ' ')
[[ $fs == tmpfs ]] && echo "compare.sh: warning: $work is on tmpfs: fsync costs nothing there" >&2

redis_pid= server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [[ -n $redis_pid ]]; then kill -TERM "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# ---- The two servers ----
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
redis-server --bind 127.0.0.1 --port "$port" --dir "$work/redis" --appendonly yes --appendfsync always \
  --save '' --daemonize no --logfile "$work/redis/redis.log" >/dev/null 2>&1 &
redis_pid=$!
for _ in $(seq 100); do redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
[[ $(redis-cli -h 127.0.0.1 -p "$port" config get appendfsync | tail -1) == always ]] || { echo "compare.sh: redis did not start" >&2; exit 1; }

"$tl" --db "$work/ledger" serve --listen "unix:$work/tl.sock" >"$raw/server.out" 2>&1 &
server_pid=$!
for _ in $(seq 600); do grep -q "listening on" "$raw/server.out" 2>/dev/null && break; sleep 0.1; done
grep -q "listening on" "$raw/server.out" || { echo "compare.sh: taskledger serve did not start" >&2; exit 1; }

# CPU seconds (user + system) a process has used so far.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- ledger projections tools schemas bench 2>/dev/null || commit="$commit+uncommitted"
{
  echo "taskledger vs BullMQ, mode $mode, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $commit"
  echo "machine: $(nproc) cores, load average at start: $load_start"
  echo "scratch: $work ($fs on $(df --output=source "$work" | tail -1)); redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on 127.0.0.1:$port, appendonly yes, appendfsync always"
  echo "$tasks tasks per side per concurrency, $renewals renewals, $rounds round(s); BullMQ pattern $pattern; taskledger $tl_desc"
} >"$out"
log "scratch $work ($fs), redis :$port, load average $load_start"

# ---- The runs, alternating ----
for ((r = 1; r <= rounds; r++)); do
  for c in "${concurrencies[@]}"; do
    log "round $r: BullMQ c$c"
    cpu0=$(cpu_s "$redis_pid")
    node "$bullmq_dir/bullmq_load.js" --port "$port" --jobs "$tasks" --concurrency "$c" --renewals "$renewals" \
      --pattern "$pattern" --queue "r$r-c$c" --json >"$raw/bullmq-r$r-c$c.json"
    echo "{\"redis_cpu_s\": $(awk -v a="$cpu0" -v b="$(cpu_s "$redis_pid")" 'BEGIN {print b - a}')}" >"$raw/bullmq-r$r-c$c.cpu.json"

    log "round $r: taskledger c$c"
    cpu0=$(cpu_s "$server_pid")
    f=$(inflight_at "$c")
    "$load" --connect "unix:$work/tl.sock" --pattern "$tl_pattern" --clients $((c / f)) --inflight "$f" --lanes "$tl_lanes" --tasks "$tasks" \
      --heartbeats "$renewals" --no-create --queue "r$r-c$c" --ping-calls 50 --json >"$raw/taskledger-r$r-c$c.json"
    echo "{\"server_cpu_s\": $(awk -v a="$cpu0" -v b="$(cpu_s "$server_pid")" 'BEGIN {print b - a}')}" >"$raw/taskledger-r$r-c$c.cpu.json"
  done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- The summary: per concurrency, throughput over all rounds (tasks / seconds), latency
# percentiles the median of the rounds' (the mean of two) ----
node - "$raw" "$rounds" "$mode" "$tasks" "$renewals" "$pattern" "$tl_pattern" "$commit" "$load_start" "$load_end" "$fs" \
  "${concurrencies[@]}" >>"$out" <<'EOF'
const fs = require('fs');
const [rawDir, rounds, mode, tasks, renewals, pattern, tlPattern, commit, loadStart, loadEnd, fstype, ...cs] = process.argv.slice(2);
const read = (f) => JSON.parse(fs.readFileSync(`${rawDir}/${f}`, 'utf8'));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const r0 = (x) => Math.round(x);
const out = { compare: 'taskledger-vs-bullmq', mode, commit, tasks: +tasks, renewals: +renewals, rounds: +rounds,
  bullmq_pattern: pattern, taskledger_pattern: tlPattern,
  load_average_start: loadStart, load_average_end: loadEnd, scratch_fs: fstype, concurrency: {} };
const rows = [];
for (const c of cs) {
  const b = [], t = [];
  for (let r = 1; r <= +rounds; r++) {
    b.push({ ...read(`bullmq-r${r}-c${c}.json`), ...read(`bullmq-r${r}-c${c}.cpu.json`) });
    t.push({ ...read(`taskledger-r${r}-c${c}.json`), ...read(`taskledger-r${r}-c${c}.cpu.json`) });
  }
  out.bullmq = `${b[0].bullmq} (ioredis ${b[0].ioredis}, ${pattern})`;
  out.redis = `${b[0].redis} appendfsync ${b[0].appendfsync}`;
  const sum = (xs, f) => xs.reduce((a, x) => a + f(x), 0);
  const bullmq = {
    jobs_per_s: sum(b, (x) => x.jobs) / sum(b, (x) => x.seconds),
    p50_us: median(b.map((x) => x.latency.p50_us)),
    p99_us: median(b.map((x) => x.latency.p99_us)),
    redis_cpu_us_per_job: 1e6 * sum(b, (x) => x.redis_cpu_s) / sum(b, (x) => x.jobs),
    per_round: b.map((x) => ({ jobs_per_s: r0(x.jobs_per_s), p50_us: r0(x.latency.p50_us), p99_us: r0(x.latency.p99_us) })),
  };
  const taskledger = {
    tasks_per_s: sum(t, (x) => x.tasks) / sum(t, (x) => x.seconds),
    p50_us: median(t.map((x) => x.cycle_latency.p50_us)),
    p99_us: median(t.map((x) => x.cycle_latency.p99_us)),
    command_p50_us: median(t.map((x) => x.latency.p50_us)),
    command_p99_us: median(t.map((x) => x.latency.p99_us)),
    server_cpu_us_per_task: 1e6 * sum(t, (x) => x.server_cpu_s) / sum(t, (x) => x.tasks),
    rpc_now_p50_us: median(t.map((x) => x.rpc_now.p50_us)),
    pattern: t[0].pattern, clients: t[0].clients, inflight: t[0].inflight,
    calls_per_s: sum(t, (x) => x.calls) / sum(t, (x) => x.seconds),
    commands_per_s: sum(t, (x) => x.commands) / sum(t, (x) => x.seconds),
    commands_per_call: sum(t, (x) => x.calls * x.commands_per_call) / sum(t, (x) => x.calls),
    per_round: t.map((x) => ({ tasks_per_s: r0(x.tasks_per_s), p50_us: r0(x.cycle_latency.p50_us), p99_us: r0(x.cycle_latency.p99_us) })),
  };
  const ratio_throughput = taskledger.tasks_per_s / bullmq.jobs_per_s;
  const ratio_p99 = taskledger.p99_us / bullmq.p99_us;
  for (const o of [bullmq, taskledger]) for (const k of Object.keys(o)) if (typeof o[k] === 'number') o[k] = Math.round(o[k] * 10) / 10;
  out.concurrency[c] = { bullmq, taskledger, ratio_throughput: Math.round(ratio_throughput * 1000) / 1000,
    ratio_p99: Math.round(ratio_p99 * 1000) / 1000 };
  rows.push([c, bullmq, taskledger, ratio_throughput, ratio_p99]);
}
console.log(JSON.stringify(out));
console.log('');
const pad = (s, n) => String(s).padStart(n);
console.log(`BullMQ pattern ${pattern}; taskledger pattern ${tlPattern} (${rows.map(([c, , t]) => `c${c}: ${t.clients} connection(s) x ${t.inflight} ${tlPattern === 'worker' ? 'slots' : 'in flight'}`).join(', ')})`);
console.log(`${pad('conc', 4)} | ${pad('BullMQ jobs/s', 13)} ${pad('p50 ms', 8)} ${pad('p99 ms', 8)} | ${pad('taskledger tasks/s', 18)} ${pad('p50 ms', 8)} ${pad('p99 ms', 8)} | ${pad('ratio tput', 10)} ${pad('ratio p99', 9)}`);
for (const [c, b, t, rt, rp] of rows) {
  const ms = (us) => (us / 1000).toFixed(2);
  console.log(`${pad(c, 4)} | ${pad(b.jobs_per_s.toFixed(0), 13)} ${pad(ms(b.p50_us), 8)} ${pad(ms(b.p99_us), 8)} | ${pad(t.tasks_per_s.toFixed(0), 18)} ${pad(ms(t.p50_us), 8)} ${pad(ms(t.p99_us), 8)} | ${pad(rt.toFixed(2), 10)} ${pad(rp.toFixed(2), 9)}`);
}
console.log(`taskledger calls: ${rows.map(([c, , t]) => `c${c} ${t.calls_per_s.toFixed(0)} calls/s, ${t.commands_per_call.toFixed(1)} commands per call, ${t.commands_per_s.toFixed(0)} commands/s`).join('; ')}`);
console.log('ratio tput = taskledger tasks/s / BullMQ jobs/s (target >= 2); ratio p99 = taskledger p99 per task cycle / BullMQ p99 per job (target <= 1)');
console.log(`per job: Redis CPU ${rows.map(([c, b]) => `c${c} ${b.redis_cpu_us_per_job.toFixed(0)} us`).join(', ')}; per task cycle: taskledger serve CPU ${rows.map(([c, , t]) => `c${c} ${t.server_cpu_us_per_task.toFixed(0)} us`).join(', ')}`);
console.log(`load average at start ${loadStart}, at end ${loadEnd}`);
EOF
sed -n '5,$p' "$out"
echo "results: $out" >&2
