/* Content checks of an EMD batch (see validate_emd.h). */
#include "validate_emd.h"

#include <float.h>
#include <math.h>
#include <stdio.h>

#include "validate_matrix.h"
#include "validate_overlap.h"

/* Where a message goes; NULL while the parallel pass only looks for the first failing problem. */
typedef struct message_sink {
  char *text;
  size_t capacity;
} message_sink;

#define SAY(sink, ...) \
  ((sink) != NULL ? (void)snprintf((sink)->text, (sink)->capacity, __VA_ARGS__) : (void)0)

/* The sum and the largest entry of a weight vector. */
typedef struct weight_summary {
  double sum, largest;
} weight_summary;

/* Checks problem p's weight vector `name` ('a' or 'b'); on success stores its sum and largest
 * entry. */
static normot_status check_weights(const normot_emd_problem *problem, int64_t p, char vector,
                                   weight_summary *summary, message_sink *sink) {
  const void *weights = vector == 'a' ? problem->a : problem->b;
  const int shared = vector == 'a' ? problem->a_shared : problem->b_shared;
  const int64_t length = vector == 'a' ? problem->n : problem->m;
  const char *name = vector == 'a' ? "a" : "b";
  if (weights == NULL) { /* uniform 1/length, summed as the solvers sum it */
    summary->largest = 1.0 / (double)length;
    summary->sum = 0.0;
    for (int64_t i = 0; i < length; ++i) summary->sum += summary->largest;
    return NORMOT_SUCCESS;
  }
  int64_t offset = shared ? 0 : p * length;
  double total = 0.0, largest = 0.0;
  for (int64_t i = 0; i < length; ++i) {
    double w = normot_emd_load(weights, problem->value_type, offset + i);
    if (!isfinite(w)) {
      SAY(sink, "problem %lld: %s[%lld] is not finite (%g)", (long long)p, name, (long long)i, w);
      return NORMOT_ERROR_NONFINITE_VALUE;
    }
    if (w < 0.0) {
      SAY(sink, "problem %lld: %s[%lld] = %g is a negative weight", (long long)p, name,
          (long long)i, w);
      return NORMOT_ERROR_NEGATIVE_WEIGHT;
    }
    total += w;
    if (w > largest) largest = w;
  }
  if (!isfinite(total)) {
    SAY(sink, "problem %lld: the sum of %s overflows", (long long)p, name);
    return NORMOT_ERROR_NONFINITE_VALUE;
  }
  if (total == 0.0) {
    SAY(sink, "problem %lld: %s sums to zero (no mass to transport)", (long long)p, name);
    return NORMOT_ERROR_ZERO_MASS;
  }
  summary->sum = total;
  summary->largest = largest;
  return NORMOT_SUCCESS;
}

/* `count` values of an input array from element `offset` on; `name` for messages. */
typedef struct value_slice {
  const void *values;
  int64_t offset, count;
  const char *name;
} value_slice;

/* The largest magnitude of a slice's values, and whether every one is finite: float64 through
 * normot_largest_magnitude; float32 in four independent maxima without branches (one maximum
 * would wait on every comparison; a cost matrix is the largest input), which give the same value
 * in any order. */
static double largest_finite(const normot_emd_problem *problem, value_slice slice, int *finite) {
  if (problem->value_type == NORMOT_FLOAT64)
    return normot_largest_magnitude((const double *)slice.values + slice.offset, slice.count,
                                    finite);
  double top[4] = {0.0, 0.0, 0.0, 0.0};
  int all_finite = 1;
  int64_t i = 0;
  for (; i + 4 <= slice.count; i += 4)
    for (int lane = 0; lane < 4; ++lane) {
      double magnitude =
          fabs(normot_emd_load(slice.values, problem->value_type, slice.offset + i + lane));
      top[lane] = magnitude > top[lane] ? magnitude : top[lane];
      all_finite &= magnitude <= DBL_MAX;
    }
  for (; i < slice.count; ++i) {
    double magnitude = fabs(normot_emd_load(slice.values, problem->value_type, slice.offset + i));
    top[0] = magnitude > top[0] ? magnitude : top[0];
    all_finite &= magnitude <= DBL_MAX;
  }
  *finite = all_finite;
  const double low = top[0] > top[1] ? top[0] : top[1], high = top[2] > top[3] ? top[2] : top[3];
  return low > high ? low : high;
}

