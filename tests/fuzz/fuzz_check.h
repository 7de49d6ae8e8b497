// What the fuzz targets share: the input as text, and a check that stops the run where it
// fails (libFuzzer then keeps the input that broke it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace taskledger::fuzz {

inline void Check(bool condition) {
  if (!condition) __builtin_trap();
}

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

}  // namespace taskledger::fuzz
