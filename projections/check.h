// Executable invariants (docs/architecture.md, "Invariants in code").
//
// TL_CHECK(cond)  always on, in every build: for conditions whose failure means the
//                 ledger would write or acknowledge something wrong. It prints the file,
//                 line and condition on stderr and aborts: a stopped process loses nothing
//                 acknowledged (every acknowledged group is already durable), a process
//                 that went on might.
// TL_DCHECK(cond) on in every test build (TASKLEDGER_DEBUG_CHECKS, set by CMake for every
//                 build type but Release and MinSizeRel) and in any build without NDEBUG;
//                 off in the Release builds that benchmarks use. For checks that cost
//                 work on a hot path (e.g. decoding an event again after encoding it).
//
// Unlike assert(), neither depends on NDEBUG alone, which RelWithDebInfo defines: before
// these macros every assert was compiled out of every test run.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace taskledger::internal {

[[noreturn]] inline void CheckFailed(const char* file, int line, const char* condition) {
  std::fprintf(stderr, "taskledger: invariant broken at %s:%d: %s\n", file, line, condition);
  std::fflush(stderr);
  std::abort();
}

}  // namespace taskledger::internal

#define TL_CHECK(condition)                                                          \
  do {                                                                               \
    if (!(condition)) [[unlikely]]                                                   \
      ::taskledger::internal::CheckFailed(__FILE__, __LINE__, #condition);           \
  } while (false)

#if defined(TASKLEDGER_DEBUG_CHECKS) || !defined(NDEBUG)
#define TL_DCHECK_IS_ON 1
#define TL_DCHECK(condition) TL_CHECK(condition)
#else
#define TL_DCHECK_IS_ON 0
// Type-checked, never evaluated.
#define TL_DCHECK(condition) \
  do {                       \
    if (false) {             \
      (void)(condition);     \
    }                        \
  } while (false)
#endif
