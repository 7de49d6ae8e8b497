#include "tools/worker/worker.h"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <spdlog/spdlog.h>

#include "tools/common/signal_names.h"
#include "tools/common/supervision_signals.h"
#include "tools/common/writer_meta.h"


namespace taskledger::worker {
namespace {

using SteadyClock = std::chrono::steady_clock;

using SteadyTime = SteadyClock::time_point;

// Final records are retried this long while the ledger is unreachable (a server restart),
// as `run` does.
constexpr auto kRecordRetryFor = std::chrono::seconds(30);
constexpr auto kRecordRetryEvery = std::chrono::milliseconds(200);
// A heartbeat that failed without a refusal is retried this soon, until the lease ends.
constexpr auto kHeartbeatRetryEvery = std::chrono::milliseconds(100);
// How long a child's group may outlive the child after SIGKILL before the worker gives up
// waiting for it (a member stuck in uninterruptible sleep), as `run` does.
constexpr auto kReapGroupFor = std::chrono::seconds(5);
constexpr auto kReapGroupPoll = std::chrono::milliseconds(10);

// One claimed task and its child.
struct Slot {
  std::string task;
  uint64_t token = 0;
  int64_t ttl_ns = 0;
  pid_t child = -1;                 // also its process group
  std::optional<int> wait_status;   // once reaped
  SteadyTime next_heartbeat;
  SteadyTime lease_until;
  std::optional<SteadyTime> kill_at;     // SIGKILL the group then (grace after a stop)
  std::optional<SteadyTime> reap_until;  // reaped: waiting for the group to vanish
  bool stopping = false;   // told to stop (a signal to the worker, or the lease lost)
  bool interrupted = false;  // stopped because the worker was told to stop
  bool lease_lost = false;
  std::optional<Command> final_record;  // built once the group is gone; sent, then freed
  SteadyTime record_give_up;
};

class Worker {
 public:
  Worker(cli::Backend& backend, const WorkerOptions& options, WorkerSummary* summary)
      : backend_(backend), options_(options), summary_(*summary) {}

  int Run() {
    const sigset_t handled = tools::BlockSupervisionSignals(&original_mask_);
    signal_fd_ = ::signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);  // orphaned grandchildren come to us: no zombies

    for (;;) {
      if (const int code = SendRecordsAndClaims(); code != 0) {
        exit_code_ = code;
        if (slots_.empty()) break;
        Drain(SIGTERM);  // a bad claim is the operator's to fix: stop the rest cleanly
      }
      if (slots_.empty() && (draining_ || Exhausted() || (options_.exit_when_idle && idle_))) break;
      Wait();
      HandleSignals();
      const auto now = SteadyClock::now();
      KillOverdue(now);
      RenewDueLeases(now);
      CollectEnded(now);
    }
    ::close(signal_fd_);
    sigprocmask(SIG_SETMASK, &original_mask_, nullptr);
    return exit_code_;
  }

 private:
  bool Exhausted() const { return options_.max_tasks != 0 && summary_.claimed >= options_.max_tasks; }

  size_t FreeSlots() const {
    if (draining_ || Exhausted()) return 0;
    const size_t held = slots_.size();
    size_t free = static_cast<size_t>(options_.concurrency) > held ? options_.concurrency - held : 0;
    if (options_.max_tasks != 0) free = std::min<uint64_t>(free, options_.max_tasks - summary_.claimed);
    return free;
  }

  // One call: every final record that is ready, then a claim for every free slot (unless
  // the queue was empty moments ago and no task ended since: an end may make its
  // dependents ready). Returns an exit code when a claim is refused as bad input (it would
  // be refused every time).
  int SendRecordsAndClaims() {
    const auto now = SteadyClock::now();
    std::vector<Command> commands;
    std::vector<size_t> record_slots;
    for (size_t i = 0; i < slots_.size() && now >= retry_records_at_; ++i) {
      if (slots_[i].final_record) {
        commands.push_back(*slots_[i].final_record);
        record_slots.push_back(i);
      }
    }
    size_t claims = FreeSlots();
    if (idle_ && now < idle_until_ && record_slots.empty()) claims = 0;
    for (size_t i = 0; i < claims; ++i) commands.push_back(ClaimCommand());
    if (commands.empty()) return 0;

    std::vector<Outcome> outcomes = backend_.SubmitGroup(commands);
    std::vector<size_t> ended;
    for (size_t k = 0; k < record_slots.size(); ++k) {
      Slot& slot = slots_[record_slots[k]];
      const Status& status = outcomes[k].status;
      if (!status.ok() && status.code() == Code::kIOError && now < slot.record_give_up) continue;  // retry
      if (!status.ok()) spdlog::warn("{}: {}", slot.task, status.message());
      ended.push_back(record_slots[k]);
    }
    if (ended.size() < record_slots.size()) retry_records_at_ = now + kRecordRetryEvery;
    int code = 0;
    for (size_t k = record_slots.size(); k < outcomes.size(); ++k) {
      if (const int c = StartClaimed(outcomes[k]); c != 0) code = c;
    }
    // Erase from the back so the indexes stay valid.
    for (auto it = ended.rbegin(); it != ended.rend(); ++it) slots_.erase(slots_.begin() + static_cast<long>(*it));
    return code;
  }

