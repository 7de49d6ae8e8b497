// The Cap'n Proto encoding of events and task records: exact round trips, and untrusted
// bytes that are refused as DataLoss, never a crash.
#include "ledger/codec.h"

#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>

#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "projections/limits.h"
#include "schemas/event.capnp.h"
#include "test_util.h"

namespace taskledger {
namespace {

using test::kSec;
using test::kT0;

Event Envelope(EventKind kind, uint64_t seq) {
  Event e;
  e.kind = kind;
  e.seq = seq;
  e.time_ns = kT0 + static_cast<int64_t>(seq) * kSec + 123;
  e.task_id = "task-" + std::to_string(seq);
  e.actor = "worker-" + std::to_string(seq % 3);
  e.meta.pid = 4242 + static_cast<uint32_t>(seq);
  e.meta.host = "host.example";
  e.meta.wall_time_ns = kT0 - 777;
  return e;
}

// An event with a text (empty: none), as an operator's or the holder's.
Event WithText(EventKind kind, uint64_t seq, const std::string& text) {
  Event e = Envelope(kind, seq);
  e.text = text;
  return e;
}
// An event of the lease holder's: token 2.
Event Holder(EventKind kind, uint64_t seq, const std::string& text = "") {
  Event e = WithText(kind, seq, text);
  e.token = 2;
  return e;
}
Event Exited(uint64_t seq, std::optional<int32_t> code, const std::string& signal = "") {
  Event e = Holder(EventKind::kExited, seq);
  e.exit_code = code;
  e.signal = signal;
  return e;
}

Event Created(uint64_t seq) {
  Event e = Envelope(EventKind::kCreated, seq);
  e.spec.title = "build \xe2\x9c\x93";
  e.spec.payload = R"({"cmd": ["make", "-j8"]})";
  e.spec.after = {"dep-1", "dep-2", "dep-3"};
  e.spec.queue = "gpu";
  e.spec.priority = -17;
  e.spec.lease_ttl_ns = 30 * kSec;
  e.spec.max_attempts = 5;
  e.spec.max_runtime_ns = 3600 * kSec;
  e.spec.not_before_ns = kT0 + 99;
  e.spec.idempotency_key = "req-77";
  e.spec.backoff_initial_ns = 2 * kSec;
  e.spec.backoff_max_ns = 60 * kSec;
  return e;
}

// One event of every kind, with every field of its kind set to a non-default value.
std::vector<Event> EveryKind() {
  std::vector<Event> out;
  uint64_t seq = 1;
  out.push_back(Created(seq++));
  Event claimed = Envelope(EventKind::kClaimed, seq++);
  claimed.token = claimed.seq;
  claimed.ttl_ns = 15 * kSec;
  out.push_back(claimed);
  out.push_back(Holder(EventKind::kHeartbeat, seq++, "step 3 of 7"));
  Event signaled = Holder(EventKind::kSignaled, seq++);
  signaled.signal = "SIGTERM";
  signaled.grace_ns = 10 * kSec;
  out.push_back(signaled);
  out.push_back(Exited(seq++, 143));
  out.push_back(Exited(seq++, -1));
  out.push_back(Exited(seq++, std::nullopt, "SIGKILL"));
  out.push_back(Exited(seq++, 0));  // code 0 is a code, not an absent one
  out.push_back(Holder(EventKind::kCompleted, seq++, "{\"ok\": true}"));
  out.push_back(Holder(EventKind::kFailed, seq++, "segfault"));
  out.push_back(Holder(EventKind::kReleased, seq++, "shutting down"));
  out.push_back(WithText(EventKind::kBlocked, seq++, "needs a human"));
  out.push_back(Envelope(EventKind::kUnblocked, seq++));
  out.push_back(WithText(EventKind::kCancelled, seq++, "obsolete"));
  out.push_back(Envelope(EventKind::kRevived, seq++));
  Event expired = Holder(EventKind::kLeaseExpired, seq++);
  expired.deadline_ns = kT0 + 30 * kSec;
  out.push_back(expired);
  for (int c = 0; c <= static_cast<int>(HolderCommand::kExit); ++c) {
    Event e = Holder(EventKind::kRejected, seq++, "late note");
    e.rejected_command = static_cast<HolderCommand>(c);
    e.current_token = 9;
    e.reason = "stale token (the current token is 9)";
    out.push_back(e);
  }
  Event annotated = WithText(EventKind::kAnnotated, seq++, "{\"id\": 123, \"kind\": \"claim_extended\"}");
  annotated.source_kind = "claim_extended";
  annotated.source_id = "task_events:123";
  out.push_back(annotated);
  return out;
}

TEST(CodecTest, EveryEventKindRoundTrips) {
  const std::vector<Event> events = EveryKind();
  std::vector<bool> seen(kEventKindCount, false);
  for (const Event& e : events) {
    SCOPED_TRACE(std::string(EventKindName(e.kind)) + " seq " + std::to_string(e.seq));
    seen[static_cast<int>(e.kind)] = true;
    const std::string bytes = EncodeEvent(e);
    EXPECT_EQ(bytes.size() % 8, 0u);
    const Result<Event> decoded = DecodeEvent(bytes);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(*decoded, e);
    // Encoding is deterministic.
    EXPECT_EQ(EncodeEvent(*decoded), bytes);
  }
  for (int k = 0; k < kEventKindCount; ++k) EXPECT_TRUE(seen[k]) << EventKindName(static_cast<EventKind>(k));
}

TEST(CodecTest, EventsWithoutMetaOrOptionalTextRoundTrip) {
  for (Event e : EveryKind()) {
    e.meta = ClientMeta{};
    const Result<Event> decoded = DecodeEvent(EncodeEvent(e));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(*decoded, e) << EventKindName(e.kind);
  }
  Event minimal;  // all defaults: a created event of no task
  const Result<Event> decoded = DecodeEvent(EncodeEvent(minimal));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, minimal);
}

// One decoder and one Event reused across every kind, in both orders, from aligned and
// unaligned bytes: each result equals a fresh decode (no field leaks from the last event).
TEST(CodecTest, EventDecoderReusedEqualsFreshDecode) {
  std::vector<Event> events = EveryKind();
  for (size_t i = 0, n = events.size(); i < n; ++i) {
    Event e = events[n - 1 - i];
    e.meta = ClientMeta{};
    events.push_back(e);
  }
  EventDecoder decoder;
  Event reused;
  for (size_t offset : {0, 1, 8, 3}) {
    for (const Event& e : events) {
      SCOPED_TRACE(std::string(EventKindName(e.kind)) + " offset " + std::to_string(offset));
      const std::string bytes = EncodeEvent(e);
      const std::string buffer = std::string(offset, 'x') + bytes;
      ASSERT_TRUE(decoder.Decode(std::string_view(buffer).substr(offset), &reused).ok());
      EXPECT_EQ(reused, e);
    }
  }
  const std::string bytes = EncodeEvent(events[0]);
  EXPECT_FALSE(decoder.Decode(std::string_view(bytes).substr(0, bytes.size() - 8), &reused).ok());
}

TEST(CodecTest, ExtremeValuesRoundTrip) {
  Event e = Envelope(EventKind::kCreated, UINT64_MAX);
  e.time_ns = INT64_MAX;
  e.meta.pid = UINT32_MAX;
  e.meta.wall_time_ns = INT64_MIN;
  e.spec.priority = INT32_MIN;
  e.spec.max_attempts = UINT32_MAX;
  e.spec.payload = "\"" + std::string(kMaxPayloadBytes - 2, 'p') + "\"";  // the largest payload
  e.spec.after.assign(kMaxDependencies, std::string(kMaxIdBytes, 'd'));
  e.spec.title = std::string(kMaxTextBytes, 't');
  const std::string bytes = EncodeEvent(e);
  EXPECT_LE(bytes.size(), kMaxEncodedBytes);
  const Result<Event> decoded = DecodeEvent(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, e);
}

TaskRecord FullRecord() {
  TaskRecord r;
  r.id = "task-1";
  r.spec = EveryKind()[0].spec;
  r.created_seq = 1;
  r.created_ns = kT0;
  r.last_seq = 99;
  r.last_ns = kT0 + 99 * kSec;
  r.done = true;
  r.cancelled = true;
  r.blocked = true;
  r.block_reason = "why";
  r.result = "result";
  r.failures = 3;
  r.attempts = 4;
  r.last_token = 77;
  r.attempt_open = true;
  r.holder = "w1";
  r.claimed_ns = kT0 + 5;
  r.ttl_ns = 30 * kSec;
  r.deadline_ns = kT0 + 35 * kSec;
  r.runtime_cap_ns = kT0 + 3600 * kSec;
  r.signal_cap_ns = kT0 + 40 * kSec;
  r.signal = "SIGHUP";
  r.last_heartbeat_ns = kT0 + 7;
  r.heartbeats = 12;
  r.last_end = AttemptEnd::kInterrupted;
  r.last_end_ns = kT0 + 8;
  r.last_error = "lease expired";
  r.backoff_until_ns = kT0 + 9;
  r.completed_token = 76;
  r.completed_exit_recorded = true;
  r.expiries = 2;
  r.rejections = 5;
  r.interruptions = 6;
  return r;
}

TEST(CodecTest, TaskRecordRoundTrips) {
  const TaskRecord full = FullRecord();
  for (int end = 0; end < kAttemptEndCount; ++end) {
    TaskRecord r = full;
    r.last_end = static_cast<AttemptEnd>(end);
    const Result<TaskRecord> decoded = DecodeTask(EncodeTask(r));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(*decoded, r) << AttemptEndName(r.last_end);
  }
  const TaskRecord empty;
  const Result<TaskRecord> decoded = DecodeTask(EncodeTask(empty));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, empty);
}

