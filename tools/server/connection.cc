#include "tools/server/connection.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace taskledger::server {
namespace {

// A client's stream that notes when bytes arrive. Reads are taken as they come (at least
// one byte each), so a message arriving slowly counts as traffic all along, not only once
// it is complete.
class WatchedStream final : public kj::AsyncIoStream {
 public:
  WatchedStream(kj::Own<kj::AsyncIoStream> inner, std::shared_ptr<Activity> activity)
      : inner_(kj::mv(inner)), activity_(std::move(activity)) {}

  kj::Promise<size_t> tryRead(void* buffer, size_t min_bytes, size_t max_bytes) override {
    if (min_bytes == 0 || max_bytes == 0) return inner_->tryRead(buffer, min_bytes, max_bytes);
    return ReadAtLeast(static_cast<kj::byte*>(buffer), min_bytes, max_bytes, 0);
  }
  kj::Promise<void> write(const void* buffer, size_t size) override { return inner_->write(buffer, size); }
  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) override {
    return inner_->write(pieces);
  }
  kj::Promise<void> whenWriteDisconnected() override { return inner_->whenWriteDisconnected(); }
  void shutdownWrite() override { inner_->shutdownWrite(); }
  void abortRead() override { inner_->abortRead(); }
  void getsockopt(int level, int option, void* value, kj::uint* length) override {
    inner_->getsockopt(level, option, value, length);
  }
  void setsockopt(int level, int option, const void* value, kj::uint length) override {
    inner_->setsockopt(level, option, value, length);
  }
  void getsockname(struct sockaddr* addr, kj::uint* length) override { inner_->getsockname(addr, length); }
  void getpeername(struct sockaddr* addr, kj::uint* length) override { inner_->getpeername(addr, length); }
  kj::Maybe<int> getFd() const override { return inner_->getFd(); }

 private:
  kj::Promise<size_t> ReadAtLeast(kj::byte* buffer, size_t min_bytes, size_t max_bytes, size_t done) {
    return inner_->tryRead(buffer + done, 1, max_bytes - done)
        .then([this, buffer, min_bytes, max_bytes, done](size_t n) -> kj::Promise<size_t> {
          if (n == 0) return done;  // end of stream
          activity_->Touch();
          if (done + n >= min_bytes) return done + n;
          return ReadAtLeast(buffer, min_bytes, max_bytes, done + n);
        });
  }

  kj::Own<kj::AsyncIoStream> inner_;
  std::shared_ptr<Activity> activity_;
};

}  // namespace

// Resolves once the connection has been idle for `timeout`: no byte received and no call
// in flight for that long.
kj::Promise<void> WhenIdle(kj::Timer& timer, std::shared_ptr<Activity> activity, SteadyClock::duration timeout) {
  const SteadyClock::duration idle_for = SteadyClock::now() - activity->last;
  if (activity->calls == 0 && idle_for >= timeout) return kj::READY_NOW;
  // With a call in flight, look again a timeout later (its end counts as activity).
  const SteadyClock::duration wait = activity->calls > 0 ? timeout : timeout - idle_for;
  const int64_t wait_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
  return timer.afterDelay(std::max<int64_t>(wait_ns, 1) * kj::NANOSECONDS)
      .then([&timer, activity = std::move(activity), timeout]() mutable {
        return WhenIdle(timer, std::move(activity), timeout);
      });
}

Connection::Connection(kj::Own<kj::AsyncIoStream>&& stream_in, std::shared_ptr<Activity> activity_in,
                       capnp::Capability::Client bootstrap, capnp::ReaderOptions options)
    : activity(std::move(activity_in)),
      stream(kj::heap<WatchedStream>(kj::mv(stream_in), activity)),
      network(*stream, capnp::rpc::twoparty::Side::SERVER, options),
      rpc(capnp::makeRpcServer(network, kj::mv(bootstrap))) {}

void ConnectionErrors::taskFailed(kj::Exception&& e) {
  spdlog::debug("connection ended: {}", e.getDescription().cStr());
}

}  // namespace taskledger::server
