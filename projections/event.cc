#include "projections/event.h"

#include <array>

#include "projections/status.h"

namespace taskledger {
namespace {

constexpr std::array<std::string_view, kEventKindCount> kEventKindNames = {
    "created",  "claimed",   "heartbeat", "signaled", "exited",        "completed", "failed",
    "released", "blocked",   "unblocked", "cancelled", "revived",      "lease_expired", "rejected",
    "annotated"};
constexpr std::array<std::string_view, 6> kHolderCommandNames = {"heartbeat", "complete", "fail",
                                                                 "release",   "signal",   "exit"};

}  // namespace

std::string_view EventKindName(EventKind kind) { return kEventKindNames[static_cast<int>(kind)]; }

std::optional<EventKind> EventKindFromName(std::string_view name) {
  for (int i = 0; i < kEventKindCount; ++i) {
    if (kEventKindNames[i] == name) return static_cast<EventKind>(i);
  }
  return std::nullopt;
}

std::string_view HolderCommandName(HolderCommand command) {
  return kHolderCommandNames[static_cast<int>(command)];
}

std::optional<HolderCommand> HolderCommandFromName(std::string_view name) {
  for (size_t i = 0; i < kHolderCommandNames.size(); ++i) {
    if (kHolderCommandNames[i] == name) return static_cast<HolderCommand>(i);
  }
  return std::nullopt;
}

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid argument";
    case Code::kRefused: return "refused";
    case Code::kNotFound: return "not found";
    case Code::kBusy: return "busy";
    case Code::kIOError: return "I/O error";
    case Code::kDataLoss: return "data loss";
    case Code::kInternal: return "internal error";
    case Code::kUnknownOutcome: return "outcome unknown";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(CodeName(code_)) + ": " + message_;
}

}  // namespace taskledger
