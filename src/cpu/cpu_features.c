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

/* AVX-512F on top of AVX2, unless NORMOT_CPU_KERNELS asks for "avx2" (or "baseline"): how the
 * tests compare the AVX2 kernels with the AVX-512 ones on a machine that has both. */
static int decide_avx512(void) {
  const char *wanted = getenv("NORMOT_CPU_KERNELS");
  if (wanted != NULL && strcmp(wanted, "avx2") == 0) return 0;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  return decide_avx2() && __builtin_cpu_supports("avx512f") != 0;
#else
  return 0;
#endif
}

/* Decided once per process: the assignment solver asks for every problem of a batch, and the
 * environment is not worth reading a thousand times. Threads that race here store the same
 * value. */
static int decided_once(atomic_int *decided, int (*decide)(void)) {
  int use = atomic_load_explicit(decided, memory_order_relaxed);
  if (use < 0) {
    use = decide();
    atomic_store_explicit(decided, use, memory_order_relaxed);
  }
  return use;
}

int normot_cpu_use_avx2(void) {
  static atomic_int decided = -1;
  return decided_once(&decided, decide_avx2);
}

int normot_cpu_use_avx512(void) {
  static atomic_int decided = -1;
  return decided_once(&decided, decide_avx512);
}
