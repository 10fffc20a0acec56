#include "cuda_kernels.h"

extern "C" normot_status normot_cuda_emd(normot_context *context,
                                         const normot_emd_problem *problem,
                                         const normot_emd_params *params,
                                         normot_emd_result *result) {
  (void)problem; (void)params; (void)result;
  return normot_fail(context, NORMOT_ERROR_NOT_IMPLEMENTED, "CUDA emd: not yet");
}