  Command ClaimCommand() const {
    Command claim;
    claim.kind = CommandKind::kClaim;
    claim.next = true;
    claim.queue = options_.queue;
    claim.actor = options_.worker;
    claim.ttl_ns = options_.ttl_ns;
    claim.meta = tools::WriterMeta(static_cast<uint32_t>(::getpid()));
    return claim;
  }

  int StartClaimed(const Outcome& outcome) {
    const auto now = SteadyClock::now();
    if (!outcome.status.ok()) {
      if (outcome.status.IsNotFound()) {  // nothing ready: ask again after the idle poll
        idle_ = true;
        idle_until_ = now + std::chrono::nanoseconds(options_.idle_poll_ns);
        return 0;
      }
      if (outcome.status.code() == Code::kInvalidArgument) {
        std::fprintf(stderr, "taskledger: %s\n", outcome.status.message().c_str());
        return outcome.status.ExitCode();
      }
      spdlog::warn("claim: {}", outcome.status.message());
      idle_ = true;
      idle_until_ = now + std::chrono::nanoseconds(options_.idle_poll_ns);
      return 0;
    }
    idle_ = false;
    summary_.claimed++;
    Slot slot;
    slot.task = outcome.reply.task_id;
    slot.token = outcome.reply.token;
    slot.ttl_ns = options_.ttl_ns;
    for (const Event& e : outcome.reply.events) {
      if (e.kind == EventKind::kClaimed) slot.ttl_ns = e.ttl_ns;
    }
    slot.lease_until = now + std::chrono::nanoseconds(outcome.reply.deadline_ns - SystemClock().NowNs());
    spdlog::info("claimed {} token {}", slot.task, slot.token);
    if (!Start(slot)) {
      // Could not fork: say so as `run` does (an exit by SIGKILL ends the attempt now).
      slot.wait_status = SIGKILL;  // WIFSIGNALED, WTERMSIG == SIGKILL
      slot.final_record = ExitCommand(slot, std::nullopt, "SIGKILL");
      slot.record_give_up = now + kRecordRetryFor;
      summary_.failed++;
    }
    slots_.push_back(std::move(slot));
    return 0;
  }

  bool Start(Slot& slot) {
    const pid_t parent = ::getpid();
    const auto [env_key, env_value] = backend_.AddressEnv();
    const pid_t child = ::fork();
    if (child < 0) {
      std::fprintf(stderr, "taskledger: cannot start %s: %s\n", options_.command[0].c_str(), std::strerror(errno));
      return false;
    }
    if (child == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // the child dies with its worker
      if (::getppid() != parent) ::_exit(137);
      sigprocmask(SIG_SETMASK, &original_mask_, nullptr);
      ::setenv("TASKLEDGER_TASK", slot.task.c_str(), 1);
      ::setenv("TASKLEDGER_TOKEN", std::to_string(slot.token).c_str(), 1);
      ::setenv("TASKLEDGER_WORKER", options_.worker.c_str(), 1);
      ::setenv(env_key.c_str(), env_value.c_str(), 1);
      std::vector<char*> argv;
      for (const std::string& arg : options_.command) argv.push_back(const_cast<char*>(arg.c_str()));
      argv.push_back(nullptr);
      ::execvp(argv[0], argv.data());
      std::fprintf(stderr, "taskledger: cannot run %s: %s\n", argv[0], std::strerror(errno));
      ::_exit(127);
    }
    ::setpgid(child, child);
    slot.child = child;
    slot.next_heartbeat = SteadyClock::now() + HeartbeatInterval(slot);
    return true;
  }

