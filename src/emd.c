/* normot_emd: every check that needs no pass over the data (pointers, sizes, enums, parameter
 * ranges, memory tags), then the content checks (finiteness, signs, balance; validate_emd.h),
 * once, here, for every backend, so that a bad input gets the same status and message whichever
 * backend the context has; then the backend, between its enter and leave (its device made
 * current, the caller's restored). */
#include <math.h>
#include <stdlib.h>

#include "context.h"
#include "cpu/emd_sparse_cost.h"
#include "validate_emd.h"

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

/* Device-resident inputs are checked on a host copy (one transfer of the inputs, held while
 * the check runs), so that the messages are the host check's. */
typedef struct host_copy {
  normot_emd_problem problem;
  void *arrays[5];
} host_copy;

static void free_host_copy(host_copy *copy) {
  for (int e = 0; e < 5; ++e) free(copy->arrays[e]);
}

static normot_status copy_array(normot_context *context, const void *source, int64_t count,
                                size_t value_size, void **out) {
  *out = NULL;
  if (source == NULL || count == 0) return NORMOT_SUCCESS;
  *out = malloc((size_t)count * value_size);
  if (*out == NULL)
    return normot_fail(context, NORMOT_ERROR_OUT_OF_MEMORY,
                       "emd: cannot allocate %lld bytes of host memory to check device inputs",
                       (long long)count * (long long)value_size);
  return context->ops->copy_to_host(context, *out, source, (size_t)count * value_size);
}

static normot_status copy_inputs_to_host(normot_context *context, const normot_emd_problem *p,
                                         host_copy *copy) {
  const size_t value = normot_value_size(p->value_type);
  const int64_t k = p->k, n = p->n, m = p->m, clouds = p->cost == NULL;
  copy->problem = *p;
  copy->problem.memory = NORMOT_MEMORY_HOST;
  normot_status status =
      copy_array(context, p->a, p->a_shared ? n : k * n, value, &copy->arrays[0]);
  if (status == NORMOT_SUCCESS)
    status = copy_array(context, p->b, p->b_shared ? m : k * m, value, &copy->arrays[1]);
  if (status == NORMOT_SUCCESS)
    status =
        copy_array(context, p->cost, p->cost_shared ? n * m : k * n * m, value, &copy->arrays[2]);
  if (status == NORMOT_SUCCESS && clouds)
    status = copy_array(context, p->x, k * n * p->dim, value, &copy->arrays[3]);
  if (status == NORMOT_SUCCESS && clouds)
    status = copy_array(context, p->y, k * m * p->dim, value, &copy->arrays[4]);
  copy->problem.a = copy->arrays[0];
  copy->problem.b = copy->arrays[1];
  copy->problem.cost = copy->arrays[2];
  copy->problem.x = copy->arrays[3];
  copy->problem.y = copy->arrays[4];
  return status;
}

static normot_status check_contents(normot_context *context, const normot_emd_problem *problem,
                                    const normot_emd_params *params) {
  const void *any_input = problem->cost != NULL ? problem->cost : problem->x;
  const normot_memory memory = normot_resolve_memory(problem->memory, any_input);
  const int threads = normot_threads_for(context);
  if (memory != NORMOT_MEMORY_CUDA)
    return normot_validate_emd_host(context, problem, params, threads);
  if (context->ops->copy_to_host == NULL)
    return normot_fail(context, NORMOT_ERROR_INVALID_MEMORY,
                       "emd: the %s backend cannot read device memory (NORMOT_MEMORY_CUDA)",
                       normot_backend_name(context->backend));
  host_copy copy = {0};
  normot_status status = copy_inputs_to_host(context, problem, &copy);
  if (status == NORMOT_SUCCESS)
    status = normot_validate_emd_host(context, &copy.problem, params, threads);
  free_host_copy(&copy);
  return status;
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
  status = normot_check_emd_overlaps(context, problem, result);
  if (status != NORMOT_SUCCESS) return status;
  const normot_backend_ops *ops = context->ops;
  int token = 0;
  if (ops->enter != NULL) {
    status = ops->enter(context, &token);
    if (status != NORMOT_SUCCESS) return status;
  }
  status = check_contents(context, problem, params);
  if (status == NORMOT_SUCCESS) status = ops->emd(context, problem, params, result);
  if (ops->leave != NULL) ops->leave(context, token);
  return status;
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
  status = normot_check_emd_sparse_overlaps(context, problem, result);
  if (status != NORMOT_SUCCESS) return status;
  /* Host arrays are solved by the CPU solver whatever the context's backend. */
  return normot_cpu_emd_sparse(context, problem, params, result);
}
