#include "tools/supervisor/supervisor.h"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <spdlog/spdlog.h>
#include <thread>

#include "projections/time_text.h"
#include "tools/common/signal_names.h"
#include "tools/common/supervision_signals.h"
#include "tools/common/writer_meta.h"

namespace taskledger::supervisor {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Final records are retried this long when the ledger is unreachable (a server restart).
constexpr auto kRecordRetryFor = std::chrono::seconds(30);
// How long the supervisor waits for a SIGKILLed group to disappear before it exits.
constexpr auto kReapGroupFor = std::chrono::seconds(5);

class Supervisor {
 public:
  Supervisor(cli::Backend& backend, const RunOptions& options) : backend_(backend), options_(options) {}

  int Run() {
    const sigset_t handled = tools::BlockSupervisionSignals(&original_mask_);
    signal_fd_ = ::signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
    // Orphaned grandchildren are re-parented to us, so we can reap them: no zombies.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);

    if (int code = Claim(); code != 0) return code;
    if (int code = Start(); code != 0) return code;
    Supervise();
    return Finish();
  }

 private:
  int Claim() {
    Command claim;
    claim.kind = CommandKind::kClaim;
    claim.task_id = options_.task_id;
    claim.next = options_.task_id.empty();
    claim.queue = options_.queue;
    claim.actor = options_.worker;
    claim.ttl_ns = options_.ttl_ns;
    claim.meta = tools::WriterMeta(static_cast<uint32_t>(::getpid()));
    const Outcome outcome = backend_.Submit(claim);
    if (!outcome.status.ok()) {
      std::fprintf(stderr, "taskledger: %s\n", outcome.status.message().c_str());
      return outcome.status.ExitCode();
    }
    task_ = outcome.reply.task_id;
    token_ = outcome.reply.token;
    ttl_ns_ = options_.ttl_ns;
    for (const Event& e : outcome.reply.events) {
      if (e.kind == EventKind::kClaimed) ttl_ns_ = e.ttl_ns;
    }
    lease_until_ = SteadyClock::now() + std::chrono::nanoseconds(outcome.reply.deadline_ns - SystemClock().NowNs());
    spdlog::info("claimed {} token {} until {}", task_, token_, FormatTime(outcome.reply.deadline_ns));
    return 0;
  }

  int Start() {
    const pid_t parent = ::getpid();
    const auto [env_key, env_value] = backend_.AddressEnv();
    child_ = ::fork();
    if (child_ < 0) {
      std::fprintf(stderr, "taskledger: cannot start %s: %s\n", options_.command[0].c_str(), std::strerror(errno));
      Record(ExitCommand(std::nullopt, "SIGKILL"));
      return 1;
    }
    if (child_ == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // the child dies with its supervisor
      if (::getppid() != parent) ::_exit(137);
      sigprocmask(SIG_SETMASK, &original_mask_, nullptr);
      ::setenv("TASKLEDGER_TASK", task_.c_str(), 1);
      ::setenv("TASKLEDGER_TOKEN", std::to_string(token_).c_str(), 1);
      ::setenv("TASKLEDGER_WORKER", options_.worker.c_str(), 1);
      ::setenv(env_key.c_str(), env_value.c_str(), 1);
      std::vector<char*> argv;
      for (const std::string& arg : options_.command) argv.push_back(const_cast<char*>(arg.c_str()));
      argv.push_back(nullptr);
      ::execvp(argv[0], argv.data());
      std::fprintf(stderr, "taskledger: cannot run %s: %s\n", argv[0], std::strerror(errno));
      ::_exit(127);
    }
    ::setpgid(child_, child_);
    next_heartbeat_ = SteadyClock::now() + HeartbeatInterval();
    return 0;
  }

  std::chrono::nanoseconds HeartbeatInterval() const { return std::chrono::nanoseconds(std::max<int64_t>(ttl_ns_ / 3, 1)); }

  void Supervise() {
    while (!child_status_) {
      const auto now = SteadyClock::now();
      std::optional<SteadyClock::time_point> wake;
      if (!stopping_) wake = next_heartbeat_;
      if (kill_at_) wake = wake ? std::min(*wake, *kill_at_) : *kill_at_;
      int timeout_ms = -1;
      if (wake) {
        timeout_ms = static_cast<int>(std::max<int64_t>(
            0, std::chrono::duration_cast<std::chrono::milliseconds>(*wake - now).count() + 1));
      }
      pollfd fd{signal_fd_, POLLIN, 0};
      ::poll(&fd, 1, timeout_ms);
      HandleSignals();
      if (child_status_) break;
      if (kill_at_ && SteadyClock::now() >= *kill_at_) {
        spdlog::warn("{}: the child outlived its grace; SIGKILL to its group", task_);
        ::kill(-child_, SIGKILL);
        kill_at_.reset();
      }
      if (!stopping_ && SteadyClock::now() >= next_heartbeat_) Heartbeat();
    }
  }

  void HandleSignals() {
    signalfd_siginfo info{};
    while (::read(signal_fd_, &info, sizeof(info)) == sizeof(info)) {
      const int signal = static_cast<int>(info.ssi_signo);
      if (signal == SIGCHLD) {
        Reap();
      } else if (!stopping_) {
        spdlog::info("{}: {} received; recording it and stopping the child", task_, tools::SignalName(signal));
        Command command = HolderCommand(CommandKind::kSignal);
        command.signal = tools::SignalName(signal);
        command.grace_ns = options_.grace_ns;
        command.has_grace = true;  // the grace the child gets, 0 included: record exactly that
        const Outcome outcome = backend_.Submit(command);
        if (!outcome.status.ok()) spdlog::warn("{}: {}", task_, outcome.status.message());
        StopChild(signal);
      } else {
        ::kill(-child_, signal);  // asked again: pass it on
      }
    }
  }

