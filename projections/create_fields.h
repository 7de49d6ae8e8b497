// The fields of a create as a person writes them, checked the same way whether they come
// from create's flags or from one line of `create --from FILE` (docs/create-from.md):
// durations as text ("30s", "5m"), times as RFC 3339 or relative text, counts as numbers.
// A zero a person typed is refused rather than read as "the default". Pure code.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "projections/decide.h"
#include "projections/status.h"

namespace taskledger {

// A positive duration ("30s"); `name` ("--ttl", "\"ttl\"") starts every message. For
// every flag where 0 would silently mean "the default" or "no limit" (create's, and the
// ttls of claim, run and worker).
Result<int64_t> PositiveDuration(std::string_view name, std::string_view text);
// 1..kMaxAttemptsLimit.
Result<uint32_t> MaxAttempts(std::string_view name, int64_t n);
// An int32.
Result<int32_t> Priority(std::string_view name, int64_t n);

// One line of `create --from`: a JSON object with create's flags as keys (id, title,
// payload, after, queue, priority, ttl, max_attempts, max_runtime, not_before,
// idempotency_key, backoff, backoff_max). `title` is required; an absent `id` asks for a
// generated one; `payload` is any JSON value. Unknown keys are refused. The command
// returned has passed ValidateCommand; not_before is read relative to now_ns.
Result<Command> CreateCommandFromJson(const nlohmann::json& line, int64_t now_ns);

}  // namespace taskledger
