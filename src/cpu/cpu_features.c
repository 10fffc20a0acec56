/* Run-time choice of the kernels' instruction set (see cpu_features.h). */
#include "cpu_features.h"

#include <stdlib.h>
#include <string.h>

int normot_cpu_use_avx2(void) {
  const char *wanted = getenv("NORMOT_CPU_KERNELS");
  if (wanted != NULL && strcmp(wanted, "baseline") == 0) return 0;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  return __builtin_cpu_supports("avx2") != 0;
#else
  return 0;
#endif
}
