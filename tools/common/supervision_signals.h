// The signals a supervisor (`run`) or a worker reads from a signalfd: SIGTERM, SIGINT,
// SIGHUP and SIGCHLD, blocked so that they queue for the signalfd instead of acting.
//
// They must be blocked before any other thread of the process starts: a thread inherits
// its creator's mask, and a process-directed signal goes to any thread that does not
// block it. An embedded ledger starts RocksDB's background threads when it opens; if the
// signals were blocked only after that, a child's SIGCHLD could go to one of those threads
// and be discarded (the child's exit never seen: the supervisor heartbeats a finished
// child's lease forever, the reported zombie story), and a SIGTERM could kill the process
// there without the `signaled` record. So the verbs call BlockSupervisionSignals before
// they open the ledger, and the supervisor and the worker call it again (a no-op then).
#pragma once

#include <signal.h>

namespace taskledger::tools {

// Blocks the four signals in the calling thread and returns their
// set. `original` receives the mask from before the first call: what a child gets back
// before it execs.
sigset_t BlockSupervisionSignals(sigset_t* original);

}  // namespace taskledger::tools
