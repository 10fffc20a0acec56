/* normot_emd with fuzzed batch shapes, value types, weights (given, shared or uniform), costs
 * (given, shared or point clouds), solvers and parameters, against normot.h's contract: a
 * documented status; a failure leaves every result buffer byte for byte as it was; a success
 * gives, for every problem, a finite cost, a feasible plan and, when OPTIMAL, the optimality
 * certificate (fuzz_emd_certificate.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_bytes.h"
#include "fuzz_emd_certificate.h"
#include "fuzz_support.h"
#include "normot/normot.h"

/* LARGE_SIDE: a side code of 248 or 249 makes n or m 1030, so that two of them (n + m > 2048)
 * reach MULTISCALE's coarse-to-fine cloud hierarchy (emd_multiscale_clouds.c); only point
 * clouds solved by MULTISCALE or AUTO, in a batch of at most one, keep it (a second each under
 * the sanitizers; the dense solvers would take far longer). */
enum { SENTINEL_BYTE = 0x5A, RESULT_ARRAYS = 11, LARGE_SIDE = 1030 };

typedef struct emd_call {
  normot_emd_problem problem;
  normot_emd_params params;
  normot_emd_result result;
  uint8_t threads_code;
  void *a, *b, *cost, *x, *y;
  void *outputs[RESULT_ARRAYS]; /* the result's arrays, by slot (attach_output) */
  size_t output_bytes[RESULT_ARRAYS];
} emd_call;

static int64_t nonnegative(int64_t n) {
  return n > 0 ? n : 0;
}

static int64_t decode_side(uint8_t code) {
  if (code == 248 || code == 249) return LARGE_SIDE;
  if (code < 250) return 1 + code % 8;
  return code < 253 ? 0 : -1;
}

static int64_t decode_max_iter(uint8_t code) {
  if (code < 128) return 0;
  if (code < 250) return code - 127;
  return code < 253 ? -1 : 1000000000;
}

static double decode_marginal_tol(uint8_t code) {
  if (code < 200) return 1e-6;
  if (code < 250) return (code - 200) / 100.0;
  const double specials[6] = {0, -1, NAN, INFINITY, 1e-12, 1e-300};
  return specials[code - 250];
}

/* Value i of a large array once the bytes are used up: a spread of sixteenths in [0, 32), zero
 * now and then, that depends on the input's size, so that large clouds are not all one point. */
static void store_pattern(void *array, int64_t i, normot_value_type type, size_t salt) {
  const double value = (double)(((uint64_t)i * 7919u + salt) % 521u) / 16.0;
  if (type == NORMOT_FLOAT32)
    ((float *)array)[i] = (float)value;
  else if (type == NORMOT_FLOAT64)
    ((double *)array)[i] = value;
  else
    ((int32_t *)array)[i] = (int32_t)value;
}

static void *values_array(fuzz_bytes *bytes, int64_t count, normot_value_type type) {
  void *array = calloc((size_t)(count > 0 ? count : 1), fuzz_type_size(type));
  if (array == NULL) fuzz_fail("out of memory in the harness");
  for (int64_t i = 0; i < count; ++i) {
    if (count >= LARGE_SIDE && bytes->used >= bytes->size)
      store_pattern(array, i, type, bytes->size);
    else
      fuzz_store_value(array, i, type, bytes);
  }
  return array;
}

/* Large sides only where they stay fast (see LARGE_SIDE): otherwise back to 1..8. */
static void limit_large_sides(uint8_t flags, emd_call *call) {
  normot_emd_problem *p = &call->problem;
  const normot_emd_solver solver = call->params.solver;
  const int clouds = (flags >> 4) & 1;
  if (p->n != LARGE_SIDE && p->m != LARGE_SIDE) return;
  if (clouds && (solver == NORMOT_EMD_SOLVER_MULTISCALE || solver == NORMOT_EMD_SOLVER_AUTO)) {
    if (p->k > 1) p->k = 1;
    return;
  }
  if (p->n == LARGE_SIDE) p->n = 8;
  if (p->m == LARGE_SIDE) p->m = 8;
}

static void decode_inputs(fuzz_bytes *bytes, uint8_t flags, emd_call *call) {
  normot_emd_problem *p = &call->problem;
  const int64_t k = nonnegative(p->k), n = nonnegative(p->n), m = nonnegative(p->m);
  p->a_shared = (flags >> 1) & 1;
  p->b_shared = (flags >> 3) & 1;
  p->cost_shared = (flags >> 5) & 1;
  if (flags & 1) p->a = call->a = values_array(bytes, p->a_shared ? n : k * n, p->value_type);
  if ((flags >> 2) & 1)
    p->b = call->b = values_array(bytes, p->b_shared ? m : k * m, p->value_type);
  if ((flags >> 4) & 1) {
    const int64_t dim = nonnegative(p->dim);
    p->x = call->x = values_array(bytes, k * n * dim, p->value_type);
    p->y = call->y = values_array(bytes, k * m * dim, p->value_type);
  } else {
    const int64_t count = p->cost_shared ? n * m : k * n * m;
    p->cost = call->cost = values_array(bytes, count, p->value_type);
  }
}

