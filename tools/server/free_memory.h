// Handing a replay's memory back to the system once a call that needed it is over.
//
// A time-travel `ls`, `verify` or `rebuild` holds every task of the ledger for a few
// seconds (about 0.6-1.2 GiB at 1M tasks). The allocator keeps what they freed for reuse,
// and a server that answered one such call went on holding it while idle (measured at 1M
// tasks / 10M events: 356 MiB idle, 1,003 MiB after one verify, 1,610 MiB after an
// `ls --at`). These calls are rare and slow; giving the pages back costs little beside them.
#pragma once

namespace taskledger::server {

// Returns the allocator's free pages to the system: tcmalloc's when the binary is linked
// with it, else glibc's (malloc_trim). Thread-safe; blocks for as long as that takes.
void ReturnFreeMemory();

// Calls ReturnFreeMemory when it goes, after everything declared after it in the same
// scope or object has gone (declare it first).
class ReturnFreeMemoryAfterward {
 public:
  explicit ReturnFreeMemoryAfterward(bool armed = true) : armed_(armed) {}
  ~ReturnFreeMemoryAfterward() {
    if (armed_) ReturnFreeMemory();
  }
  ReturnFreeMemoryAfterward(const ReturnFreeMemoryAfterward&) = delete;
  ReturnFreeMemoryAfterward& operator=(const ReturnFreeMemoryAfterward&) = delete;
  void Arm() { armed_ = true; }

 private:
  bool armed_;
};

}  // namespace taskledger::server