/* Checks that a slice's values are finite; on success stores the largest magnitude among them. */
static normot_status check_finite(const normot_emd_problem *problem, value_slice slice, int64_t p,
                                  double *largest_magnitude, message_sink *sink) {
  int finite;
  *largest_magnitude = largest_finite(problem, slice, &finite);
  if (finite) return NORMOT_SUCCESS;
  for (int64_t i = 0; i < slice.count; ++i) {
    double value = normot_emd_load(slice.values, problem->value_type, slice.offset + i);
    if (!isfinite(value)) {
      SAY(sink, "problem %lld: %s element %lld is not finite (%g)", (long long)p, slice.name,
          (long long)i, value);
      return NORMOT_ERROR_NONFINITE_VALUE;
    }
  }
  return NORMOT_SUCCESS; /* not reached: some value was not finite */
}

/* The largest cost of problem p's point clouds, computed entry by entry as the solvers compute
 * them. Reached only when the quick bound of point_cloud_cost_bound() is too large to decide,
 * so it may be slow. An entry that overflows is reported. */
static normot_status largest_point_cloud_cost(const normot_emd_problem *problem, int64_t p,
                                              double *largest, message_sink *sink) {
  double found = 0.0;
  for (int64_t i = 0; i < problem->n; ++i)
    for (int64_t j = 0; j < problem->m; ++j) {
      double cost = normot_emd_point_cost(problem, p, i, j);
      if (!isfinite(cost)) {
        SAY(sink,
            "problem %lld: the cost between x[%lld] and y[%lld] overflows float64 although "
            "both points are finite",
            (long long)p, (long long)i, (long long)j);
        return NORMOT_ERROR_OVERFLOW;
      }
      if (cost > found) found = cost;
    }
  *largest = found;
  return NORMOT_SUCCESS;
}

/* An upper bound of every cost of a point-cloud problem whose coordinates are at most
 * x_largest and y_largest in magnitude: each squared difference is at most
 * (x_largest + y_largest)^2. Slightly widened to cover the rounding of the bound itself.
 * Infinite when the bound overflows, which does not mean that a cost does. */
static double point_cloud_cost_bound(const normot_emd_problem *problem, double x_largest,
                                     double y_largest) {
  double reach = x_largest + y_largest;
  double squared = (double)problem->dim * reach * reach * (1.0 + 1e-12);
  return problem->metric == NORMOT_METRIC_EUCLIDEAN ? sqrt(squared) : squared;
}

/* The costs of problem p are finite; stores the largest magnitude among them, or for point
 * clouds a bound of it that is exact enough to decide the cost limit of a problem of this
 * mass. A shared cost matrix is checked with problem 0 (its largest magnitude is passed in). */
static normot_status check_costs(const normot_emd_problem *problem, int64_t p,
                                 double shared_cost_largest, double mass, double *largest,
                                 message_sink *sink) {
  const int64_t n = problem->n, m = problem->m;
  if (problem->cost != NULL) {
    *largest = shared_cost_largest;
    if (problem->cost_shared && p > 0) return NORMOT_SUCCESS;
    value_slice cost = {problem->cost, problem->cost_shared ? 0 : p * n * m, n * m, "cost"};
    return check_finite(problem, cost, p, largest, sink);
  }
  double x_largest, y_largest;
  value_slice x = {problem->x, p * n * problem->dim, n * problem->dim, "x"};
  value_slice y = {problem->y, p * m * problem->dim, m * problem->dim, "y"};
  normot_status status = check_finite(problem, x, p, &x_largest, sink);
  if (status == NORMOT_SUCCESS) status = check_finite(problem, y, p, &y_largest, sink);
  if (status != NORMOT_SUCCESS) return status;
  *largest = point_cloud_cost_bound(problem, x_largest, y_largest);
  if (*largest <= normot_emd_cost_limit(problem, mass)) return NORMOT_SUCCESS;
  return largest_point_cloud_cost(problem, p, largest, sink);
}

