// Conversions between the library's values and the RPC messages of schemas/rpc.capnp.
// Everything read from the wire is checked: an out-of-range enum or a malformed event is
// an InvalidArgument for that call, never undefined behaviour.
#pragma once

#include "ledger/ledger.h"
#include "schemas/rpc.capnp.h"

namespace taskledger::wire {

void WriteError(const Status& status, rpc::Error::Builder out);
Status ReadError(rpc::Error::Reader in);

void WriteCommand(const Command& command, rpc::Command::Builder out);
Result<Command> ReadCommand(rpc::Command::Reader in);

void WriteOutcome(const Outcome& outcome, rpc::Outcome::Builder out);
Result<Outcome> ReadOutcome(rpc::Outcome::Reader in);

void WritePointInTime(const PointInTime& at, rpc::PointInTime::Builder out);
Result<PointInTime> ReadPointInTime(rpc::PointInTime::Reader in);

void WriteTaskView(const TaskView& view, rpc::TaskView::Builder out);
Result<TaskView> ReadTaskView(rpc::TaskView::Reader in);
// The words `view` takes as an element of a List(TaskView): what bounds a page of them.
uint64_t TaskViewWords(const TaskView& view);

}  // namespace taskledger::wire
