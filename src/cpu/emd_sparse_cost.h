/* The CPU backend's normot_emd_sparse (emd_sparse_cost.c). */
#ifndef NORMOT_SRC_CPU_EMD_SPARSE_COST_H
#define NORMOT_SRC_CPU_EMD_SPARSE_COST_H

#include "../context.h"

/* Arguments already checked by normot_emd_sparse(); checks the contents, then solves. */
normot_status normot_cpu_emd_sparse(normot_context *context,
                                    const normot_emd_sparse_problem *problem,
                                    const normot_emd_params *params, normot_emd_result *result);

#endif
