#include "ledger/verifier.h"

#include <rocksdb/db.h>
#include <rocksdb/sst_file_reader.h>

#include <algorithm>
#include <functional>
#include <future>
#include <iterator>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include "ledger/codec.h"
#include "ledger/keys.h"
#include "ledger/ledger_impl.h"
#include "ledger/log_scan.h"
#include "ledger/process_lock.h"
#include "ledger/rocks_status.h"
#include "ledger/schedule_key.h"

namespace taskledger {
namespace {

constexpr uint64_t kNoSeq = UINT64_MAX;
// Entries of the task event index that name no event, listed one by one before verify
// summarizes the rest.
constexpr int kMaxListedStrayEntries = 10;

// A 64-bit hash of one task_events entry, summed (mod 2^64) into an order-independent
// fingerprint of the index. Not cryptographic: verify guards against bugs and damage,
// and a tampered ledger is caught by the replay and the projection checks as well.
uint64_t TaskEventHash(std::string_view task, uint64_t seq) {
  uint64_t h = std::hash<std::string_view>()(task) ^ (seq * 0x9E3779B97F4A7C15ULL);
  // splitmix64's finalizer: spreads the bits so that sums of different sets differ.
  h ^= h >> 30;
  h *= 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 27;
  h *= 0x94D049BB133111EBULL;
  h ^= h >> 31;
  return h;
}

std::string SeqAndTask(uint64_t seq, const std::string& task) {
  return "seq " + std::to_string(seq) + ", task " + task + ": ";
}

std::string Show(bool v) { return v ? "true" : "false"; }
std::string Show(uint32_t v) { return std::to_string(v); }
std::string Show(uint64_t v) { return std::to_string(v); }
std::string Show(int64_t v) { return std::to_string(v); }
std::string Show(const std::string& v) { return "\"" + v + "\""; }
std::string Show(AttemptEnd v) { return std::string(AttemptEndName(v)); }
std::string Show(const TaskSpec&) { return "(a different spec)"; }

// The first field where a stored record differs from the replayed one, with both values.
std::string FirstDifference(const TaskRecord& stored, const TaskRecord& derived) {
#define TL_FIELD(f) \
  if (!(stored.f == derived.f)) return #f " (projection " + Show(stored.f) + ", log " + Show(derived.f) + ")";
  TL_FIELD(id) TL_FIELD(spec) TL_FIELD(created_seq) TL_FIELD(created_ns) TL_FIELD(last_seq) TL_FIELD(last_ns)
  TL_FIELD(done) TL_FIELD(cancelled) TL_FIELD(blocked) TL_FIELD(block_reason) TL_FIELD(result) TL_FIELD(failures)
  TL_FIELD(attempts) TL_FIELD(last_token) TL_FIELD(attempt_open) TL_FIELD(holder) TL_FIELD(claimed_ns)
  TL_FIELD(ttl_ns) TL_FIELD(deadline_ns) TL_FIELD(runtime_cap_ns) TL_FIELD(signal_cap_ns) TL_FIELD(signal)
  TL_FIELD(last_heartbeat_ns) TL_FIELD(heartbeats) TL_FIELD(last_end) TL_FIELD(last_end_ns) TL_FIELD(last_error)
  TL_FIELD(backoff_until_ns) TL_FIELD(completed_token) TL_FIELD(completed_exit_recorded) TL_FIELD(expiries)
  TL_FIELD(rejections) TL_FIELD(interruptions)
#undef TL_FIELD
  return "(none)";
}

}  // namespace

Result<VerifyReport> LedgerImpl::Verify() {
  TL_RETURN_IF_ERROR(Refresh());
  Verifier verifier(db_.get(), handles_, options_, format_version_, [this] { return Now(); });
  return verifier.Run();
}

Verifier::Verifier(rocksdb::DB* db, const ColumnFamilyHandles& handles, const LedgerOptions& options,
                   int format_version, std::function<int64_t()> ledger_now)
    : db_(db),
      handles_(handles),
      options_(options),
      format_version_(format_version),
      ledger_now_(std::move(ledger_now)) {}

Result<VerifyReport> Verifier::Run() {
  VerifyReport report;
  TL_RETURN_IF_ERROR(VerifyTableFiles());
  Replay replay;
  Status replay_error = Status::Ok();
  // The task_events index is checked by fingerprint: the sum of a hash of every (task,
  // seq) entry the log implies must equal the sum over the entries stored. One streaming
  // pass over each family instead of a point read per event (which made verify read the
  // log at a twentieth of iteration speed); only on a mismatch are events looked up one by
  // one, to name the seqs at fault.
  uint64_t log_fingerprint = 0;
  Status read = FoldEvents(db_, cf(kEvents), LogScanOptions(), replay, [&](const Event& e) {
    report.events++;
    replay_error = replay.Apply(e);
    if (!replay_error.ok()) return false;
    log_fingerprint += TaskEventHash(e.task_id, e.seq);
    return true;
  });
  const Status broken = read.ok() ? replay_error : read;
  if (!broken.ok()) {
    // The log itself breaks the rules at this seq: nothing derived from it can be judged.
    const uint64_t seq = replay.last_seq() + 1;
    std::string text = broken.message();
    const std::string owner = TaskListingSeq(seq);
    if (!owner.empty() && text.find("task " + owner) == std::string::npos) {
      text += " (the task_events index lists seq " + std::to_string(seq) + " under task " + owner + ")";
    }
    problems_.push_back({seq, text});
  } else {
    report.tasks = replay.task_count();
    // The index's fingerprint needs no replay: it is read on a second thread (a pass over
    // every event's entry) while this one checks what does.
    std::future<Result<IndexFingerprint>> index =
        std::async(std::launch::async, [this] { return FingerprintTaskEvents(); });
    const size_t before_replay_checks = problems_.size();
    std::set<std::string> misfolded;
    Status checked = VerifyProjection(replay, &misfolded);
    if (checked.ok()) checked = VerifyExactIndexes(replay);
    const int64_t now_ns = std::max(ledger_now_(), replay.last_ns());
    if (checked.ok()) checked = VerifySchedule(replay, now_ns, misfolded);
    const Result<IndexFingerprint> fingerprint = index.get();
    if (!fingerprint.ok()) return fingerprint.status();  // first, as when it ran first
    TL_RETURN_IF_ERROR(checked);
    // The report lists the index's problems first, as it always did.
    std::vector<Problem> replay_problems(std::make_move_iterator(problems_.begin() + before_replay_checks),
                                         std::make_move_iterator(problems_.end()));
    problems_.resize(before_replay_checks);
    TL_RETURN_IF_ERROR(VerifyTaskEvents(report.events, log_fingerprint, *fingerprint));
    std::move(replay_problems.begin(), replay_problems.end(), std::back_inserter(problems_));
  }
  std::stable_sort(problems_.begin(), problems_.end(),
                   [](const Problem& a, const Problem& b) { return a.seq < b.seq; });
  for (Problem& problem : problems_) report.problems.push_back(std::move(problem.text));
  problems_.clear();
  return report;
}

// Every block of every table file, of every family, against its checksum, each file opened
// on its own. A read-only ledger is a RocksDB secondary, which drops a table file it cannot
// load from its view and then reads that file's keys as absent (DB::VerifyChecksum passes
// too): a flipped byte in an SST made a damaged ledger look clean, or a lost event look
// like a gap in the log (tests/faults). So when no owner is running, the files are listed
// by a strict read-only open of the same directory (ListFilesOfUnownedLedger).
Status Verifier::VerifyTableFiles() {
  std::vector<rocksdb::LiveFileMetaData> files;
  if (options_.read_only && options_.env == nullptr && LockHolder(options_.path) == 0 &&
      !OwnedByThisProcess(options_.path)) {
    TL_RETURN_IF_ERROR(ListFilesOfUnownedLedger(&files));
  } else {
    db_->GetLiveFilesMetaData(&files);
  }
  const rocksdb::Options options = db_->GetOptions();
  for (const rocksdb::LiveFileMetaData& file : files) VerifyTableFile(options, file);
  return Status::Ok();
}

void Verifier::VerifyTableFile(const rocksdb::Options& options, const rocksdb::LiveFileMetaData& file) {
  const std::string name = file.name.empty() || file.name[0] != '/' ? file.name : file.name.substr(1);
  const std::string path = options_.path + "/" + name;
  rocksdb::SstFileReader reader(options);
  rocksdb::Status s = reader.Open(path);
  if (s.ok()) s = reader.VerifyChecksum();
  if (s.ok()) return;
  // An owner's compaction may have deleted the file since it was listed: not damage.
  if (options.env->FileExists(path).IsNotFound()) return;
  // Seq 0: listed first, as the likely cause of anything else verify finds.
  problems_.push_back(
      {0, "table file " + name + " of family " + file.column_family_name + " is damaged: " + s.ToString()});
}

// A strict read-only open (OpenForReadOnly: it reads the MANIFEST and refuses a referenced
// file it cannot load) lists exactly the files the ledger consists of, and not a
// half-written SST a crash left behind (the next writable open deletes those). If that
// open finds damage, the damage is the problem and no file is listed.
Status Verifier::ListFilesOfUnownedLedger(std::vector<rocksdb::LiveFileMetaData>* files) {
  const rocksdb::Options options = db_->GetOptions();
  std::vector<std::string> names;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(options, options_.path, &names);
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const std::string& name : names) families.emplace_back(name, rocksdb::ColumnFamilyOptions(options));
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* strict = nullptr;
  rocksdb::Options strict_options = options;
  strict_options.max_open_files = -1;  // load every table file now
  if (s.ok()) s = rocksdb::DB::OpenForReadOnly(strict_options, options_.path, families, &handles, &strict);
  if (!s.ok()) {
    // Damage is what RocksDB calls corruption; anything else (too many open files, an
    // owner that started meanwhile and moved files) is an error of this verify.
    if (!s.IsCorruption()) return FromRocks(s, "open the ledger to check its files");
    problems_.push_back({0, "the ledger's files are damaged: " + s.ToString()});
    return Status::Ok();
  }
  strict->GetLiveFilesMetaData(files);
  for (rocksdb::ColumnFamilyHandle* handle : handles) (void)strict->DestroyColumnFamilyHandle(handle);
  delete strict;
  return Status::Ok();
}

