// Forwarder: a standby of a cluster (`serve --cluster`) passes its clients' commands on
// to the partition's writer, so that a client may connect to any server (docs/scale-out.md
// "What a client sees"). One connection per writer address, opened at the first forward
// and opened again after it breaks. Runs on the server's event loop; not thread-safe.
#pragma once

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include <map>
#include <string>
#include <vector>

#include "projections/decide.h"
#include "projections/event.h"
#include "schemas/rpc.capnp.h"

namespace taskledger::server {

class Forwarder {
 public:
  // A forward not answered within `timeout` ends then: a writer frozen (or cut off) holds
  // the connection open without answering, and its lease lapses meanwhile, so the client
  // must be free to reach the next writer.
  Forwarder(kj::AsyncIoProvider& io, kj::Duration timeout) : io_(io), timeout_(timeout) {}

  // The commands' outcomes as the server at `address` (unix:PATH or tcp:HOST:PORT) gives
  // them, sent as forwarded (it does not pass them on again). Every command answers Busy
  // (not done: retry) if that server cannot be reached before they are sent; and
  // UnknownOutcome (they may have taken effect: look before sending them again) if they
  // were sent and the connection broke, or no answer came within the timeout.
  kj::Promise<std::vector<Outcome>> Submit(const std::string& address, const std::vector<Command>& commands);

 private:
  // One connection; shared by the forwards in flight on it (refcounted), dropped from the
  // map when it breaks.
  struct Link : public kj::Refcounted {
    Link(kj::Own<kj::AsyncIoStream> connected, uint64_t link_id)
        : id(link_id), stream(kj::mv(connected)), client(*stream), ledger(client.bootstrap().castAs<rpc::Ledger>()) {}
    const uint64_t id;  // names this link for Drop, as a pointer could not once it is freed
    kj::Own<kj::AsyncIoStream> stream;
    capnp::TwoPartyClient client;
    rpc::Ledger::Client ledger;
  };
  kj::Promise<kj::Own<Link>> LinkTo(const std::string& address);
  // Forgets link `id` (broken, or not answering) if it is still the one kept for `address`.
  void Drop(const std::string& address, uint64_t id);

  struct IgnoreErrors : public kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&&) override {}
  };
  kj::AsyncIoProvider& io_;
  const kj::Duration timeout_;
  std::map<std::string, kj::Own<Link>> links_;
  uint64_t next_link_id_ = 1;
  IgnoreErrors errors_;
  kj::TaskSet watchers_{errors_};  // each link's disconnect, which drops it from links_
};

}  // namespace taskledger::server
