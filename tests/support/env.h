// Numbers from the environment, for the seeded tests' knobs (how many seeds, which one).
#pragma once

#include <cstdint>
#include <cstdlib>

namespace taskledger::test {

// The variable `name` as a decimal number; `fallback` when it is unset or empty.
inline uint64_t EnvNumber(const char* name, uint64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  return std::strtoull(text, nullptr, 10);
}

}  // namespace taskledger::test