// The task whose index entry names `seq` ("" if none): who lost an event, or owns a bad one.
std::string Verifier::TaskListingSeq(uint64_t seq) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kTaskEvents)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (key.size() < 9 || keys::ReadU64(key.substr(key.size() - 8)) != seq) continue;
    return std::string(key.substr(0, key.size() - 9));
  }
  return "";
}

// The first seq after `after_seq` that the task event index lists for `id`.
uint64_t Verifier::NextTaskSeq(const std::string& id, uint64_t after_seq) {
  const std::string prefix = keys::TaskEventPrefix(id);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kTaskEvents)));
  it->Seek(keys::TaskEvent(id, after_seq + 1));
  if (!it->Valid() || !keys::StartsWith(it->key().ToStringView(), prefix)) return after_seq + 1;
  return keys::ReadU64(it->key().ToStringView().substr(prefix.size()));
}

Result<Verifier::IndexFingerprint> Verifier::FingerprintTaskEvents() {
  IndexFingerprint print;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(LogScanOptions(), cf(kTaskEvents)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    print.entries++;
    const std::string_view key = it->key().ToStringView();
    if (key.size() < 9 || key[key.size() - 9] != '\0') {
      print.sum += 1;  // cannot be an entry of any event: forces the slow check
      continue;
    }
    print.sum += TaskEventHash(key.substr(0, key.size() - 9), keys::ReadU64(key.substr(key.size() - 8)));
  }
  TL_RETURN_IF_ERROR(FromRocks(it->status(), "read task events"));
  return print;
}

