// What the simulation's parts (sim.cc, sim_checks.cc, sim_generator.cc) share: the start
// of simulated time, and durations written for people.
#pragma once

#include <cstdint>
#include <string>

#include "projections/time_text.h"
#include "tests/sim/model.h"

namespace taskledger::sim {

// An arbitrary, fixed start (2023-11-14T22:13:20Z): the simulation never reads a real clock.
inline constexpr int64_t kStartNs = 1'700'000'000 * kSecond;

inline std::string Ns(int64_t ns) { return FormatDuration(ns); }

}  // namespace taskledger::sim
