// Writes the starting corpus of the fuzz targets: well-formed values of every kind, from
// which libFuzzer mutates. Usage: fuzz_make_seeds CORPUS_DIR (writes CORPUS_DIR/<target>/).
#include <capnp/message.h>
#include <capnp/serialize.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ledger/codec.h"
#include "projections/event_json.h"
#include "ledger/wire.h"
#include "schemas/rpc.capnp.h"

namespace {

using namespace taskledger;

void Write(const std::string& dir, const std::string& name, const std::string& bytes) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
}

std::string Bytes(capnp::MessageBuilder& message) {
  kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  return std::string(reinterpret_cast<const char*>(words.asBytes().begin()), words.asBytes().size());
}

std::vector<Event> SampleEvents() {
  std::vector<Event> events;
  for (int k = 0; k < kEventKindCount; ++k) {
    Event e;
    e.seq = static_cast<uint64_t>(k + 1);
    e.time_ns = 1'700'000'000LL * kNanosPerSecond + k;
    e.task_id = "t1";
    e.actor = "w1";
    e.kind = static_cast<EventKind>(k);
    e.token = 2;
    if (e.kind == EventKind::kCreated) {
      e.spec.title = "a task";
      e.spec.payload = "{\"x\":1}";
      e.spec.after = {"t0"};
      e.spec.queue = "default";
      e.spec.lease_ttl_ns = 30 * kNanosPerSecond;
      e.spec.max_attempts = 3;
      e.spec.backoff_initial_ns = kNanosPerSecond;
      e.spec.backoff_max_ns = 300 * kNanosPerSecond;
      e.token = 0;
    }
    if (e.kind == EventKind::kClaimed) e.ttl_ns = 10 * kNanosPerSecond;
    if (e.kind == EventKind::kSignaled) {
      e.signal = "SIGTERM";
      e.grace_ns = kNanosPerSecond;
    }
    if (e.kind == EventKind::kExited) e.exit_code = 1;
    if (e.kind == EventKind::kLeaseExpired) e.deadline_ns = e.time_ns - 1;
    if (e.kind == EventKind::kRejected) {
      e.reason = "stale token";
      e.current_token = 3;
    }
    e.meta.pid = 42;
    e.meta.host = "box";
    events.push_back(e);
  }
  return events;
}

std::vector<Command> SampleCommands() {
  std::vector<Command> commands;
  Command create;
  create.kind = CommandKind::kCreate;
  create.task_id = "a";
  create.spec.title = "a";
  create.spec.payload = "[1,2]";
  create.spec.lease_ttl_ns = 5 * kNanosPerSecond;
  commands.push_back(create);
  create.task_id = "b";
  create.spec.after = {"a"};
  create.spec.idempotency_key = "k";
  commands.push_back(create);
  Command claim;
  claim.kind = CommandKind::kClaim;
  claim.task_id = "a";
  claim.actor = "w1";
  commands.push_back(claim);
  claim.task_id.clear();
  claim.next = true;
  commands.push_back(claim);
  for (CommandKind kind : {CommandKind::kHeartbeat, CommandKind::kSignal, CommandKind::kExit, CommandKind::kComplete,
                           CommandKind::kFail, CommandKind::kRelease}) {
    Command c;
    c.kind = kind;
    c.task_id = "a";
    c.actor = "w1";
    c.token = 3;
    c.signal = "SIGTERM";
    c.exit_code = 0;
    c.with_exit = kind == CommandKind::kComplete;
    commands.push_back(c);
  }
  for (CommandKind kind : {CommandKind::kBlock, CommandKind::kUnblock, CommandKind::kCancel, CommandKind::kRevive,
                           CommandKind::kSweep}) {
    Command c;
    c.kind = kind;
    c.task_id = kind == CommandKind::kSweep ? "" : "b";
    c.actor = "operator";
    c.text = "why";
    commands.push_back(c);
  }
  return commands;
}

// fuzz_decode_event: every kind of event, and a running task's record (returned).
TaskRecord WriteEventSeeds(const std::string& root, const std::vector<Event>& events) {
  for (const Event& e : events) Write(root + "/fuzz_decode_event", "event-" + std::string(EventKindName(e.kind)), EncodeEvent(e));
  TaskRecord record;
  for (const Event& e : events) {
    if (e.kind == EventKind::kCreated || e.kind == EventKind::kClaimed) (void)ApplyEvent(&record, e);
  }
  Write(root + "/fuzz_decode_event", "task-running", EncodeTask(record));
  return record;
}