  static std::chrono::nanoseconds HeartbeatInterval(const Slot& slot) {
    return std::chrono::nanoseconds(std::max<int64_t>(slot.ttl_ns / 3, 1));
  }

  // Sleeps until a signal, the next heartbeat, kill, group check, record retry or claim.
  void Wait() {
    const auto now = SteadyClock::now();
    std::optional<SteadyTime> wake;
    auto consider = [&](SteadyTime t) { wake = wake ? std::min(*wake, t) : t; };
    for (const Slot& slot : slots_) {
      if (slot.final_record) consider(retry_records_at_);
      if (slot.child > 0 && !slot.wait_status && !slot.stopping) consider(slot.next_heartbeat);
      if (slot.kill_at) consider(*slot.kill_at);
      if (slot.reap_until) consider(now + kReapGroupPoll);
    }
    if (FreeSlots() > 0) consider(idle_ ? idle_until_ : now);
    int timeout_ms = -1;
    if (wake) {
      timeout_ms = static_cast<int>(std::clamp<int64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(*wake - now).count() + 1, 0, 60'000));
      if (*wake <= now) timeout_ms = 0;
    }
    pollfd fd{signal_fd_, POLLIN, 0};
    ::poll(&fd, 1, timeout_ms);
  }

  void HandleSignals() {
    signalfd_siginfo info{};
    while (::read(signal_fd_, &info, sizeof(info)) == sizeof(info)) {
      const int signal = static_cast<int>(info.ssi_signo);
      if (signal == SIGCHLD) {
        Reap();
      } else if (!draining_) {
        spdlog::info("{} received; recording it for {} task(s) and stopping them", tools::SignalName(signal), slots_.size());
        Drain(signal);
      } else {
        for (const Slot& slot : slots_) {
          if (slot.child > 0 && !slot.wait_status) ::kill(-slot.child, signal);  // asked again: pass it on
        }
      }
    }
  }

  // Stops claiming; records `signaled` for every running child (one call) and stops them.
  void Drain(int signal) {
    draining_ = true;
    std::vector<Command> commands;
    for (Slot& slot : slots_) {
      if (slot.child <= 0 || slot.wait_status || slot.stopping) continue;
      Command command = HolderCommand(slot, CommandKind::kSignal);
      command.signal = tools::SignalName(signal);
      command.grace_ns = options_.grace_ns;
      command.has_grace = true;  // the grace the child gets, 0 included: record exactly that
      commands.push_back(std::move(command));
      slot.interrupted = true;
    }
    const std::vector<Outcome> outcomes = backend_.SubmitGroup(commands);
    for (const Outcome& outcome : outcomes) {
      if (!outcome.status.ok()) spdlog::warn("signal: {}", outcome.status.message());
    }
    for (Slot& slot : slots_) {
      if (slot.interrupted && !slot.stopping) StopChild(slot, signal);
    }
  }

  void Reap() {
    for (;;) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) return;
      for (Slot& slot : slots_) {
        if (slot.child == pid) {
          slot.wait_status = status;
          ::kill(-slot.child, SIGKILL);  // whatever is left of its group
          slot.reap_until = SteadyClock::now() + kReapGroupFor;
          slot.kill_at.reset();
        }
      }
    }
  }

  void StopChild(Slot& slot, int signal) {
    slot.stopping = true;
    ::kill(-slot.child, signal);
    slot.kill_at = SteadyClock::now() + std::chrono::nanoseconds(options_.grace_ns);
  }

  void KillOverdue(SteadyTime now) {
    for (Slot& slot : slots_) {
      if (slot.kill_at && now >= *slot.kill_at && !slot.wait_status) {
        spdlog::warn("{}: the child outlived its grace; SIGKILL to its group", slot.task);
        ::kill(-slot.child, SIGKILL);
        slot.kill_at.reset();
      }
    }
  }

