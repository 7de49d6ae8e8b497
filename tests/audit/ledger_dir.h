// Ledgers on disk for the audit tests: a temporary directory, a ledger in it driven by a
// ManualClock, command builders, and raw RocksDB access to damage a ledger on purpose.
#pragma once

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ledger/clock.h"
#include "ledger/ledger.h"
#include "projections/event_json.h"
#include "tests/audit/story.h"

namespace taskledger::audit_test {

class TempDir {
 public:
  TempDir() {
    char dir[] = "/tmp/taskledger-audit-XXXXXX";
    path_ = ::mkdtemp(dir) != nullptr ? dir : "";
    EXPECT_FALSE(path_.empty());
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::unique_ptr<Ledger> OpenLedger(const std::string& path, Clock* clock, bool read_only = false) {
  LedgerOptions options;
  options.path = path;
  options.read_only = read_only;
  options.sync = false;  // these tests measure nothing about durability
  Result<std::unique_ptr<Ledger>> ledger = Ledger::Open(options, clock);
  EXPECT_TRUE(ledger.ok()) << ledger.status().ToString();
  return ledger.ok() ? std::move(*ledger) : nullptr;
}

inline Command Cmd(CommandKind kind, const std::string& id, const std::string& actor = "", uint64_t token = 0) {
  Command c;
  c.kind = kind;
  c.task_id = id;
  c.actor = actor;
  c.token = token;
  if (kind == CommandKind::kCreate) c.spec.title = "task " + id;
  return c;
}

// Submits a command that must be accepted; returns its reply.
inline CommandReply MustSubmit(Ledger& ledger, const Command& command) {
  Outcome outcome = ledger.Submit(command);
  EXPECT_TRUE(outcome.status.ok()) << outcome.status.ToString();
  return outcome.reply;
}

// A short history written by commands: a and b (after a); w1 claims a and falls silent,
// w2 takes a over, w1's late heartbeat is refused, w2 completes a, b runs.
inline void WriteHistory(Ledger& ledger, ManualClock& clock) {
  MustSubmit(ledger, Cmd(CommandKind::kCreate, "a"));
  Command b = Cmd(CommandKind::kCreate, "b");
  b.spec.after = {"a"};
  MustSubmit(ledger, b);
  Command claim = Cmd(CommandKind::kClaim, "a", "w1");
  claim.ttl_ns = 5 * kSec;
  const uint64_t t1 = MustSubmit(ledger, claim).token;
  clock.Advance(2 * kSec);
  MustSubmit(ledger, Cmd(CommandKind::kHeartbeat, "a", "w1", t1));
  clock.Advance(10 * kSec);  // the lease lapsed at +7s; the backoff ran out at +8s
  claim.actor = "w2";
  const uint64_t t2 = MustSubmit(ledger, claim).token;
  EXPECT_TRUE(ledger.Submit(Cmd(CommandKind::kHeartbeat, "a", "w1", t1)).status.IsRefused());
  MustSubmit(ledger, Cmd(CommandKind::kComplete, "a", "w2", t2));
  const uint64_t t3 = MustSubmit(ledger, Cmd(CommandKind::kClaim, "b", "w2")).token;
  MustSubmit(ledger, Cmd(CommandKind::kComplete, "b", "w2", t3));
}

// Opens the ledger's RocksDB directly, with every column family, for `fn` to damage.
inline void WithRawDb(const std::string& path,
                      const std::function<void(rocksdb::DB&, std::map<std::string, rocksdb::ColumnFamilyHandle*>&)>& fn) {
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const std::string& name : names) families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), path, families, &handles, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  std::map<std::string, rocksdb::ColumnFamilyHandle*> by_name;
  for (size_t i = 0; i < names.size(); ++i) by_name[names[i]] = handles[i];
  fn(*db, by_name);
  for (rocksdb::ColumnFamilyHandle* handle : handles) (void)db->DestroyColumnFamilyHandle(handle);
}

// The export of a ledger: one EventToJson line per event.
inline std::string ExportLines(Ledger& ledger) {
  std::string out;
  const Status s = ledger.ForEachEvent(1, [&](const Event& e) {
    out += EventToJson(e).dump() + "\n";
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

inline EventSource VectorSource(const std::vector<Event>& events) {
  return [&events](const EventSink& sink) -> Status {
    for (const Event& e : events) TL_RETURN_IF_ERROR(sink(e));
    return Status::Ok();
  };
}

}  // namespace taskledger::audit_test