void WriteTimeTextSeeds(const std::string& root) {
  int n = 0;
  for (const char* text : {"1500ms", "30s", "5m", "2h", "1m30s", "7d", "250us", "10ns", "2026-11-28T10:02:00Z",
                           "2026-11-28T10:02:00.5+01:00", "2026-11-28", "-5m", "9999-12-31T23:59:59.999999999-23:59",
                           "1970-01-01T00:00:00Z"}) {
    Write(root + "/fuzz_time_text", "text-" + std::to_string(n++), text);
  }
}

// An event of the holder (w1, token 2) of task "a", for the export below.
Event HolderEvent(EventKind kind, const std::string& text) {
  Event e;
  e.kind = kind;
  e.actor = "w1";
  e.token = 2;
  e.text = text;
  return e;
}

// fuzz_import_jsonl: an export of a small, valid log, what `import` reads.
void WriteImportSeeds(const std::string& root) {
  std::string lines;
  uint64_t seq = 1;
  const int64_t t0 = 1'700'000'000LL * kNanosPerSecond;
  const auto add = [&](Event e) {
    e.seq = seq++;
    e.time_ns = t0 + static_cast<int64_t>(e.seq) * kNanosPerSecond;
    e.task_id = "a";
    lines += EventToJson(e).dump() + "\n";
  };
  Event created;
  created.kind = EventKind::kCreated;
  created.actor = "dispatcher";
  created.spec.title = "a";
  created.spec.queue = "default";
  created.spec.lease_ttl_ns = 30 * kNanosPerSecond;
  created.spec.max_attempts = 3;
  created.spec.backoff_initial_ns = kNanosPerSecond;
  created.spec.backoff_max_ns = 300 * kNanosPerSecond;
  add(created);
  Event claimed = HolderEvent(EventKind::kClaimed, "");
  claimed.ttl_ns = 10 * kNanosPerSecond;
  add(claimed);
  add(HolderEvent(EventKind::kHeartbeat, "half way"));
  add(HolderEvent(EventKind::kCompleted, "done"));
  Write(root + "/fuzz_import_jsonl", "export-small", lines);
}

// fuzz_rpc_message: submits (all sample commands at once, and one by one), an outcome and
// a task view.
void WriteRpcSeeds(const std::string& root, const std::vector<Event>& events, const TaskRecord& record) {
  const std::vector<Command> commands = SampleCommands();
  {
    capnp::MallocMessageBuilder message;
    auto params = message.initRoot<rpc::Ledger::SubmitParams>();
    auto list = params.initCommands(static_cast<unsigned>(commands.size()));
    for (size_t i = 0; i < commands.size(); ++i) wire::WriteCommand(commands[i], list[static_cast<unsigned>(i)]);
    Write(root + "/fuzz_rpc_message", "submit-all", Bytes(message));
  }
  for (size_t i = 0; i < commands.size(); ++i) {
    capnp::MallocMessageBuilder message;
    auto params = message.initRoot<rpc::Ledger::SubmitParams>();
    wire::WriteCommand(commands[i], params.initCommands(1)[0]);
    Write(root + "/fuzz_rpc_message", "submit-" + std::to_string(i), Bytes(message));
  }
  {
    capnp::MallocMessageBuilder message;
    Outcome outcome;
    outcome.status = Status::Refused("no");
    outcome.reply.task_id = "a";
    outcome.reply.events = {events[1], events[13]};
    wire::WriteOutcome(outcome, message.initRoot<rpc::Outcome>());
    Write(root + "/fuzz_rpc_message", "outcome", Bytes(message));
  }
  {
    capnp::MallocMessageBuilder message;
    TaskView view;
    view.settled = record;
    view.status = TaskStatus::kRunning;
    wire::WriteTaskView(view, message.initRoot<rpc::TaskView>());
    Write(root + "/fuzz_rpc_message", "taskview", Bytes(message));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::string root = argv[1];
  const std::vector<Event> events = SampleEvents();
  const TaskRecord record = WriteEventSeeds(root, events);
  WriteTimeTextSeeds(root);
  WriteImportSeeds(root);
  WriteRpcSeeds(root, events, record);
  return 0;
}
