#include "projections/validate.h"

#include "projections/decide.h"
#include "projections/limits.h"

namespace taskledger {
namespace {

// The largest exit status a process can report: waitpid keeps 8 bits of it.
constexpr int64_t kMaxExitCode = 255;

bool IsPrintableToken(std::string_view s) {
  for (unsigned char ch : s) {
    if (ch <= 0x20 || ch >= 0x7f) return false;
  }
  return true;
}

Status ValidateCreate(const Command& c) {
  TL_RETURN_IF_ERROR(ValidateSpec(c.spec));
  // No id at all: the ledger names the task. An id given empty (an unset shell variable)
  // is a mistake like any other malformed id, not a request for a generated one.
  if (c.task_id_given || !c.task_id.empty()) TL_RETURN_IF_ERROR(ValidateName("task id", c.task_id));
  return Status::Ok();
}

Status ValidateClaim(const Command& c) {
  if (c.next) {
    if (!c.queue.empty()) TL_RETURN_IF_ERROR(ValidateName("queue", c.queue));
    return ValidateClaimTtl(c.ttl_ns);
  }
  TL_RETURN_IF_ERROR(ValidateClaimTtl(c.ttl_ns));
  return ValidateName("task id", c.task_id);
}

Status ValidateExit(const Command& c) {
  if (!c.exit_code && c.signal.empty()) return Status::InvalidArgument("exit needs a code or a signal");
  if (c.exit_code) {
    TL_RETURN_IF_ERROR(ValidateExitCode(*c.exit_code));
  } else {
    TL_RETURN_IF_ERROR(ValidateName("signal", c.signal));
  }
  return ValidateName("task id", c.task_id);
}

}  // namespace

Status ValidateName(std::string_view what, std::string_view name) {
  if (name.empty()) return Status::InvalidArgument(std::string(what) + " is empty");
  if (name.size() > kMaxIdBytes) {
    return Status::InvalidArgument(std::string(what) + " is " + std::to_string(name.size()) +
                                   " bytes; the limit is " + std::to_string(kMaxIdBytes));
  }
  if (!IsPrintableToken(name)) {
    return Status::InvalidArgument(std::string(what) +
                                   " must be printable ASCII without spaces or control characters");
  }
  return Status::Ok();
}

Status ValidateText(std::string_view what, std::string_view text) {
  if (text.size() > kMaxTextBytes) {
    return Status::InvalidArgument(std::string(what) + " is " + std::to_string(text.size()) +
                                   " bytes; the limit is " + std::to_string(kMaxTextBytes));
  }
  // Text must be valid UTF-8 so every report and JSON line can carry it.
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char ch = static_cast<unsigned char>(text[i]);
    size_t len = ch < 0x80 ? 1 : (ch >> 5) == 0x6 ? 2 : (ch >> 4) == 0xe ? 3 : (ch >> 3) == 0x1e ? 4 : 0;
    if (len == 0 || i + len > text.size()) return Status::InvalidArgument(std::string(what) + " is not valid UTF-8");
    uint32_t code_point = len == 1 ? ch : ch & (0x7f >> len);
    for (size_t k = 1; k < len; ++k) {
      const unsigned char next = static_cast<unsigned char>(text[i + k]);
      if ((next >> 6) != 0x2) return Status::InvalidArgument(std::string(what) + " is not valid UTF-8");
      code_point = (code_point << 6) | (next & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8 either
    // (RFC 3629), and JSON parsers refuse them: `export` then `import` must round-trip.
    static constexpr uint32_t kMinCodePoint[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code_point < kMinCodePoint[len] || (code_point >= 0xd800 && code_point <= 0xdfff) || code_point > 0x10ffff) {
      return Status::InvalidArgument(std::string(what) + " is not valid UTF-8");
    }
    if (len == 1 && ch < 0x20 && ch != '\n' && ch != '\t') {
      return Status::InvalidArgument(std::string(what) + " contains a control character");
    }
    i += len;
  }
  return Status::Ok();
}

Status ValidateExitCode(int64_t code) {
  if (code < 0 || code > kMaxExitCode) {
    return Status::InvalidArgument("exit code must be between 0 and " + std::to_string(kMaxExitCode));
  }
  return Status::Ok();
}

Status ValidateClaimTtl(int64_t ttl_ns) {
  if (ttl_ns < 0 || ttl_ns > kMaxDurationNs) return Status::InvalidArgument("ttl must be between 0 and a year");
  return Status::Ok();
}

Status ValidateGrace(int64_t grace_ns) {
  if (grace_ns < 0 || grace_ns > kMaxDurationNs) return Status::InvalidArgument("grace must be between 0 and a year");
  return Status::Ok();
}

Status ValidateSpec(const TaskSpec& spec) {
  TaskSpec normalized = spec;
  return NormalizeSpec(&normalized);
}

Status ValidateCommand(const Command& c) {
  if (!c.actor.empty()) TL_RETURN_IF_ERROR(ValidateName("actor", c.actor));
  TL_RETURN_IF_ERROR(ValidateText("text", c.text));
  if (!c.meta.host.empty()) TL_RETURN_IF_ERROR(ValidateName("client host", c.meta.host));
  switch (c.kind) {
    case CommandKind::kCreate:
      return ValidateCreate(c);
    case CommandKind::kSweep:
      return Status::Ok();
    case CommandKind::kClaim:
      return ValidateClaim(c);
    case CommandKind::kSignal:
      TL_RETURN_IF_ERROR(ValidateName("signal", c.signal));
      TL_RETURN_IF_ERROR(ValidateGrace(c.grace_ns));
      break;
    case CommandKind::kExit:
      return ValidateExit(c);
    case CommandKind::kHeartbeat:
    case CommandKind::kComplete:
    case CommandKind::kFail:
    case CommandKind::kRelease:
    case CommandKind::kBlock:
    case CommandKind::kUnblock:
    case CommandKind::kCancel:
    case CommandKind::kRevive:
      break;
  }
  return ValidateName("task id", c.task_id);
}

Status ValidateEventValues(const Event& e) {
  switch (e.kind) {
    case EventKind::kClaimed:
      // A recorded claim carries the ttl it got: the command's, or the task's (never 0).
      if (e.ttl_ns <= 0 || e.ttl_ns > kMaxDurationNs) {
        return Status::InvalidArgument("claimed ttl must be positive and at most a year");
      }
      return Status::Ok();
    case EventKind::kSignaled:
      return ValidateGrace(e.grace_ns);
    case EventKind::kExited:
      return e.exit_code ? ValidateExitCode(*e.exit_code) : Status::Ok();
    default:
      return Status::Ok();
  }
}

}  // namespace taskledger
