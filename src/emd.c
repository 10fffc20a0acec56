/* normot_emd: every check that needs no pass over the data (pointers, sizes, enums, parameter
 * ranges, memory tags), then the backend. The backend checks the contents (finiteness, signs,
 * balance; see validate_emd.h) before it writes anything. */
#include <math.h>

#include "context.h"
#include "cpu/emd_sparse_cost.h"

void normot_emd_params_init(normot_emd_params *params) {
  if (params == NULL) return;
  params->max_iter = 0;
  params->check_marginals = 1;
  params->marginal_tol = 1e-6;
  params->center_duals = 1;
  params->solver = NORMOT_EMD_SOLVER_AUTO;
}

static int point_cloud_mode(const normot_emd_problem *problem) {
  return problem->cost == NULL;
}

static normot_status check_pointers(normot_context *context, const normot_emd_problem *problem,
                                    const normot_emd_result *result) {
  if (result->cost == NULL)
    return normot_fail(context, NORMOT_ERROR_NULL_POINTER,
                       "result->cost is NULL (the costs are always written)");
  if (problem->k == 0) return NORMOT_SUCCESS;
  if (point_cloud_mode(problem) && (problem->x == NULL || problem->y == NULL))
    return normot_fail(context, NORMOT_ERROR_NULL_POINTER,
                       "problem->cost is NULL, so point clouds x and y are needed, but %s NULL",
                       problem->x == NULL && problem->y == NULL ? "both are"
                       : problem->x == NULL                     ? "x is"
                                                                : "y is");
  int sparse_given = (result->sparse_row != NULL) + (result->sparse_col != NULL) +
                     (result->sparse_value != NULL) + (result->sparse_count != NULL);
  if (sparse_given != 0 && sparse_given != 4)
    return normot_fail(context, NORMOT_ERROR_NULL_POINTER,
                       "a sparse plan needs all of sparse_row, sparse_col, sparse_value and "
                       "sparse_count; only %d of them are given",
                       sparse_given);
  return NORMOT_SUCCESS;
}

/* The largest element count any one array of the call has, so that every byte size the
 * backends compute (count * 8) is known to fit in int64_t. */
static normot_status check_sizes(normot_context *context, const normot_emd_problem *problem) {
  if (problem->k < 0 || problem->n < 0 || problem->m < 0)
    return normot_fail(context, NORMOT_ERROR_INVALID_SIZE, "negative size: k=%lld n=%lld m=%lld",
                       (long long)problem->k, (long long)problem->n, (long long)problem->m);
  if (problem->k > 0 && (problem->n == 0 || problem->m == 0))
    return normot_fail(context, NORMOT_ERROR_INVALID_SIZE,
                       "empty problems: n=%lld m=%lld with k=%lld (n and m must be >= 1)",
                       (long long)problem->n, (long long)problem->m, (long long)problem->k);
  if (point_cloud_mode(problem) && problem->k > 0 && problem->dim < 1)
    return normot_fail(context, NORMOT_ERROR_INVALID_SIZE,
                       "point-cloud mode needs dim >= 1 (got %lld)", (long long)problem->dim);
  int64_t nm, knm, bytes, kbasis, kn, km;
  int ok = normot_mul_fits(problem->n, problem->m, &nm) && normot_mul_fits(problem->k, nm, &knm) &&
           normot_mul_fits(knm, 8, &bytes) && problem->n <= INT64_MAX - problem->m &&
           normot_mul_fits(problem->k, problem->n + problem->m, &kbasis) &&
           normot_mul_fits(kbasis, 8, &bytes) && normot_mul_fits(problem->k, problem->n, &kn) &&
           normot_mul_fits(problem->k, problem->m, &km);
  if (ok && point_cloud_mode(problem) && problem->k > 0) {
    int64_t points;
    ok = normot_mul_fits(kn > km ? kn : km, problem->dim, &points) &&
         normot_mul_fits(points, 8, &bytes);
  }
  if (!ok)
    return normot_fail(context, NORMOT_ERROR_INVALID_SIZE,
                       "sizes k=%lld n=%lld m=%lld overflow 64-bit byte counts",
                       (long long)problem->k, (long long)problem->n, (long long)problem->m);
  return NORMOT_SUCCESS;
}

static normot_status check_enums(normot_context *context, const normot_emd_problem *problem,
                                 const normot_emd_params *params) {
  if (!normot_is_float_type(problem->value_type))
    return normot_fail(context, NORMOT_ERROR_UNSUPPORTED_TYPE,
                       "problem->value_type %d is not NORMOT_FLOAT32 or NORMOT_FLOAT64",
                       (int)problem->value_type);
  if (point_cloud_mode(problem) && problem->metric != NORMOT_METRIC_SQEUCLIDEAN &&
      problem->metric != NORMOT_METRIC_EUCLIDEAN)
    return normot_fail(context, NORMOT_ERROR_UNSUPPORTED_TYPE, "unknown metric %d",
                       (int)problem->metric);
  if (params->solver != NORMOT_EMD_SOLVER_AUTO &&
      params->solver != NORMOT_EMD_SOLVER_NETWORK_SIMPLEX &&
      params->solver != NORMOT_EMD_SOLVER_ASSIGNMENT &&
      params->solver != NORMOT_EMD_SOLVER_AUCTION && params->solver != NORMOT_EMD_SOLVER_MULTISCALE)
    return normot_fail(context, NORMOT_ERROR_UNSUPPORTED_TYPE, "unknown solver %d",
                       (int)params->solver);
  if (params->max_iter < 0)
    return normot_fail(context, NORMOT_ERROR_INVALID_ARGUMENT,
                       "max_iter = %lld is negative (0 means no limit)",
                       (long long)params->max_iter);
  if (!(params->marginal_tol >= 0.0) || isinf(params->marginal_tol))
    return normot_fail(context, NORMOT_ERROR_INVALID_ARGUMENT,
                       "marginal_tol = %g must be finite and >= 0", params->marginal_tol);
  return NORMOT_SUCCESS;
}

