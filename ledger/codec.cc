#include "ledger/codec.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstdint>
#include <cstring>

#include "schemas/event.capnp.h"

namespace taskledger {
namespace {

// The C++ enums (projections/) and the schema's enums and union (schemas/event.capnp)
// number their members alike, and the counts the projections size tables by match the
// schema: a member added to one side only fails the build here.
static_assert(static_cast<int>(schema::CommandKind::EXIT) == static_cast<int>(HolderCommand::kExit));
static_assert(static_cast<int>(schema::AttemptEnd::CANCELLED) == static_cast<int>(AttemptEnd::kCancelled));
static_assert(static_cast<int>(schema::AttemptEnd::CANCELLED) + 1 == kAttemptEndCount);
static_assert(static_cast<int>(AttemptEnd::kCancelled) + 1 == kAttemptEndCount);
static_assert(static_cast<int>(schema::Event::Body::ANNOTATED) + 1 == kEventKindCount);
static_assert(static_cast<int>(schema::Event::Body::CREATED) == static_cast<int>(EventKind::kCreated));
static_assert(static_cast<int>(schema::Event::Body::REJECTED) == static_cast<int>(EventKind::kRejected));
static_assert(static_cast<int>(schema::Event::Body::ANNOTATED) == static_cast<int>(EventKind::kAnnotated));
static_assert(static_cast<int>(EventKind::kAnnotated) + 1 == kEventKindCount);
static_assert(static_cast<int>(TaskStatus::kCancelled) + 1 == kTaskStatusCount);

}  // namespace

void WriteSpec(const TaskSpec& in, schema::TaskSpec::Builder out) {
  out.setTitle(in.title);
  out.setPayload(in.payload);
  auto after = out.initAfter(static_cast<unsigned>(in.after.size()));
  for (size_t i = 0; i < in.after.size(); ++i) after.set(static_cast<unsigned>(i), in.after[i]);
  out.setQueue(in.queue);
  out.setPriority(in.priority);
  out.setLeaseTtlNs(in.lease_ttl_ns);
  out.setMaxAttempts(in.max_attempts);
  out.setMaxRuntimeNs(in.max_runtime_ns);
  out.setNotBeforeNs(in.not_before_ns);
  out.setIdempotencyKey(in.idempotency_key);
  out.setBackoffInitialNs(in.backoff_initial_ns);
  out.setBackoffMaxNs(in.backoff_max_ns);
}

namespace {

// Text into an existing string: keeps its capacity (a conversion through a temporary
// std::string would allocate for every text longer than the small-string buffer). Up to
// the first NUL, as that conversion reads it (through cStr()) and as the encoder writes a
// std::string back: a damaged text with a NUL inside then decodes, re-encodes and decodes
// again to the same event (tests/fuzz/fuzz_decode_event).
void Assign(std::string* out, capnp::Text::Reader text) { out->assign(text.cStr()); }

void ReadSpecInto(schema::TaskSpec::Reader in, TaskSpec* out) {
  Assign(&out->title, in.getTitle());
  Assign(&out->payload, in.getPayload());
  const auto after = in.getAfter();
  out->after.resize(after.size());
  for (unsigned i = 0; i < after.size(); ++i) Assign(&out->after[i], after[i]);
  Assign(&out->queue, in.getQueue());
  out->priority = in.getPriority();
  out->lease_ttl_ns = in.getLeaseTtlNs();
  out->max_attempts = in.getMaxAttempts();
  out->max_runtime_ns = in.getMaxRuntimeNs();
  out->not_before_ns = in.getNotBeforeNs();
  Assign(&out->idempotency_key, in.getIdempotencyKey());
  out->backoff_initial_ns = in.getBackoffInitialNs();
  out->backoff_max_ns = in.getBackoffMaxNs();
}

// A spec at its defaults, keeping the strings' capacity.
void ResetSpec(TaskSpec* spec) {
  spec->title.clear();
  spec->payload.clear();
  spec->after.clear();
  spec->queue.clear();
  spec->priority = 0;
  spec->lease_ttl_ns = 0;
  spec->max_attempts = 0;
  spec->max_runtime_ns = 0;
  spec->not_before_ns = 0;
  spec->idempotency_key.clear();
  spec->backoff_initial_ns = 0;
  spec->backoff_max_ns = 0;
}

}  // namespace

TaskSpec ReadSpec(schema::TaskSpec::Reader in) {
  TaskSpec out;
  ReadSpecInto(in, &out);
  return out;
}

namespace {

// Encodes a message built by `build` into its flat bytes. Two of these run per command on
// the writer thread, so no allocation is spared: the first segment is a zeroed buffer this
// thread reuses (a fresh MallocMessageBuilder callocs 8 KiB per message, and the builder
// zeroes what it used again when it is destroyed, as capnp requires of a reused first
// segment), and the message is written straight into the string it returns (no
// messageToFlatArray copy in between).
template <typename Root, typename Build>
std::string Encode(Build build) {
  // capnp's own first segment size: messages split into segments exactly as before.
  constexpr size_t kScratchWords = capnp::SUGGESTED_FIRST_SEGMENT_WORDS;
  alignas(capnp::word) thread_local uint64_t scratch[kScratchWords] = {};
  capnp::MallocMessageBuilder message(kj::arrayPtr(reinterpret_cast<capnp::word*>(scratch), kScratchWords));
  build(message.initRoot<Root>());
  std::string bytes(capnp::computeSerializedSizeInWords(message) * sizeof(capnp::word), '\0');
  kj::ArrayOutputStream out(kj::arrayPtr(reinterpret_cast<kj::byte*>(bytes.data()), bytes.size()));
  capnp::writeMessage(out, message);
  return bytes;
}

// Runs `read` over `bytes` as a Cap'n Proto message, converting every decoding failure
// into DataLoss. RocksDB values are not word-aligned: copied into `scratch` first
// (TOOLCHAIN.md), unless they happen to be. (uint64_t, not capnp::word: a word cannot be
// copied or moved, which a growing std::vector needs; clang's libstdc++ checks refuse it.)
template <typename Root, typename Fn>
auto ReadMessageWith(std::string_view bytes, std::string_view what, std::vector<uint64_t>* scratch, Fn read,
                     size_t max_bytes = kMaxEncodedBytes) -> decltype(read(typename Root::Reader())) {
  using Out = decltype(read(typename Root::Reader()));
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0 || bytes.size() > max_bytes) {
    return Out(Status::DataLoss(std::string(what) + " of " + std::to_string(bytes.size()) +
                                " bytes is not a Cap'n Proto message"));
  }
  const size_t count = bytes.size() / sizeof(capnp::word);
  kj::ArrayPtr<const capnp::word> words;
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(capnp::word) == 0) {
    words = kj::arrayPtr(reinterpret_cast<const capnp::word*>(bytes.data()), count);
  } else {
    static_assert(sizeof(uint64_t) == sizeof(capnp::word) && alignof(uint64_t) >= alignof(capnp::word));
    scratch->resize(count);
    std::memcpy(scratch->data(), bytes.data(), bytes.size());
    words = kj::arrayPtr(reinterpret_cast<const capnp::word*>(scratch->data()), count);
  }
  capnp::ReaderOptions options;
  options.traversalLimitInWords = count * kTraversalWordsPerWord;
  options.nestingLimit = kNestingLimit;
  try {
    capnp::FlatArrayMessageReader reader(words, options);
    if (reader.getEnd() != words.end()) {
      return Out(Status::DataLoss(std::string(what) + " has trailing bytes"));
    }
    return read(reader.getRoot<Root>());
  } catch (const kj::Exception& e) {
    return Out(Status::DataLoss(std::string(what) + " is malformed: " + e.getDescription().cStr()));
  }
}

