/* Run-time choice between the baseline and the AVX2 build of the normalize passes (see
 * normalize_internal.h). One library then runs on any x86-64 and uses 256-bit vectors where the
 * CPU has them; the sum and the division are the compute-bound parts of a pass, and twice as
 * wide vectors bring a pass close to memory bandwidth on one core. */
#include "cpu_features.h"
#include "normalize_internal.h"

static const normalize_kernels baseline_kernels = {
    normot_cpu_normalize_totals, normot_cpu_check_indptr, normot_cpu_normalize_scale,
    normot_cpu_normalize_fused};

#if defined(NORMOT_HAVE_AVX2_KERNELS)
static const normalize_kernels avx2_kernels = {
    normot_cpu_normalize_totals_avx2, normot_cpu_check_indptr_avx2, normot_cpu_normalize_scale_avx2,
    normot_cpu_normalize_fused_avx2};
#endif

const normalize_kernels *normot_cpu_normalize_kernels(void) {
#if defined(NORMOT_HAVE_AVX2_KERNELS)
  if (normot_cpu_use_avx2()) return &avx2_kernels;
#endif
  return &baseline_kernels;
}
