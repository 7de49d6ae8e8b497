// Fuzz target: a stored event or task record decoded from arbitrary bytes (what a corrupt
// or hostile ledger file hands the codec). Decoding either fails with a Status or yields a
// value that re-encodes to the same value; folding and evaluating it never crashes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ledger/codec.h"
#include "projections/replay.h"
#include "projections/task.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace taskledger;
  using fuzz::Check;
  const std::string_view bytes = fuzz::AsText(data, size);

  Result<Event> event = DecodeEvent(bytes);
  if (event.ok()) {
    Result<Event> again = DecodeEvent(EncodeEvent(*event));
    Check(again.ok() && *again == *event);
    TaskRecord record;
    (void)ApplyEvent(&record, *event);
    Replay replay;
    (void)replay.Apply(*event);
  }

  Result<TaskRecord> task = DecodeTask(bytes);
  if (task.ok()) {
    Result<TaskRecord> again = DecodeTask(EncodeTask(*task));
    Check(again.ok() && *again == *task);
    TaskRecord settled = *task;
    Settle(&settled, task->last_ns);
    (void)OwnStatus(*task, task->last_ns);
    (void)BackoffNs(task->spec, task->failures);
  }
  return 0;
}
