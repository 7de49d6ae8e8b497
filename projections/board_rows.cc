#include "projections/board_rows.h"

#include "projections/board_import.h"
#include "projections/limits.h"

namespace taskledger::board {

using nlohmann::json;

std::optional<int64_t> Int(const json& row, const char* column) {
  const auto found = row.find(column);
  if (found == row.end()) return std::nullopt;
  if (found->is_number_integer()) return found->get<int64_t>();
  if (found->is_number_float()) return static_cast<int64_t>(found->get<double>());
  return std::nullopt;
}

std::string Text(const json& row, const char* column) {
  const auto found = row.find(column);
  if (found == row.end() || found->is_null()) return "";
  if (found->is_string()) return found->get<std::string>();
  return found->dump();
}

bool IsNull(const json& row, const char* column) {
  const auto found = row.find(column);
  return found == row.end() || found->is_null();
}

std::string Row(const char* table, const json& row) {
  const std::optional<int64_t> id = Int(row, "id");
  if (id) return std::string(table) + " row " + std::to_string(*id);
  const std::optional<int64_t> rowid = Int(row, "rowid");
  return std::string(table) + " row " + (rowid ? std::to_string(*rowid) : "?");
}

Status Bad(const char* table, const json& row, const std::string& why) {
  return Status::InvalidArgument(Row(table, row) + ": " + why);
}

// A board name (lock, profile) as a ledger actor: printable, no spaces, bounded.
std::string AsName(std::string text, const std::string& fallback) {
  if (text.size() > kMaxIdBytes) text.resize(kMaxIdBytes);
  for (char& c : text) {
    const auto ch = static_cast<unsigned char>(c);
    if (ch <= 0x20 || ch >= 0x7f) c = '_';
  }
  return text.empty() ? fallback : text;
}

// Valid UTF-8 text within `max_bytes` (board text may hold anything).
std::string AsText(const std::string& text, size_t max_bytes) {
  std::string out = json(text).dump(-1, ' ', false, json::error_handler_t::replace);
  out = json::parse(out).get<std::string>();  // invalid sequences replaced by U+FFFD
  std::string clean;
  clean.reserve(out.size());
  for (char c : out) {
    const auto ch = static_cast<unsigned char>(c);
    clean.push_back(ch < 0x20 && c != '\n' && c != '\t' ? ' ' : c);
  }
  if (clean.size() > max_bytes) {
    size_t cut = max_bytes;
    while (cut > 0 && (static_cast<unsigned char>(clean[cut]) & 0xc0) == 0x80) --cut;
    clean.resize(cut);
  }
  return clean;
}

json Payload(const json& row) {
  const std::string text = Text(row, "payload");
  if (text.empty()) return json::object();
  json parsed = json::parse(text, nullptr, false);
  return parsed.is_object() ? parsed : json::object();
}

// The row as JSON text, within the annotation limit: long text fields are cut first.
std::string RowText(const json& row) {
  std::string text = row.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() <= kBoardRowBytesMax) return text;
  json cut = row;
  for (auto& [key, value] : cut.items()) {
    if (value.is_string() && value.get<std::string>().size() > 1024)
      value = AsText(value.get<std::string>(), 1024) + "...";
  }
  cut["_cut"] = true;
  text = cut.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > kBoardRowBytesMax) text = json({{"_cut", true}, {"rowid", row.value("rowid", json())}}).dump();
  return text;
}

}  // namespace taskledger::board
