#include "bench/bench_util.h"

#include <rocksdb/db.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>

#include "ledger/codec.h"
#include "ledger/keys.h"
#include "projections/decide.h"

namespace taskledger::bench {
namespace {

// Leases of the populated tasks outlive any benchmark run.
constexpr int64_t kLongTtlNs = 3600 * kNanosPerSecond;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "bench: %s\n", what.c_str());
  std::exit(1);
}

std::string SpecText(const BigLedgerSpec& spec) {
  std::ostringstream out;
  out << "tasks=" << spec.tasks << " heartbeats=" << spec.heartbeats << " sweep_batches=" << spec.sweep_batches;
  return out.str();
}

}  // namespace

Mode ModeFromEnvironment() {
  const char* smoke = std::getenv("TASKLEDGER_BENCH_SMOKE");
  if (smoke != nullptr && std::string(smoke) != "" && std::string(smoke) != "0") return Mode::kSmoke;
  const char* mode = std::getenv("TASKLEDGER_BENCH_MODE");
  const std::string name = mode == nullptr ? "" : mode;
  if (name == "smoke") return Mode::kSmoke;
  if (name == "full") return Mode::kFull;
  return Mode::kQuick;
}

const char* ModeName(Mode mode) {
  switch (mode) {
    case Mode::kSmoke: return "smoke";
    case Mode::kQuick: return "quick";
    case Mode::kFull: return "full";
  }
  return "?";
}

ScratchDir::ScratchDir(const std::string& name) {
  const char* root = std::getenv("TASKLEDGER_BENCH_DIR");
  std::string base = root != nullptr && *root != '\0' ? root : "/tmp";
  std::filesystem::create_directories(base);
  std::string pattern = base + "/taskledger-bench-" + name + "-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (::mkdtemp(buffer.data()) == nullptr) Die("cannot create a scratch directory under " + base);
  path_ = buffer.data();
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

void Latencies::Append(const Latencies& other) {
  samples_ns_.insert(samples_ns_.end(), other.samples_ns_.begin(), other.samples_ns_.end());
  sorted_ = false;
}

double Latencies::PercentileUs(double q) {
  if (samples_ns_.empty()) return 0;
  if (!sorted_) {
    std::sort(samples_ns_.begin(), samples_ns_.end());
    sorted_ = true;
  }
  const size_t index = std::min(samples_ns_.size() - 1, static_cast<size_t>(q * static_cast<double>(samples_ns_.size())));
  return static_cast<double>(samples_ns_[index]) / 1e3;
}

double Latencies::MeanUs() const {
  if (samples_ns_.empty()) return 0;
  const double sum = std::accumulate(samples_ns_.begin(), samples_ns_.end(), 0.0);
  return sum / static_cast<double>(samples_ns_.size()) / 1e3;
}

int64_t MonotonicNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Memory ReadMemory(int pid) {
  std::ifstream in(pid == 0 ? std::string("/proc/self/status") : "/proc/" + std::to_string(pid) + "/status");
  Memory memory;
  std::string line;
  while (std::getline(in, line)) {
    const auto kib = [&line](const char* field) {
      return line.rfind(field, 0) == 0 ? std::strtod(line.c_str() + std::strlen(field), nullptr) / 1024.0 : -1.0;
    };
    if (double v = kib("VmRSS:"); v >= 0) memory.rss_mib = v;
    if (double v = kib("VmHWM:"); v >= 0) memory.peak_mib = v;
  }
  return memory;
}

bool ResetPeakMemory() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

uint64_t DirectoryBytes(const std::string& path) {
  uint64_t bytes = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(path, error)) {
    if (entry.is_regular_file(error)) bytes += entry.file_size(error);
  }
  return bytes;
}

std::unique_ptr<Ledger> OpenOrDie(const std::string& path, Clock* clock, bool sync) {
  LedgerOptions options;
  options.path = path;
  options.sync = sync;
  Result<std::unique_ptr<Ledger>> ledger = Ledger::Open(options, clock);
  if (!ledger.ok()) Die("cannot open " + path + ": " + ledger.status().message());
  return std::move(*ledger);
}

