// One client connection of the RPC server: its RPC system over a stream that notes
// traffic, and what its idle timeout looks at (--idle-timeout).
#pragma once

#include <capnp/rpc-twoparty.h>
#include <capnp/rpc.h>
#include <kj/async-io.h>
#include <kj/timer.h>

#include <chrono>
#include <cstddef>
#include <memory>

namespace taskledger::server {

using SteadyClock = std::chrono::steady_clock;

// What the idle timeout of one connection looks at. Shared by the connection, its stream
// and its service: a call may outlive its connection.
struct Activity {
  SteadyClock::time_point last = SteadyClock::now();  // last byte received, or end of a call
  size_t calls = 0;                                   // in flight, `follow` streams included
  void Touch() { last = SteadyClock::now(); }
};

// Counts one call in flight on its connection while it lives; its end is activity (a
// long call must not leave its connection looking idle the moment it returns).
class CallInFlight {
 public:
  explicit CallInFlight(std::shared_ptr<Activity> activity) : activity_(std::move(activity)) { ++activity_->calls; }
  CallInFlight(CallInFlight&& other) noexcept = default;
  CallInFlight(const CallInFlight&) = delete;
  CallInFlight& operator=(const CallInFlight&) = delete;
  CallInFlight& operator=(CallInFlight&&) = delete;
  ~CallInFlight() {
    if (!activity_) return;
    --activity_->calls;
    activity_->Touch();
  }

 private:
  std::shared_ptr<Activity> activity_;
};

// Resolves once the connection has been idle for `timeout`: no byte received and no call
// in flight for that long.
kj::Promise<void> WhenIdle(kj::Timer& timer, std::shared_ptr<Activity> activity, SteadyClock::duration timeout);

// One client connection: the RPC system over its stream, with our size limits.
struct Connection {
  Connection(kj::Own<kj::AsyncIoStream>&& stream_in, std::shared_ptr<Activity> activity_in,
             capnp::Capability::Client bootstrap, capnp::ReaderOptions options);
  std::shared_ptr<Activity> activity;
  kj::Own<kj::AsyncIoStream> stream;
  capnp::TwoPartyVatNetwork network;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc;
};

// A connection's end, as its task in the server's set ends: logged at debug.
class ConnectionErrors final : public kj::TaskSet::ErrorHandler {
 public:
  void taskFailed(kj::Exception&& e) override;
};

}  // namespace taskledger::server
