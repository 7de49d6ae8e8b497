// The key layout of the ledger's column families (docs/format.md "Keys").
//
// Integers are fixed-width big-endian so that byte order is numeric order. Ids never hold
// NUL (ValidateName), so NUL ends an id inside a composite key.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace taskledger::keys {

inline void AppendU64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}
inline void AppendU32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}
inline uint64_t ReadU64(std::string_view in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

// events: seq -> Event
inline std::string Seq(uint64_t seq) {
  std::string k;
  AppendU64(&k, seq);
  return k;
}

// task_events: id NUL seq -> ""
inline std::string TaskEventPrefix(std::string_view id) {
  std::string k(id);
  k.push_back('\0');
  return k;
}
inline std::string TaskEvent(std::string_view id, uint64_t seq) {
  std::string k = TaskEventPrefix(id);
  AppendU64(&k, seq);
  return k;
}

// schedule (stored, format 2): 'S' id -> "", one empty marker per live task, put when the
// task enters the schedule and deleted when it leaves, not when it moves.
// The places and deadlines live only in memory, in ScheduleIndex (docs/format.md "The
// schedule"), under these keys:
//   'R' queue NUL ~priority created_seq -> id     ready now, best first
//   'T' queue NUL wake_ns id            -> id     becomes claimable (or must be re-placed) at wake
// (Format 1 stored R and T in the `schedule` family too, with 'S' id -> the task's place;
// ConvertFromFormat1 in maintenance.cc drops them.)
inline constexpr char kReadyTag = 'R';
inline constexpr char kTimerTag = 'T';
inline constexpr char kScheduleOfTag = 'S';

inline std::string ReadyPrefix(std::string_view queue) {
  std::string k(1, kReadyTag);
  k.append(queue);
  k.push_back('\0');
  return k;
}
inline std::string Ready(std::string_view queue, int32_t priority, uint64_t created_seq) {
  std::string k = ReadyPrefix(queue);
  // Descending priority: flip the sign bit (ascending order of signed values), then invert.
  AppendU32(&k, ~(static_cast<uint32_t>(priority) ^ 0x80000000u));
  AppendU64(&k, created_seq);
  return k;
}
inline std::string TimerPrefix(std::string_view queue) {
  std::string k(1, kTimerTag);
  k.append(queue);
  k.push_back('\0');
  return k;
}
inline std::string Timer(std::string_view queue, int64_t wake_ns, std::string_view id) {
  std::string k = TimerPrefix(queue);
  AppendU64(&k, static_cast<uint64_t>(wake_ns));
  k.append(id);
  return k;
}
inline std::string ScheduleOf(std::string_view id) {
  std::string k(1, kScheduleOfTag);
  k.append(id);
  return k;
}

// A deadline in ScheduleIndex (memory only): deadline_ns id, one per open attempt, smallest
// first: what `sweep` reads. The `deadlines` family that stored them in format 1 is empty
// since format 2.
inline std::string Deadline(int64_t deadline_ns, std::string_view id) {
  std::string k;
  AppendU64(&k, static_cast<uint64_t>(deadline_ns));
  k.append(id);
  return k;
}

// dependents: dependency NUL dependent -> ""
inline std::string DependentPrefix(std::string_view dependency) { return TaskEventPrefix(dependency); }
inline std::string Dependent(std::string_view dependency, std::string_view dependent) {
  std::string k = DependentPrefix(dependency);
  k.append(dependent);
  return k;
}

inline bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace taskledger::keys