/* Whether b rescaled to the mass of a (when the sums differ) has a weight, or a sum, that is not
 * finite: the rescaled weights sum to the mass of a only to within m + 2 roundings, so a mass
 * that close to DBL_MAX can sum past it (the auction solver then quantised b against Inf). */
static int rescaling_overflows(const weight_summary *a, const weight_summary *b, int64_t m) {
  if (a->sum == b->sum) return 0;
  if (a->sum > DBL_MAX / (1.0 + (double)(m + 2) * DBL_EPSILON)) return 1;
  return !isfinite(normot_emd_rescaled_weight(b->largest, a->sum, b->sum));
}

/* The largest mass of a: DBL_MAX / (8 (n + m)). The duals are weighed by the mass (the
 * centring also adds sum a + sum b, Inf past DBL_MAX / 2), and they are not always bounded by
 * the costs: on all-zero costs the sparse simplex (MULTISCALE, normot_emd_sparse) leaves
 * artificial potentials of about n + m. Masses rounding to DBL_MAX on both sides, with nothing
 * to rescale, gave NaN duals there and silently uncentred ones elsewhere. */
static double mass_limit(const normot_emd_problem *problem) {
  return DBL_MAX / (8.0 * (double)(problem->n + problem->m));
}

/* The rules that keep every number the solvers form finite (docs/emd_semantics.md, "Magnitude
 * limits"): rescaling b to the mass of a, the mass against n + m, and the size of the costs
 * against n + m and the mass. */
static normot_status check_magnitudes(const normot_emd_problem *problem, int64_t p,
                                      const weight_summary *a, const weight_summary *b,
                                      double cost_largest, message_sink *sink) {
  if (rescaling_overflows(a, b, problem->m)) {
    SAY(sink,
        "problem %lld: rescaling b to the mass of a overflows (b's largest weight %g, sum a = "
        "%g, sum b = %g)",
        (long long)p, b->largest, a->sum, b->sum);
    return NORMOT_ERROR_OVERFLOW;
  }
  if (a->sum > mass_limit(problem)) {
    SAY(sink,
        "problem %lld: the mass of a (%g) is too large for this problem (n + m = %lld): the "
        "solvers need sum a <= DBL_MAX / (8 (n + m)) = %g",
        (long long)p, a->sum, (long long)(problem->n + problem->m), mass_limit(problem));
    return NORMOT_ERROR_OVERFLOW;
  }
  double limit = normot_emd_cost_limit(problem, a->sum);
  if (!(cost_largest <= limit)) {
    SAY(sink,
        "problem %lld: costs up to %g are too large for this problem (n + m = %lld, mass %g): "
        "the solvers need max|M| <= DBL_MAX / (8 (n + m) max(1, sum a)) = %g",
        (long long)p, cost_largest, (long long)(problem->n + problem->m), a->sum, limit);
    return NORMOT_ERROR_OVERFLOW;
  }
  return NORMOT_SUCCESS;
}

/* The weights of problem p and, when params->check_marginals, their balance; on success stores
 * the sum and the largest entry of each. */
static normot_status check_marginals(const normot_emd_problem *problem,
                                     const normot_emd_params *params, int64_t p, weight_summary *a,
                                     weight_summary *b, message_sink *sink) {
  normot_status status = check_weights(problem, p, 'a', a, sink);
  if (status != NORMOT_SUCCESS) return status;
  status = check_weights(problem, p, 'b', b, sink);
  if (status != NORMOT_SUCCESS) return status;
  if (params->check_marginals) {
    double larger = a->sum > b->sum ? a->sum : b->sum;
    if (fabs(a->sum - b->sum) > params->marginal_tol * larger) {
      SAY(sink,
          "problem %lld: unbalanced marginals, sum a = %.17g and sum b = %.17g differ by more "
          "than marginal_tol = %g (relative); set check_marginals = 0 to rescale b",
          (long long)p, a->sum, b->sum, params->marginal_tol);
      return NORMOT_ERROR_UNBALANCED;
    }
  }
  return NORMOT_SUCCESS;
}

