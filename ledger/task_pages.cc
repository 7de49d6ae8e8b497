// TaskPages: the current tasks a page at a time from one snapshot (ledger.h says what it
// promises), and Ledger's TaskPagesNow, which takes that snapshot.
#include <rocksdb/db.h>

#include <algorithm>
#include <unordered_map>

#include "ledger/codec.h"
#include "ledger/ledger_impl.h"
#include "ledger/rocks_status.h"
#include "projections/check.h"

namespace taskledger {
namespace {

// TaskPages remembers the own statuses of this many dependencies it has read: a few hundred
// KiB, enough for dependencies shared by many tasks.
constexpr size_t kDependencyStatusesMax = 4096;

}  // namespace

// Not thread-safe, as TaskPages.
class TaskPagesImpl {
 public:
  // Reads `tasks` of `db` at `snapshot` (nullptr: the current state, on a secondary), which
  // it releases when destroyed; `seq` and `at_ns` describe that moment.
  TaskPagesImpl(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* tasks, std::shared_ptr<const rocksdb::Snapshot> snapshot,
                uint64_t seq, int64_t at_ns)
      : db_(db), tasks_(tasks), snapshot_(std::move(snapshot)), seq_(seq), at_ns_(at_ns) {}
  ~TaskPagesImpl() {
    it_.reset();  // before the snapshot it reads
  }
  TaskPagesImpl(const TaskPagesImpl&) = delete;
  TaskPagesImpl& operator=(const TaskPagesImpl&) = delete;

  Status Start() {
    rocksdb::ReadOptions read_options;
    read_options.snapshot = snapshot_.get();
    it_.reset(db_->NewIterator(read_options, tasks_));
    it_->SeekToFirst();
    return FromRocks(it_->status(), "read tasks");
  }
  int64_t at_ns() const { return at_ns_; }
  uint64_t seq() const { return seq_; }
  Status Next(size_t max_views, size_t max_record_bytes, std::vector<TaskView>* page);

 private:
  std::optional<TaskStatus> DependencyStatus(const std::string& id);

  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const tasks_;
  const std::shared_ptr<const rocksdb::Snapshot> snapshot_;  // nullptr on a secondary
  const uint64_t seq_;
  const int64_t at_ns_;
  std::unique_ptr<rocksdb::Iterator> it_;
  std::unordered_map<std::string, std::optional<TaskStatus>> dependency_statuses_;
  Status lookup_failed_ = Status::Ok();  // the first dependency read that failed
};

Status TaskPagesImpl::Next(size_t max_views, size_t max_record_bytes, std::vector<TaskView>* page) {
  TL_CHECK(max_views > 0);
  page->clear();
  const DependencyLookup dependencies = [this](const std::string& id) { return DependencyStatus(id); };
  size_t record_bytes = 0;
  for (; it_->Valid() && page->size() < max_views; it_->Next()) {
    const rocksdb::Slice value = it_->value();
    if (!page->empty() && record_bytes + value.size() > max_record_bytes) break;
    record_bytes += value.size();
    Result<TaskRecord> record = DecodeTask(value.ToStringView());
    if (!record.ok()) {
      return Status::DataLoss("task " + it_->key().ToString() + ": " + record.status().message());
    }
    page->push_back(Evaluate(*record, at_ns_, dependencies));
    TL_RETURN_IF_ERROR(lookup_failed_);
  }
  return FromRocks(it_->status(), "read tasks");
}

std::optional<TaskStatus> TaskPagesImpl::DependencyStatus(const std::string& id) {
  if (auto found = dependency_statuses_.find(id); found != dependency_statuses_.end()) return found->second;
  rocksdb::ReadOptions read_options;
  read_options.snapshot = snapshot_.get();
  std::string bytes;
  const rocksdb::Status s = db_->Get(read_options, tasks_, id, &bytes);
  std::optional<TaskStatus> status;
  if (s.IsNotFound()) {
    status = std::nullopt;
  } else if (!s.ok()) {
    if (lookup_failed_.ok()) lookup_failed_ = FromRocks(s, "read task " + id);
    return std::nullopt;
  } else {
    Result<TaskRecord> record = DecodeTask(bytes);
    if (!record.ok()) {
      if (lookup_failed_.ok()) lookup_failed_ = Status::DataLoss("task " + id + ": " + record.status().message());
      return std::nullopt;
    }
    status = OwnStatus(*record, at_ns_);
  }
  // Bounded: starting over costs a few point reads again, never memory.
  if (dependency_statuses_.size() >= kDependencyStatusesMax) dependency_statuses_.clear();
  dependency_statuses_.emplace(id, status);
  return status;
}

TaskPages::TaskPages(std::unique_ptr<TaskPagesImpl> impl) : impl_(std::move(impl)) {}
TaskPages::~TaskPages() = default;
int64_t TaskPages::at_ns() const { return impl_->at_ns(); }
uint64_t TaskPages::seq() const { return impl_->seq(); }
Status TaskPages::Next(size_t max_views, size_t max_record_bytes, std::vector<TaskView>* page) {
  return impl_->Next(max_views, max_record_bytes, page);
}

Result<std::unique_ptr<TaskPages>> LedgerImpl::TaskPagesNow() {
  // The durable view's snapshot holds exactly the events up to its seq, and at_ns is not
  // before the last of them. (The iterator alone would read one moment; the snapshot makes
  // the dependency point reads agree with it.)
  ReadView view = DurableView();
  const int64_t at_ns = std::max(clock_->NowNs(), view.ns);
  auto pages = std::make_unique<TaskPagesImpl>(db_.get(), cf(kTasks), std::move(view.snapshot), view.seq, at_ns);
  TL_RETURN_IF_ERROR(pages->Start());
  return std::unique_ptr<TaskPages>(new TaskPages(std::move(pages)));
}

}  // namespace taskledger
