// Durations and times as people write them (DESIGN §6): durations `1500ms`, `30s`, `5m`,
// `2h` (and sums such as `1m30s`); times RFC 3339, or relative to now (`-5m`).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "projections/status.h"

namespace taskledger {

// A non-negative duration. Units: ns, us, ms, s, m, h, d. Bounded by kMaxDurationNs.
Result<int64_t> ParseDuration(std::string_view text);

// RFC 3339 (`2026-11-28T10:02:00Z`, `2026-11-28T10:02:00.5+01:00`, date-only `2026-11-28`
// meaning its midnight UTC) or `-DURATION` before `now_ns`. From 1970 to 2262-04-11 (the
// range of int64 nanoseconds); a later or earlier time is InvalidArgument.
Result<int64_t> ParseTime(std::string_view text, int64_t now_ns);

// `2026-11-28T10:02:00.123Z` (UTC, milliseconds).
std::string FormatTime(int64_t ns);
// `1.5s`, `250ms`, `5m`, `2h3m`: the shortest exact-enough form for reports.
std::string FormatDuration(int64_t ns);

}  // namespace taskledger
