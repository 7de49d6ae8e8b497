#include "tools/server/free_memory.h"

#include <malloc.h>

// gperftools' C entry point, weak: null unless tcmalloc is linked in (tools/CMakeLists.txt
// links it into the taskledger binary, except in sanitizer and fuzz builds).
extern "C" void MallocExtension_ReleaseFreeMemory(void) __attribute__((weak));

namespace taskledger::server {

void ReturnFreeMemory() {
  if (MallocExtension_ReleaseFreeMemory != nullptr) {
    MallocExtension_ReleaseFreeMemory();
  } else {
    malloc_trim(0);
  }
}

}  // namespace taskledger::server
