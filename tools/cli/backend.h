// Backend: what the CLI and the supervisor need of a ledger, embedded (--db) or through a
// server (--connect). Both give the same results, errors and exit codes.
//
// Not thread-safe: one per thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ledger/clock.h"
#include "ledger/ledger.h"

namespace taskledger::cli {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::vector<Outcome> SubmitGroup(const std::vector<Command>& commands) = 0;
  Outcome Submit(const Command& command) { return std::move(SubmitGroup({command}).front()); }
  virtual Result<int64_t> Now() = 0;
  virtual Result<TasksSnapshot> TasksAt(const PointInTime& at) = 0;
  virtual Result<TaskView> TaskAt(const std::string& id, const PointInTime& at) = 0;
  // Events with seq >= from_seq (of one task if task_id is not empty), until fn says stop.
  virtual Status ForEachEvent(uint64_t from_seq, const std::string& task_id,
                              const std::function<bool(const Event&)>& fn) = 0;
  virtual Result<uint64_t> FirstSeqAtOrAfter(int64_t time_ns) = 0;
  virtual Result<VerifyReport> Verify() = 0;
  virtual Result<RebuildReport> Rebuild() = 0;
  // Calls fn for each event with seq >= from_seq as it commits, until fn returns false or
  // `stop` becomes true.
  virtual Status Follow(uint64_t from_seq, const std::string& task_id, const std::function<bool(const Event&)>& fn,
                        const volatile bool* stop) = 0;
  // What a child process needs in its environment to reach the same ledger.
  virtual std::pair<std::string, std::string> AddressEnv() const = 0;
};

// The ledger opened in this process. read_only: as a secondary, beside any owner.
Result<std::unique_ptr<Backend>> OpenEmbedded(const std::string& path, bool read_only, Clock* clock);
// Reads of a ledger opened elsewhere in this process (the server's), which must outlive
// the backend; commands and rebuild are refused (they belong to the ledger's owner).
std::unique_ptr<Backend> ReadLedger(Ledger* ledger);
// A server at `address` (unix:/path or tcp:HOST:PORT). Connects lazily.
Result<std::unique_ptr<Backend>> ConnectRemote(const std::string& address);

}  // namespace taskledger::cli
