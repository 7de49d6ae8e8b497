// Handing a replay's memory back to the system once a call that needed it is over.
//
// A `verify`, a `rebuild`, or a listing held whole (a time-travel `ls`; a current one the
// server sorts itself: RPC tasksAt, listTasks without anyOrder, HTTP GET /v1/tasks) holds
// every task of the ledger for a while (about 0.6-1.2 GiB at 1M tasks). The allocator
// keeps what they freed for reuse, and a server that answered one such call went on
// holding it while idle (measured at 1M tasks / 10M events: 347 MiB idle, 980 MiB after
// one verify, 1,573 MiB after an `ls --at`). Giving the pages back costs little beside
// building a view of every task.
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
