/* Entry points of the CPU backend's kernels (see src/context.h for what they may assume). */
#ifndef NORMOT_SRC_CPU_KERNELS_H
#define NORMOT_SRC_CPU_KERNELS_H

#include "../context.h"

normot_status normot_cpu_normalize_total(normot_context *context, const normot_matrix *X,
                                         const normot_normalize_params *params,
                                         normot_normalize_output *output);

normot_status normot_cpu_emd(normot_context *context, const normot_emd_problem *problem,
                             const normot_emd_params *params, normot_emd_result *result);

#endif