static normot_status check_problem(const normot_emd_problem *problem,
                                   const normot_emd_params *params, int64_t p,
                                   double shared_cost_largest, message_sink *sink) {
  weight_summary a, b;
  normot_status status = check_marginals(problem, params, p, &a, &b, sink);
  if (status != NORMOT_SUCCESS) return status;
  double cost_largest;
  status = check_costs(problem, p, shared_cost_largest, a.sum, &cost_largest, sink);
  if (status != NORMOT_SUCCESS) return status;
  return check_magnitudes(problem, p, &a, &b, cost_largest, sink);
}

/* The largest magnitude in a shared cost matrix (NaN and Inf are skipped: problem 0 reports
 * them). 0 when the costs are not shared. */
static double shared_cost_largest(const normot_emd_problem *problem) {
  if (problem->cost == NULL || !problem->cost_shared) return 0.0;
  double largest = 0.0;
  for (int64_t e = 0; e < problem->n * problem->m; ++e) {
    double magnitude = fabs(normot_emd_load(problem->cost, problem->value_type, e));
    if (magnitude > largest && isfinite(magnitude)) largest = magnitude;
  }
  return largest;
}

normot_status normot_validate_emd_host(normot_context *context, const normot_emd_problem *problem,
                                       const normot_emd_params *params, int n_threads) {
  const int64_t k = problem->k;
  const double shared_largest = shared_cost_largest(problem);
  int64_t first_bad = k;
  /* No more threads than problems: a team with idle members still wakes them and waits for
   * them at the barrier, which on a busy machine costs far more than checking one problem. */
  const int threads = (int64_t)n_threads < k ? n_threads : (int)k;
#pragma omp parallel for schedule(dynamic, 16) num_threads(threads) reduction(min : first_bad)
  for (int64_t p = 0; p < k; ++p) {
    if (p < first_bad && check_problem(problem, params, p, shared_largest, NULL) != NORMOT_SUCCESS)
      first_bad = p;
  }
  if (first_bad == k) return NORMOT_SUCCESS;
  char text[NORMOT_MESSAGE_CAPACITY];
  message_sink sink = {text, sizeof text};
  normot_status status = check_problem(problem, params, first_bad, shared_largest, &sink);
  if (status == NORMOT_SUCCESS) return NORMOT_SUCCESS; /* cannot happen: the check is pure */
  return normot_fail(context, status, "%s", text);
}

/* The sizes of a batch: k problems of n x m. */
typedef struct batch_shape {
  int64_t k, n, m;
} batch_shape;

/* The result arrays of a batch against `inputs`. */
static normot_status check_result_overlaps(normot_context *context, const normot_byte_range *inputs,
                                           int input_count, batch_shape shape,
                                           const normot_emd_result *result) {
  const int64_t k = shape.k, n = shape.n, m = shape.m;
  const int64_t basis = k * (n + m - 1);
  const normot_byte_range outputs[] = {{result->cost, k * 8, "result->cost"},
                                       {result->plan, k * n * m * 8, "result->plan"},
                                       {result->sparse_row, basis * 8, "result->sparse_row"},
                                       {result->sparse_col, basis * 8, "result->sparse_col"},
                                       {result->sparse_value, basis * 8, "result->sparse_value"},
                                       {result->sparse_count, k * 8, "result->sparse_count"},
                                       {result->u, k * n * 8, "result->u"},
                                       {result->v, k * m * 8, "result->v"},
                                       {result->status, k * 4, "result->status"},
                                       {result->iterations, k * 8, "result->iterations"},
                                       {result->flags, k * 4, "result->flags"}};
  return normot_check_overlaps(context, inputs, input_count, outputs,
                               (int)(sizeof outputs / sizeof outputs[0]));
}