template <typename Root, typename Fn>
auto ReadMessage(std::string_view bytes, std::string_view what, Fn read) -> decltype(read(typename Root::Reader())) {
  std::vector<uint64_t> scratch;
  return ReadMessageWith<Root>(bytes, what, &scratch, read);
}

}  // namespace

// One function on purpose (~90 lines): one line or case per field of event.capnp, in
// schema order, so a reader checks it against the schema top to bottom.
void WriteEvent(const Event& e, schema::Event::Builder out) {
  out.setSeq(e.seq);
  out.setTimeNs(e.time_ns);
  out.setTaskId(e.task_id);
  out.setActor(e.actor);
  if (e.meta != ClientMeta{}) {
    auto meta = out.initMeta();
    meta.setPid(e.meta.pid);
    meta.setHost(e.meta.host);
    meta.setWallTimeNs(e.meta.wall_time_ns);
  }
  auto body = out.getBody();
  switch (e.kind) {
    case EventKind::kCreated:
      WriteSpec(e.spec, body.initCreated());
      break;
    case EventKind::kClaimed: {
      auto b = body.initClaimed();
      b.setToken(e.token);
      b.setTtlNs(e.ttl_ns);
      break;
    }
    case EventKind::kHeartbeat: {
      auto b = body.initHeartbeat();
      b.setToken(e.token);
      b.setNote(e.text);
      break;
    }
    case EventKind::kSignaled: {
      auto b = body.initSignaled();
      b.setToken(e.token);
      b.setSignal(e.signal);
      b.setGraceNs(e.grace_ns);
      break;
    }
    case EventKind::kExited: {
      auto b = body.initExited();
      b.setToken(e.token);
      if (e.exit_code) b.setCode(*e.exit_code);
      else b.setSignal(e.signal);
      break;
    }
    case EventKind::kCompleted: {
      auto b = body.initCompleted();
      b.setToken(e.token);
      b.setResult(e.text);
      break;
    }
    case EventKind::kFailed: {
      auto b = body.initFailed();
      b.setToken(e.token);
      b.setError(e.text);
      break;
    }
    case EventKind::kReleased: {
      auto b = body.initReleased();
      b.setToken(e.token);
      b.setReason(e.text);
      break;
    }
    case EventKind::kBlocked:
      body.initBlocked().setReason(e.text);
      break;
    case EventKind::kUnblocked:
      body.setUnblocked();
      break;
    case EventKind::kCancelled:
      body.initCancelled().setReason(e.text);
      break;
    case EventKind::kRevived:
      body.setRevived();
      break;
    case EventKind::kLeaseExpired: {
      auto b = body.initLeaseExpired();
      b.setToken(e.token);
      b.setDeadlineNs(e.deadline_ns);
      break;
    }
    case EventKind::kRejected: {
      auto b = body.initRejected();
      b.setCommand(static_cast<schema::CommandKind>(e.rejected_command));
      b.setToken(e.token);
      b.setCurrentToken(e.current_token);
      b.setReason(e.reason);
      b.setNote(e.text);
      break;
    }
    case EventKind::kAnnotated: {
      auto b = body.initAnnotated();
      b.setSourceKind(e.source_kind);
      b.setSourceId(e.source_id);
      b.setPayload(e.text);
      break;
    }
  }
}

