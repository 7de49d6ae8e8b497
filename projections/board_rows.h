// Reading a kanban board's rows (docs/forensics.md, import-board): every column may be
// missing or NULL on some generation of the board, and its text may hold anything. Pure
// code, shared by the board's check (board_check.cc) and its mapping (board_import.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "projections/status.h"

namespace taskledger::board {

// An integer column (a float is truncated); nullopt when missing, NULL or not a number.
std::optional<int64_t> Int(const nlohmann::json& row, const char* column);
// A text column ("" when missing or NULL; another JSON value as its JSON text).
std::string Text(const nlohmann::json& row, const char* column);
bool IsNull(const nlohmann::json& row, const char* column);
// "tasks row 12": where a row is, for messages.
std::string Row(const char* table, const nlohmann::json& row);
// InvalidArgument naming the table, the row and why.
Status Bad(const char* table, const nlohmann::json& row, const std::string& why);
// A board name (lock, profile) as a ledger actor: printable, no spaces, bounded.
std::string AsName(std::string text, const std::string& fallback);
// Valid UTF-8 text within `max_bytes` (board text may hold anything).
std::string AsText(const std::string& text, size_t max_bytes);
// The row's `payload` column as a JSON object ({} when absent or not an object).
nlohmann::json Payload(const nlohmann::json& row);
// The row as JSON text, within the annotation limit: long text fields are cut first.
std::string RowText(const nlohmann::json& row);

}  // namespace taskledger::board
