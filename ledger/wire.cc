#include "ledger/wire.h"

#include <capnp/message.h>

#include <cstring>
#include <utility>

#include "ledger/codec.h"

namespace taskledger::wire {
namespace {

constexpr unsigned kCommandKindCount = static_cast<unsigned>(CommandKind::kSweep) + 1;
constexpr unsigned kWaitReasonCount = static_cast<unsigned>(WaitReason::kBackoff) + 1;
constexpr unsigned kCodeCount = static_cast<unsigned>(Code::kUnknownOutcome) + 1;

template <typename Enum>
Result<Enum> EnumFrom(uint8_t value, unsigned count, const char* what) {
  if (value >= count) return Status::InvalidArgument(std::string("unknown ") + what + " " + std::to_string(value));
  return static_cast<Enum>(value);
}

// A Cap'n Proto Text carries its length and may hold a NUL; converting it to std::string
// stops at the first NUL (kj::StringPtr converts through cStr()). A NUL inside is refused
// rather than silently truncated: "a\0b" must not become "a".
bool HasNul(capnp::Text::Reader text) { return std::memchr(text.begin(), '\0', text.size()) != nullptr; }

Status CheckNoNul(rpc::Command::Reader in) {
  const std::pair<const char*, capnp::Text::Reader> texts[] = {
      {"task id", in.getTaskId()}, {"actor", in.getActor()}, {"queue", in.getQueue()},
      {"text", in.getText()},      {"signal", in.getSignal()}};
  for (const auto& [what, text] : texts) {
    if (HasNul(text)) return Status::InvalidArgument(std::string(what) + " contains a NUL byte");
  }
  if (in.hasMeta() && HasNul(in.getMeta().getHost())) return Status::InvalidArgument("host contains a NUL byte");
  if (in.hasSpec()) {
    auto spec = in.getSpec();
    const std::pair<const char*, capnp::Text::Reader> spec_texts[] = {{"title", spec.getTitle()},
                                                                      {"payload", spec.getPayload()},
                                                                      {"queue", spec.getQueue()},
                                                                      {"idempotency key", spec.getIdempotencyKey()}};
    for (const auto& [what, text] : spec_texts) {
      if (HasNul(text)) return Status::InvalidArgument(std::string(what) + " contains a NUL byte");
    }
    for (auto dep : spec.getAfter()) {
      if (HasNul(dep)) return Status::InvalidArgument("dependency id contains a NUL byte");
    }
  }
  return Status::Ok();
}

}  // namespace

void WriteError(const Status& status, rpc::Error::Builder out) {
  out.setCode(static_cast<uint8_t>(status.code()));
  out.setMessage(status.message());
}

Status ReadError(rpc::Error::Reader in) {
  const std::string message = in.getMessage();
  switch (in.getCode() < kCodeCount ? static_cast<Code>(in.getCode()) : Code::kInternal) {
    case Code::kOk: return Status::Ok();
    case Code::kInvalidArgument: return Status::InvalidArgument(message);
    case Code::kRefused: return Status::Refused(message);
    case Code::kNotFound: return Status::NotFound(message);
    case Code::kBusy: return Status::Busy(message);
    case Code::kIOError: return Status::IOError(message);
    case Code::kDataLoss: return Status::DataLoss(message);
    case Code::kInternal: return Status::Internal(message);
    case Code::kUnknownOutcome: return Status::UnknownOutcome(message);
  }
  return Status::Internal(message);
}

void WriteCommand(const Command& c, rpc::Command::Builder out) {
  out.setKind(static_cast<uint8_t>(c.kind));
  out.setTaskId(c.task_id);
  out.setActor(c.actor);
  auto meta = out.initMeta();
  meta.setPid(c.meta.pid);
  meta.setHost(c.meta.host);
  meta.setWallTimeNs(c.meta.wall_time_ns);
  WriteSpec(c.spec, out.initSpec());
  out.setNext(c.next);
  out.setQueue(c.queue);
  out.setTtlNs(c.ttl_ns);
  out.setToken(c.token);
  out.setText(c.text);
  out.setSignal(c.signal);
  out.setGraceNs(c.grace_ns);
  out.setHasGrace(c.has_grace);
  out.setHasExitCode(c.exit_code.has_value());
  out.setExitCode(c.exit_code.value_or(0));
  out.setWithExit(c.with_exit);
}

Result<Command> ReadCommand(rpc::Command::Reader in) {
  Result<CommandKind> kind = EnumFrom<CommandKind>(in.getKind(), kCommandKindCount, "command kind");
  if (!kind.ok()) return kind.status();
  if (Status s = CheckNoNul(in); !s.ok()) return s;
  Command c;
  c.kind = *kind;
  c.task_id = in.getTaskId();
  c.actor = in.getActor();
  if (in.hasMeta()) {
    c.meta.pid = in.getMeta().getPid();
    c.meta.host = in.getMeta().getHost();
    c.meta.wall_time_ns = in.getMeta().getWallTimeNs();
  }
  if (in.hasSpec()) c.spec = ReadSpec(in.getSpec());
  c.next = in.getNext();
  c.queue = in.getQueue();
  c.ttl_ns = in.getTtlNs();
  c.token = in.getToken();
  c.text = in.getText();
  c.signal = in.getSignal();
  c.grace_ns = in.getGraceNs();
  c.has_grace = in.getHasGrace();
  if (in.getHasExitCode()) c.exit_code = in.getExitCode();
  c.with_exit = in.getWithExit();
  return c;
}

void WriteOutcome(const Outcome& o, rpc::Outcome::Builder out) {
  WriteError(o.status, out.initError());
  out.setTaskId(o.reply.task_id);
  out.setToken(o.reply.token);
  out.setDeadlineNs(o.reply.deadline_ns);
  out.setStatus(static_cast<uint8_t>(o.reply.status));
  out.setExisting(o.reply.existing);
  auto events = out.initEvents(static_cast<unsigned>(o.reply.events.size()));
  for (size_t i = 0; i < o.reply.events.size(); ++i) WriteEvent(o.reply.events[i], events[static_cast<unsigned>(i)]);
}

Result<Outcome> ReadOutcome(rpc::Outcome::Reader in) {
  Outcome o;
  o.status = ReadError(in.getError());
  o.reply.task_id = in.getTaskId();
  o.reply.token = in.getToken();
  o.reply.deadline_ns = in.getDeadlineNs();
  Result<TaskStatus> status = EnumFrom<TaskStatus>(in.getStatus(), kTaskStatusCount, "task status");
  if (!status.ok()) return status.status();
  o.reply.status = *status;
  o.reply.existing = in.getExisting();
  for (auto event : in.getEvents()) {
    Result<Event> e = ReadEvent(event);
    if (!e.ok()) return e.status();
    o.reply.events.push_back(std::move(*e));
  }
  return o;
}

void WritePointInTime(const PointInTime& at, rpc::PointInTime::Builder out) {
  out.setKind(static_cast<uint8_t>(at.kind));
  out.setValue(at.value);
}

Result<PointInTime> ReadPointInTime(rpc::PointInTime::Reader in) {
  Result<PointInTime::Kind> kind = EnumFrom<PointInTime::Kind>(in.getKind(), 3, "point in time");
  if (!kind.ok()) return kind.status();
  if (in.getValue() < 0) return Status::InvalidArgument("a point in time is negative");
  return PointInTime{*kind, in.getValue()};
}

void WriteTaskView(const TaskView& view, rpc::TaskView::Builder out) {
  out.setStatus(static_cast<uint8_t>(view.status));
  out.setWait(static_cast<uint8_t>(view.wait));
  out.setUntilNs(view.until_ns);
  out.setDependency(view.dependency);
  out.setDependencyStatus(static_cast<uint8_t>(view.dependency_status));
  WriteTaskState(view.settled, out.initSettled());
}

Result<TaskView> ReadTaskView(rpc::TaskView::Reader in) {
  TaskView view;
  Result<TaskStatus> status = EnumFrom<TaskStatus>(in.getStatus(), kTaskStatusCount, "task status");
  Result<WaitReason> wait = EnumFrom<WaitReason>(in.getWait(), kWaitReasonCount, "wait reason");
  Result<TaskStatus> dep = EnumFrom<TaskStatus>(in.getDependencyStatus(), kTaskStatusCount, "task status");
  if (!status.ok()) return status.status();
  if (!wait.ok()) return wait.status();
  if (!dep.ok()) return dep.status();
  view.status = *status;
  view.wait = *wait;
  view.dependency_status = *dep;
  view.until_ns = in.getUntilNs();
  view.dependency = in.getDependency();
  Result<TaskRecord> settled = ReadTaskState(in.getSettled());
  if (!settled.ok()) return settled.status();
  view.settled = std::move(*settled);
  return view;
}

uint64_t TaskViewWords(const TaskView& view) {
  capnp::MallocMessageBuilder scratch(64);
  auto root = scratch.initRoot<rpc::TaskView>();
  WriteTaskView(view, root);
  return root.asReader().totalSize().wordCount;
}

}  // namespace taskledger::wire