void ExpectDataLoss(std::string_view bytes, const std::string& what) {
  const Result<Event> e = DecodeEvent(bytes);
  EXPECT_FALSE(e.ok()) << what;
  EXPECT_EQ(e.status().code(), Code::kDataLoss) << what << ": " << e.status().ToString();
  const Result<TaskRecord> t = DecodeTask(bytes);
  EXPECT_FALSE(t.ok()) << what;
  EXPECT_EQ(t.status().code(), Code::kDataLoss) << what << ": " << t.status().ToString();
}

TEST(CodecTest, EmptyAndOddLengthsAreDataLoss) {
  ExpectDataLoss("", "empty");
  const std::string valid = EncodeEvent(EveryKind()[0]);
  for (size_t n : {size_t{1}, size_t{7}, size_t{9}, size_t{15}, valid.size() - 1, valid.size() + 3}) {
    std::string bytes = valid;
    bytes.resize(n, 'x');
    ExpectDataLoss(bytes, "length " + std::to_string(n));
  }
  ExpectDataLoss(std::string(kMaxEncodedBytes + 8, '\0'), "oversized");
}

TEST(CodecTest, TruncatedMessagesAreDataLoss) {
  for (const Event& e : EveryKind()) {
    const std::string bytes = EncodeEvent(e);
    for (size_t n = 8; n < bytes.size(); n += 8) {
      const Result<Event> decoded = DecodeEvent(std::string_view(bytes).substr(0, n));
      EXPECT_FALSE(decoded.ok()) << EventKindName(e.kind) << " truncated to " << n << " of " << bytes.size();
      EXPECT_EQ(decoded.status().code(), Code::kDataLoss);
    }
  }
  const std::string record = EncodeTask(FullRecord());
  for (size_t n = 8; n < record.size(); n += 8) {
    const Result<TaskRecord> decoded = DecodeTask(std::string_view(record).substr(0, n));
    EXPECT_FALSE(decoded.ok()) << "record truncated to " << n;
    EXPECT_EQ(decoded.status().code(), Code::kDataLoss);
  }
}

