/* Content checks of an EMD batch whose arrays are readable from the host: the checks that need
 * a pass over the data, which every backend runs before it writes anything. */
#ifndef NORMOT_SRC_VALIDATE_EMD_H
#define NORMOT_SRC_VALIDATE_EMD_H

#include "context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Checks, problem by problem: NaN/Inf in a, b, cost, x and y; negative weights; a or b summing
 * to zero; and, when params->check_marginals, |sum a - sum b| > marginal_tol * max(sum a, sum b).
 * Runs on n_threads OpenMP threads. On failure reports the failing problem with the lowest
 * index (so the message does not depend on the thread count) and names it in the message.
 * Assumes the scalar checks of normot_emd() passed. */
normot_status normot_validate_emd_host(normot_context *context, const normot_emd_problem *problem,
                                       const normot_emd_params *params, int n_threads);

/* The content checks of a sparse-cost problem (normot_emd_sparse), before anything is written:
 * indptr and indices of the edge list, finite edge costs, then the weights as for a batch.
 * Assumes the scalar checks of normot_emd_sparse() passed. */
normot_status normot_validate_emd_sparse_host(normot_context *context,
                                              const normot_emd_sparse_problem *problem,
                                              const normot_emd_params *params, int n_threads);

/* Element `index` of a float32 or float64 array, as a double. */
static inline double normot_emd_load(const void *values, normot_value_type type, int64_t index) {
  return type == NORMOT_FLOAT32 ? (double)((const float *)values)[index]
                                : ((const double *)values)[index];
}

#ifdef __cplusplus
}
#endif

#endif
