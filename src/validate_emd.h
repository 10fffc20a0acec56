/* Content checks of an EMD batch whose arrays are readable from the host: the checks that need
 * a pass over the data, which every backend runs before it writes anything. */
#ifndef NORMOT_SRC_VALIDATE_EMD_H
#define NORMOT_SRC_VALIDATE_EMD_H

#include <float.h>
#include <math.h>

#include "context.h"
#include "emd_conventions.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Checks, problem by problem: NaN/Inf in a, b, cost, x and y; negative weights; a or b summing
 * to zero; when params->check_marginals, |sum a - sum b| > marginal_tol * max(sum a, sum b);
 * and the magnitude limits (NORMOT_ERROR_OVERFLOW): b rescaled to the mass of a stays finite,
 * the mass of a is at most DBL_MAX / (8 (n + m)), every cost (given, or computed from the
 * clouds) is within normot_emd_cost_limit(). Runs on
 * n_threads OpenMP threads. On failure reports the failing problem with the lowest index (so the
 * message does not depend on the thread count) and names it in the message. Assumes the scalar
 * checks of normot_emd() passed. */
normot_status normot_validate_emd_host(normot_context *context, const normot_emd_problem *problem,
                                       const normot_emd_params *params, int n_threads);

/* Refuses (NORMOT_ERROR_INVALID_ARGUMENT) a result array that overlaps an input array or
 * another result array. Needs only the pointers and the sizes, which must have been checked. */
normot_status normot_check_emd_overlaps(normot_context *context, const normot_emd_problem *problem,
                                        const normot_emd_result *result);

/* As normot_check_emd_overlaps, for normot_emd_sparse: its inputs a, b, indptr, indices and
 * values against its one-problem result. */
normot_status normot_check_emd_sparse_overlaps(normot_context *context,
                                               const normot_emd_sparse_problem *problem,
                                               const normot_emd_result *result);

/* The content checks of a sparse-cost problem (normot_emd_sparse), before anything is written:
 * indptr and indices of the edge list, finite edge costs, then the weights and the magnitude
 * limits as for a batch (the largest edge cost standing for the largest cost).
 * Assumes the scalar checks of normot_emd_sparse() passed. */
normot_status normot_validate_emd_sparse_host(normot_context *context,
                                              const normot_emd_sparse_problem *problem,
                                              const normot_emd_params *params, int n_threads);

/* Element `index` of a float32 or float64 array, as a double. */
static inline double normot_emd_load(const void *values, normot_value_type type, int64_t index) {
  return type == NORMOT_FLOAT32 ? (double)((const float *)values)[index]
                                : ((const double *)values)[index];
}

/* The largest cost magnitude the solvers accept for a problem of this size whose a sums to
 * `mass`: potentials reach (n + m) max|M|, reduced costs and shortest-path distances a few times
 * that, and the objective and the dual sums weigh them by the mass, so
 * max|M| * 8 (n + m) * max(1, mass) <= DBL_MAX keeps every one of them finite. */
static inline double normot_emd_cost_limit(const normot_emd_problem *problem, double mass) {
  double weight = mass > 1.0 ? mass : 1.0;
  return DBL_MAX / (8.0 * (double)(problem->n + problem->m)) / weight;
}

/* Cost (i, j) of problem p in point-cloud mode, in the order the solvers compute it: squared
 * differences summed over the coordinates from 0, in float64, then the square root for
 * NORMOT_METRIC_EUCLIDEAN. */
static inline double normot_emd_point_cost(const normot_emd_problem *problem, int64_t p, int64_t i,
                                           int64_t j) {
  const int64_t dim = problem->dim;
  const int64_t x_start = (p * problem->n + i) * dim, y_start = (p * problem->m + j) * dim;
  double sum = 0.0;
  for (int64_t d = 0; d < dim; ++d) {
    double diff = normot_emd_load(problem->x, problem->value_type, x_start + d) -
                  normot_emd_load(problem->y, problem->value_type, y_start + d);
    sum += diff * diff;
  }
  return problem->metric == NORMOT_METRIC_EUCLIDEAN ? sqrt(sum) : sum;
}

#ifdef __cplusplus
}
#endif

#endif
