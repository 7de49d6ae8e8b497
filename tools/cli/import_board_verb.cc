// import-board: a Hermes kanban board (SQLite) into an empty ledger. This file only reads
// the board, strictly read-only (it may be live, in WAL mode, beside its dispatcher: no
// write, no migration, no lock held past one read transaction); the mapping is pure code in
// projections/board_import.h, and the writing is Ledger::Import, as for `import`.
#include <sqlite3.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "ledger/ledger.h"
#include "projections/board_import.h"
#include "tools/cli/verbs.h"

namespace taskledger::cli {
namespace {

// A writer holding the board's lock (outside WAL mode) is waited for this long.
constexpr int kBoardBusyTimeoutMs = 5000;

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using SqliteHandle = std::unique_ptr<sqlite3, SqliteCloser>;
struct StatementFinalizer {
  void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};
using Statement = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

Status SqliteError(sqlite3* db, const std::string& path, const std::string& doing) {
  return Status::InvalidArgument("board " + path + ": cannot " + doing + ": " + sqlite3_errmsg(db));
}

// file: URI of `path` (RFC 3986 escapes for what a URI would read as syntax).
std::string FileUri(const std::string& path) {
  std::string uri = "file:";
  for (char c : path) {
    if (c == '%' || c == '?' || c == '#') {
      static const char kHex[] = "0123456789ABCDEF";
      uri += '%';
      uri += kHex[static_cast<unsigned char>(c) >> 4];
      uri += kHex[static_cast<unsigned char>(c) & 0xf];
    } else {
      uri += c;
    }
  }
  return uri + "?mode=ro";
}

Result<SqliteHandle> OpenBoard(const std::string& path) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(FileUri(path).c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
  SqliteHandle db(raw);
  if (rc != SQLITE_OK) return SqliteError(db.get(), path, "open it read-only");
  sqlite3_busy_timeout(db.get(), kBoardBusyTimeoutMs);
  return db;
}

Result<bool> HasTable(sqlite3* db, const std::string& path, const char* table) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1, &raw, nullptr) !=
      SQLITE_OK) {
    return SqliteError(db, path, "read its schema (is it an SQLite database?)");
  }
  Statement statement(raw);
  sqlite3_bind_text(raw, 1, table, -1, SQLITE_STATIC);
  const int rc = sqlite3_step(raw);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return SqliteError(db, path, "read its schema");
  return rc == SQLITE_ROW;
}

nlohmann::json Value(sqlite3_stmt* statement, int column) {
  switch (sqlite3_column_type(statement, column)) {
    case SQLITE_INTEGER: return sqlite3_column_int64(statement, column);
    case SQLITE_FLOAT: return sqlite3_column_double(statement, column);
    case SQLITE_TEXT: {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement, column));
      return std::string(text, static_cast<size_t>(sqlite3_column_bytes(statement, column)));
    }
    case SQLITE_BLOB: return "<blob of " + std::to_string(sqlite3_column_bytes(statement, column)) + " bytes>";
    default: return nullptr;
  }
}

// Every column of every row, whatever the board's generation (hermes-board.md §1.7: keep
// unknown columns as opaque data). `rowid` is added where the table has one.
Status ReadTable(sqlite3* db, const std::string& path, const char* table, BoardTable* out) {
  TL_RETURN_IF_ERROR([&]() -> Status {
    Result<bool> present = HasTable(db, path, table);
    if (!present.ok()) return present.status();
    out->present = *present;
    return Status::Ok();
  }());
  if (!out->present) return Status::Ok();
  sqlite3_stmt* raw = nullptr;
  std::string sql = std::string("SELECT rowid AS rowid, * FROM \"") + table + "\" ORDER BY rowid";
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
    sql = std::string("SELECT * FROM \"") + table + "\"";  // a WITHOUT ROWID table
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
      return SqliteError(db, path, std::string("read table ") + table);
    }
  }
  Statement statement(raw);
  const int columns = sqlite3_column_count(raw);
  int rc;
  while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
    nlohmann::json row = nlohmann::json::object();
    for (int c = 0; c < columns; ++c) row[sqlite3_column_name(raw, c)] = Value(raw, c);
    out->rows.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) return SqliteError(db, path, std::string("read table ") + table);
  return Status::Ok();
}

