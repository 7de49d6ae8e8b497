// The RPC service (schemas/rpc.capnp, Ledger) of one client connection: commands go by the
// server's SubmitRoute; reads, listings, follow streams, verify and rebuild go to the
// ledger directly, on the event loop. Each connection has its own, to count its calls
// for the idle timeout.
#pragma once

#include <capnp/common.h>
#include <kj/async.h>
#include <kj/timer.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "ledger/ledger.h"
#include "schemas/rpc.capnp.h"
#include "tools/server/connection.h"
#include "tools/server/metrics.h"
#include "tools/server/submit_route.h"

namespace taskledger::server {

// Limits of what one client may send or hold (and kMaxCommandsPerCall, limits.h).
// One request: a thousand commands or a few payloads at their 1 MiB limit.
constexpr uint64_t kMaxRequestWords = (64u << 20) / sizeof(capnp::word);
constexpr uint32_t kMaxEventsPerCall = 16384;
// A page of `listTasks`: at most this many views and this many words (one view may carry a
// 1 MiB payload), far below what one message may hold.
constexpr size_t kListPageViews = 2000;
constexpr uint64_t kListPageWords = uint64_t{1} << 20;  // 8 MiB
// A page read from storage for a streamed `listTasks`: the same bound on its stored records,
// so that the server holds about one such page (and its message) per listing client.
constexpr size_t kListPageRecordBytes = size_t{8} << 20;
// The largest reply we send: the RPC layer refuses to send a message past our own limit on
// what we receive (kMaxRequestWords); this leaves room for the reply's envelope.
constexpr uint64_t kMaxReplyWords = kMaxRequestWords - 4096;

// The service of one connection. `ledger`, `route`, `metrics`, `timer` and `stopping`
// (resolved when the server stops: follow streams end) outlive every connection.
kj::Own<rpc::Ledger::Server> NewLedgerService(Ledger* ledger, const SubmitRoute* route, ServerMetrics* metrics,
                                              kj::Timer& timer, kj::ForkedPromise<void>& stopping,
                                              std::shared_ptr<Activity> activity);

}  // namespace taskledger::server