  void Reap() {
    for (;;) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) return;
      if (pid == child_) child_status_ = status;
    }
  }

  void Heartbeat() {
    const Outcome outcome = backend_.Submit(HolderCommand(CommandKind::kHeartbeat));
    if (outcome.status.ok()) {
      lease_until_ = SteadyClock::now() + std::chrono::nanoseconds(outcome.reply.deadline_ns - SystemClock().NowNs());
      next_heartbeat_ = SteadyClock::now() + HeartbeatInterval();
      return;
    }
    if (outcome.status.IsRefused() || SteadyClock::now() >= lease_until_) {
      // Refused, or unreachable for the whole lease: either way the lease is gone.
      std::fprintf(stderr, "taskledger: lease lost: %s\n", outcome.status.message().c_str());
      lease_lost_ = true;
      StopChild(SIGTERM);
      return;
    }
    spdlog::warn("{}: heartbeat failed, retrying: {}", task_, outcome.status.message());
    next_heartbeat_ = SteadyClock::now() + std::chrono::milliseconds(100);
  }

  void StopChild(int signal) {
    stopping_ = true;
    ::kill(-child_, signal);
    kill_at_ = SteadyClock::now() + std::chrono::nanoseconds(options_.grace_ns);
  }

  int Finish() {
    ::kill(-child_, SIGKILL);  // whatever is left of its group
    // Orphans of the group are re-parented to us (subreaper): reap until none of the group
    // is left, so that no zombie outlives the supervisor. Bounded: a group member stuck in
    // uninterruptible sleep must not hold the supervisor forever.
    const auto give_up = SteadyClock::now() + kReapGroupFor;
    for (;;) {
      Reap();
      if (::kill(-child_, 0) != 0 && errno == ESRCH) break;
      if (SteadyClock::now() > give_up) {
        spdlog::warn("{}: processes of group {} are still there after SIGKILL", task_, child_);
        break;
      }
      pollfd fd{signal_fd_, POLLIN, 0};
      ::poll(&fd, 1, 10);
      signalfd_siginfo info{};
      while (::read(signal_fd_, &info, sizeof(info)) == sizeof(info)) {
      }
    }
    const int status = *child_status_;
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (lease_lost_) {
      // Still say how the child ended: the ledger refuses it, and the refusal is evidence.
      Record(WIFEXITED(status) ? ExitCommand(code, "") : ExitCommand(std::nullopt, tools::SignalName(WTERMSIG(status))));
      return 3;
    }
    if (WIFEXITED(status) && code == 0) {
      Result<TaskView> view = backend_.TaskAt(task_, PointInTime::Now());
      const bool completed_by_child = view.ok() && view->settled.done && view->settled.completed_token == token_;
      if (completed_by_child) {
        Record(ExitCommand(0, ""));
      } else {
        Command complete = HolderCommand(CommandKind::kComplete);
        complete.with_exit = true;  // `completed` then `exited`, one commit
        Record(complete);
      }
    } else if (WIFEXITED(status)) {
      Record(ExitCommand(code, ""));
    } else {
      Record(ExitCommand(std::nullopt, tools::SignalName(WTERMSIG(status))));
    }
    return refused_ ? 3 : code;
  }

  Command HolderCommand(CommandKind kind) const {
    Command command;
    command.kind = kind;
    command.task_id = task_;
    command.token = token_;
    command.actor = options_.worker;
    command.meta = tools::WriterMeta(static_cast<uint32_t>(child_ > 0 ? child_ : ::getpid()));
    return command;
  }

  Command ExitCommand(std::optional<int> code, const std::string& signal) const {
    Command command = HolderCommand(CommandKind::kExit);
    command.exit_code = code;
    command.signal = signal;
    return command;
  }

  // Records a final fact; retries while the ledger is unreachable.
  void Record(const Command& command) {
    const auto give_up = SteadyClock::now() + kRecordRetryFor;
    for (;;) {
      const Outcome outcome = backend_.Submit(command);
      if (outcome.status.ok()) return;
      if (outcome.status.code() != Code::kIOError || SteadyClock::now() > give_up) {
        std::fprintf(stderr, "taskledger: %s\n", outcome.status.message().c_str());
        if (outcome.status.IsRefused() && !stopping_) refused_ = true;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  cli::Backend& backend_;
  const RunOptions& options_;
  sigset_t original_mask_{};
  int signal_fd_ = -1;
  std::string task_;
  uint64_t token_ = 0;
  int64_t ttl_ns_ = 0;
  pid_t child_ = -1;
  std::optional<int> child_status_;
  SteadyClock::time_point next_heartbeat_;
  SteadyClock::time_point lease_until_;
  std::optional<SteadyClock::time_point> kill_at_;
  bool stopping_ = false;
  bool lease_lost_ = false;
  bool refused_ = false;
};

}  // namespace

int Run(cli::Backend& backend, const RunOptions& options) { return Supervisor(backend, options).Run(); }

}  // namespace taskledger::supervisor
