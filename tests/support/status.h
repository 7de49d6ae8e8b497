// Status assertions, and readable gtest output for the ledger's enums and events.
#pragma once

#include <gtest/gtest.h>

#include <ostream>

#include "projections/event.h"
#include "projections/status.h"
#include "projections/task.h"

#define TL_ASSERT_OK(expr)                                      \
  do {                                                          \
    const ::taskledger::Status tl_s_ = (expr);                  \
    ASSERT_TRUE(tl_s_.ok()) << #expr << ": " << tl_s_.ToString(); \
  } while (0)
#define TL_EXPECT_OK(expr)                                      \
  do {                                                          \
    const ::taskledger::Status tl_s_ = (expr);                  \
    EXPECT_TRUE(tl_s_.ok()) << #expr << ": " << tl_s_.ToString(); \
  } while (0)
#define TL_EXPECT_CODE(expr, want)                                                        \
  do {                                                                                    \
    const ::taskledger::Status tl_s_ = (expr);                                            \
    EXPECT_EQ(tl_s_.code(), (want)) << #expr << ": " << tl_s_.ToString();                 \
  } while (0)
#define TL_EXPECT_DATALOSS(expr) TL_EXPECT_CODE(expr, ::taskledger::Code::kDataLoss)

// Found by argument-dependent lookup: in the namespace of the types they print.
namespace taskledger {
inline void PrintTo(TaskStatus s, std::ostream* os) { *os << TaskStatusName(s); }
inline void PrintTo(WaitReason w, std::ostream* os) { *os << WaitReasonName(w); }
inline void PrintTo(AttemptEnd e, std::ostream* os) { *os << AttemptEndName(e); }
inline void PrintTo(EventKind k, std::ostream* os) { *os << EventKindName(k); }
inline void PrintTo(HolderCommand c, std::ostream* os) { *os << HolderCommandName(c); }
inline void PrintTo(Code c, std::ostream* os) { *os << CodeName(c); }
inline void PrintTo(const Event& e, std::ostream* os) {
  *os << "{seq " << e.seq << " t " << e.time_ns << " " << EventKindName(e.kind) << " task " << e.task_id
      << " actor " << e.actor << " token " << e.token << " text '" << e.text << "' signal '" << e.signal
      << "' reason '" << e.reason << "' meta " << e.meta.pid << "/" << e.meta.host << "}";
}
}  // namespace taskledger
