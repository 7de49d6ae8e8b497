// ReplicatedLog: one partition's log of commit groups, replicated elsewhere
// (docs/scale-out.md). JetStreamLog (ledger/jetstream_log.h) is the one the cluster uses;
// tests use an in-memory one. PartitionWriter (ledger/partition_writer.h) writes and
// follows a partition through it.
//
// Positions are the log's own sequence numbers: the first group is at kFirstGroupSeq, and
// a log holding no group ends at kFirstGroupSeq - 1.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "projections/status.h"

namespace taskledger {

// The position of the first commit group (JetStream: message 1 is the stream's header).
inline constexpr uint64_t kFirstGroupSeq = 2;

class ReplicatedLog {
 public:
  virtual ~ReplicatedLog() = default;

  // Appends `group` if the log ends at `after`, and returns its position (after + 1) once
  // the log has stored it durably. Refused if the log has moved past `after` (another
  // writer appended: this one is fenced). Busy: the outcome is unknown, and only
  // appending the same bytes after the same position again settles it.
  virtual Result<uint64_t> Append(std::string_view group, uint64_t after) = 0;

  // Where the log ends.
  virtual Result<uint64_t> LastSeq() = 0;

  // Calls `each(seq, bytes)` for every group from `from` (>= kFirstGroupSeq) through the
  // last one stored when the call starts, in order; stops at the first error `each` returns.
  virtual Status ReadFrom(uint64_t from, const std::function<Status(uint64_t seq, std::string_view group)>& each) = 0;
};

}  // namespace taskledger
