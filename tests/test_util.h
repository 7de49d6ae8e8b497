// The core tests' helpers, now in tests/support: status assertions and gtest printers,
// time constants, hand-folded events. Kept so that existing includes keep working.
#pragma once

#include "tests/support/fold.h"
#include "tests/support/status.h"
#include "tests/support/time.h"
