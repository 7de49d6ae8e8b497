#include "ledger/schedule_index.h"

#include "ledger/keys.h"

namespace taskledger {

std::string ScheduleIndex::PlaceOf(const std::string& id) const {
  auto it = place_.find(id);
  return it == place_.end() ? std::string() : it->second;
}

void ScheduleIndex::SetPlace(const std::string& id, const std::string& key) {
  auto it = place_.find(id);
  if (it != place_.end()) {
    keys_.erase(it->second);
    if (key.empty()) {
      place_.erase(it);
      return;
    }
    it->second = key;
  } else if (key.empty()) {
    return;
  } else {
    place_.emplace(id, key);
  }
  keys_[key] = id;
}

void ScheduleIndex::Place(const std::string& id, const std::string& key) {
  Touch(id);
  undo_.push_back({Undo::Kind::kPlace, id, PlaceOf(id)});
  SetPlace(id, key);
}

std::optional<std::pair<std::string, std::string>> ScheduleIndex::First(const std::string& prefix) const {
  auto it = keys_.lower_bound(prefix);
  if (it == keys_.end() || !keys::StartsWith(it->first, prefix)) return std::nullopt;
  return *it;
}

std::vector<std::pair<std::string, std::string>> ScheduleIndex::Scan(const std::string& prefix, size_t limit) const {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto it = keys_.lower_bound(prefix); it != keys_.end() && out.size() < limit; ++it) {
    if (!keys::StartsWith(it->first, prefix)) break;
    out.push_back(*it);
  }
  return out;
}

// A deadline key is the deadline (8 bytes) then the task id (keys::Deadline).
void ScheduleIndex::InsertDeadline(const std::string& key) {
  if (deadlines_.insert(key).second) deadline_of_[key.substr(8)] = key;
}

void ScheduleIndex::EraseDeadline(const std::string& key) {
  if (deadlines_.erase(key) == 0) return;
  auto of = deadline_of_.find(key.substr(8));
  if (of != deadline_of_.end() && of->second == key) deadline_of_.erase(of);
}

void ScheduleIndex::AddDeadline(const std::string& key) {
  if (deadlines_.count(key) != 0) return;
  Touch(key.substr(8));
  InsertDeadline(key);
  undo_.push_back({Undo::Kind::kAddDeadline, key, ""});
}

void ScheduleIndex::RemoveDeadline(const std::string& key) {
  if (deadlines_.count(key) == 0) return;
  Touch(key.substr(8));
  EraseDeadline(key);
  undo_.push_back({Undo::Kind::kRemoveDeadline, key, ""});
}

std::vector<std::pair<std::string, bool>> ScheduleIndex::LivenessChanges() const {
  std::vector<std::pair<std::string, bool>> changes;
  for (const auto& [id, was_live] : live_at_commit_) {
    const bool live = IsLive(id);
    if (live != was_live) changes.emplace_back(id, live);
  }
  return changes;
}

std::vector<std::string> ScheduleIndex::FirstDeadlines(size_t limit) const {
  std::vector<std::string> out;
  for (auto it = deadlines_.begin(); it != deadlines_.end() && out.size() < limit; ++it) out.push_back(*it);
  return out;
}

void ScheduleIndex::RollbackTo(size_t save_point) {
  while (undo_.size() > save_point) {
    Undo undo = std::move(undo_.back());
    undo_.pop_back();
    switch (undo.kind) {
      case Undo::Kind::kPlace: SetPlace(undo.id_or_key, undo.previous); break;
      case Undo::Kind::kAddDeadline: EraseDeadline(undo.id_or_key); break;
      case Undo::Kind::kRemoveDeadline: InsertDeadline(undo.id_or_key); break;
    }
  }
}

void ScheduleIndex::Clear() {
  keys_.clear();
  place_.clear();
  deadlines_.clear();
  deadline_of_.clear();
  live_at_commit_.clear();
  undo_.clear();
}

}  // namespace taskledger