std::vector<Outcome> SubmitAll(Ledger* ledger, const std::vector<Command>& commands, ManualClock* clock) {
  std::vector<Outcome> all;
  all.reserve(commands.size());
  std::vector<Command> group;
  for (size_t start = 0; start < commands.size(); start += kPopulateGroupCommands) {
    const size_t end = std::min(commands.size(), start + kPopulateGroupCommands);
    group.assign(commands.begin() + static_cast<std::ptrdiff_t>(start), commands.begin() + static_cast<std::ptrdiff_t>(end));
    std::vector<Outcome> outcomes = ledger->SubmitGroup(group);
    for (size_t i = 0; i < outcomes.size(); ++i) {
      if (!outcomes[i].status.ok()) Die("populating: command " + std::to_string(start + i) + ": " + outcomes[i].status.message());
      all.push_back(std::move(outcomes[i]));
    }
    if (clock != nullptr) clock->Advance(1000);
  }
  return all;
}

std::vector<std::string> CreateTasks(Ledger* ledger, size_t count, const std::string& queue, const std::string& prefix,
                                     ManualClock* clock) {
  std::vector<Command> commands(count);
  for (size_t i = 0; i < count; ++i) {
    Command& c = commands[i];
    c.kind = CommandKind::kCreate;
    if (!prefix.empty()) c.task_id = prefix + std::to_string(i);
    c.spec.title = "bench task";
    c.spec.queue = queue;
    c.spec.lease_ttl_ns = kLongTtlNs;
  }
  std::vector<Outcome> outcomes = SubmitAll(ledger, commands, clock);
  std::vector<std::string> ids;
  ids.reserve(count);
  for (Outcome& o : outcomes) ids.push_back(std::move(o.reply.task_id));
  return ids;
}

std::vector<uint64_t> ClaimTasks(Ledger* ledger, const std::vector<std::string>& ids, const std::string& worker,
                                 int64_t ttl_ns, ManualClock* clock) {
  std::vector<Command> commands(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    commands[i].kind = CommandKind::kClaim;
    commands[i].task_id = ids[i];
    commands[i].actor = worker;
    commands[i].ttl_ns = ttl_ns;
  }
  std::vector<Outcome> outcomes = SubmitAll(ledger, commands, clock);
  std::vector<uint64_t> tokens;
  tokens.reserve(ids.size());
  for (const Outcome& o : outcomes) tokens.push_back(o.reply.token);
  return tokens;
}

void HeartbeatTasks(Ledger* ledger, const std::vector<std::string>& ids, const std::vector<uint64_t>& tokens,
                    const std::string& worker, int rounds, ManualClock* clock) {
  std::vector<Command> commands;
  for (int round = 0; round < rounds; ++round) {
    // One round at a time keeps the command vector (and memory) at the task count.
    commands.assign(ids.size(), Command{});
    for (size_t i = 0; i < ids.size(); ++i) {
      commands[i].kind = CommandKind::kHeartbeat;
      commands[i].task_id = ids[i];
      commands[i].actor = worker;
      commands[i].token = tokens[i];
    }
    (void)SubmitAll(ledger, commands, clock);
  }
}

