// A power cut under the GroupCommitter: every acknowledged command is in the log of what
// was fsynced. The committer overlaps one group's fsync with the next group's write
// (Ledger::SubmitGroupUnsynced + SyncWrites), so an acknowledgment before its sync would
// be a lost write after a power cut that kill -9 (the crash loop) cannot show: the page
// cache survives a killed process. Here a file system wrapper remembers, per file, how
// much was synced; the "cut" copies the ledger keeping only that, and the copy is opened.
// A control test proves the cut loses what was never synced.
#include <gtest/gtest.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ledger/clock.h"
#include "ledger/group_commit.h"
#include "ledger/ledger.h"
#include "tests/support/commands.h"
#include "tests/support/ledgers.h"
#include "tests/support/temp_dir.h"

namespace taskledger {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

// Per file written through it: bytes appended, and how many of them a Sync/Fsync covered.
class SyncTrackingFileSystem : public rocksdb::FileSystemWrapper {
 public:
  explicit SyncTrackingFileSystem(std::shared_ptr<rocksdb::FileSystem> base) : FileSystemWrapper(std::move(base)) {}
  const char* Name() const override { return "SyncTrackingFileSystem"; }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->NewWritableFile(name, options, result, dbg);
    if (s.ok()) {
      Track(name, 0);
      *result = std::make_unique<File>(std::move(*result), this, Canonical(name));
    }
    return s;
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->ReopenWritableFile(name, options, result, dbg);
    if (s.ok()) {
      std::error_code error;
      const uint64_t size = fs::file_size(name, error);
      Track(name, error ? 0 : size);  // what was there before is taken as synced
      *result = std::make_unique<File>(std::move(*result), this, Canonical(name));
    }
    return s;
  }
  rocksdb::IOStatus RenameFile(const std::string& from, const std::string& to, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->RenameFile(from, to, options, dbg);
    if (s.ok()) {
      std::lock_guard lock(mutex_);
      auto it = files_.find(Canonical(from));
      if (it != files_.end()) {
        files_[Canonical(to)] = it->second;
        files_.erase(it);
      }
    }
    return s;
  }

  // Copies `dir` to `to` as a power cut would leave it: each tracked file cut to what was
  // synced. REQUIRES: nothing writes to `dir` meanwhile.
  void CopyAsAfterPowerCut(const std::string& dir, const std::string& to) {
    std::lock_guard lock(mutex_);
    fs::create_directories(to);
    for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
      if (!entry.is_regular_file()) continue;
      const std::string target = (fs::path(to) / entry.path().filename()).string();
      auto it = files_.find(Canonical(entry.path().string()));
      const uint64_t keep = it == files_.end() ? entry.file_size() : it->second.synced;
      std::ifstream in(entry.path(), std::ios::binary);
      std::ofstream out(target, std::ios::binary);
      std::vector<char> bytes(keep);
      in.read(bytes.data(), static_cast<std::streamsize>(keep));
      out.write(bytes.data(), in.gcount());
    }
  }

 private:
  struct Sizes {
    uint64_t written = 0;
    uint64_t synced = 0;
  };
  class File : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile> file, SyncTrackingFileSystem* owner, std::string name)
        : FSWritableFileOwnerWrapper(std::move(file)), owner_(owner), name_(std::move(name)) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
      rocksdb::IOStatus s = target()->Append(data, options, dbg);
      if (s.ok()) owner_->Appended(name_, data.size());
      return s;
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             const rocksdb::DataVerificationInfo& info, rocksdb::IODebugContext* dbg) override {
      rocksdb::IOStatus s = target()->Append(data, options, info, dbg);
      if (s.ok()) owner_->Appended(name_, data.size());
      return s;
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
      rocksdb::IOStatus s = target()->Sync(options, dbg);
      if (s.ok()) owner_->Synced(name_);
      return s;
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
      rocksdb::IOStatus s = target()->Fsync(options, dbg);
      if (s.ok()) owner_->Synced(name_);
      return s;
    }

   private:
    SyncTrackingFileSystem* const owner_;
    const std::string name_;
  };

  static std::string Canonical(const std::string& name) { return fs::path(name).lexically_normal().string(); }
  void Track(const std::string& name, uint64_t size) {
    std::lock_guard lock(mutex_);
    files_[Canonical(name)] = {size, size};
  }
  void Appended(const std::string& name, uint64_t n) {
    std::lock_guard lock(mutex_);
    files_[name].written += n;
  }
  void Synced(const std::string& name) {
    std::lock_guard lock(mutex_);
    files_[name].synced = files_[name].written;
  }

  std::mutex mutex_;
  std::map<std::string, Sizes> files_;
};

class PowerCutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    tracking_ = std::make_shared<SyncTrackingFileSystem>(rocksdb::FileSystem::Default());
    env_ = rocksdb::NewCompositeEnv(tracking_);
  }

  std::unique_ptr<Ledger> OpenTracked(bool sync) {
    LedgerOptions options;
    options.path = dir_ / "db";
    options.env = env_.get();
    options.sync = sync;
    Result<std::unique_ptr<Ledger>> opened = Ledger::Open(options, &clock_);
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    return opened.ok() ? std::move(*opened) : nullptr;
  }

  // Submits `per_thread` creates from each of `threads` threads through a committer;
  // returns the ids acknowledged as created.
  static std::set<std::string> CreateThrough(Ledger* ledger, int threads, int per_thread) {
    GroupCommitter committer(ledger, GroupCommitOptions{});
    std::mutex mutex;
    std::set<std::string> acknowledged;
    std::atomic<int> pending{threads * per_thread};
    std::vector<std::thread> submitters;
    for (int t = 0; t < threads; ++t) {
      submitters.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) {
          std::vector<Command> batch{test::CreateCmd("t" + std::to_string(t) + "-" + std::to_string(i))};
          const Status queued = committer.Enqueue(std::move(batch), [&](std::vector<Outcome> outcomes) {
            std::lock_guard lock(mutex);
            if (outcomes.front().status.ok()) acknowledged.insert(outcomes.front().reply.task_id);
            pending--;
          });
          if (!queued.ok()) pending--;
        }
      });
    }
    for (std::thread& s : submitters) s.join();
    committer.Stop();  // every completion has run
    EXPECT_EQ(pending.load(), 0);
    std::lock_guard lock(mutex);
    return acknowledged;
  }

  // The task ids in the log of the ledger copied as after a power cut.
  std::set<std::string> TasksAfterPowerCut() {
    const std::string copy = dir_ / "after-cut";
    tracking_->CopyAsAfterPowerCut(dir_ / "db", copy);
    std::unique_ptr<Ledger> reopened = test::OpenLedgerAt(copy, &clock_);
    std::set<std::string> ids;
    if (reopened == nullptr) return ids;
    for (const Event& e : test::EventsOf(*reopened)) ids.insert(e.task_id);
    Result<VerifyReport> report = reopened->Verify();
    EXPECT_TRUE(report.ok() && report->problems.empty()) << "the ledger after the cut does not verify";
    return ids;
  }

  TempDir dir_{"taskledger-power-cut"};
  ManualClock clock_{test::kT0};
  std::shared_ptr<SyncTrackingFileSystem> tracking_;
  std::unique_ptr<rocksdb::Env> env_;
};

TEST_F(PowerCutTest, EveryAcknowledgedCommandSurvivesACutAfterTheAcknowledgment) {
  std::unique_ptr<Ledger> ledger = OpenTracked(/*sync=*/true);
  ASSERT_NE(ledger, nullptr);
  const std::set<std::string> acknowledged = CreateThrough(ledger.get(), 4, 150);
  ASSERT_EQ(acknowledged.size(), 600u);
  const std::set<std::string> survived = TasksAfterPowerCut();  // before the ledger closes
  for (const std::string& id : acknowledged) EXPECT_TRUE(survived.count(id)) << id << " was acknowledged and lost";
}

// The control: without syncs the cut loses the commands, so the test above can fail.
TEST_F(PowerCutTest, TheCutLosesWhatWasNeverSynced) {
  std::unique_ptr<Ledger> ledger = OpenTracked(/*sync=*/false);
  ASSERT_NE(ledger, nullptr);
  const std::set<std::string> acknowledged = CreateThrough(ledger.get(), 2, 50);
  ASSERT_EQ(acknowledged.size(), 100u);
  const std::set<std::string> survived = TasksAfterPowerCut();
  size_t kept = 0;
  for (const std::string& id : acknowledged) kept += survived.count(id);
  EXPECT_LT(kept, acknowledged.size());
}

}  // namespace
}  // namespace taskledger
