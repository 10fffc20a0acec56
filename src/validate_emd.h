/* Content checks of an EMD batch whose arrays are readable from the host: the checks that need
 * a pass over the data, which every backend runs before it writes anything. */
#ifndef NORMOT_SRC_VALIDATE_EMD_H
#define NORMOT_SRC_VALIDATE_EMD_H

#include <float.h>
#include <math.h>
#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

/* The largest magnitude of v[0 .. count), and in *finite whether every value is finite. NaN
 * values are skipped by the maxima (the flag reports them). Maxima in independent lanes give the
 * same value in any order; on x86-64 eight at a time in SSE2 registers, since the compiler leaves
 * the portable loop scalar (it was 5% of a 100 x 100 solve, and the simplex takes it again). */
static inline double normot_largest_magnitude(const double *v, int64_t count, int *finite) {
  double top = 0.0;
  int all_finite = 1;
  int64_t i = 0;
#if defined(__SSE2__)
  const __m128d sign = _mm_set1_pd(-0.0), limit = _mm_set1_pd(DBL_MAX);
  __m128d top0 = _mm_setzero_pd(), top1 = top0, top2 = top0, top3 = top0;
  __m128d ok = _mm_cmpeq_pd(top0, top0);
  for (; i + 8 <= count; i += 8) {
    const __m128d m0 = _mm_andnot_pd(sign, _mm_loadu_pd(v + i));
    const __m128d m1 = _mm_andnot_pd(sign, _mm_loadu_pd(v + i + 2));
    const __m128d m2 = _mm_andnot_pd(sign, _mm_loadu_pd(v + i + 4));
    const __m128d m3 = _mm_andnot_pd(sign, _mm_loadu_pd(v + i + 6));
    top0 = _mm_max_pd(m0, top0); /* m0 > top0 ? m0 : top0: a NaN keeps top0 */
    top1 = _mm_max_pd(m1, top1);
    top2 = _mm_max_pd(m2, top2);
    top3 = _mm_max_pd(m3, top3);
    ok = _mm_and_pd(ok, _mm_and_pd(_mm_and_pd(_mm_cmple_pd(m0, limit), _mm_cmple_pd(m1, limit)),
                                   _mm_and_pd(_mm_cmple_pd(m2, limit), _mm_cmple_pd(m3, limit))));
  }
  const __m128d tops = _mm_max_pd(_mm_max_pd(top0, top1), _mm_max_pd(top2, top3));
  top = _mm_cvtsd_f64(_mm_max_sd(tops, _mm_unpackhi_pd(tops, tops)));
  all_finite = _mm_movemask_pd(ok) == 3;
#endif
  for (; i < count; ++i) {
    const double magnitude = fabs(v[i]);
    top = magnitude > top ? magnitude : top;
    all_finite &= magnitude <= DBL_MAX;
  }
  *finite = all_finite;
  return top;
}

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
