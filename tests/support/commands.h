// Builders for the Command structs tests submit: one call per kind of command, with the
// fields a test usually leaves at their defaults filled in.
#pragma once

#include <cstdint>
#include <string>

#include "ledger/ledger.h"

namespace taskledger::test {

inline Command CreateCmd(const std::string& id, const std::string& title = "t") {
  Command c;
  c.kind = CommandKind::kCreate;
  c.task_id = id;
  c.spec.title = title;
  return c;
}
inline Command ClaimCmd(const std::string& id, const std::string& worker = "w1", int64_t ttl = 0) {
  Command c;
  c.kind = CommandKind::kClaim;
  c.task_id = id;
  c.actor = worker;
  c.ttl_ns = ttl;
  return c;
}
inline Command ClaimNextCmd(const std::string& worker = "w1", const std::string& queue = "", int64_t ttl = 0) {
  Command c;
  c.kind = CommandKind::kClaim;
  c.next = true;
  c.actor = worker;
  c.queue = queue;
  c.ttl_ns = ttl;
  return c;
}
// A command of the lease holder (heartbeat, complete, fail, release, signal, exit). A
// signal is SIGTERM and an exit is code 1 unless the test sets otherwise.
inline Command HolderCmd(CommandKind kind, const std::string& id, uint64_t token, const std::string& worker = "w1") {
  Command c;
  c.kind = kind;
  c.task_id = id;
  c.actor = worker;
  c.token = token;
  if (kind == CommandKind::kSignal) c.signal = "SIGTERM";
  if (kind == CommandKind::kExit) c.exit_code = 1;
  return c;
}
inline Command OperatorCmd(CommandKind kind, const std::string& id, const std::string& text = "") {
  Command c;
  c.kind = kind;
  c.task_id = id;
  c.actor = "operator";
  c.text = text;
  return c;
}
inline Command SweepCmd() {
  Command c;
  c.kind = CommandKind::kSweep;
  return c;
}

}  // namespace taskledger::test