Status Verifier::VerifyTaskEvents(uint64_t events, uint64_t log_fingerprint, const IndexFingerprint& index) {
  const uint64_t indexed = index.entries;
  if (indexed == events && index.sum == log_fingerprint) return Status::Ok();

  // Something differs: find which events lack their entry (each looked up by its key)...
  std::string ignored;
  TL_RETURN_IF_ERROR(ScanEvents(db_, cf(kEvents), rocksdb::ReadOptions(), 1, [&](const Event& e) {
    if (!db_->Get(rocksdb::ReadOptions(), cf(kTaskEvents), keys::TaskEvent(e.task_id, e.seq), &ignored).ok()) {
      problems_.push_back({e.seq, SeqAndTask(e.seq, e.task_id) + "missing from the task_events index"});
    }
    return true;
  }));
  if (indexed == events) {
    if (problems_.empty()) problems_.push_back({kNoSeq, "the task event index differs from the log"});
    // (an entry naming the wrong task or seq is listed below with the strays)
  } else {
    problems_.push_back({kNoSeq, "the task event index holds " + std::to_string(indexed) + " entries for " +
                                     std::to_string(events) + " events"});
  }
  // ...and which entries point nowhere.
  int listed = 0;
  std::string bytes;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(LogScanOptions(), cf(kTaskEvents)));
  for (it->SeekToFirst(); it->Valid() && listed < kMaxListedStrayEntries; it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (key.size() < 9) continue;
    const uint64_t seq = keys::ReadU64(key.substr(key.size() - 8));
    const std::string task(key.substr(0, key.size() - 9));
    const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kEvents), keys::Seq(seq), &bytes);
    Result<Event> event = s.ok() ? DecodeEvent(bytes) : Result<Event>(Status::NotFound("absent"));
    if (event.ok() && event->task_id == task && key[key.size() - 9] == '\0') continue;
    problems_.push_back({seq, SeqAndTask(seq, task) + "listed in the task_events index but not in the log"});
    listed++;
  }
  return FromRocks(it->status(), "read task events");
}

