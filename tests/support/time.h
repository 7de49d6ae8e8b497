// Time constants of the tests. Tests never read a real clock for what the ledger decides:
// they drive a ManualClock from kT0 (an arbitrary, fixed moment).
#pragma once

#include <cstdint>

#include "projections/limits.h"

namespace taskledger::test {

inline constexpr int64_t kMs = kNanosPerMilli;
inline constexpr int64_t kSec = kNanosPerSecond;
inline constexpr int64_t kMin = 60 * kSec;
// 2023-11-14T22:13:20Z.
inline constexpr int64_t kT0 = 1'700'000'000 * kSec;

}  // namespace taskledger::test
