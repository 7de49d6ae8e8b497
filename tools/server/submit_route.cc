#include "tools/server/submit_route.h"

#include <memory>
#include <optional>

namespace taskledger::server {

using SteadyClock = std::chrono::steady_clock;

void RecordOutcomes(ServerMetrics& metrics, const std::vector<CommandKind>& kinds,
                    const std::vector<Outcome>& outcomes, SteadyClock::time_point submitted) {
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - submitted).count();
  for (size_t i = 0; i < outcomes.size(); ++i) {
    metrics.CommandDone(i < kinds.size() ? std::optional<CommandKind>(kinds[i]) : std::nullopt, outcomes[i], seconds);
  }
}

std::vector<CommandKind> KindsOf(const std::vector<Command>& commands) {
  std::vector<CommandKind> kinds;
  kinds.reserve(commands.size());
  for (const Command& c : commands) kinds.push_back(c.kind);
  return kinds;
}

kj::Promise<std::vector<Outcome>> SubmitToCommitter(GroupCommitter& committer, ServerMetrics& metrics,
                                                    size_t* in_flight, std::vector<Command> commands) {
  const SteadyClock::time_point submitted = SteadyClock::now();
  std::vector<CommandKind> kinds = KindsOf(commands);
  const size_t count = commands.size();
  auto paf = kj::newPromiseAndCrossThreadFulfiller<std::vector<Outcome>>();
  auto fulfiller = std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<std::vector<Outcome>>>>(
      kj::mv(paf.fulfiller));
  const Status queued =
      committer.Enqueue(std::move(commands), [fulfiller, &metrics, kinds, submitted](std::vector<Outcome> outcomes) {
        RecordOutcomes(metrics, kinds, outcomes, submitted);
        (*fulfiller)->fulfill(kj::mv(outcomes));
      });
  if (!queued.ok()) {
    std::vector<Outcome> outcomes(count, Outcome{queued, {}});
    RecordOutcomes(metrics, kinds, outcomes, submitted);
    return outcomes;
  }
  ++*in_flight;
  return paf.promise.then([in_flight](std::vector<Outcome> outcomes) {
    --*in_flight;
    return outcomes;
  });
}

kj::Promise<std::vector<Outcome>> ForwardToWriter(Forwarder& forwarder, ServerMetrics& metrics, size_t* in_flight,
                                                  const std::string& writer, std::vector<Command> commands) {
  const SteadyClock::time_point submitted = SteadyClock::now();
  std::vector<CommandKind> kinds = KindsOf(commands);
  ++*in_flight;
  return forwarder.Submit(writer, commands)
      .then([&metrics, kinds = std::move(kinds), submitted](std::vector<Outcome> outcomes) {
        RecordOutcomes(metrics, kinds, outcomes, submitted);
        return outcomes;
      })
      .attach(kj::defer([in_flight] { --*in_flight; }));  // also if the call is dropped
}

}  // namespace taskledger::server