// The whole board in one read transaction: one consistent snapshot of a live board.
Result<Board> ReadBoard(const std::string& path) {
  Result<SqliteHandle> opened = OpenBoard(path);
  if (!opened.ok()) return opened.status();
  sqlite3* db = opened->get();
  if (sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return SqliteError(db, path, "start a read transaction");
  }
  Board board;
  TL_RETURN_IF_ERROR(ReadTable(db, path, "tasks", &board.tasks));
  TL_RETURN_IF_ERROR(ReadTable(db, path, "task_links", &board.task_links));
  TL_RETURN_IF_ERROR(ReadTable(db, path, "task_events", &board.task_events));
  TL_RETURN_IF_ERROR(ReadTable(db, path, "task_runs", &board.task_runs));
  TL_RETURN_IF_ERROR(ReadTable(db, path, "task_comments", &board.task_comments));
  (void)sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);  // a read transaction: nothing to commit
  return board;
}

int RunImportBoard(Cli& cli, const std::string& board_path) {
  const Globals& globals = cli.globals();
  if (!globals.connect.empty()) return Usage("import-board writes a ledger's files itself: give --db, not --connect");
  if (!std::filesystem::is_regular_file(board_path)) {
    return Usage("import-board: " + board_path + " is not a readable file");
  }
  Result<Board> board = ReadBoard(board_path);
  if (!board.ok()) return Fail(board.status());
  // The whole board is checked before anything is written, or created.
  if (Status s = CheckBoard(*board); !s.ok()) {
    return Usage("board " + board_path + " is malformed: " + s.message() + "; nothing was written");
  }
  BoardImportSummary summary;
  const EventSource source = [&](const EventSink& sink) -> Status {
    Result<BoardImportSummary> mapped = MapBoard(*board, sink);
    if (!mapped.ok()) return mapped.status();
    summary = std::move(*mapped);
    return Status::Ok();
  };
  std::error_code error;
  const bool existed = std::filesystem::exists(globals.db, error);
  LedgerOptions options;
  options.path = globals.db;
  Result<std::unique_ptr<Ledger>> ledger = Ledger::Open(options, &cli.clock());
  if (!ledger.ok()) return Fail(ledger.status());
  Result<ImportReport> report = (*ledger)->Import(source);
  ledger->reset();
  if (!report.ok()) {
    if (!existed) std::filesystem::remove_all(globals.db, error);  // leave no ledger behind
    // A non-empty ledger is a wrong --db, as for any bad input.
    if (report.status().code() == Code::kRefused) return Usage("import-board: " + report.status().message());
    return Fail(report.status());
  }
  if (cli.json()) {
    nlohmann::json out = BoardImportSummaryToJson(summary);
    out["board"] = board_path;
    out["db"] = globals.db;
    out["last_seq"] = report->last_seq;
    PrintJson(out);
  } else {
    std::cout << "imported board " << board_path << " into " << globals.db << '\n' << RenderBoardImportSummary(summary);
  }
  return kExitOk;
}

}  // namespace

void AddImportBoardVerb(CLI::App& app, Cli& cli, VerbAction& run) {
  auto board_path = std::make_shared<std::string>();
  auto* verb = app.add_subcommand("import-board", "load a kanban board (SQLite, read-only) into an empty ledger");
  verb->add_option("board", *board_path, "the board's kanban.db")->required();
  verb->callback([&run, &cli, board_path] { run = [&cli, board_path] { return RunImportBoard(cli, *board_path); }; });
}

}  // namespace taskledger::cli
