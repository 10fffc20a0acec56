#include "cpu_kernels.h"

normot_status normot_cpu_normalize_total(normot_context *context, const normot_matrix *X,
                                         const normot_normalize_params *params,
                                         normot_normalize_output *output) {
  (void)X; (void)params; (void)output;
  return normot_fail(context, NORMOT_ERROR_NOT_IMPLEMENTED, "normalize_total: not yet");
}
