// `taskledger worker` (DESIGN §6, additions of December 2026): the fleet supervisor of
// tools/worker/worker.h, wired to the command line.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "tools/cli/common.h"

namespace taskledger::cli {

// Adds the verb to `app`; its callback sets `run`. `command` is what followed `--` on the
// command line (split off before parsing): the worker command, verbatim.
void AddWorkerVerb(CLI::App& app, Cli& cli, std::function<int()>& run, const std::vector<std::string>& command);

}  // namespace taskledger::cli
