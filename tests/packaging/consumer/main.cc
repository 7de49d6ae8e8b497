// A program outside the taskledger tree, built against an installed taskledger (CMake
// package or pkg-config): it opens a ledger, creates a task, claims it and completes it,
// then checks the state the ledger derived. Usage: consumer LEDGER_DIR
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "ledger/clock.h"
#include "ledger/ledger.h"
#include "schemas/event.capnp.h"  // the installed schema headers are usable too

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer LEDGER_DIR\n");
    return 2;
  }
  taskledger::SystemClock clock;
  taskledger::LedgerOptions options;
  options.path = argv[1];
  auto ledger = taskledger::Ledger::Open(options, &clock);
  if (!ledger.ok()) {
    std::fprintf(stderr, "consumer: %s\n", ledger.status().message().c_str());
    return 1;
  }
  const auto submit = [&](const taskledger::Command& command) {
    taskledger::Outcome outcome = (*ledger)->Submit(command);
    if (!outcome.status.ok()) {
      std::fprintf(stderr, "consumer: %s\n", outcome.status.message().c_str());
      std::exit(1);
    }
    return outcome.reply;
  };

  taskledger::Command create;
  create.kind = taskledger::CommandKind::kCreate;
  create.task_id = "consumer-task";
  create.task_id_given = true;
  create.actor = "operator";
  create.spec.title = "made by a program linked against the installed library";
  submit(create);

  taskledger::Command claim;
  claim.kind = taskledger::CommandKind::kClaim;
  claim.next = true;
  claim.actor = "consumer-worker";
  const taskledger::CommandReply lease = submit(claim);

  taskledger::Command complete;
  complete.kind = taskledger::CommandKind::kComplete;
  complete.task_id = lease.task_id;
  complete.token = lease.token;
  complete.actor = "consumer-worker";
  submit(complete);

  auto record = (*ledger)->GetTask("consumer-task");
  if (!record.ok() || !record->has_value()) {
    std::fprintf(stderr, "consumer: the task is not in the ledger\n");
    return 1;
  }
  const taskledger::TaskStatus status = taskledger::OwnStatus(**record, clock.NowNs());
  std::printf("%s %s\n", (*record)->id.c_str(), std::string(taskledger::TaskStatusName(status)).c_str());
  return status == taskledger::TaskStatus::kDone ? 0 : 1;
}