std::string EncodeEvent(const Event& e) {
  return Encode<schema::Event>([&e](schema::Event::Builder out) { WriteEvent(e, out); });
}

Result<Event> DecodeEvent(std::string_view bytes) {
  return ReadMessage<schema::Event>(bytes, "event", [](schema::Event::Reader in) { return ReadEvent(in); });
}

Status EventDecoder::Decode(std::string_view bytes, Event* out) {
  return ReadMessageWith<schema::Event>(bytes, "event", &words_,
                                        [out](schema::Event::Reader in) { return ReadEventInto(in, out); });
}

Result<Event> ReadEvent(schema::Event::Reader in) {
  Event e;
  TL_RETURN_IF_ERROR(ReadEventInto(in, &e));
  return e;
}

// One function on purpose (~115 lines): the mirror of WriteEvent, field by field in schema
// order, each with the check that keeps a corrupt value out of the fold.
Status ReadEventInto(schema::Event::Reader in, Event* out) {
  Event& e = *out;
  e.seq = in.getSeq();
  e.time_ns = in.getTimeNs();
  Assign(&e.task_id, in.getTaskId());
  Assign(&e.actor, in.getActor());
  if (in.hasMeta()) {
    auto meta = in.getMeta();
    e.meta.pid = meta.getPid();
    Assign(&e.meta.host, meta.getHost());
    e.meta.wall_time_ns = meta.getWallTimeNs();
  } else {
    e.meta.pid = 0;
    e.meta.host.clear();
    e.meta.wall_time_ns = 0;
  }
  // Every field beyond the envelope at its default, then the body's own (as a fresh Event).
  ResetSpec(&e.spec);
  e.token = 0;
  e.ttl_ns = 0;
  e.text.clear();
  e.signal.clear();
  e.grace_ns = 0;
  e.exit_code.reset();
  e.deadline_ns = 0;
  e.rejected_command = HolderCommand::kHeartbeat;
  e.current_token = 0;
  e.reason.clear();
  e.source_kind.clear();
  e.source_id.clear();
  auto body = in.getBody();
  switch (body.which()) {
    case schema::Event::Body::CREATED:
      e.kind = EventKind::kCreated;
      ReadSpecInto(body.getCreated(), &e.spec);
      break;
    case schema::Event::Body::CLAIMED:
      e.kind = EventKind::kClaimed;
      e.token = body.getClaimed().getToken();
      e.ttl_ns = body.getClaimed().getTtlNs();
      break;
    case schema::Event::Body::HEARTBEAT:
      e.kind = EventKind::kHeartbeat;
      e.token = body.getHeartbeat().getToken();
      Assign(&e.text, body.getHeartbeat().getNote());
      break;
    case schema::Event::Body::SIGNALED:
      e.kind = EventKind::kSignaled;
      e.token = body.getSignaled().getToken();
      Assign(&e.signal, body.getSignaled().getSignal());
      e.grace_ns = body.getSignaled().getGraceNs();
      break;
    case schema::Event::Body::EXITED: {
      e.kind = EventKind::kExited;
      auto b = body.getExited();
      e.token = b.getToken();
      if (b.which() == schema::Event::Exited::CODE) e.exit_code = b.getCode();
      else if (b.which() == schema::Event::Exited::SIGNAL) Assign(&e.signal, b.getSignal());
      else return Status::DataLoss("event seq " + std::to_string(e.seq) + ": unknown exit kind");
      break;
    }
    case schema::Event::Body::COMPLETED:
      e.kind = EventKind::kCompleted;
      e.token = body.getCompleted().getToken();
      Assign(&e.text, body.getCompleted().getResult());
      break;
    case schema::Event::Body::FAILED:
      e.kind = EventKind::kFailed;
      e.token = body.getFailed().getToken();
      Assign(&e.text, body.getFailed().getError());
      break;
    case schema::Event::Body::RELEASED:
      e.kind = EventKind::kReleased;
      e.token = body.getReleased().getToken();
      Assign(&e.text, body.getReleased().getReason());
      break;
    case schema::Event::Body::BLOCKED:
      e.kind = EventKind::kBlocked;
      Assign(&e.text, body.getBlocked().getReason());
      break;
    case schema::Event::Body::UNBLOCKED:
      e.kind = EventKind::kUnblocked;
      break;
    case schema::Event::Body::CANCELLED:
      e.kind = EventKind::kCancelled;
      Assign(&e.text, body.getCancelled().getReason());
      break;
    case schema::Event::Body::REVIVED:
      e.kind = EventKind::kRevived;
      break;
    case schema::Event::Body::LEASE_EXPIRED:
      e.kind = EventKind::kLeaseExpired;
      e.token = body.getLeaseExpired().getToken();
      e.deadline_ns = body.getLeaseExpired().getDeadlineNs();
      break;
    case schema::Event::Body::REJECTED: {
      e.kind = EventKind::kRejected;
      auto b = body.getRejected();
      const auto command = static_cast<unsigned>(b.getCommand());
      if (command > static_cast<unsigned>(HolderCommand::kExit)) {
        return Status::DataLoss("event seq " + std::to_string(e.seq) + ": unknown rejected command " +
                                std::to_string(command));
      }
      e.rejected_command = static_cast<HolderCommand>(command);
      e.token = b.getToken();
      e.current_token = b.getCurrentToken();
      Assign(&e.reason, b.getReason());
      Assign(&e.text, b.getNote());
      break;
    }
    case schema::Event::Body::ANNOTATED: {
      e.kind = EventKind::kAnnotated;
      auto b = body.getAnnotated();
      Assign(&e.source_kind, b.getSourceKind());
      Assign(&e.source_id, b.getSourceId());
      Assign(&e.text, b.getPayload());
      break;
    }
    default:
      return Status::DataLoss("event seq " + std::to_string(e.seq) + " has an unknown kind " +
                              std::to_string(static_cast<unsigned>(body.which())) +
                              " (written by a newer taskledger?)");
  }
  return Status::Ok();
}

