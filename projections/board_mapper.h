// The board mapping's internals (projections/board_import.h has the contract), shared by
// the files that implement it. Not for use outside the mapping:
//   board_order.cc     the board's rows indexed and put in the order they are written in,
//                      and each attempt's lease planned from what follows its claim
//   board_attempts.cc  a board event or run row as the ledger's claim, heartbeat and end
//   board_import.cc    appending under the derivation rules, task creation, the run's
//                      driver and its summary
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "projections/board_import.h"
#include "projections/task.h"

namespace taskledger::board {

// Assigns a Result<bool>'s value to `var`, or returns its error.
#define TL_BOARD_TRY(var, expr)                 \
  bool var = false;                             \
  {                                             \
    Result<bool> result_ = (expr);              \
    if (!result_.ok()) return result_.status(); \
    var = *result_;                             \
  }

inline constexpr char kBoardActor[] = "board";

// One thing to write, in board order: a board event, a comment, or the start or end of a
// run the board recorded no event for.
enum class ItemType : uint8_t { kRunStart, kEvent, kComment, kRunEnd };

struct Item {
  int64_t position = 0;  // the board event id it sits at
  int sub = 0;           // before (0), at (1) or after (2) that event
  int64_t board_s = 0;
  ItemType type = ItemType::kEvent;
  size_t index = 0;  // into its table's rows
  size_t task = 0;   // into the task table
  auto Key() const { return std::tuple(position, sub, board_s, type, index); }
};

// The board kind that starts an attempt.
bool IsClaim(const std::string& kind);
// Kinds renamed in place by board migrations (hermes-board.md §1.7): the old name means
// the new one. The annotation of such a row keeps the name the board wrote.
std::string CanonicalKind(const std::string& kind);
// Board kinds that end a run (hermes-board.md §3 "Outcomes").
bool IsRunEnd(const std::string& kind);
// Kinds only the holder of an open attempt (or the dispatcher ending it) writes.
bool IsHolderKind(const std::string& kind);

struct TaskIn {
  const nlohmann::json* row = nullptr;
  std::string id;
  std::vector<std::string> after;
  std::vector<std::string> board_parents;  // every task_links parent, dependency or not
  bool created = false;
  TaskRecord record;
  int64_t open_run = -1;  // the board run of the open attempt (-1: none, or no run id)
  std::string holder;
  // The open attempt's run of claim extensions with no heartbeat.
  uint32_t extensions = 0;
  int64_t extensions_first_s = 0, extensions_last_s = 0, alive_s = 0;
};

struct RunIn {
  const nlohmann::json* row = nullptr;
  bool has_claim_event = false;
  bool has_end_event = false;
  int64_t first_event = std::numeric_limits<int64_t>::max();
  int64_t last_event = std::numeric_limits<int64_t>::min();
};

class Mapper {
 public:
  using Link = std::pair<std::string, std::string>;  // parent, child
  // `dropped`: links not made dependencies (a dry run found the child claimed before the
  // parent was done; the ledger's rules would refuse that claim).
  Mapper(const Board& board, const std::function<Status(const Event&)>& sink, std::set<Link> dropped)
      : board_(board), sink_(sink), dropped_(std::move(dropped)) {}
  Result<BoardImportSummary> Run();
  // The links the run found a claim ahead of its parent's completion for.
  const std::set<Link>& early_claims() const { return early_claims_; }

 private:
  void Index();
  void Order();
  void PlanClaims();
  int64_t PositionOfTime(int64_t board_s) const;
  Status CreateThrough(int64_t board_s);
  Status Create(size_t task);
  Status Process(const Item& item);
  Status OnEvent(const Item& item);
  // A run row's item: the row, its task, its id and its name in messages.
  struct RunRow {
    const nlohmann::json& row;
    TaskIn& task;
    int64_t run;
    std::string source;
  };
  RunRow RunRowOf(const Item& item);
  Status OnRunStart(const Item& item);
  Status OnRunEnd(const Item& item);
  Status Claim(TaskIn& t, const Item& item, int64_t run, const std::string& lock, const std::string& source);
  Status End(TaskIn& t, const Item& item, const std::string& kind, const nlohmann::json& payload, const std::string& source);
  Status Annotate(TaskIn& t, int64_t board_s, const std::string& kind, const std::string& source, const nlohmann::json& row);
  // Appends `e` if the derivation rules accept it (true), else writes nothing (false).
  Result<bool> TryAppend(TaskIn& t, Event e, int64_t board_s);
  Status Append(Event e);
  void Anomaly(std::string text);
  void EndExtensionRun(TaskIn& t);
  void CheckFinalStates();

  const Board& board_;
  const std::function<Status(const Event&)>& sink_;
  const std::set<Link> dropped_;
  std::set<Link> early_claims_;
  uint64_t out_of_order_ = 0;  // board events earlier than an event before them by id
  int64_t out_of_order_max_s_ = 0;
  int64_t out_of_order_worst_ = 0;
  BoardImportSummary summary_;
  std::vector<TaskIn> tasks_;
  std::unordered_map<std::string, size_t> task_index_;
  std::map<int64_t, RunIn> runs_;
  std::vector<Item> items_;
  std::vector<int64_t> event_ids_;      // board event ids, ascending
  std::vector<int64_t> prefix_max_s_;   // the latest board time up to each of them
  std::vector<size_t> creation_order_;  // parents first, then by creation time
  size_t next_creation_ = 0;
  std::map<size_t, int64_t> claim_end_s_;  // per claim item (index into items_): the attempt's last board time
  std::map<size_t, uint32_t> claim_pid_;   // per claim item: the worker's pid, when known
  size_t current_item_ = 0;
  uint64_t seq_ = 0;
  int64_t last_ns_ = 0;
  int64_t last_board_s_ = std::numeric_limits<int64_t>::min();
};

}  // namespace taskledger::board