static normot_status check_memory(normot_context *context, const normot_emd_problem *problem) {
  switch (problem->memory) {
    case NORMOT_MEMORY_AUTO:
    case NORMOT_MEMORY_HOST:
    case NORMOT_MEMORY_CUDA:
    case NORMOT_MEMORY_CUDA_HOST:
    case NORMOT_MEMORY_CUDA_MANAGED: return NORMOT_SUCCESS;
  }
  return normot_fail(context, NORMOT_ERROR_INVALID_MEMORY, "unknown memory tag %d",
                     (int)problem->memory);
}

normot_status normot_emd(normot_context *context, const normot_emd_problem *problem,
                         const normot_emd_params *params, normot_emd_result *result) {
  if (context == NULL) return NORMOT_ERROR_NULL_POINTER;
  if (problem == NULL || params == NULL || result == NULL)
    return normot_fail(context, NORMOT_ERROR_NULL_POINTER, "problem, params or result is NULL");
  normot_status status = check_pointers(context, problem, result);
  if (status == NORMOT_SUCCESS) status = check_sizes(context, problem);
  if (status == NORMOT_SUCCESS) status = check_enums(context, problem, params);
  if (status == NORMOT_SUCCESS) status = check_memory(context, problem);
  if (status != NORMOT_SUCCESS) return status;
  if (params->solver == NORMOT_EMD_SOLVER_MULTISCALE && context->backend != NORMOT_BACKEND_CPU)
    return normot_fail(context, NORMOT_ERROR_NOT_IMPLEMENTED,
                       "emd: the multiscale solver runs on the CPU backend only");
  if (problem->k == 0) return NORMOT_SUCCESS;
  return context->ops->emd(context, problem, params, result);
}

/* ---- sparse costs --------------------------------------------------------------------------- */

static normot_status check_sparse_problem(normot_context *context,
                                          const normot_emd_sparse_problem *problem) {
  if (problem->indptr == NULL)
    return normot_fail(context, NORMOT_ERROR_NULL_POINTER, "sparse cost: indptr is NULL");
  if (problem->nnz > 0 && (problem->indices == NULL || problem->values == NULL))
    return normot_fail(context, NORMOT_ERROR_NULL_POINTER,
                       "sparse cost: indices or values is NULL with nnz = %lld",
                       (long long)problem->nnz);
  if (problem->n < 1 || problem->m < 1 || problem->nnz < 0)
    return normot_fail(context, NORMOT_ERROR_INVALID_SIZE,
                       "sparse cost: n = %lld and m = %lld must be >= 1, nnz = %lld >= 0",
                       (long long)problem->n, (long long)problem->m, (long long)problem->nnz);
  if (problem->n >= INT32_MAX - problem->m)
    return normot_fail(context, NORMOT_ERROR_INVALID_SIZE,
                       "sparse cost: the solver needs n + m < 2^31 (n = %lld, m = %lld)",
                       (long long)problem->n, (long long)problem->m);
  if (problem->index_type != NORMOT_INDEX_INT32 && problem->index_type != NORMOT_INDEX_INT64)
    return normot_fail(context, NORMOT_ERROR_UNSUPPORTED_TYPE, "sparse cost: unknown index_type %d",
                       (int)problem->index_type);
  return NORMOT_SUCCESS;
}

normot_status normot_emd_sparse(normot_context *context, const normot_emd_sparse_problem *problem,
                                const normot_emd_params *params, normot_emd_result *result) {
  if (context == NULL) return NORMOT_ERROR_NULL_POINTER;
  if (problem == NULL || params == NULL || result == NULL)
    return normot_fail(context, NORMOT_ERROR_NULL_POINTER, "problem, params or result is NULL");
  /* The batch checks of pointers, types, parameters and memory, on the view of a one-problem
   * batch with a (nominal) dense cost. */
  normot_emd_problem as_batch = {0};
  as_batch.k = 1, as_batch.n = problem->n, as_batch.m = problem->m;
  as_batch.value_type = problem->value_type, as_batch.memory = problem->memory;
  as_batch.cost = problem->indptr;
  normot_status status = check_sparse_problem(context, problem);
  if (status == NORMOT_SUCCESS) status = check_pointers(context, &as_batch, result);
  if (status == NORMOT_SUCCESS) status = check_enums(context, &as_batch, params);
  if (status == NORMOT_SUCCESS) status = check_memory(context, &as_batch);
  if (status != NORMOT_SUCCESS) return status;
  /* Host arrays are solved by the CPU solver whatever the context's backend. */
  return normot_cpu_emd_sparse(context, problem, params, result);
}
