// What every command says of its writer (ClientMeta): the process it speaks for, the host,
// and the writer's own wall time when it sent the command. The ledger decides by its own
// clock; the writer's time is evidence: explain and stats flag a writer whose clock is off
// the ledger's (projections/explain.h, kClockSkewBoundNs), and the host names the machine
// a zombie lives on.
#pragma once

#include <cstdint>

#include "projections/event.h"

namespace taskledger::tools {

// `pid` as given; this host's name; the wall clock now.
ClientMeta WriterMeta(uint32_t pid);

}  // namespace taskledger::tools
