// Commands as JSON objects, the way the HTTP API (docs/http.md) and batches receive them,
// and replies as the JSON the CLI's --json prints. Field names are the CLI flags' names
// without dashes (create's are `create --from`'s, docs/create-from.md), durations are text
// as on the command line ("30s"). Pure code: the server and the CLI share it.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "projections/decide.h"
#include "projections/status.h"

namespace taskledger {

// The command of CLI verb `verb` (create, claim, heartbeat, complete, fail, release,
// signal, exit, block, unblock, cancel, revive) from its fields: `id` names the task
// (create: optional, the ledger names it if absent; claim: absent with "next": true).
// Strict like every reader of ours: unknown keys, wrong types and values the verb's flags
// would refuse are InvalidArgument naming the key. The command returned has passed
// ValidateCommand; times are read relative to now_ns. Sets no meta (the caller's to say).
Result<Command> CommandFromJson(std::string_view verb, const nlohmann::json& fields, int64_t now_ns);

// The reply of an accepted command, exactly as `taskledger --json VERB` prints it:
// task, status, token, deadline(_ns) when there is one, existing when true, seq.
nlohmann::json CommandReplyToJson(const CommandReply& reply);

// A status class as a stable word for APIs: invalid_argument, refused, not_found, busy,
// io_error, data_loss, internal, unknown_outcome ("ok" for Ok).
std::string_view StatusCodeName(Code code);

}  // namespace taskledger
