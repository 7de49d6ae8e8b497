// Command builders and MemLedger (a ledger on an in-memory Env driven by a ManualClock),
// now in tests/support. Kept so that existing includes keep working.
#pragma once

#include "projections/decide.h"
#include "test_util.h"
#include "tests/support/commands.h"
#include "tests/support/ledgers.h"