// Invariant 4: the materialized projection equals a full replay.
Status Verifier::VerifyProjection(const Replay& replay, std::set<std::string>* misfolded) {
  size_t stored_and_created = 0;  // keys are unique: equal to the task count iff none is missing
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(LogScanOptions(), cf(kTasks)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string id = it->key().ToString();
    const TaskRecord* expected = replay.Find(id);
    if (expected != nullptr) stored_and_created++;
    // The same bytes as the replayed record encodes to: equal (the codec's round trip is
    // exact, tests/ledger/codec_test.cc), without decoding. Else decoded and compared field
    // by field, which also covers bytes written by another version of the encoder.
    if (expected != nullptr && it->value().ToStringView() == EncodeTask(*expected)) continue;
    Result<TaskRecord> record = DecodeTask(it->value().ToStringView());
    if (expected == nullptr) {
      problems_.push_back({kNoSeq, "task " + id + ": in the projection but never created in the log"});
    } else if (!record.ok()) {
      misfolded->insert(id);
      problems_.push_back({expected->last_seq, SeqAndTask(expected->last_seq, id) + record.status().message()});
    } else if (!(*record == *expected)) {
      misfolded->insert(id);
      // Where they part: the last event both folded, or the first one only one side has.
      const uint64_t common = std::min(record->last_seq, expected->last_seq);
      const uint64_t seq = record->last_seq == expected->last_seq ? common : NextTaskSeq(id, common);
      problems_.push_back({seq, SeqAndTask(seq, id) + "the projection differs from the replay of the log in field " +
                                    FirstDifference(*record, *expected) + "; the projection is through seq " +
                                    std::to_string(record->last_seq)});
    }
  }
  TL_RETURN_IF_ERROR(FromRocks(it->status(), "read tasks"));
  if (stored_and_created == replay.task_count()) return Status::Ok();
  std::set<std::string> stored;  // only to name the missing ones
  for (it->SeekToFirst(); it->Valid(); it->Next()) stored.insert(it->key().ToString());
  TL_RETURN_IF_ERROR(FromRocks(it->status(), "read tasks"));
  for (const TaskRecord* record : replay.Tasks()) {
    if (stored.count(record->id) == 0) {
      misfolded->insert(record->id);
      problems_.push_back(
          {record->created_seq, SeqAndTask(record->created_seq, record->id) + "missing from the projection"});
    }
  }
  return Status::Ok();
}

Result<std::map<std::string, std::string>> Verifier::ReadFamily(ColumnFamily family) {
  std::map<std::string, std::string> entries;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(family)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) entries.emplace(it->key().ToString(), it->value().ToString());
  TL_RETURN_IF_ERROR(FromRocks(it->status(), std::string("read ") + kColumnFamilyNames[family]));
  return entries;
}

// `dependents` and `idempotency`: exactly what the replayed records imply.
Status Verifier::VerifyExactIndexes(const Replay& replay) {
  std::map<std::string, std::string> dependents, idempotency;
  for (const TaskRecord* r : replay.Tasks()) {
    for (const std::string& dep : r->spec.after) dependents.emplace(keys::Dependent(dep, r->id), "");
    if (!r->spec.idempotency_key.empty()) idempotency.emplace(r->spec.idempotency_key, r->id);
  }
  const std::pair<ColumnFamily, const std::map<std::string, std::string>*> exact[] = {
      {kDependents, &dependents}, {kIdempotency, &idempotency}};
  for (const auto& [family, expected] : exact) {
    Result<std::map<std::string, std::string>> actual = ReadFamily(family);
    if (!actual.ok()) return actual.status();
    if (*actual != *expected) {
      problems_.push_back({kNoSeq, std::string("the ") + kColumnFamilyNames[family] + " index holds " +
                                       std::to_string(actual->size()) + " entries where the log implies " +
                                       std::to_string(expected->size()) + " (or different ones)"});
    }
  }
  return Status::Ok();
}

