// Signal names, one table for every tool: glibc's own (sigabbrev_np), so that every signal
// the kernel can deliver has its name (SIGTRAP, SIGWINCH, ...), and the names the
// supervisor records are exactly the names the CLI accepts.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace taskledger::tools {

// "SIGTERM" for 15; "SIG<n>" for a signal glibc has no name for (the real-time ones).
std::string SignalName(int signal_number);

// A signal as users write it (TERM, SIGTERM or 15) -> its SignalName; nullopt when it
// names no signal.
std::optional<std::string> CanonicalSignalName(std::string_view text);

}  // namespace taskledger::tools
