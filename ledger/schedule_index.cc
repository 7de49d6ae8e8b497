#include "ledger/schedule_index.h"

#include "ledger/keys.h"

namespace taskledger {

std::string ScheduleIndex::PlaceOf(const std::string& id) const {
  auto it = tasks_.find(id);
  return it == tasks_.end() ? std::string() : it->second.place;
}

void ScheduleIndex::SetPlace(const std::string& id, const std::string& key) {
  auto it = tasks_.find(id);
  if (it == tasks_.end()) {
    if (key.empty()) return;
    it = tasks_.try_emplace(id).first;
  }
  Live& live = it->second;
  if (!live.place.empty()) keys_.erase(live.place);
  live.place = key;
  if (!key.empty()) {
    keys_[key] = id;
  } else if (live.deadline.empty()) {
    tasks_.erase(it);
  }
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
  if (deadlines_.insert(key).second) tasks_[key.substr(8)].deadline = key;
}

void ScheduleIndex::EraseDeadline(const std::string& key) {
  if (deadlines_.erase(key) == 0) return;
  auto it = tasks_.find(key.substr(8));
  if (it == tasks_.end() || it->second.deadline != key) return;
  it->second.deadline.clear();
  if (it->second.place.empty()) tasks_.erase(it);
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

void ScheduleIndex::Load(const std::string& id, const std::string& place, const std::string& deadline) {
  if (!place.empty()) SetPlace(id, place);
  if (!deadline.empty()) InsertDeadline(deadline);
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
  tasks_.clear();
  keys_.clear();
  deadlines_.clear();
  live_at_commit_.clear();
  undo_.clear();
}

}  // namespace taskledger
