# The taskledger server's RPC interface (`taskledger serve`; DESIGN §6 "Server").
#
# Versioning rule as for event.capnp: fields and methods are only ever added.
# Enumerations travel as UInt8 holding the C++ enum's value (projections/*.h) and are
# range-checked on arrival: an unknown value is a bad request, never a guess.
@0xafdc79a4d10198f9;

$import "/capnp/c++.capnp".namespace("taskledger::rpc");

using Event = import "event.capnp".Event;
using TaskSpec = import "event.capnp".TaskSpec;
using TaskState = import "event.capnp".TaskState;
using ClientMeta = import "event.capnp".ClientMeta;

# An error as the library reports it: code is taskledger::Code (0 = ok).
struct Error {
  code @0 :UInt8;
  message @1 :Text;
}

struct Command {
  kind @0 :UInt8;          # CommandKind
  taskId @1 :Text;
  actor @2 :Text;
  meta @3 :ClientMeta;
  spec @4 :TaskSpec;
  next @5 :Bool;
  queue @6 :Text;
  ttlNs @7 :Int64;
  token @8 :UInt64;
  text @9 :Text;
  signal @10 :Text;
  graceNs @11 :Int64;
  hasExitCode @12 :Bool;
  exitCode @13 :Int32;
  withExit @14 :Bool;
  hasGrace @15 :Bool;      # graceNs was given: 0 means no grace; unset, 0 means the default
}

struct Outcome {
  error @0 :Error;
  taskId @1 :Text;
  token @2 :UInt64;
  deadlineNs @3 :Int64;
  status @4 :UInt8;        # TaskStatus
  existing @5 :Bool;
  events @6 :List(Event);
}

struct PointInTime {
  kind @0 :UInt8;          # 0 now, 1 ledger time, 2 after seq
  value @1 :Int64;
}

struct TaskView {
  status @0 :UInt8;        # TaskStatus
  wait @1 :UInt8;          # WaitReason
  untilNs @2 :Int64;
  dependency @3 :Text;
  dependencyStatus @4 :UInt8;
  settled @5 :TaskState;
}

# Receives the events of `follow` as they commit.
interface EventSink {
  push @0 (events :List(Event)) -> stream;
}

# Receives the task views of `listTasks`, a page at a time: in creation order, or in any
# order if the caller set `anyOrder`.
interface TaskViewSink {
  push @0 (tasks :List(TaskView), total :UInt64) -> stream;
  # total: how many views the whole listing holds, when the server knows before the first
  # page (a snapshot held whole); 0 when it does not. A hint for the receiver's memory.
  # After the last page: every page has been taken in.
  done @1 ();
}

interface Ledger {
  # Commands are validated in order and committed in groups, one durable write per group;
  # the reply comes once the group is durable.
  # `forwarded`: sent by a server of a cluster that is not the partition's writer, on
  # behalf of its client (docs/scale-out.md); the receiver does not forward it again.
  submit @0 (commands :List(Command), forwarded :Bool) -> (outcomes :List(Outcome));
  now @1 () -> (ns :Int64, lastSeq :UInt64);
  # Every task in one reply: fails with an error asking for a newer client once the reply
  # would pass the message size limit (a few hundred thousand small tasks). Use listTasks.
  tasksAt @2 (at :PointInTime) -> (error :Error, atNs :Int64, seq :UInt64, tasks :List(TaskView));
  taskAt @3 (id :Text, at :PointInTime) -> (error :Error, view :TaskView);
  # Events with seq >= fromSeq (of one task if taskId is set), at most `limit`.
  events @4 (fromSeq :UInt64, taskId :Text, limit :UInt32) -> (error :Error, events :List(Event));
  firstSeqAtOrAfter @5 (timeNs :Int64) -> (error :Error, seq :UInt64);
  verify @6 () -> (error :Error, events :UInt64, tasks :UInt64, problems :List(Text));
  rebuild @7 () -> (error :Error, events :UInt64, tasks :UInt64);
  # Pushes events with seq >= fromSeq to the sink as they commit; returns when the server
  # stops or the sink fails.
  follow @8 (fromSeq :UInt64, taskId :Text, sink :EventSink) -> (error :Error);
  # tasksAt for any size: one snapshot, pushed to the sink in pages of bounded size (each
  # awaited), then sink.done(); returns after it, with `count` the views pushed in all.
  # anyOrder: the caller orders the views itself (by createdSeq), so the server may push
  # them in any order; for `now` it then streams them from storage (task-id order) instead
  # of holding the whole snapshot. Unset (older clients), they come in creation order.
  listTasks @9 (at :PointInTime, sink :TaskViewSink, anyOrder :Bool) -> (error :Error, atNs :Int64, seq :UInt64, count :UInt64);
}