/* Result arrays by slot: cost, plan, sparse row, column, value and count, u, v, status,
 * iterations, flags. */
static const size_t result_element_size[RESULT_ARRAYS] = {8, 8, 8, 8, 8, 8, 8, 8, 4, 8, 4};

static void attach_output(normot_emd_result *r, int slot, void *buffer) {
  switch (slot) {
    case 0: r->cost = buffer; break;
    case 1: r->plan = buffer; break;
    case 2: r->sparse_row = buffer; break;
    case 3: r->sparse_col = buffer; break;
    case 4: r->sparse_value = buffer; break;
    case 5: r->sparse_count = buffer; break;
    case 6: r->u = buffer; break;
    case 7: r->v = buffer; break;
    case 8: r->status = buffer; break;
    case 9: r->iterations = buffer; break;
    default: r->flags = buffer; break;
  }
}

/* Which arrays are asked for (the cost always), each filled with the sentinel. */
static void decode_outputs(uint8_t wanted, emd_call *call) {
  const int64_t k = nonnegative(call->problem.k), n = nonnegative(call->problem.n),
                m = nonnegative(call->problem.m), basis = n + m > 0 ? n + m - 1 : 0;
  const int64_t counts[RESULT_ARRAYS] = {k,     k * n * m, k * basis, k * basis, k * basis, k,
                                         k * n, k * m,     k,         k,         k};
  const int asked[RESULT_ARRAYS] = {1,
                                    wanted & 1,
                                    (wanted >> 1) & 1,
                                    (wanted >> 1) & 1,
                                    (wanted >> 1) & 1,
                                    (wanted >> 1) & 1,
                                    (wanted >> 2) & 1,
                                    (wanted >> 3) & 1,
                                    (wanted >> 4) & 1,
                                    (wanted >> 5) & 1,
                                    (wanted >> 6) & 1};
  memset(&call->result, 0, sizeof call->result);
  for (int slot = 0; slot < RESULT_ARRAYS; ++slot) {
    if (!asked[slot]) continue;
    call->output_bytes[slot] = (size_t)counts[slot] * result_element_size[slot];
    call->outputs[slot] = malloc(call->output_bytes[slot] > 0 ? call->output_bytes[slot] : 1);
    if (call->outputs[slot] == NULL) fuzz_fail("out of memory in the harness");
    memset(call->outputs[slot], SENTINEL_BYTE, call->output_bytes[slot]);
    attach_output(&call->result, slot, call->outputs[slot]);
  }
}

static void decode_call(fuzz_bytes *bytes, emd_call *call) {
  memset(call, 0, sizeof *call);
  normot_emd_problem *p = &call->problem;
  const int64_t batch_sizes[5] = {0, 1, 2, 3, -1};
  p->k = batch_sizes[fuzz_take_byte(bytes) % 5];
  p->n = decode_side(fuzz_take_byte(bytes));
  p->m = decode_side(fuzz_take_byte(bytes));
  const normot_value_type types[3] = {NORMOT_FLOAT32, NORMOT_FLOAT64, NORMOT_INT32};
  p->value_type = types[fuzz_take_byte(bytes) % 3];
  const uint8_t flags = fuzz_take_byte(bytes);
  const uint8_t choices = fuzz_take_byte(bytes);
  const uint8_t wanted = fuzz_take_byte(bytes);
  p->memory = (wanted >> 7) & 1 ? NORMOT_MEMORY_AUTO : NORMOT_MEMORY_HOST;
  p->metric = (normot_metric)((choices >> 3) % 3);
  p->dim = (choices >> 5) % 4;
  normot_emd_params_init(&call->params);
  /* Solver codes 5..7 are AUTO, so that one in eight calls names an unknown solver (4). */
  call->params.solver = (normot_emd_solver)((choices & 7) < 5 ? (choices & 7) : 0);
  call->params.check_marginals = !((flags >> 6) & 1);
  call->params.center_duals = !((flags >> 7) & 1);
  call->params.max_iter = decode_max_iter(fuzz_take_byte(bytes));
  call->params.marginal_tol = decode_marginal_tol(fuzz_take_byte(bytes));
  call->threads_code = fuzz_take_byte(bytes);
  limit_large_sides(flags, call);
  decode_inputs(bytes, flags, call);
  decode_outputs(wanted, call);
}

static void check_untouched(const emd_call *call) {
  for (int slot = 0; slot < RESULT_ARRAYS; ++slot) {
    const unsigned char *bytes = call->outputs[slot];
    for (size_t i = 0; bytes != NULL && i < call->output_bytes[slot]; ++i)
      if (bytes[i] != SENTINEL_BYTE) fuzz_fail("a failed emd wrote result array %d", slot);
  }
}