void WriteTaskState(const TaskRecord& r, schema::TaskState::Builder out) {
  out.setId(r.id);
  WriteSpec(r.spec, out.initSpec());
  out.setCreatedSeq(r.created_seq);
  out.setCreatedNs(r.created_ns);
  out.setLastSeq(r.last_seq);
  out.setLastNs(r.last_ns);
  out.setDone(r.done);
  out.setCancelled(r.cancelled);
  out.setBlocked(r.blocked);
  out.setBlockReason(r.block_reason);
  out.setResult(r.result);
  out.setFailures(r.failures);
  out.setAttempts(r.attempts);
  out.setLastToken(r.last_token);
  out.setAttemptOpen(r.attempt_open);
  out.setHolder(r.holder);
  out.setClaimedNs(r.claimed_ns);
  out.setTtlNs(r.ttl_ns);
  out.setDeadlineNs(r.deadline_ns);
  out.setRuntimeCapNs(r.runtime_cap_ns);
  out.setSignalCapNs(r.signal_cap_ns);
  out.setSignal(r.signal);
  out.setLastHeartbeatNs(r.last_heartbeat_ns);
  out.setHeartbeats(r.heartbeats);
  out.setLastEnd(static_cast<schema::AttemptEnd>(r.last_end));
  out.setLastEndNs(r.last_end_ns);
  out.setLastError(r.last_error);
  out.setBackoffUntilNs(r.backoff_until_ns);
  out.setCompletedToken(r.completed_token);
  out.setCompletedExitRecorded(r.completed_exit_recorded);
  out.setExpiries(r.expiries);
  out.setRejections(r.rejections);
  out.setInterruptions(r.interruptions);
}

