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
    keys_.insert_or_assign(key, std::string_view(it->first));
  } else if (!live.has_deadline) {
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
  return std::make_pair(it->first, std::string(it->second));
}

std::vector<std::pair<std::string, std::string>> ScheduleIndex::Scan(const std::string& prefix, size_t limit) const {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto it = keys_.lower_bound(prefix); it != keys_.end() && out.size() < limit; ++it) {
    if (!keys::StartsWith(it->first, prefix)) break;
    out.emplace_back(it->first, std::string(it->second));
  }
  return out;
}

// A deadline key is the deadline (8 bytes, big-endian) then the task id (keys::Deadline).
void ScheduleIndex::InsertDeadline(const std::string& key) {
  const uint64_t deadline = keys::ReadU64(key);
  auto it = tasks_.try_emplace(key.substr(8)).first;
  Live& live = it->second;
  if (live.has_deadline) deadlines_.erase({live.deadline, std::string_view(it->first)});
  live.deadline = deadline;
  live.has_deadline = true;
  deadlines_.emplace(deadline, std::string_view(it->first));
}

void ScheduleIndex::EraseDeadline(const std::string& key) {
  auto it = tasks_.find(key.substr(8));
  if (it == tasks_.end() || !it->second.has_deadline || it->second.deadline != keys::ReadU64(key)) return;
  deadlines_.erase({it->second.deadline, std::string_view(it->first)});
  it->second.has_deadline = false;
  if (it->second.place.empty()) tasks_.erase(it);
}

bool ScheduleIndex::HasDeadline(const std::string& key) const {
  auto it = tasks_.find(key.substr(8));
  return it != tasks_.end() && it->second.has_deadline && it->second.deadline == keys::ReadU64(key);
}

void ScheduleIndex::AddDeadline(const std::string& key) {
  if (HasDeadline(key)) return;
  Touch(key.substr(8));
  // Undo: the deadline it replaces, if any (one per task), comes back.
  auto it = tasks_.find(key.substr(8));
  if (it != tasks_.end() && it->second.has_deadline) {
    const std::string replaced = keys::Deadline(static_cast<int64_t>(it->second.deadline), it->first);
    EraseDeadline(replaced);
    undo_.push_back({Undo::Kind::kRemoveDeadline, replaced, ""});
  }
  InsertDeadline(key);
  undo_.push_back({Undo::Kind::kAddDeadline, key, ""});
}

void ScheduleIndex::RemoveDeadline(const std::string& key) {
  if (!HasDeadline(key)) return;
  Touch(key.substr(8));
  EraseDeadline(key);
  undo_.push_back({Undo::Kind::kRemoveDeadline, key, ""});
}

std::vector<std::string> ScheduleIndex::FirstDeadlines(size_t limit) const {
  std::vector<std::string> out;
  for (auto it = deadlines_.begin(); it != deadlines_.end() && out.size() < limit; ++it) {
    out.push_back(keys::Deadline(static_cast<int64_t>(it->first), it->second));
  }
  return out;
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
  keys_.clear();  // they refer to tasks_'s ids
  deadlines_.clear();
  tasks_.clear();
  live_at_commit_.clear();
  undo_.clear();
}

}  // namespace taskledger
