/* Run-time choice of the kernels' instruction set (see cpu_features.h). */
#include "cpu_features.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static int decide_avx2(void) {
  const char *wanted = getenv("NORMOT_CPU_KERNELS");
  if (wanted != NULL && strcmp(wanted, "baseline") == 0) return 0;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  return __builtin_cpu_supports("avx2") != 0;
#else
  return 0;
#endif
}

/* Decided once per process: the assignment solver asks for every problem of a batch, and the
 * environment is not worth reading a thousand times. Threads that race here store the same
 * value. */
int normot_cpu_use_avx2(void) {
  static atomic_int decided = -1;
  int use = atomic_load_explicit(&decided, memory_order_relaxed);
  if (use < 0) {
    use = decide_avx2();
    atomic_store_explicit(&decided, use, memory_order_relaxed);
  }
  return use;
}
