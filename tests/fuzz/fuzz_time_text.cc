// Fuzz target: durations and times as people write them (ParseDuration, ParseTime). A
// parse either fails with a Status or yields a value in range that formats and parses
// back to itself (to the millisecond FormatTime prints).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "projections/limits.h"
#include "projections/time_text.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using taskledger::fuzz::Check;

// 2023-11-14T22:13:20Z: "now" for relative times.
constexpr int64_t kNowNs = 1'700'000'000LL * taskledger::kNanosPerSecond;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace taskledger;
  const std::string_view text = fuzz::AsText(data, size);

  Result<int64_t> duration = ParseDuration(text);
  if (duration.ok()) {
    Check(*duration >= 0 && *duration <= kMaxDurationNs);
    Check(!FormatDuration(*duration).empty());
  }

  Result<int64_t> time = ParseTime(text, kNowNs);
  if (time.ok()) {
    Check(*time >= 0);
    const std::string formatted = FormatTime(*time);
    // Years past 9999 (reachable with a negative offset on 9999-12-31) do not parse back.
    if (formatted.size() == 24) {
      Result<int64_t> again = ParseTime(formatted, kNowNs);
      Check(again.ok() && *again == *time - *time % kNanosPerMilli);
    }
  }
  return 0;
}