  // One call renews every lease that is due, and those due within half an interval, so
  // that a worker's renewals travel together.
  void RenewDueLeases(SteadyTime now) {
    std::vector<size_t> renewing;
    bool any_due = false;
    for (size_t i = 0; i < slots_.size(); ++i) {
      const Slot& slot = slots_[i];
      if (slot.child <= 0 || slot.wait_status || slot.stopping) continue;
      if (slot.next_heartbeat <= now) any_due = true;
      if (slot.next_heartbeat <= now + HeartbeatInterval(slot) / 2) renewing.push_back(i);
    }
    if (!any_due) return;
    std::vector<Command> commands;
    for (size_t i : renewing) commands.push_back(HolderCommand(slots_[i], CommandKind::kHeartbeat));
    const std::vector<Outcome> outcomes = backend_.SubmitGroup(commands);
    const auto after = SteadyClock::now();
    for (size_t k = 0; k < renewing.size(); ++k) {
      Slot& slot = slots_[renewing[k]];
      const Outcome& outcome = outcomes[k];
      if (outcome.status.ok()) {
        slot.lease_until = after + std::chrono::nanoseconds(outcome.reply.deadline_ns - SystemClock().NowNs());
        slot.next_heartbeat = after + HeartbeatInterval(slot);
      } else if (outcome.status.IsRefused() || after >= slot.lease_until) {
        // Refused, or unreachable for the whole lease: either way the lease is gone.
        std::fprintf(stderr, "taskledger: %s: lease lost: %s\n", slot.task.c_str(), outcome.status.message().c_str());
        slot.lease_lost = true;
        summary_.lease_lost++;
        StopChild(slot, SIGTERM);
      } else {
        spdlog::warn("{}: heartbeat failed, retrying: {}", slot.task, outcome.status.message());
        slot.next_heartbeat = after + kHeartbeatRetryEvery;
      }
    }
  }

  // Children whose group is gone (or past the bound) get their final record built.
  void CollectEnded(SteadyTime now) {
    for (Slot& slot : slots_) {
      if (!slot.reap_until || slot.final_record) continue;
      const bool group_gone = ::kill(-slot.child, 0) != 0 && errno == ESRCH;
      if (!group_gone && now < *slot.reap_until) continue;
      if (!group_gone) spdlog::warn("{}: processes of group {} are still there after SIGKILL", slot.task, slot.child);
      slot.reap_until.reset();
      slot.final_record = FinalRecord(slot);
      slot.record_give_up = now + kRecordRetryFor;
    }
  }

  // How the child ended, as `run` records it.
  Command FinalRecord(Slot& slot) {
    const int status = *slot.wait_status;
    const bool exited = WIFEXITED(status);
    const int code = exited ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (slot.lease_lost) {
      // Still say how the child ended: the ledger refuses it, and the refusal is evidence.
      return exited ? ExitCommand(slot, code, "") : ExitCommand(slot, std::nullopt, tools::SignalName(WTERMSIG(status)));
    }
    if (slot.interrupted) {
      summary_.interrupted++;
    } else if (exited && code == 0) {
      summary_.completed++;
    } else {
      summary_.failed++;
    }
    if (exited && code == 0) {
      // `completed` then `exited` in one commit; or only `exited` where the child already
      // completed the task with this token (the ledger decides: no read first).
      Command complete = HolderCommand(slot, CommandKind::kComplete);
      complete.with_exit = true;
      return complete;
    }
    if (exited) return ExitCommand(slot, code, "");
    return ExitCommand(slot, std::nullopt, tools::SignalName(WTERMSIG(status)));
  }

  Command HolderCommand(const Slot& slot, CommandKind kind) const {
    Command command;
    command.kind = kind;
    command.task_id = slot.task;
    command.token = slot.token;
    command.actor = options_.worker;
    command.meta = tools::WriterMeta(static_cast<uint32_t>(slot.child > 0 ? slot.child : ::getpid()));
    return command;
  }

  Command ExitCommand(const Slot& slot, std::optional<int> code, const std::string& signal) const {
    Command command = HolderCommand(slot, CommandKind::kExit);
    command.exit_code = code;
    command.signal = signal;
    return command;
  }

  cli::Backend& backend_;
  const WorkerOptions& options_;
  WorkerSummary& summary_;
  sigset_t original_mask_{};
  int signal_fd_ = -1;
  std::vector<Slot> slots_;
  bool draining_ = false;
  bool idle_ = false;  // the last claim found nothing ready
  SteadyTime idle_until_;
  SteadyTime retry_records_at_;  // final records that met an unreachable ledger wait till then
  int exit_code_ = 0;
};

}  // namespace

int Run(cli::Backend& backend, const WorkerOptions& options, WorkerSummary* summary) {
  return Worker(backend, options, summary).Run();
}

}  // namespace taskledger::worker
