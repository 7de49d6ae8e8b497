// ObjectReader: strict reading of one JSON object's typed keys, for every file format
// taskledger reads (export lines, `create --from` lines).
#pragma once

#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "projections/status.h"
#include "projections/time_text.h"

namespace taskledger {

// Reads the typed keys of one JSON object and remembers the first problem, so that a
// reader of many keys stays a flat list of calls. Every key read is recorded: any other
// key is refused at the end (a field this build does not know would be dropped, and an
// import would not be exact).
class ObjectReader {
 public:
  ObjectReader(const nlohmann::json& object, std::string where) : object_(object), where_(std::move(where)) {
    if (!object_.is_object()) Problem("is not a JSON object");
  }

  const nlohmann::json* Find(const char* key, bool required) {
    seen_.insert(key);
    if (!status_.ok() || !object_.is_object()) return nullptr;
    auto it = object_.find(key);
    if (it == object_.end()) {
      if (required) Problem(std::string("lacks \"") + key + "\"");
      return nullptr;
    }
    return &*it;
  }

  template <typename T>
  void Integer(const char* key, T* out, bool required = true) {
    const nlohmann::json* value = Find(key, required);
    if (value == nullptr) return;
    bool fits = false;
    if (value->is_number_unsigned()) {
      const uint64_t v = value->get<uint64_t>();
      fits = v <= static_cast<uint64_t>(std::numeric_limits<T>::max());
      if (fits) *out = static_cast<T>(v);
    } else if (value->is_number_integer()) {
      const int64_t v = value->get<int64_t>();
      fits = v >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
             (v < 0 || static_cast<uint64_t>(v) <= static_cast<uint64_t>(std::numeric_limits<T>::max()));
      if (fits) *out = static_cast<T>(v);
    }
    if (!fits) Problem(std::string("\"") + key + "\" is not an integer in range");
  }

  void String(const char* key, std::string* out, bool required = true) {
    const nlohmann::json* value = Find(key, required);
    if (value == nullptr) return;
    if (!value->is_string()) return Problem(std::string("\"") + key + "\" is not a string");
    *out = value->get<std::string>();
  }

  // An RFC 3339 twin of a `*_ns` key: optional, but it must agree.
  void TimeText(const char* key, int64_t ns) {
    std::string text;
    String(key, &text, /*required=*/false);
    if (status_.ok() && !text.empty() && text != FormatTime(ns)) {
      Problem(std::string("\"") + key + "\" does not match \"" + key + "_ns\"");
    }
  }

  void Check(const Status& s) {
    if (status_.ok() && !s.ok()) {
      status_ = Status::InvalidArgument(where_.empty() ? s.message() : where_ + ": " + s.message());
    }
  }

  const Status& status() const { return status_; }

  Status Finish() {
    if (status_.ok()) {
      for (const auto& [key, value] : object_.items()) {
        if (seen_.count(key) == 0) Problem("has an unknown key \"" + key + "\"");
      }
    }
    return status_;
  }

 private:
  void Problem(const std::string& what) {
    if (status_.ok()) status_ = Status::InvalidArgument(where_.empty() ? what : where_ + " " + what);
  }

  const nlohmann::json& object_;
  std::string where_;
  std::set<std::string> seen_;
  Status status_;
};

}  // namespace taskledger
