#include "tools/common/supervision_signals.h"

#include <mutex>

namespace taskledger::tools {

sigset_t BlockSupervisionSignals(sigset_t* original) {
  sigset_t handled;
  sigemptyset(&handled);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&handled, s);
  // Blocked at every call (a worker restores the mask when it ends, and may run again);
  // the mask from before the first call is the one children get back.
  static sigset_t before;
  static std::once_flag once;
  std::call_once(once, [&] { pthread_sigmask(SIG_BLOCK, &handled, &before); });
  pthread_sigmask(SIG_BLOCK, &handled, nullptr);
  *original = before;
  return handled;
}

}  // namespace taskledger::tools
