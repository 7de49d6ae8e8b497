// Ledger: the public face. Every call goes to LedgerImpl (ledger_impl.h says which file
// holds each part).
#include "ledger/ledger.h"

#include <utility>

#include "ledger/ledger_impl.h"

namespace taskledger {

Ledger::Ledger(std::unique_ptr<LedgerImpl> impl) : impl_(std::move(impl)) {}
Ledger::~Ledger() = default;

Result<std::unique_ptr<Ledger>> Ledger::Open(const LedgerOptions& options, Clock* clock) {
  Result<std::unique_ptr<LedgerImpl>> impl = LedgerImpl::Open(options, clock);
  if (!impl.ok()) return impl.status();
  return std::unique_ptr<Ledger>(new Ledger(std::move(*impl)));
}

Outcome Ledger::Submit(const Command& command) { return std::move(SubmitGroup({command}).front()); }
std::vector<Outcome> Ledger::SubmitGroup(const std::vector<Command>& commands) {
  return impl_->SubmitGroup(commands, /*sync=*/true);
}
std::vector<Outcome> Ledger::SubmitGroupUnsynced(const std::vector<Command>& commands) {
  return impl_->SubmitGroup(commands, /*sync=*/false);
}
Status Ledger::SyncWrites() { return impl_->SyncWrites(); }

int64_t Ledger::Now() { return impl_->Now(); }
uint64_t Ledger::last_seq() const { return impl_->last_seq(); }
bool Ledger::read_only() const { return impl_->options().read_only; }
const std::string& Ledger::path() const { return impl_->options().path; }
Status Ledger::Refresh() { return impl_->Refresh(); }

Result<std::optional<TaskRecord>> Ledger::GetTask(const std::string& id) { return impl_->GetTask(id); }
Result<TaskView> Ledger::TaskAt(const std::string& id, const PointInTime& at) { return impl_->TaskAt(id, at); }
Result<TasksSnapshot> Ledger::TasksAt(const PointInTime& at) { return impl_->TasksAt(at); }
Result<std::unique_ptr<TaskPages>> Ledger::TaskPagesNow() { return impl_->TaskPagesNow(); }
Status Ledger::ForEachEvent(uint64_t from_seq, const std::function<bool(const Event&)>& fn) {
  return impl_->ForEachEvent(from_seq, fn);
}
Status Ledger::ForEachTaskEvent(const std::string& id, uint64_t from_seq,
                                const std::function<bool(const Event&)>& fn) {
  return impl_->ForEachTaskEvent(id, from_seq, fn);
}
Result<uint64_t> Ledger::FirstSeqAtOrAfter(int64_t time_ns) { return impl_->FirstSeqAtOrAfter(time_ns); }

Result<uint64_t> Ledger::ReplicatedPosition() { return impl_->ReplicatedPosition(); }
Status Ledger::ApplyReplicated(const std::vector<std::string>& events, uint64_t position) {
  return impl_->ApplyReplicated(events, position);
}

Result<VerifyReport> Ledger::Verify() { return impl_->Verify(); }
Result<RebuildReport> Ledger::Rebuild() { return impl_->Rebuild(); }
Result<ImportReport> Ledger::CheckLog(const EventSource& source) { return LedgerImpl::CheckLog(source); }
Result<ImportReport> Ledger::Import(const EventSource& source) { return impl_->Import(source); }
Status Ledger::Backup(const std::string& dir) { return impl_->Backup(dir); }

}  // namespace taskledger
