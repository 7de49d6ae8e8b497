// GroupCommitter under concurrent submitters (run under TSan by scripts/test-sanitizers.sh):
// every batch is completed exactly once with one outcome per command, the log holds
// exactly the acknowledged events with dense seqs, concurrent claims of one task hand it
// out once, a full queue refuses instead of growing, and Stop() drains what was queued.
#include <gtest/gtest.h>
#include <rocksdb/env.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "ledger/clock.h"
#include "ledger/group_commit.h"
#include "ledger/ledger.h"

namespace taskledger {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kStartNs = 1'700'000'000LL * kNanosPerSecond;

// Counts completions; waits (bounded) until all expected ones arrived.
class Completions {
 public:
  void Add(std::vector<Outcome> outcomes) {
    std::lock_guard lock(mutex_);
    for (Outcome& o : outcomes) outcomes_.push_back(std::move(o));
    ++batches_;
    done_.notify_all();
  }
  bool WaitFor(int batches, std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    return done_.wait_for(lock, limit, [&] { return batches_ >= batches; });
  }
  std::vector<Outcome> Take() {
    std::lock_guard lock(mutex_);
    return outcomes_;
  }
  int batches() {
    std::lock_guard lock(mutex_);
    return batches_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  std::vector<Outcome> outcomes_;
  int batches_ = 0;
};

class GroupCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LedgerOptions options;
    options.path = "/group-commit";
    options.env = env_.get();
    options.sync = false;
    Result<std::unique_ptr<Ledger>> opened = Ledger::Open(options, &clock_);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    ledger_ = std::move(*opened);
  }
  void TearDown() override { ledger_.reset(); }

  static Command Create(const std::string& id) {
    Command c;
    c.kind = CommandKind::kCreate;
    c.task_id = id;
    c.actor = "dispatcher";
    c.spec.title = id;
    return c;
  }
  static Command Claim(const std::string& id, const std::string& worker) {
    Command c;
    c.kind = CommandKind::kClaim;
    c.task_id = id;
    c.actor = worker;
    return c;
  }
  void ExpectLogHolds(const std::vector<Outcome>& outcomes) {
    std::set<uint64_t> acknowledged;
    for (const Outcome& o : outcomes) {
      for (const Event& e : o.reply.events) EXPECT_TRUE(acknowledged.insert(e.seq).second) << "seq " << e.seq << " twice";
    }
    uint64_t next = 1;
    ASSERT_TRUE(ledger_->ForEachEvent(1, [&](const Event& e) {
                         EXPECT_EQ(e.seq, next++);
                         EXPECT_EQ(acknowledged.count(e.seq), 1u) << "seq " << e.seq << " was never acknowledged";
                         return true;
                       }).ok());
    EXPECT_EQ(next - 1, acknowledged.size());
    Result<VerifyReport> report = ledger_->Verify();
    ASSERT_TRUE(report.ok());
    EXPECT_TRUE(report->problems.empty()) << report->problems.front();
  }

  std::unique_ptr<rocksdb::Env> env_{rocksdb::NewMemEnv(rocksdb::Env::Default())};
  ManualClock clock_{kStartNs};
  std::unique_ptr<Ledger> ledger_;
};

TEST_F(GroupCommitTest, ConcurrentSubmittersEachGetEveryOutcomeOnceAndTheLogHoldsExactlyThem) {
  GroupCommitter committer(ledger_.get(), GroupCommitOptions{});
  Completions completions;
  constexpr int kThreads = 8, kBatches = 60;
  std::atomic<int> refused{0};
  std::vector<std::thread> submitters;
  for (int t = 0; t < kThreads; ++t) {
    submitters.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        const std::string id = "t" + std::to_string(t) + "-" + std::to_string(b);
        std::vector<Command> batch = {Create(id), Claim(id, "w" + std::to_string(t))};
        if (b % 3 == 0) batch.push_back(Claim(id, "thief"));  // refused: already running
        if (!committer.Enqueue(std::move(batch), [&](std::vector<Outcome> o) { completions.Add(std::move(o)); }).ok()) {
          refused++;
        }
        clock_.Advance(kNanosPerMilli);
      }
    });
  }
  for (std::thread& s : submitters) s.join();
  ASSERT_EQ(refused.load(), 0);
  ASSERT_TRUE(completions.WaitFor(kThreads * kBatches, 60s));
  committer.Stop();
  const std::vector<Outcome> outcomes = completions.Take();
  EXPECT_EQ(outcomes.size(), static_cast<size_t>(kThreads * (kBatches * 2 + (kBatches + 2) / 3)));
  int accepted = 0, refused_claims = 0;
  for (const Outcome& o : outcomes) {
    if (o.status.ok()) accepted++;
    if (o.status.IsRefused()) refused_claims++;
  }
  EXPECT_EQ(accepted, kThreads * kBatches * 2);
  EXPECT_EQ(refused_claims, kThreads * ((kBatches + 2) / 3));
  EXPECT_LE(committer.groups_committed(), static_cast<uint64_t>(kThreads * kBatches));
  EXPECT_EQ(committer.commands_committed(), outcomes.size());
  ExpectLogHolds(outcomes);
}

