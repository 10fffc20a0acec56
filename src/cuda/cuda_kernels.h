/* Entry points of the CUDA backend's kernels, callable from C++ (.cu) files only. */
#ifndef NORMOT_SRC_CUDA_KERNELS_H
#define NORMOT_SRC_CUDA_KERNELS_H

#include "../context.h"

#ifdef __cplusplus
extern "C" {
#endif

normot_status normot_cuda_normalize_total(normot_context *context, const normot_matrix *X,
                                          const normot_normalize_params *params,
                                          normot_normalize_output *output);

normot_status normot_cuda_emd(normot_context *context, const normot_emd_problem *problem,
                              const normot_emd_params *params, normot_emd_result *result);

#ifdef __cplusplus
}
#endif

#endif
