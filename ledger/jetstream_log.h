// One partition's replicated log on a NATS JetStream stream (docs/scale-out.md).
//
// Each message of the stream is one commit group, and its stream sequence is the group's
// position. Message 1 is a header naming the stream's format; commit groups start at 2.
//
// Appends are conditional on the stream's last sequence: a writer appends "after N", and
// the stream refuses if anything else was appended after N. This is what fences a stale
// writer. A writer frozen past its lease wakes believing it is still at N. By then the new
// writer has appended after N, so the frozen writer's next append is refused and nothing
// it sends is stored. The guarantee comes from the server: docs/scale-out.md "Which NATS
// server" says which versions keep it under replication, and the cluster tests check it.
//
// Not thread-safe: a partition has one writer, and each writer has its own JetStreamLog.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/replicated_log.h"
#include "projections/status.h"

namespace taskledger {

namespace nats {
struct Connection;
}

struct JetStreamLogOptions {
  std::vector<std::string> servers;  // nats://host:port of any servers of the cluster
  std::string stream;                // the stream's name, e.g. TASKLEDGER_P0
  std::string subject;               // its one subject, e.g. taskledger.p0
  int replicas = 1;                  // 1 or 3 (R3: a majority of 3 servers holds each append)
  // How long one call may try, across reconnects and a leader election, before it gives up.
  std::chrono::milliseconds patience{10'000};
};

// The header a stream's first message holds. A reader checks it before trusting the rest.
inline constexpr std::string_view kJetStreamLogHeader = "taskledger partition log, format 1";
static_assert(kFirstGroupSeq == 2, "message 1 of the stream is its header");

class JetStreamLog final : public ReplicatedLog {
 public:
  // Connects and creates the stream if there is none (file storage, the given replicas, no
  // deletes or purges), writing its header. An existing stream is used if its configuration
  // is the same; otherwise InvalidArgument names the difference. Busy if the cluster did
  // not answer within the patience.
  static Result<std::unique_ptr<JetStreamLog>> Open(const JetStreamLogOptions& options);
  ~JetStreamLog() override;
  JetStreamLog(const JetStreamLog&) = delete;
  JetStreamLog& operator=(const JetStreamLog&) = delete;

  // Appends `group` if the stream's last sequence is `after` (>= 1, the header); returns
  // the group's sequence, after + 1, once the stream has stored it (on a majority of its
  // replicas). Refused, with the stream's actual last sequence, if another append came
  // first: this writer is fenced and must catch up (or step down) before appending again.
  //
  // A timeout or a lost leader leaves an append's outcome unknown. Append resolves it
  // itself: it sends the same bytes after the same seq again until the patience runs out.
  // If the stream then refuses because something is at after + 1, the bytes stored there
  // are compared with `group`: equal bytes mean an earlier try was stored (the append
  // succeeded). So a writer must make its groups unlike any other writer's (the partition
  // writer puts its lease term in each), or another's equal group would count as its own.
  //
  // Busy means the outcome is still unknown. A read showing nothing at after + 1 does not
  // settle it: a try still in flight (in the client's reconnect buffer, or a proposal of a
  // deposed leader) may land later. The only resolution is to Append the same bytes after
  // the same seq again, until it answers Ok or Refused.
  Result<uint64_t> Append(std::string_view group, uint64_t after) override;

  // The stream's last sequence (1 when it holds only the header).
  Result<uint64_t> LastSeq() override;

  // Calls `each(seq, bytes)` for every commit group from `from` (>= kFirstGroupSeq)
  // through the last one stored when the call starts, in order; stops at the first error
  // `each` returns.
  Status ReadFrom(uint64_t from, const std::function<Status(uint64_t seq, std::string_view group)>& each) override;

  // The name of the server leading the stream now (its Raft leader), for tests and status.
  Result<std::string> Leader();

 private:
  JetStreamLog(JetStreamLogOptions options, std::unique_ptr<nats::Connection> nats);
  struct StreamState {
    uint64_t last_seq = 0;
    std::string leader;  // empty for a stream of one server
  };
  Status CreateStream();
  // The stream's state; with `need_leader`, waits (within the patience) for it to have one.
  // `just_created`: the stream was created (or found) a moment ago, and a server the
  // news has not reached yet answers "stream not found": waited out, as a missing
  // leader is, instead of final.
  Result<StreamState> State(bool need_leader, bool just_created = false);
  // `just_created`: as for State.
  Result<std::string> MessageAt(uint64_t seq, bool just_created = false);

  JetStreamLogOptions options_;
  std::unique_ptr<nats::Connection> nats_;
};

}  // namespace taskledger