/* Weights of one problem in float64: given (shared or per problem) or uniform. */
static void weights_of(const void *given, int shared, int64_t p, int64_t length,
                       normot_value_type type, double *out) {
  for (int64_t i = 0; i < length; ++i)
    out[i] = given == NULL ? 1.0 / (double)length
                           : fuzz_load_value(given, (shared ? 0 : p * length) + i, type);
}

/* Costs of one problem in float64: given, or from the point clouds by the metric. */
static void costs_of(const normot_emd_problem *problem, int64_t p, double *out) {
  const int64_t n = problem->n, m = problem->m, dim = problem->dim;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < m; ++j) {
      if (problem->cost != NULL) {
        const int64_t offset = problem->cost_shared ? 0 : p * n * m;
        out[i * m + j] = fuzz_load_value(problem->cost, offset + i * m + j, problem->value_type);
        continue;
      }
      double squared = 0;
      for (int64_t d = 0; d < dim; ++d) {
        const double diff =
            fuzz_load_value(problem->x, (p * n + i) * dim + d, problem->value_type) -
            fuzz_load_value(problem->y, (p * m + j) * dim + d, problem->value_type);
        squared += diff * diff;
      }
      out[i * m + j] = problem->metric == NORMOT_METRIC_EUCLIDEAN ? sqrt(squared) : squared;
    }
  }
}

static emd_answer answer_of(const emd_call *call, int64_t p, int status_known_optimal) {
  const normot_emd_result *r = &call->result;
  const int64_t n = call->problem.n, m = call->problem.m, basis = n + m - 1;
  emd_answer answer = {.cost = r->cost[p],
                       .plan = r->plan != NULL ? r->plan + p * n * m : NULL,
                       .u = r->u != NULL ? r->u + p * n : NULL,
                       .v = r->v != NULL ? r->v + p * m : NULL,
                       .sparse_row = r->sparse_row != NULL ? r->sparse_row + p * basis : NULL,
                       .sparse_col = r->sparse_col != NULL ? r->sparse_col + p * basis : NULL,
                       .sparse_count = r->sparse_count != NULL ? r->sparse_count + p : NULL,
                       .sparse_value = r->sparse_value != NULL ? r->sparse_value + p * basis : NULL,
                       .optimal = status_known_optimal,
                       .centred = call->params.center_duals};
  return answer;
}

static int problem_is_optimal(const emd_call *call, int64_t p) {
  const normot_emd_result *r = &call->result;
  if (r->status == NULL) return call->params.max_iter == 0;
  const int32_t status = r->status[p];
  if (status == NORMOT_EMD_OPTIMAL) return 1;
  if (status != NORMOT_EMD_MAX_ITER_REACHED || call->params.max_iter == 0)
    fuzz_fail("problem %lld: status %d", (long long)p, (int)status);
  return 0;
}

static void check_success(const emd_call *call) {
  const normot_emd_problem *problem = &call->problem;
  const int64_t n = problem->n, m = problem->m;
  double *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)m * sizeof *b);
  double *cost = malloc((size_t)(n * m) * sizeof *cost);
  if (a == NULL || b == NULL || cost == NULL) fuzz_fail("out of memory in the harness");
  for (int64_t p = 0; p < problem->k; ++p) {
    weights_of(problem->a, problem->a_shared, p, n, problem->value_type, a);
    weights_of(problem->b, problem->b_shared, p, m, problem->value_type, b);
    costs_of(problem, p, cost);
    const emd_instance instance = {n, m, a, b, cost};
    const emd_answer answer = answer_of(call, p, problem_is_optimal(call, p));
    fuzz_check_emd_answer(&instance, &answer, p);
    if (call->result.flags != NULL && (call->result.flags[p] & ~NORMOT_EMD_FLAG_CPU_FALLBACK))
      fuzz_fail("problem %lld: flags %d", (long long)p, (int)call->result.flags[p]);
    if (call->result.iterations != NULL && call->result.iterations[p] < 0)
      fuzz_fail("problem %lld: negative iteration count", (long long)p);
  }
  free(a);
  free(b);
  free(cost);
}

static void free_call(emd_call *call) {
  free(call->a);
  free(call->b);
  free(call->cost);
  free(call->x);
  free(call->y);
  for (int slot = 0; slot < RESULT_ARRAYS; ++slot) free(call->outputs[slot]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_bytes bytes = {data, size, 0};
  emd_call call;
  decode_call(&bytes, &call);
  normot_context *context = NULL;
  if (normot_context_create(&context, NORMOT_BACKEND_CPU, 0) != NORMOT_SUCCESS)
    fuzz_fail("cannot create a CPU context");
  fuzz_set_threads(context, call.threads_code);
  normot_status status = normot_emd(context, &call.problem, &call.params, &call.result);
  fuzz_check_status("normot_emd", status, normot_context_last_error(context));
  if (status == NORMOT_SUCCESS)
    check_success(&call);
  else
    check_untouched(&call);
  normot_context_destroy(context);
  free_call(&call);
  return 0;
}