BigLedgerSpec BigSpecFor(Mode mode) {
  BigLedgerSpec spec;
  spec.tasks = BySize<size_t>(mode, 200, 100'000, 1'000'000);
  spec.heartbeats = 8;
  spec.sweep_batches = 5;
  return spec;
}

std::string SweepTaskId(size_t batch, size_t index) {
  return "sweep-" + std::to_string(batch) + "-" + std::to_string(index);
}

uint64_t FillBigLedger(const std::string& path, const BigLedgerSpec& spec) {
  SystemClock system;
  ManualClock clock(system.NowNs());
  std::unique_ptr<Ledger> ledger = OpenOrDie(path, &clock);
  const int64_t started = MonotonicNs();
  const auto progress = [&](const char* phase) {
    std::fprintf(stderr, "fill %s: %s done, %llu events, %.1f s\n", path.c_str(), phase,
                 static_cast<unsigned long long>(ledger->last_seq()), (MonotonicNs() - started) / 1e9);
  };
  // In slices, so that the id and token vectors stay small whatever the size.
  const size_t slice = 100'000;
  for (size_t first = 0; first < spec.tasks; first += slice) {
    const size_t count = std::min(slice, spec.tasks - first);
    std::vector<std::string> ids = CreateTasks(ledger.get(), count, "", "", &clock);
    std::vector<uint64_t> tokens = ClaimTasks(ledger.get(), ids, "filler", kLongTtlNs, &clock);
    HeartbeatTasks(ledger.get(), ids, tokens, "filler", spec.heartbeats, &clock);
    progress(("tasks up to " + std::to_string(first + count)).c_str());
  }
  for (size_t batch = 0; batch < spec.sweep_batches; ++batch) {
    std::vector<Command> creates(kSweepBatchTasks);
    for (size_t i = 0; i < kSweepBatchTasks; ++i) {
      creates[i].kind = CommandKind::kCreate;
      creates[i].task_id = SweepTaskId(batch, i);
      creates[i].spec.title = "sweep bench task";
      creates[i].spec.lease_ttl_ns = kLongTtlNs;
    }
    std::vector<Outcome> created = SubmitAll(ledger.get(), creates, &clock);
    std::vector<std::string> ids;
    for (Outcome& o : created) ids.push_back(std::move(o.reply.task_id));
    (void)ClaimTasks(ledger.get(), ids, "sweep-victim", static_cast<int64_t>(batch + 1) * 60 * kNanosPerSecond, &clock);
  }
  progress("sweep batches");
  const uint64_t events = ledger->last_seq();
  ledger.reset();
  std::ofstream(path + ".spec") << SpecText(spec) << "\n";
  return events;
}

namespace {

// Appends decided events to the `events` column family of a raw RocksDB handle.
class LogWriter {
 public:
  // Events per write.
  static constexpr size_t kBatchEvents = 10'000;

  LogWriter(const std::string& path) {
    std::vector<std::string> names;
    rocksdb::Options options;
    Check(rocksdb::DB::ListColumnFamilies(options, path, &names));
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const std::string& name : names) families.emplace_back(name, rocksdb::ColumnFamilyOptions());
    rocksdb::DB* db = nullptr;
    Check(rocksdb::DB::Open(options, path, families, &handles_, &db));
    db_.reset(db);
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == "events") events_ = handles_[i];
    }
    if (events_ == nullptr) Die(path + " has no events column family");
  }
  ~LogWriter() {
    Flush(true);
    for (rocksdb::ColumnFamilyHandle* h : handles_) (void)db_->DestroyColumnFamilyHandle(h);
  }

  // Applies the events of a decision to `record` (checking them as the ledger would) and
  // appends them.
  void Append(const std::vector<Event>& events, TaskRecord* record) {
    for (const Event& e : events) {
      if (Status s = ApplyEvent(record, e); !s.ok()) Die("decided event refused: " + s.message());
      batch_.Put(events_, keys::Seq(e.seq), EncodeEvent(e));
      last_seq_ = e.seq;
    }
    if (batch_.Count() >= static_cast<uint32_t>(kBatchEvents)) Flush(false);
  }
  uint64_t last_seq() const { return last_seq_; }

 private:
  static void Check(const rocksdb::Status& s) {
    if (!s.ok()) Die("raw rocksdb: " + s.ToString());
  }
  void Flush(bool sync) {
    rocksdb::WriteOptions options;
    options.sync = sync;
    Check(db_->Write(options, &batch_));
    batch_.Clear();
  }
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* events_ = nullptr;
  rocksdb::WriteBatch batch_;
  uint64_t last_seq_ = 0;
};

// Decides one command on one task at `now_ns`, appending its events.
void Decide(LogWriter& log, const Command& command, TaskRecord* record, int64_t now_ns) {
  static const DependencyLookup kNoDependencies = [](const std::string&) -> std::optional<TaskStatus> {
    return std::nullopt;
  };
  const DecisionContext context{now_ns, log.last_seq() + 1, kNoDependencies};
  if (command.kind == CommandKind::kCreate) {
    Command create = command;
    if (Status s = NormalizeSpec(&create.spec); !s.ok()) Die("spec: " + s.message());
    const std::string id = create.task_id.empty() ? "t-" + std::to_string(context.next_seq) : create.task_id;
    log.Append({DecideCreate(create, id, context)}, record);
    return;
  }
  const Outcome outcome = DecideOnTask(command, *record, context);
  if (!outcome.status.ok()) Die("decision refused: " + outcome.status.message());
  log.Append(outcome.reply.events, record);
}

}  // namespace