std::string EncodeReplicatedGroup(const ReplicatedGroup& group) {
  return Encode<schema::ReplicatedGroup>([&group](schema::ReplicatedGroup::Builder out) {
    out.setTerm(group.term);
    out.setWriter(group.writer);
    auto events = out.initEvents(static_cast<unsigned>(group.events.size()));
    for (unsigned i = 0; i < events.size(); ++i) {
      events.set(i, kj::arrayPtr(reinterpret_cast<const kj::byte*>(group.events[i].data()), group.events[i].size()));
    }
  });
}

Result<ReplicatedGroup> DecodeReplicatedGroup(std::string_view bytes) {
  std::vector<uint64_t> scratch;
  return ReadMessageWith<schema::ReplicatedGroup>(
      bytes, "replicated group", &scratch,
      [](schema::ReplicatedGroup::Reader in) -> Result<ReplicatedGroup> {
        ReplicatedGroup group;
        group.term = in.getTerm();
        group.writer = in.getWriter();
        group.events.reserve(in.getEvents().size());
        for (capnp::Data::Reader event : in.getEvents()) {
          group.events.emplace_back(reinterpret_cast<const char*>(event.begin()), event.size());
        }
        return group;
      },
      kMaxReplicatedGroupBytes);
}

std::string EncodeTask(const TaskRecord& r) {
  return Encode<schema::TaskState>([&r](schema::TaskState::Builder out) { WriteTaskState(r, out); });
}

Result<TaskRecord> DecodeTask(std::string_view bytes) {
  return ReadMessage<schema::TaskState>(bytes, "task record",
                                        [](schema::TaskState::Reader in) { return ReadTaskState(in); });
}

Result<TaskRecord> ReadTaskState(schema::TaskState::Reader in) {
  {
    TaskRecord r;
    r.id = in.getId();
    r.spec = ReadSpec(in.getSpec());
    r.created_seq = in.getCreatedSeq();
    r.created_ns = in.getCreatedNs();
    r.last_seq = in.getLastSeq();
    r.last_ns = in.getLastNs();
    r.done = in.getDone();
    r.cancelled = in.getCancelled();
    r.blocked = in.getBlocked();
    r.block_reason = in.getBlockReason();
    r.result = in.getResult();
    r.failures = in.getFailures();
    r.attempts = in.getAttempts();
    r.last_token = in.getLastToken();
    r.attempt_open = in.getAttemptOpen();
    r.holder = in.getHolder();
    r.claimed_ns = in.getClaimedNs();
    r.ttl_ns = in.getTtlNs();
    r.deadline_ns = in.getDeadlineNs();
    r.runtime_cap_ns = in.getRuntimeCapNs();
    r.signal_cap_ns = in.getSignalCapNs();
    r.signal = in.getSignal();
    r.last_heartbeat_ns = in.getLastHeartbeatNs();
    r.heartbeats = in.getHeartbeats();
    const auto end = static_cast<unsigned>(in.getLastEnd());
    if (end >= static_cast<unsigned>(kAttemptEndCount)) {
      return Status::DataLoss("task record " + r.id + " has an unknown attempt end " + std::to_string(end));
    }
    r.last_end = static_cast<AttemptEnd>(end);
    r.last_end_ns = in.getLastEndNs();
    r.last_error = in.getLastError();
    r.backoff_until_ns = in.getBackoffUntilNs();
    r.completed_token = in.getCompletedToken();
    r.completed_exit_recorded = in.getCompletedExitRecorded();
    r.expiries = in.getExpiries();
    r.rejections = in.getRejections();
    r.interruptions = in.getInterruptions();
    return r;
  }
}

}  // namespace taskledger
