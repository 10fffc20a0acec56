#include "cuda_kernels.h"

extern "C" normot_status normot_cuda_normalize_total(normot_context *context,
                                                     const normot_matrix *X,
                                                     const normot_normalize_params *params,
                                                     normot_normalize_output *output) {
  (void)X; (void)params; (void)output;
  return normot_fail(context, NORMOT_ERROR_NOT_IMPLEMENTED, "CUDA normalize_total: not yet");
}
