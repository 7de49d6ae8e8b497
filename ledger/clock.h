// Time is injected: the ledger reads it through a Clock, tests and simulations drive it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace taskledger {

// Thread-safe. Returns ns since the Unix epoch; the ledger makes its own time
// non-decreasing, so a clock may step backwards without harm.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowNs() = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowNs() override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// Monotonic ns from an arbitrary start: for spans measured on one machine (how long a
// writer lease has stood, ledger/writer_lease.h), never for the times events carry.
class MonotonicClock final : public Clock {
 public:
  int64_t NowNs() override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ns) : now_ns_(start_ns) {}
  int64_t NowNs() override { return now_ns_.load(); }
  void Set(int64_t ns) { now_ns_.store(ns); }
  void Advance(int64_t ns) { now_ns_.fetch_add(ns); }

 private:
  std::atomic<int64_t> now_ns_;
};

}  // namespace taskledger
