// LedgerTest: a ledger on an in-memory Env with a ManualClock (MemLedger), and shorthands to
// submit, read and verify. Shared by the tests of the ledger's parts (command_path_test.cc,
// claim_next_test.cc, reads_test.cc, maintenance_test.cc): GoogleTest requires every test
// of a suite to use one fixture class, so it is defined once, here, outside any anonymous
// namespace.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ledger/clock.h"
#include "ledger/ledger.h"
#include "ledger_fixture.h"
#include "test_util.h"

namespace taskledger::test {

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override { TL_ASSERT_OK(m_.Open()); }

  Ledger& L() { return m_.ledger(); }
  ManualClock& clock() { return m_.clock(); }

  // Submits and expects success; returns the reply.
  CommandReply Ok(const Command& c) {
    Outcome out = L().Submit(c);
    EXPECT_TRUE(out.status.ok()) << out.status.ToString();
    return out.reply;
  }
  std::string Create(const std::string& id, int32_t priority = 0, const std::string& queue = "",
                     std::vector<std::string> after = {}) {
    Command c = CreateCmd(id);
    c.spec.priority = priority;
    c.spec.queue = queue;
    c.spec.after = std::move(after);
    c.spec.lease_ttl_ns = 10 * kSec;
    return Ok(c).task_id;
  }
  TaskView At(const std::string& id) {
    Result<TaskView> v = L().TaskAt(id, PointInTime::Now());
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : TaskView{};
  }
  void ExpectVerifyClean() { test::ExpectVerifyClean(L()); }

  MemLedger m_;
};

}  // namespace taskledger::test
