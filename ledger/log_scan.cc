#include "ledger/log_scan.h"

#include <rocksdb/db.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
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

Status UndecodableEvent(uint64_t seq, const Status& s) {
  return Status::DataLoss("event at seq " + std::to_string(seq) + ": " + s.message());
}

Status UndecodableEvent(const rocksdb::Iterator& it, const Status& s) {
  return UndecodableEvent(keys::ReadU64(it.key().ToStringView()), s);
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

// A batch of the log handed from the reader to the folder: the events' encoded bytes, and
// once decoded (by whichever thread had the time, see ReadBatches) the events.
struct EventBatch {
  std::vector<Event> events = std::vector<Event>(kFoldBatchEvents);
  std::vector<uint64_t> words;  // the encoded events back to back, 8-byte aligned
  std::vector<std::pair<size_t, size_t>> encoded;  // per event: offset and size in bytes
  std::vector<uint64_t> seqs;  // per event: its key's seq, for the error
  size_t size = 0;
  bool decoded = false;
  Status status = Status::Ok();  // after the last event of the batch
  bool last = false;

  void Clear() {
    size = 0;
    encoded.clear();
    seqs.clear();
    decoded = false;
    status = Status::Ok();
    last = false;
  }
  void Add(uint64_t seq, std::string_view value) {
    const size_t offset = encoded.empty() ? 0 : encoded.back().first + (encoded.back().second + 7) / 8 * 8;
    words.resize(std::max(words.size(), (offset + value.size() + 7) / 8));
    std::memcpy(reinterpret_cast<char*>(words.data()) + offset, value.data(), value.size());
    encoded.emplace_back(offset, value.size());
    seqs.push_back(seq);
    ++size;
  }
  // Decodes every event; the first undecodable one ends the batch (and the scan) there.
  void Decode(EventDecoder* decoder) {
    for (size_t i = 0; i < size; ++i) {
      const std::string_view bytes(reinterpret_cast<const char*>(words.data()) + encoded[i].first, encoded[i].second);
      if (Status s = decoder->Decode(bytes, &events[i]); !s.ok()) {
        size = i;
        status = UndecodableEvent(seqs[i], s);
        last = true;
        break;
      }
    }
    decoded = true;
  }
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
  // Batches read and not yet taken by the folder.
  size_t FullBacklog() EXCLUDES(mutex_) {
    MutexLock lock(&mutex_);
    return full_.size();
  }

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

// The reader thread: iterates the log into batches until its end, an error, or the
// folder's Stop. Decoding goes to whichever thread has the time: the reader decodes a batch
// itself only while the folder has another one waiting, else it hands it over encoded and
// the folder decodes it. Measured on 10M events, iterating and decoding alone left the
// reader the bound and the folder waiting about a third of the time.
void ReadBatches(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events, const rocksdb::ReadOptions& options,
                 BatchQueue* queue) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(options, events));
  EventDecoder decoder;
  it->Seek(keys::Seq(1));
  for (bool last = false; !last;) {
    std::unique_ptr<EventBatch> batch = queue->TakeEmpty();
    if (batch == nullptr) return;
    batch->Clear();
    for (; batch->size < kFoldBatchEvents && it->Valid(); it->Next()) {
      batch->Add(keys::ReadU64(it->key().ToStringView()), it->value().ToStringView());
    }
    if (!it->Valid()) {
      batch->status = FromRocks(it->status(), "read the log");
      batch->last = true;
    }
    if (queue->FullBacklog() != 0) batch->Decode(&decoder);
    last = batch->last;
    queue->PutFull(std::move(batch));
  }
}

// Same contract as FoldEventsOneThread (order, errors, stopping).
Status FoldEventsTwoThreads(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events,
                            const rocksdb::ReadOptions& options, const Replay& replay, const EventFn& fn) {
  BatchQueue queue;
  EventDecoder decoder;
  std::thread reader(ReadBatches, db, events, std::cref(options), &queue);
  const auto finish = [&](Status status) {
    queue.Stop();
    reader.join();
    return status;
  };
  for (;;) {
    std::unique_ptr<EventBatch> batch = queue.TakeFull();
    if (!batch->decoded) batch->Decode(&decoder);
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