uint64_t FillBigLedgerViaLog(const std::string& path, const BigLedgerSpec& spec, double* rebuild_seconds) {
  SystemClock system;
  int64_t now_ns = system.NowNs();
  { ManualClock clock(now_ns); (void)OpenOrDie(path, &clock); }  // the column families
  const int64_t started = MonotonicNs();
  uint64_t last_seq = 0;
  {
    LogWriter log(path);
    const auto tick = [&] { now_ns += 1000; };
    const auto run = [&](std::vector<TaskRecord>& records, const std::vector<std::string>& ids,
                         const std::string& worker, int64_t ttl_ns, int heartbeats) {
      for (size_t i = 0; i < records.size(); ++i) {
        Command create;
        create.kind = CommandKind::kCreate;
        create.task_id = ids.empty() ? "" : ids[i];
        create.spec.title = ids.empty() ? "bench task" : "sweep bench task";
        create.spec.lease_ttl_ns = kLongTtlNs;
        Decide(log, create, &records[i], now_ns);
        if (i % kPopulateGroupCommands == 0) tick();
      }
      for (size_t i = 0; i < records.size(); ++i) {
        Command claim;
        claim.kind = CommandKind::kClaim;
        claim.task_id = records[i].id;
        claim.actor = worker;
        claim.ttl_ns = ttl_ns;
        Decide(log, claim, &records[i], now_ns);
        if (i % kPopulateGroupCommands == 0) tick();
      }
      for (int round = 0; round < heartbeats; ++round) {
        for (size_t i = 0; i < records.size(); ++i) {
          Command heartbeat;
          heartbeat.kind = CommandKind::kHeartbeat;
          heartbeat.task_id = records[i].id;
          heartbeat.actor = worker;
          heartbeat.token = records[i].last_token;
          Decide(log, heartbeat, &records[i], now_ns);
          if (i % kPopulateGroupCommands == 0) tick();
        }
      }
    };
    const size_t slice = 100'000;
    for (size_t first = 0; first < spec.tasks; first += slice) {
      std::vector<TaskRecord> records(std::min(slice, spec.tasks - first));
      run(records, {}, "filler", kLongTtlNs, spec.heartbeats);
      std::fprintf(stderr, "fill %s: log of tasks up to %zu, %llu events, %.1f s\n", path.c_str(),
                   first + records.size(), static_cast<unsigned long long>(log.last_seq()),
                   (MonotonicNs() - started) / 1e9);
    }
    for (size_t batch = 0; batch < spec.sweep_batches; ++batch) {
      std::vector<TaskRecord> records(kSweepBatchTasks);
      std::vector<std::string> ids;
      for (size_t i = 0; i < kSweepBatchTasks; ++i) ids.push_back(SweepTaskId(batch, i));
      run(records, ids, "sweep-victim", static_cast<int64_t>(batch + 1) * 60 * kNanosPerSecond, 0);
    }
    last_seq = log.last_seq();
  }
  ManualClock clock(now_ns);
  std::unique_ptr<Ledger> ledger = OpenOrDie(path, &clock);
  const int64_t rebuild_start = MonotonicNs();
  Result<RebuildReport> rebuilt = ledger->Rebuild();
  if (!rebuilt.ok()) Die("rebuild: " + rebuilt.status().message());
  if (rebuild_seconds != nullptr) *rebuild_seconds = (MonotonicNs() - rebuild_start) / 1e9;
  if (rebuilt->events != last_seq || ledger->last_seq() != last_seq) Die("rebuild saw a different log");
  std::fprintf(stderr, "fill %s: rebuilt %llu events, %llu tasks, %.1f s\n", path.c_str(),
               static_cast<unsigned long long>(rebuilt->events), static_cast<unsigned long long>(rebuilt->tasks),
               (MonotonicNs() - started) / 1e9);
  ledger.reset();
  std::ofstream(path + ".spec") << SpecText(spec) << "\n";
  return last_seq;
}

bool BigLedgerMatches(const std::string& path, const BigLedgerSpec& spec) {
  std::ifstream in(path + ".spec");
  std::string line;
  return std::getline(in, line) && line == SpecText(spec) && std::filesystem::exists(path + "/CURRENT");
}

}  // namespace taskledger::bench
