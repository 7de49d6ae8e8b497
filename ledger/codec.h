// Encoding of events and task records as Cap'n Proto flat arrays (schemas/event.capnp;
// docs/format.md "Values").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "projections/event.h"
#include "projections/status.h"
#include "projections/task.h"
#include "schemas/event.capnp.h"

namespace taskledger {

// The largest stored value: a payload at its limit plus the envelope and texts.
inline constexpr size_t kMaxEncodedBytes = 4 << 20;
// Reader limits for untrusted bytes: a traversal budget of 8x the message size (every
// legitimate message reads each word once or twice) and a shallow nesting limit (events
// are at most 4 levels deep).
inline constexpr uint64_t kTraversalWordsPerWord = 8;
inline constexpr int kNestingLimit = 16;

std::string EncodeEvent(const Event& event);
// DataLoss for bytes that are not a well-formed event of a kind this build knows.
Result<Event> DecodeEvent(std::string_view bytes);

// Decodes event after event into one Event, for scans of the log: `out`'s strings keep
// their capacity and the aligned copy of the bytes is reused, so a scan allocates nothing
// per event once warm. `out` is overwritten entirely (the fields of other kinds are reset
// to their defaults): the result equals DecodeEvent's. On error `out` is unspecified.
class EventDecoder {
 public:
  Status Decode(std::string_view bytes, Event* out);

 private:
  std::vector<uint64_t> words_;  // the aligned copy (see ReadMessageWith)
};

// One commit group of a partition's replicated log (schemas/event.capnp ReplicatedGroup).
struct ReplicatedGroup {
  uint64_t term = 0;
  std::string writer;
  std::vector<std::string> events;  // EncodeEvent's bytes, in seq order
  bool operator==(const ReplicatedGroup&) const = default;
};
// A group may hold a whole commit group's events: up to this many bytes.
inline constexpr size_t kMaxReplicatedGroupBytes = 64 << 20;
std::string EncodeReplicatedGroup(const ReplicatedGroup& group);
// DataLoss for bytes that are not a well-formed group.
Result<ReplicatedGroup> DecodeReplicatedGroup(std::string_view bytes);

std::string EncodeTask(const TaskRecord& record);
Result<TaskRecord> DecodeTask(std::string_view bytes);

// The same conversions on Cap'n Proto builders and readers, for messages that carry events
// or task states inside them (the RPC interface).
void WriteEvent(const Event& event, schema::Event::Builder out);
Result<Event> ReadEvent(schema::Event::Reader in);
// ReadEvent into an existing Event (overwritten entirely), reusing its strings.
Status ReadEventInto(schema::Event::Reader in, Event* out);
void WriteTaskState(const TaskRecord& record, schema::TaskState::Builder out);
Result<TaskRecord> ReadTaskState(schema::TaskState::Reader in);
void WriteSpec(const TaskSpec& spec, schema::TaskSpec::Builder out);
TaskSpec ReadSpec(schema::TaskSpec::Reader in);

}  // namespace taskledger