TEST(CodecTest, TrailingBytesAreDataLoss) {
  std::string bytes = EncodeEvent(EveryKind()[1]);
  bytes.append(8, '\0');
  const Result<Event> e = DecodeEvent(bytes);
  EXPECT_EQ(e.status().code(), Code::kDataLoss) << e.status().ToString();
}

TEST(CodecTest, GarbageNeverCrashes) {
  std::mt19937_64 rng(20240611);
  int refused = 0;
  for (int i = 0; i < 20000; ++i) {
    const size_t words = 1 + rng() % 32;
    std::string bytes(words * 8, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    // Half the time make the segment table plausible, to reach deeper into the reader.
    if (i % 2 == 0) {
      const uint32_t segments = 0, size = static_cast<uint32_t>(words - 1);
      std::memcpy(bytes.data(), &segments, 4);
      std::memcpy(bytes.data() + 4, &size, 4);
    }
    const Result<Event> e = DecodeEvent(bytes);
    if (!e.ok()) {
      ASSERT_EQ(e.status().code(), Code::kDataLoss) << e.status().ToString();
      ++refused;
    }
    const Result<TaskRecord> t = DecodeTask(bytes);
    if (!t.ok()) {
      ASSERT_EQ(t.status().code(), Code::kDataLoss) << t.status().ToString();
    }
  }
  EXPECT_GT(refused, 0);
}

TEST(CodecTest, BitFlipsNeverCrash) {
  for (const Event& e : EveryKind()) {
    const std::string bytes = EncodeEvent(e);
    for (size_t bit = 0; bit < bytes.size() * 8; bit += 3) {
      std::string flipped = bytes;
      flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
      const Result<Event> decoded = DecodeEvent(flipped);
      if (!decoded.ok()) {
        ASSERT_EQ(decoded.status().code(), Code::kDataLoss) << decoded.status().ToString();
      }
    }
  }
}

std::string Bytes(capnp::MessageBuilder& message) {
  kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  return std::string(reinterpret_cast<const char*>(words.asBytes().begin()), words.asBytes().size());
}

TEST(CodecTest, UnknownUnionMembersAndEnumsAreDataLoss) {
  {
    // An event kind from a newer schema: the body discriminant (u16 at data byte 16).
    capnp::MallocMessageBuilder message;
    auto event = message.initRoot<schema::Event>();
    event.setSeq(5);
    event.getBody().initHeartbeat().setToken(1);
    kj::ArrayPtr<kj::byte> data = message.getRoot<capnp::AnyStruct>().getDataSection();
    ASSERT_GE(data.size(), 18u);
    const uint16_t future_kind = 30;
    std::memcpy(data.begin() + 16, &future_kind, 2);
    ASSERT_EQ(static_cast<unsigned>(event.asReader().getBody().which()), 30u);
    const Result<Event> e = DecodeEvent(Bytes(message));
    EXPECT_EQ(e.status().code(), Code::kDataLoss);
    EXPECT_NE(e.status().message().find("unknown kind"), std::string::npos) << e.status().message();
  }
  {
    capnp::MallocMessageBuilder message;
    auto event = message.initRoot<schema::Event>();
    event.getBody().initRejected().setCommand(static_cast<schema::CommandKind>(99));
    const Result<Event> e = DecodeEvent(Bytes(message));
    EXPECT_EQ(e.status().code(), Code::kDataLoss) << e.status().ToString();
  }
  {
    capnp::MallocMessageBuilder message;
    auto state = message.initRoot<schema::TaskState>();
    state.setId("x");
    state.setLastEnd(static_cast<schema::AttemptEnd>(kAttemptEndCount));
    const Result<TaskRecord> r = DecodeTask(Bytes(message));
    EXPECT_EQ(r.status().code(), Code::kDataLoss) << r.status().ToString();
  }
}

TEST(CodecTest, DeeplyNestedOrHugeSegmentTablesAreDataLoss) {
  // A segment table claiming more segments than the bytes hold.
  std::string bytes(16, '\0');
  const uint32_t segments = 1000, size = 1;
  std::memcpy(bytes.data(), &segments, 4);
  std::memcpy(bytes.data() + 4, &size, 4);
  ExpectDataLoss(bytes, "huge segment count");
  // One segment claiming 2^31 words.
  std::string big(16, '\0');
  const uint32_t one = 0, huge = 0x7fffffff;
  std::memcpy(big.data(), &one, 4);
  std::memcpy(big.data() + 4, &huge, 4);
  ExpectDataLoss(big, "huge segment");
}

}  // namespace
}  // namespace taskledger