// The schedule's markers (format 1 stored places and deadlines too; the next writable open
// drops them, so they are not judged here).
Status Verifier::ReadMarkedTasks(const Replay& replay, MarkedTasks* marked) {
  // Each marker as its task's record: a sorted vector of pointers instead of a set of 1M
  // ids (which verify spent more time building and freeing than reading the family).
  const auto mark = [&](std::string_view id) {
    const std::string key(id);
    if (const TaskRecord* record = replay.Find(key); record != nullptr) {
      marked->tasks.push_back(record);
    } else if (!marked->first_stray || key < *marked->first_stray) {
      marked->first_stray = key;
    }
  };
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(LogScanOptions(), cf(kSchedule)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (!key.empty() && key[0] == keys::kScheduleOfTag) {
      mark(key.substr(1));
    } else if (format_version_ >= 2) {
      const std::string_view value = it->value().ToStringView();
      problems_.push_back({kNoSeq, "the schedule holds an entry of the old format (" + std::string(key.substr(0, 1)) +
                                       " " + std::string(value.empty() ? key.substr(1) : value) + ")"});
      break;
    }
  }
  TL_RETURN_IF_ERROR(FromRocks(it->status(), std::string("read ") + kColumnFamilyNames[kSchedule]));
  Result<std::map<std::string, std::string>> deadlines = ReadFamily(kDeadlines);
  if (!deadlines.ok()) return deadlines.status();
  if (format_version_ < 2) {
    // Format 1 marked a task with an open attempt by its deadline entry, not by `S`.
    for (const auto& [key, value] : *deadlines) {
      if (key.size() > 8) mark(std::string_view(key).substr(8));
    }
  } else {
    if (!deadlines->empty()) {
      problems_.push_back({kNoSeq, "the deadlines family holds " + std::to_string(deadlines->size()) +
                                       " entries; it is unused since format 2"});
    }
  }
  std::sort(marked->tasks.begin(), marked->tasks.end(), std::less<>());
  marked->tasks.erase(std::unique(marked->tasks.begin(), marked->tasks.end()), marked->tasks.end());
  return Status::Ok();
}

// A marker for every live task, and none for a finished or blocked one.
Status Verifier::VerifySchedule(const Replay& replay, int64_t now_ns, const std::set<std::string>& misfolded) {
  MarkedTasks marked;
  TL_RETURN_IF_ERROR(ReadMarkedTasks(replay, &marked));
  const DependencyLookup dependencies = replay.Dependencies(now_ns);
  for (const TaskRecord* r : replay.Tasks()) {
    const TaskView view = EvaluateVerdict(*r, now_ns, dependencies);  // the status only: no copy
    const auto problem = [&](const std::string& what) {
      problems_.push_back({r->last_seq, SeqAndTask(r->last_seq, r->id) + what});
    };
    const bool is_marked = std::binary_search(marked.tasks.begin(), marked.tasks.end(), r, std::less<>());
    // The schedule follows the stored record: where that already differs from the log,
    // the difference is the problem (reported at its seq), not what follows from it.
    if (misfolded.count(r->id) != 0) continue;
    // Nothing but an event makes a task live, so a live task is marked; a marked task may
    // have stopped being live since its last event (a lease lapsed into `dead`).
    const bool live = r->attempt_open || !ScheduleKey(*r, now_ns, dependencies).empty();
    if (live && !is_marked) {
      problem(std::string(TaskStatusName(view.status)) + " but not in the schedule");
    } else if (is_marked && !r->attempt_open &&
               (view.status == TaskStatus::kDone || view.status == TaskStatus::kCancelled ||
                view.status == TaskStatus::kBlocked)) {
      problem(std::string(TaskStatusName(view.status)) + " but still scheduled");
    }
  }
  if (marked.first_stray) {
    problems_.push_back({kNoSeq, "a schedule entry belongs to no task (" + *marked.first_stray + ")"});
  }
  return Status::Ok();
}

}  // namespace taskledger
