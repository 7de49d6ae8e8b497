// The operator's log: stderr (stdout is the verbs' output), at --log-level, as text for
// people or, with --log-format json, one JSON object per line for log collectors
// (journald's JSON export, Loki, jq): {"time", "level", "pid", "thread", "msg"}.
#pragma once

#include <string>

#include "projections/status.h"

namespace taskledger::cli {

// InvalidArgument naming the flag for an unknown level or format.
Status SetUpLogging(const std::string& level, const std::string& format);

}  // namespace taskledger::cli
