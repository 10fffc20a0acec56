/* Content checks of an EMD batch (see validate_emd.h). */
#include "validate_emd.h"

#include <math.h>
#include <stdio.h>

#include "validate_matrix.h"

/* Where a message goes; NULL while the parallel pass only looks for the first failing problem. */
typedef struct message_sink {
  char *text;
  size_t capacity;
} message_sink;

#define SAY(sink, ...) \
  ((sink) != NULL ? (void)snprintf((sink)->text, (sink)->capacity, __VA_ARGS__) : (void)0)

/* Checks one weight vector; on success stores its sum. */
static normot_status check_weights(const normot_emd_problem *problem, const void *weights,
                                   int shared, int64_t length, int64_t p, const char *name,
                                   double *sum, message_sink *sink) {
  if (weights == NULL) {
    *sum = 1.0; /* uniform 1/length */
    return NORMOT_SUCCESS;
  }
  int64_t offset = shared ? 0 : p * length;
  double total = 0.0;
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
  }
  if (!isfinite(total)) {
    SAY(sink, "problem %lld: the sum of %s overflows", (long long)p, name);
    return NORMOT_ERROR_NONFINITE_VALUE;
  }
  if (total == 0.0) {
    SAY(sink, "problem %lld: %s sums to zero (no mass to transport)", (long long)p, name);
    return NORMOT_ERROR_ZERO_MASS;
  }
  *sum = total;
  return NORMOT_SUCCESS;
}

static normot_status check_finite(const normot_emd_problem *problem, const void *values,
                                  int64_t offset, int64_t count, int64_t p, const char *name,
                                  message_sink *sink) {
  for (int64_t i = 0; i < count; ++i) {
    double value = normot_emd_load(values, problem->value_type, offset + i);
    if (!isfinite(value)) {
      SAY(sink, "problem %lld: %s element %lld is not finite (%g)", (long long)p, name,
          (long long)i, value);
      return NORMOT_ERROR_NONFINITE_VALUE;
    }
  }
  return NORMOT_SUCCESS;
}

/* The weights of problem p and, when params->check_marginals, their balance. */
static normot_status check_marginals(const normot_emd_problem *problem,
                                     const normot_emd_params *params, int64_t p,
                                     message_sink *sink) {
  const int64_t n = problem->n, m = problem->m;
  double sum_a, sum_b;
  normot_status status =
      check_weights(problem, problem->a, problem->a_shared, n, p, "a", &sum_a, sink);
  if (status != NORMOT_SUCCESS) return status;
  status = check_weights(problem, problem->b, problem->b_shared, m, p, "b", &sum_b, sink);
  if (status != NORMOT_SUCCESS) return status;
  if (params->check_marginals) {
    double larger = sum_a > sum_b ? sum_a : sum_b;
    if (fabs(sum_a - sum_b) > params->marginal_tol * larger) {
      SAY(sink,
          "problem %lld: unbalanced marginals, sum a = %.17g and sum b = %.17g differ by more "
          "than marginal_tol = %g (relative); set check_marginals = 0 to rescale b",
          (long long)p, sum_a, sum_b, params->marginal_tol);
      return NORMOT_ERROR_UNBALANCED;
    }
  }
  return NORMOT_SUCCESS;
}

static normot_status check_problem(const normot_emd_problem *problem,
                                   const normot_emd_params *params, int64_t p, message_sink *sink) {
  const int64_t n = problem->n, m = problem->m;
  normot_status status = check_marginals(problem, params, p, sink);
  if (status != NORMOT_SUCCESS) return status;
  if (problem->cost != NULL) {
    if (!problem->cost_shared || p == 0)
      return check_finite(problem, problem->cost, problem->cost_shared ? 0 : p * n * m, n * m, p,
                          "cost", sink);
    return NORMOT_SUCCESS;
  }
  status = check_finite(problem, problem->x, p * n * problem->dim, n * problem->dim, p, "x", sink);
  if (status != NORMOT_SUCCESS) return status;
  return check_finite(problem, problem->y, p * m * problem->dim, m * problem->dim, p, "y", sink);
}

normot_status normot_validate_emd_host(normot_context *context, const normot_emd_problem *problem,
                                       const normot_emd_params *params, int n_threads) {
  const int64_t k = problem->k;
  int64_t first_bad = k;
#pragma omp parallel for schedule(dynamic, 16) num_threads(n_threads) reduction(min : first_bad)
  for (int64_t p = 0; p < k; ++p) {
    if (p < first_bad && check_problem(problem, params, p, NULL) != NORMOT_SUCCESS) first_bad = p;
  }
  if (first_bad == k) return NORMOT_SUCCESS;
  char text[NORMOT_MESSAGE_CAPACITY];
  message_sink sink = {text, sizeof text};
  normot_status status = check_problem(problem, params, first_bad, &sink);
  if (status == NORMOT_SUCCESS) return NORMOT_SUCCESS; /* cannot happen: the check is pure */
  return normot_fail(context, status, "%s", text);
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
  for (int64_t e = 0; e < problem->nnz; ++e) {
    double value = normot_emd_load(problem->values, problem->value_type, e);
    if (!isfinite(value))
      return normot_fail(context, NORMOT_ERROR_NONFINITE_VALUE,
                         "the cost of edge %lld (values[%lld]) is not finite (%g)", (long long)e,
                         (long long)e, value);
  }
  /* The weights are checked as those of a one-problem batch. */
  normot_emd_problem weights = {0};
  weights.k = 1, weights.n = problem->n, weights.m = problem->m;
  weights.value_type = problem->value_type;
  weights.a = problem->a, weights.b = problem->b;
  char text[NORMOT_MESSAGE_CAPACITY];
  message_sink sink = {text, sizeof text};
  normot_status status = check_marginals(&weights, params, 0, &sink);
  if (status == NORMOT_SUCCESS) return NORMOT_SUCCESS;
  return normot_fail(context, status, "%s", text);
}
