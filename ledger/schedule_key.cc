#include "ledger/schedule_key.h"

#include <algorithm>

#include "ledger/keys.h"

namespace taskledger {

std::string ScheduleKey(TaskRecord r, int64_t now_ns, const DependencyLookup& dependencies) {
  Settle(&r, now_ns);
  if (r.terminal() || r.blocked) return "";
  if (r.attempt_open) return keys::Timer(r.spec.queue, r.deadline_ns, r.id);
  for (const std::string& dep : r.spec.after) {
    if (dependencies(dep) != TaskStatus::kDone) return "";
  }
  const int64_t ready_at = std::max(r.spec.not_before_ns, r.backoff_until_ns);
  if (ready_at > now_ns) return keys::Timer(r.spec.queue, ready_at, r.id);
  return keys::Ready(r.spec.queue, r.spec.priority, r.created_seq);
}

}  // namespace taskledger
