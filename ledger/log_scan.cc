#include "ledger/log_scan.h"

#include <rocksdb/db.h>

#include <algorithm>
#include <array>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ledger/codec.h"
#include "ledger/keys.h"
#include "ledger/rocks_status.h"
#include "ledger/thread_safety.h"

namespace taskledger {
namespace {

// Events decoded ahead of the fold: the replay is told of each as it is decoded (the
// task's slot) and again half way (its record).
constexpr size_t kFoldAhead = 8;
// The two-thread fold hands events over in batches of this many, kFoldBatches of them
// circulating between the reader and the folder: bounds the memory of the read-ahead.
constexpr size_t kFoldBatchEvents = 256;
constexpr size_t kFoldBatches = 4;

Status UndecodableEvent(const rocksdb::Iterator& it, const Status& s) {
  return Status::DataLoss("event at seq " + std::to_string(keys::ReadU64(it.key().ToStringView())) + ": " +
                          s.message());
}

Status FoldEventsOneThread(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events, const rocksdb::ReadOptions& options,
                           const Replay& replay, const EventFn& fn) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(options, events));
  EventDecoder decoder;
  std::array<Event, kFoldAhead> ring;
  size_t decoded = 0, passed = 0;
  Status error = Status::Ok();
  for (it->Seek(keys::Seq(1)); it->Valid(); it->Next()) {
    if (decoded - passed == kFoldAhead) {
      if (!fn(static_cast<const Event&>(ring[passed % kFoldAhead]))) return Status::Ok();
      ++passed;
    }
    Event& event = ring[decoded % kFoldAhead];
    if (Status s = decoder.Decode(it->value().ToStringView(), &event); !s.ok()) {
      error = UndecodableEvent(*it, s);
      break;
    }
    replay.PrefetchSlot(event.task_id);
    ++decoded;
    if (decoded - passed > kFoldAhead / 2) replay.PrefetchRecord(ring[(decoded - kFoldAhead / 2 - 1) % kFoldAhead].task_id);
  }
  if (error.ok()) error = FromRocks(it->status(), "read the log");
  for (; passed < decoded; ++passed) {
    if (!fn(static_cast<const Event&>(ring[passed % kFoldAhead]))) return Status::Ok();
  }
  return error;
}

struct EventBatch {
  std::vector<Event> events = std::vector<Event>(kFoldBatchEvents);
  size_t size = 0;
  Status status = Status::Ok();  // after the last event of the batch
  bool last = false;
};

// The hand-over between the reader thread and the folding thread: empty batches go to the
// reader, full ones to the folder. Thread-safe.
class BatchQueue {
 public:
  BatchQueue() {
    MutexLock lock(&mutex_);
    for (size_t i = 0; i < kFoldBatches; ++i) empty_.push_back(std::make_unique<EventBatch>());
  }

  // The reader's next batch to fill; nullptr once the folder has stopped.
  std::unique_ptr<EventBatch> TakeEmpty() EXCLUDES(mutex_) {
    MutexLock lock(&mutex_);
    while (!stopped_ && empty_.empty()) changed_.Wait(&mutex_);
    if (stopped_) return nullptr;
    std::unique_ptr<EventBatch> batch = std::move(empty_.front());
    empty_.pop_front();
    return batch;
  }
  void PutFull(std::unique_ptr<EventBatch> batch) EXCLUDES(mutex_) { Put(&full_, std::move(batch)); }

  // The folder's next batch, in the order the reader filled them.
  std::unique_ptr<EventBatch> TakeFull() EXCLUDES(mutex_) {
    MutexLock lock(&mutex_);
    while (full_.empty()) changed_.Wait(&mutex_);
    std::unique_ptr<EventBatch> batch = std::move(full_.front());
    full_.pop_front();
    return batch;
  }
  void PutEmpty(std::unique_ptr<EventBatch> batch) EXCLUDES(mutex_) { Put(&empty_, std::move(batch)); }

  // The folder is done: the reader stops at its next TakeEmpty.
  void Stop() EXCLUDES(mutex_) {
    {
      MutexLock lock(&mutex_);
      stopped_ = true;
    }
    changed_.NotifyAll();
  }