TEST_F(GroupCommitTest, ConcurrentClaimsOfOneTaskHandItOutOnce) {
  ASSERT_TRUE(ledger_->Submit(Create("prize")).status.ok());
  GroupCommitter committer(ledger_.get(), GroupCommitOptions{});
  Completions completions;
  constexpr int kThreads = 16;
  std::vector<std::thread> claimers;
  for (int t = 0; t < kThreads; ++t) {
    claimers.emplace_back([&, t] {
      ASSERT_TRUE(committer.Enqueue({Claim("prize", "w" + std::to_string(t))},
                                    [&](std::vector<Outcome> o) { completions.Add(std::move(o)); })
                      .ok());
    });
  }
  for (std::thread& c : claimers) c.join();
  ASSERT_TRUE(completions.WaitFor(kThreads, 60s));
  int winners = 0;
  for (const Outcome& o : completions.Take()) winners += o.status.ok();
  EXPECT_EQ(winners, 1);
}

TEST_F(GroupCommitTest, AFullQueueRefusesAndStopDrainsWhatWasQueued) {
  GroupCommitOptions options;
  options.max_queued_commands = 64;
  options.max_group_commands = 8;
  GroupCommitter committer(ledger_.get(), options);
  Completions completions;
  std::atomic<int> queued{0}, busy{0};
  std::vector<std::thread> submitters;
  for (int t = 0; t < 4; ++t) {
    submitters.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const Status s = committer.Enqueue({Create("q" + std::to_string(t) + "-" + std::to_string(i))},
                                           [&](std::vector<Outcome> o) { completions.Add(std::move(o)); });
        if (s.ok()) queued++;
        else if (s.code() == Code::kBusy) busy++;
        else ADD_FAILURE() << s.ToString();
      }
    });
  }
  for (std::thread& s : submitters) s.join();
  committer.Stop();  // drains: every queued batch completes before Stop returns
  EXPECT_EQ(completions.batches(), queued.load());
  EXPECT_EQ(queued + busy, 800);
  EXPECT_EQ(committer.Enqueue({Create("late")}, [](std::vector<Outcome>) {}).code(), Code::kBusy);
  ExpectLogHolds(completions.Take());
}

TEST_F(GroupCommitTest, AnOversizedBatchIsABadRequest) {
  GroupCommitOptions options;
  options.max_group_commands = 4;
  GroupCommitter committer(ledger_.get(), options);
  std::vector<Command> batch;
  for (int i = 0; i < 5; ++i) batch.push_back(Create("o" + std::to_string(i)));
  EXPECT_EQ(committer.Enqueue(std::move(batch), [](std::vector<Outcome>) {}).code(), Code::kInvalidArgument);
  EXPECT_EQ(ledger_->last_seq(), 0u);
}

// The observers a server's metrics use: one call per group written, with its commands, and
// one per fsync; the groups' commands add up to every command committed.
TEST_F(GroupCommitTest, ObserversSeeEveryGroupAndEverySync) {
  std::atomic<uint64_t> groups{0}, commands{0}, syncs{0};
  GroupCommitOptions options;
  options.on_group_written = [&](size_t n, std::chrono::nanoseconds took) {
    groups++;
    commands += n;
    EXPECT_GE(took.count(), 0);
  };
  options.on_synced = [&](std::chrono::nanoseconds took) {
    syncs++;
    EXPECT_GE(took.count(), 0);
  };
  GroupCommitter committer(ledger_.get(), options);
  Completions completions;
  std::vector<std::thread> submitters;
  for (int t = 0; t < 4; ++t) {
    submitters.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        ASSERT_TRUE(committer.Enqueue({Create("o" + std::to_string(t) + "-" + std::to_string(i))},
                                      [&](std::vector<Outcome> o) { completions.Add(std::move(o)); })
                        .ok());
      }
    });
  }
  for (std::thread& s : submitters) s.join();
  committer.Stop();
  EXPECT_EQ(completions.batches(), 200);
  EXPECT_EQ(commands.load(), 200u);
  EXPECT_EQ(groups.load(), committer.groups_committed());
  EXPECT_EQ(syncs.load(), committer.syncs());
  EXPECT_GE(syncs.load(), 1u);
}

}  // namespace
}  // namespace taskledger