normot_status normot_check_emd_overlaps(normot_context *context, const normot_emd_problem *problem,
                                        const normot_emd_result *result) {
  const int64_t k = problem->k, n = problem->n, m = problem->m, dim = problem->dim;
  const int64_t value = (int64_t)normot_value_size(problem->value_type);
  const int point_clouds = problem->cost == NULL;
  const normot_byte_range inputs[] = {
      {problem->a, (problem->a_shared ? n : k * n) * value, "problem->a"},
      {problem->b, (problem->b_shared ? m : k * m) * value, "problem->b"},
      {problem->cost, (problem->cost_shared ? n * m : k * n * m) * value, "problem->cost"},
      {point_clouds ? problem->x : NULL, k * n * dim * value, "problem->x"},
      {point_clouds ? problem->y : NULL, k * m * dim * value, "problem->y"}};
  return check_result_overlaps(context, inputs, (int)(sizeof inputs / sizeof inputs[0]),
                               (batch_shape){k, n, m}, result);
}

normot_status normot_check_emd_sparse_overlaps(normot_context *context,
                                               const normot_emd_sparse_problem *problem,
                                               const normot_emd_result *result) {
  const int64_t n = problem->n, m = problem->m, nnz = problem->nnz;
  const int64_t value = (int64_t)normot_value_size(problem->value_type);
  const int64_t index = problem->index_type == NORMOT_INDEX_INT32 ? 4 : 8;
  const normot_byte_range inputs[] = {{problem->a, n * value, "problem->a"},
                                      {problem->b, m * value, "problem->b"},
                                      {problem->indptr, (n + 1) * index, "problem->indptr"},
                                      {problem->indices, nnz * index, "problem->indices"},
                                      {problem->values, nnz * value, "problem->values"}};
  return check_result_overlaps(context, inputs, (int)(sizeof inputs / sizeof inputs[0]),
                               (batch_shape){1, n, m}, result);
}

normot_status normot_validate_emd_sparse_host(normot_context *context,
                                              const normot_emd_sparse_problem *problem,
                                              const normot_emd_params *params, int n_threads) {
  normot_matrix edges =
      normot_matrix_csr(problem->n, problem->m, problem->nnz, problem->indptr, problem->indices,
                        problem->index_type, (void *)problem->values, problem->value_type);
  normot_matrix_problem found = normot_no_problem();
  normot_check_matrix(&edges, 1, 0, n_threads, &found);
  if (found.status != NORMOT_SUCCESS) return normot_report_matrix_problem(context, &edges, &found);
  double largest_edge_cost = 0.0;
  for (int64_t e = 0; e < problem->nnz; ++e) {
    double value = normot_emd_load(problem->values, problem->value_type, e);
    if (!isfinite(value))
      return normot_fail(context, NORMOT_ERROR_NONFINITE_VALUE,
                         "the cost of edge %lld (values[%lld]) is not finite (%g)", (long long)e,
                         (long long)e, value);
    if (fabs(value) > largest_edge_cost) largest_edge_cost = fabs(value);
  }
  /* The weights and the magnitude limits are checked as those of a one-problem batch whose
   * largest cost is the largest edge cost. */
  normot_emd_problem weights = {0};
  weights.k = 1, weights.n = problem->n, weights.m = problem->m;
  weights.value_type = problem->value_type;
  weights.a = problem->a, weights.b = problem->b;
  char text[NORMOT_MESSAGE_CAPACITY];
  message_sink sink = {text, sizeof text};
  weight_summary a, b;
  normot_status status = check_marginals(&weights, params, 0, &a, &b, &sink);
  if (status == NORMOT_SUCCESS)
    status = check_magnitudes(&weights, 0, &a, &b, largest_edge_cost, &sink);
  if (status == NORMOT_SUCCESS) return NORMOT_SUCCESS;
  return normot_fail(context, status, "%s", text);
}
