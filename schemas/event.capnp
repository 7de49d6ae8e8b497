# The taskledger log format. See docs/format.md for the key layout and a worked example.
#
# Versioning rule: fields and union members are only ever ADDED, with the next free
# ordinal; nothing is renumbered, retyped or removed. A reader built from an older schema
# reads a newer event with the new fields invisible; the ledger refuses (DataLoss) an event
# whose union member it does not know, rather than guessing its effect.
@0xe4510f3bbf225d04;

$import "/capnp/c++.capnp".namespace("taskledger::schema");

# Facts a client may attach to a command. Never trusted for deadlines: recorded for
# forensics (who was it, where, and how far off was its clock).
struct ClientMeta {
  pid @0 :UInt32;        # 0 = not given
  host @1 :Text;
  wallTimeNs @2 :Int64;  # the client's own clock when it sent the command; 0 = not given
}

# Everything a task is created with. Durations and times are nanoseconds; 0 = not set.
struct TaskSpec {
  title @0 :Text;
  payload @1 :Text;              # JSON text, validated on append; "" = none
  after @2 :List(Text);          # dependencies: ids of tasks that existed when this was created
  queue @3 :Text;
  priority @4 :Int32;            # higher is claimed first
  leaseTtlNs @5 :Int64;          # default ttl of a claim
  maxAttempts @6 :UInt32;        # failures that make the task dead
  maxRuntimeNs @7 :Int64;        # cap on one attempt's deadline, from its claim; 0 = none
  notBeforeNs @8 :Int64;         # not claimable before this ledger time; 0 = none
  idempotencyKey @9 :Text;       # "" = none
  backoffInitialNs @10 :Int64;   # backoff after the first failure
  backoffMaxNs @11 :Int64;       # backoff doubles per failure up to this
}

# Which command the ledger refused (Rejected.command).
enum CommandKind {
  heartbeat @0;
  complete @1;
  fail @2;
  release @3;
  signal @4;
  exit @5;
}

# One fact in the log. Stored under its seq in the `events` column family.
struct Event {
  seq @0 :UInt64;        # position in the log, dense from 1
  timeNs @1 :Int64;      # ledger time, never decreasing along seq
  taskId @2 :Text;
  actor @3 :Text;        # worker id, "operator", "sweeper", "ledger"
  meta @4 :ClientMeta;

  body :union {
    created @5 :TaskSpec;
    claimed @6 :Claimed;
    heartbeat @7 :Heartbeat;
    signaled @8 :Signaled;
    exited @9 :Exited;
    completed @10 :Completed;
    failed @11 :Failed;
    released @12 :Released;
    blocked @13 :Blocked;
    unblocked @14 :Void;
    cancelled @15 :Cancelled;
    revived @16 :Void;
    leaseExpired @17 :LeaseExpired;
    rejected @18 :Rejected;
    annotated @19 :Annotated;
  }

  struct Claimed {
    token @0 :UInt64;    # the fencing token: the seq of this event
    ttlNs @1 :Int64;
  }
  struct Heartbeat {
    token @0 :UInt64;
    note @1 :Text;
  }
  struct Signaled {
    token @0 :UInt64;
    signal @1 :Text;     # "SIGTERM"
    graceNs @2 :Int64;
  }
  struct Exited {
    token @0 :UInt64;
    union {
      code @1 :Int32;
      signal @2 :Text;   # terminated by this signal
    }
  }
  struct Completed {
    token @0 :UInt64;
    result @1 :Text;
  }
  struct Failed {
    token @0 :UInt64;
    error @1 :Text;
  }
  struct Released {
    token @0 :UInt64;
    reason @1 :Text;
  }
  struct Blocked {
    reason @0 :Text;
  }
  struct Cancelled {
    reason @0 :Text;
  }
  struct LeaseExpired {
    token @0 :UInt64;
    deadlineNs @1 :Int64;  # the deadline that was observed to have passed
  }
  struct Rejected {
    command @0 :CommandKind;
    token @1 :UInt64;       # the token the command presented
    currentToken @2 :UInt64;# the task's current token then (0 = no claim ever)
    reason @3 :Text;        # "stale token", "lease expired", ...
    note @4 :Text;          # what the command carried (note, result, error...)
  }
  # An imported fact with no equivalent kind (e.g. a kanban board's `claim_extended`).
  # Changes no task state; kept so that nothing the source recorded is lost.
  struct Annotated {
    sourceKind @0 :Text;    # the source's own kind name
    sourceId @1 :Text;      # where it came from, e.g. "task_events:123"
    payload @2 :Text;       # the original record as JSON text
  }
}

# How an attempt ended.
enum AttemptEnd {
  none @0;
  completed @1;
  failed @2;
  exited @3;
  expired @4;
  interrupted @5;
  released @6;
  blocked @7;
  cancelled @8;
}

# The materialized projection of one task: the fold of its own events, as of its last
# event (see docs/format.md "Derivation"). Stored under the task id in `tasks`.
struct TaskState {
  id @0 :Text;
  spec @1 :TaskSpec;
  createdSeq @2 :UInt64;
  createdNs @3 :Int64;
  lastSeq @4 :UInt64;
  lastNs @5 :Int64;

  done @6 :Bool;
  cancelled @7 :Bool;
  blocked @8 :Bool;
  blockReason @9 :Text;
  result @10 :Text;

  failures @11 :UInt32;       # toward maxAttempts; reset by revived
  attempts @12 :UInt32;       # claims ever made
  lastToken @13 :UInt64;      # token of the most recent claim (0 = never claimed)

  attemptOpen @14 :Bool;      # the most recent claim has not ended (as of lastNs)
  holder @15 :Text;
  claimedNs @16 :Int64;
  ttlNs @17 :Int64;
  deadlineNs @18 :Int64;
  runtimeCapNs @19 :Int64;    # no deadline past this (max runtime); 0 = none
  signalCapNs @20 :Int64;     # no deadline past this once signaled; 0 = not signaled
  signal @21 :Text;
  lastHeartbeatNs @22 :Int64;
  heartbeats @23 :UInt32;     # in the current (or last) attempt

  lastEnd @24 :AttemptEnd;
  lastEndNs @25 :Int64;
  lastError @26 :Text;
  backoffUntilNs @27 :Int64;
  completedToken @28 :UInt64;     # the token that completed the task; its exit is still accepted
  completedExitRecorded @29 :Bool;

  expiries @30 :UInt32;
  rejections @31 :UInt32;
  interruptions @32 :UInt32;
}

# One commit group of a partition's replicated log (docs/scale-out.md): one message of the
# partition's stream.
struct ReplicatedGroup {
  term @0 :UInt64;         # the writer's lease term: no two writers' groups are alike
  writer @1 :Text;         # the server that wrote it
  events @2 :List(Data);   # the group's events, each encoded as the ledger stores it (Event)
}
