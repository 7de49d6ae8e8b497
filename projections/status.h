// Status and Result: the error currency of every fallible taskledger call.
//
// A code says what the caller should do next (after Abseil's guidance), and maps to the
// CLI's exit codes (DESIGN §6): InvalidArgument -> 2, Refused -> 3, NotFound -> 4,
// everything else (UnknownOutcome too) -> 1.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "projections/check.h"

namespace taskledger {

enum class Code {
  kOk,
  kInvalidArgument,  // bad usage or bad input: fix the request
  kRefused,          // the ledger's rules refuse it now (not claimable, stale token...)
  kNotFound,         // unknown task, nothing ready
  kBusy,             // the ledger is held by another process, or a queue is full: retry later
  kIOError,          // storage failed
  kDataLoss,         // the log or the projection is corrupt
  kInternal,         // a bug
  // The command was sent on but its answer was lost (a cluster's writer that did not
  // answer, a replicated log that did not): it may or may not have taken effect. Look at
  // the task before sending it again. Last: the wire carries the enum's number.
  kUnknownOutcome,
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return Status(Code::kInvalidArgument, std::move(m)); }
  static Status Refused(std::string m) { return Status(Code::kRefused, std::move(m)); }
  static Status NotFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }
  static Status Busy(std::string m) { return Status(Code::kBusy, std::move(m)); }
  static Status IOError(std::string m) { return Status(Code::kIOError, std::move(m)); }
  static Status DataLoss(std::string m) { return Status(Code::kDataLoss, std::move(m)); }
  static Status Internal(std::string m) { return Status(Code::kInternal, std::move(m)); }
  static Status UnknownOutcome(std::string m) { return Status(Code::kUnknownOutcome, std::move(m)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsRefused() const { return code_ == Code::kRefused; }
  bool IsBusy() const { return code_ == Code::kBusy; }
  bool IsUnknownOutcome() const { return code_ == Code::kUnknownOutcome; }
  // The same status with `prefix` before its message (where in a file it happened).
  Status Prefixed(const std::string& prefix) const { return ok() ? *this : Status(code_, prefix + message_); }

  // The CLI exit code for this status (DESIGN §6).
  int ExitCode() const {
    switch (code_) {
      case Code::kOk: return 0;
      case Code::kInvalidArgument: return 2;
      case Code::kRefused: return 3;
      case Code::kNotFound: return 4;
      default: return 1;
    }
  }
  std::string ToString() const;

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the Status that explains its absence.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : value_(std::move(status)) { TL_DCHECK(!std::get<Status>(value_).ok()); }  // NOLINT

  bool ok() const { return std::holds_alternative<T>(value_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(value_);
  }
  T& value() & { TL_DCHECK(ok()); return std::get<T>(value_); }
  const T& value() const& { TL_DCHECK(ok()); return std::get<T>(value_); }
  T&& value() && { TL_DCHECK(ok()); return std::get<T>(std::move(value_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> value_;
};

const char* CodeName(Code code);

}  // namespace taskledger

#define TL_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::taskledger::Status tl_status_ = (expr); \
    if (!tl_status_.ok()) return tl_status_; \
  } while (0)
