#include "tools/server/forwarder.h"

#include <memory>

#include "ledger/wire.h"
#include "tools/common/address.h"

namespace taskledger::server {
namespace {

std::vector<Outcome> All(size_t count, const Status& status) { return std::vector<Outcome>(count, Outcome{status, {}}); }

}  // namespace

kj::Promise<kj::Own<Forwarder::Link>> Forwarder::LinkTo(const std::string& address) {
  auto found = links_.find(address);
  if (found != links_.end()) return kj::addRef(*found->second);
  Result<tools::ServerAddress> parsed = tools::ParseServerAddress(address);
  if (!parsed.ok()) return KJ_EXCEPTION(FAILED, parsed.status().message());
  return io_.getNetwork()
      .parseAddress(parsed->endpoint)
      .then([](kj::Own<kj::NetworkAddress> where) { return where->connect().attach(kj::mv(where)); })
      .then([this, address](kj::Own<kj::AsyncIoStream> stream) -> kj::Own<Link> {
        // Two forwards may have connected at once: the first link made is kept.
        auto raced = links_.find(address);
        if (raced != links_.end()) return kj::addRef(*raced->second);
        kj::Own<Link> link = kj::refcounted<Link>(kj::mv(stream), next_link_id_++);
        links_.emplace(address, kj::addRef(*link));
        const uint64_t id = link->id;
        watchers_.add(link->client.onDisconnect().then([this, address, id] { Drop(address, id); },
                                                       [this, address, id](kj::Exception&&) { Drop(address, id); }));
        return link;
      });
}

void Forwarder::Drop(const std::string& address, uint64_t id) {
  auto found = links_.find(address);
  if (found != links_.end() && found->second->id == id) links_.erase(found);
}

kj::Promise<std::vector<Outcome>> Forwarder::Submit(const std::string& address, const std::vector<Command>& commands) {
  const size_t count = commands.size();
  // Encoded now: the caller's commands need not outlive the connecting.
  auto message = kj::heap<capnp::MallocMessageBuilder>();
  auto list = message->initRoot<rpc::Ledger::SubmitParams>().initCommands(static_cast<unsigned>(count));
  for (size_t i = 0; i < count; ++i) wire::WriteCommand(commands[i], list[static_cast<unsigned>(i)]);
  // The link this forward went out on, once known: the one to drop if it does not answer.
  // Until it is known nothing was sent, so a failure is Busy (not done: retry); after,
  // the writer may have committed the commands and a failure is UnknownOutcome.
  auto used = std::make_shared<uint64_t>(0);
  kj::Promise<std::vector<Outcome>> answered = LinkTo(address)
      .then([message = kj::mv(message), used](kj::Own<Link> link) mutable {
        *used = link->id;
        auto request = link->ledger.submitRequest();
        request.setCommands(message->getRoot<rpc::Ledger::SubmitParams>().getCommands().asReader());
        request.setForwarded(true);
        return request.send().then([](capnp::Response<rpc::Ledger::SubmitResults> response) {
          std::vector<Outcome> outcomes;
          for (auto o : response.getOutcomes()) {
            Result<Outcome> outcome = wire::ReadOutcome(o);
            if (!outcome.ok()) KJ_FAIL_REQUIRE("a bad outcome", outcome.status().message());
            outcomes.push_back(std::move(*outcome));
          }
          return outcomes;
        }).attach(kj::mv(link));
      })
      .then(
          [count, address](std::vector<Outcome> outcomes) {
            if (outcomes.size() != count) {
              return All(count, Status::UnknownOutcome("the partition's writer at " + address +
                                                       " answered a different count; whether the commands took "
                                                       "effect is unknown: look before sending them again"));
            }
            return outcomes;
          },
          [this, count, address, used](kj::Exception&& e) {
            const std::string why = e.getDescription().cStr();
            if (*used == 0) {
              return All(count, Status::Busy("the partition's writer at " + address + " cannot be reached: " + why));
            }
            // Dropped now, not when the link's disconnect watcher runs: a forward in
            // between would go out on the broken link and answer outcome unknown although
            // it was never sent.
            Drop(address, *used);
            return All(count, Status::UnknownOutcome("the partition's writer at " + address +
                                                     " was sent the commands but did not answer (" + why +
                                                     "); whether they took effect is unknown: look before sending "
                                                     "them again"));
          });
  return answered.exclusiveJoin(io_.getTimer().afterDelay(timeout_).then([this, count, address, used] {
    if (*used == 0) {
      return All(count, Status::Busy("the partition's writer at " + address + " did not accept a connection in time"));
    }
    // The connection is of no more use (a frozen server's): the next forward opens another.
    Drop(address, *used);
    return All(count, Status::UnknownOutcome("the partition's writer at " + address +
                                             " did not answer in time; whether the commands took effect is unknown: "
                                             "look before sending them again"));
  }));
}

}  // namespace taskledger::server
