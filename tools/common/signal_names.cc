#include "tools/common/signal_names.h"

#include <signal.h>
#include <string.h>  // sigabbrev_np (glibc 2.32+)

#include <charconv>

namespace taskledger::tools {
namespace {

constexpr std::string_view kPrefix = "SIG";

}  // namespace

std::string SignalName(int signal_number) {
  const char* abbreviation = ::sigabbrev_np(signal_number);
  if (abbreviation == nullptr) return std::string(kPrefix) + std::to_string(signal_number);
  return std::string(kPrefix) + abbreviation;
}

std::optional<std::string> CanonicalSignalName(std::string_view text) {
  std::string_view name = text;
  if (name.starts_with(kPrefix)) name.remove_prefix(kPrefix.size());
  if (name.empty()) return std::nullopt;
  int number = 0;
  const auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), number);
  if (error == std::errc() && end == name.data() + name.size()) {
    if (number <= 0 || number >= NSIG) return std::nullopt;
    return SignalName(number);
  }
  for (int signal_number = 1; signal_number < NSIG; ++signal_number) {
    const char* abbreviation = ::sigabbrev_np(signal_number);
    if (abbreviation != nullptr && name == abbreviation) return SignalName(signal_number);
  }
  return std::nullopt;
}

}  // namespace taskledger::tools