 private:
  using Batches = std::deque<std::unique_ptr<EventBatch>>;
  void Put(Batches* batches, std::unique_ptr<EventBatch> batch) EXCLUDES(mutex_) {
    {
      MutexLock lock(&mutex_);
      batches->push_back(std::move(batch));
    }
    changed_.NotifyAll();
  }

  Mutex mutex_;
  CondVar changed_;
  Batches empty_ GUARDED_BY(mutex_);
  Batches full_ GUARDED_BY(mutex_);
  bool stopped_ GUARDED_BY(mutex_) = false;
};

// The reader thread: iterates and decodes the log into batches until its end, an error, or
// the folder's Stop.
void ReadBatches(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events, const rocksdb::ReadOptions& options,
                 BatchQueue* queue) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(options, events));
  EventDecoder decoder;
  it->Seek(keys::Seq(1));
  for (bool last = false; !last;) {
    std::unique_ptr<EventBatch> batch = queue->TakeEmpty();
    if (batch == nullptr) return;
    batch->size = 0;
    batch->status = Status::Ok();
    batch->last = false;
    for (; batch->size < kFoldBatchEvents && it->Valid(); it->Next()) {
      if (Status s = decoder.Decode(it->value().ToStringView(), &batch->events[batch->size]); !s.ok()) {
        batch->status = UndecodableEvent(*it, s);
        batch->last = true;
        break;
      }
      ++batch->size;
    }
    if (!batch->last && !it->Valid()) {
      batch->status = FromRocks(it->status(), "read the log");
      batch->last = true;
    }
    last = batch->last;
    queue->PutFull(std::move(batch));
  }
}

// Same contract as FoldEventsOneThread (order, errors, stopping).
Status FoldEventsTwoThreads(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events,
                            const rocksdb::ReadOptions& options, const Replay& replay, const EventFn& fn) {
  BatchQueue queue;
  std::thread reader(ReadBatches, db, events, std::cref(options), &queue);
  const auto finish = [&](Status status) {
    queue.Stop();
    reader.join();
    return status;
  };
  for (;;) {
    std::unique_ptr<EventBatch> batch = queue.TakeFull();
    const std::vector<Event>& batch_events = batch->events;
    for (size_t i = 0; i < batch->size && i < kFoldAhead; ++i) replay.PrefetchSlot(batch_events[i].task_id);
    for (size_t i = 0; i < batch->size && i < kFoldAhead / 2; ++i) replay.PrefetchRecord(batch_events[i].task_id);
    for (size_t i = 0; i < batch->size; ++i) {
      if (i + kFoldAhead < batch->size) replay.PrefetchSlot(batch_events[i + kFoldAhead].task_id);
      if (i + kFoldAhead / 2 < batch->size) replay.PrefetchRecord(batch_events[i + kFoldAhead / 2].task_id);
      if (!fn(static_cast<const Event&>(batch_events[i]))) return finish(Status::Ok());
    }
    if (batch->last) return finish(batch->status);
    queue.PutEmpty(std::move(batch));
  }
}

}  // namespace

// Checksums stay verified: measured, they cost under 1 % of a verify (hardware crc32c),
// not worth a scan that could read a damaged block unnoticed.
rocksdb::ReadOptions LogScanOptions() {
  rocksdb::ReadOptions options;
  options.fill_cache = false;
  options.readahead_size = 2 << 20;
  return options;
}

Status ScanEvents(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events, const rocksdb::ReadOptions& options,
                  uint64_t from_seq, const EventFn& fn) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(options, events));
  EventDecoder decoder;
  Event event;
  for (it->Seek(keys::Seq(std::max<uint64_t>(from_seq, 1))); it->Valid(); it->Next()) {
    if (Status s = decoder.Decode(it->value().ToStringView(), &event); !s.ok()) return UndecodableEvent(*it, s);
    if (!fn(static_cast<const Event&>(event))) return Status::Ok();
  }
  return FromRocks(it->status(), "read the log");
}

Status FoldEvents(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events, const rocksdb::ReadOptions& options,
                  const Replay& replay, const EventFn& fn) {
  if (std::thread::hardware_concurrency() < 2) return FoldEventsOneThread(db, events, options, replay, fn);
  return FoldEventsTwoThreads(db, events, options, replay, fn);
}

}  // namespace taskledger
