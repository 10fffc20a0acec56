/* The CPU backend's normot_emd: the batch, parallel across problems (its contents were checked
 * by the dispatch layer, src/emd.c).
 *
 * Each problem is prepared in its thread's workspace (weights and costs as float64, zero-weight
 * rows and columns removed, b rescaled to the mass of a as POT does), solved by one of the
 * exact solvers of emd_solvers.h (or the auction core), and its results are written back with
 * the removed rows and columns restored. Workspaces are cached in the context (grow-only), so
 * that a loop of calls allocates once and the problem loop never allocates. Each problem is
 * solved by one thread from start to end, so results do not depend on the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../auction/auction.h"
#include "../emd_conventions.h"
#include "../validate_emd.h"
#include "cpu_kernels.h"
#include "emd_solvers.h"

/* ---- the workspace cache ------------------------------------------------------------------ */

typedef struct thread_space {
  void *memory;
  size_t bytes;
} thread_space;

typedef struct emd_cache {
  int count;
  thread_space *spaces;
} emd_cache;

static void release_cache(void *pointer) {
  emd_cache *cache = pointer;
  for (int t = 0; t < cache->count; ++t) free(cache->spaces[t].memory);
  free(cache->spaces);
  free(cache);
}

/* Makes sure `threads` workspaces of at least `bytes` each exist in the context. */
static normot_status reserve_workspaces(normot_context *context, int threads, size_t bytes,
                                        emd_cache **out) {
  emd_cache *cache = context->cache[NORMOT_CACHE_EMD].ptr;
  if (cache == NULL) {
    cache = calloc(1, sizeof *cache);
    if (cache == NULL) goto out_of_memory;
    context->cache[NORMOT_CACHE_EMD].ptr = cache;
    context->cache[NORMOT_CACHE_EMD].release = release_cache;
  }
  if (cache->count < threads) {
    thread_space *grown = realloc(cache->spaces, (size_t)threads * sizeof *grown);
    if (grown == NULL) goto out_of_memory;
    for (int t = cache->count; t < threads; ++t) grown[t].memory = NULL, grown[t].bytes = 0;
    cache->spaces = grown;
    cache->count = threads;
  }
  for (int t = 0; t < threads; ++t) {
    if (cache->spaces[t].bytes >= bytes) continue;
    free(cache->spaces[t].memory);
    cache->spaces[t].bytes = 0;
    cache->spaces[t].memory = aligned_alloc(64, emd_align64(bytes));
    if (cache->spaces[t].memory == NULL) goto out_of_memory;
    cache->spaces[t].bytes = bytes;
  }
  *out = cache;
  return NORMOT_SUCCESS;
out_of_memory:
  return normot_fail(context, NORMOT_ERROR_OUT_OF_MEMORY,
                     "emd: cannot allocate %zu bytes of workspace for each of %d threads", bytes,
                     threads);
}

/* ---- one problem ---------------------------------------------------------------------------- */

typedef struct sparse_entry {
  int64_t key; /* row * m + col */
  double value;
} sparse_entry;

/* The arrays of one thread's workspace. */
typedef struct workspace {
  double *full_cost;           /* n*m: converted or computed costs (NULL when the input is used) */
  double *points_x, *points_y; /* n*dim and dim*m: one problem's clouds (point-cloud mode) */
  double *active_cost; /* n*m: costs of the rows/columns with mass (NULL: no zero weights) */
  double *a, *b;       /* n, m: weights as float64, b rescaled */
  double *a_active, *b_active;
  int32_t *row_of, *col_of; /* active index -> original index */
  int32_t *basis_row, *basis_col;
  double *basis_flow;
  double *u_active, *v_active, *u, *v;
  double *row_violation, *col_violation;
  sparse_entry *sparse;
  void *solver;
  double *auction_plan;
} workspace;

typedef struct batch_plan {
  int need_full_cost, any_zero_weight, use_auction;
  int64_t dim; /* point-cloud mode: the dimension, else 0 */
  size_t solver_bytes;
} batch_plan;

static void *carve(char **cursor, size_t bytes) {
  void *start = *cursor;
  *cursor += emd_align64(bytes);
  return start;
}

static size_t workspace_bytes(int64_t n, int64_t m, const batch_plan *plan) {
  size_t nm = (size_t)n * (size_t)m, nodes = (size_t)(n + m);
  size_t bytes = 0;
  if (plan->need_full_cost) bytes += emd_align64(nm * sizeof(double));
  bytes += emd_align64((size_t)(n * plan->dim) * sizeof(double)) +
           emd_align64((size_t)(m * plan->dim) * sizeof(double));
  if (plan->any_zero_weight) bytes += emd_align64(nm * sizeof(double));
  bytes +=
      2 * emd_align64((size_t)n * sizeof(double)) + 2 * emd_align64((size_t)m * sizeof(double));
  bytes += emd_align64((size_t)n * sizeof(int32_t)) + emd_align64((size_t)m * sizeof(int32_t));
  bytes += 2 * emd_align64(nodes * sizeof(int32_t)) + emd_align64(nodes * sizeof(double));
  bytes +=
      2 * emd_align64((size_t)n * sizeof(double)) + 2 * emd_align64((size_t)m * sizeof(double));
  bytes += emd_align64((size_t)n * sizeof(double)) + emd_align64((size_t)m * sizeof(double));
  bytes += emd_align64(nodes * sizeof(sparse_entry));
  bytes += emd_align64(plan->solver_bytes);
  if (plan->use_auction) bytes += emd_align64(nm * sizeof(double));
  return bytes + 64;
}

static workspace carve_workspace(void *memory, int64_t n, int64_t m, const batch_plan *plan) {
  size_t nm = (size_t)n * (size_t)m, nodes = (size_t)(n + m);
  char *cursor = memory;
  workspace w;
  memset(&w, 0, sizeof w);
  if (plan->need_full_cost) w.full_cost = carve(&cursor, nm * sizeof(double));
  w.points_x = carve(&cursor, (size_t)(n * plan->dim) * sizeof(double));
  w.points_y = carve(&cursor, (size_t)(m * plan->dim) * sizeof(double));
  if (plan->any_zero_weight) w.active_cost = carve(&cursor, nm * sizeof(double));
  w.a = carve(&cursor, (size_t)n * sizeof(double));
  w.a_active = carve(&cursor, (size_t)n * sizeof(double));
  w.b = carve(&cursor, (size_t)m * sizeof(double));
  w.b_active = carve(&cursor, (size_t)m * sizeof(double));
  w.row_of = carve(&cursor, (size_t)n * sizeof(int32_t));
  w.col_of = carve(&cursor, (size_t)m * sizeof(int32_t));
  w.basis_row = carve(&cursor, nodes * sizeof(int32_t));
  w.basis_col = carve(&cursor, nodes * sizeof(int32_t));
  w.basis_flow = carve(&cursor, nodes * sizeof(double));
  w.u_active = carve(&cursor, (size_t)n * sizeof(double));
  w.u = carve(&cursor, (size_t)n * sizeof(double));
  w.v_active = carve(&cursor, (size_t)m * sizeof(double));
  w.v = carve(&cursor, (size_t)m * sizeof(double));
  w.row_violation = carve(&cursor, (size_t)n * sizeof(double));
  w.col_violation = carve(&cursor, (size_t)m * sizeof(double));
  w.sparse = carve(&cursor, nodes * sizeof(sparse_entry));
  w.solver = carve(&cursor, plan->solver_bytes);
  if (plan->use_auction) w.auction_plan = carve(&cursor, nm * sizeof(double));
  return w;
}

static void load_weights(const normot_emd_problem *problem, const void *weights, int shared,
                         int64_t length, int64_t p, double *out) {
  if (weights == NULL) {
    for (int64_t i = 0; i < length; ++i) out[i] = 1.0 / (double)length;
    return;
  }
  int64_t offset = shared ? 0 : p * length;
  if (problem->value_type == NORMOT_FLOAT64) {
    memcpy(out, (const double *)weights + offset, (size_t)length * sizeof(double));
  } else {
    const float *source = (const float *)weights + offset;
    for (int64_t i = 0; i < length; ++i) out[i] = source[i];
  }
}

/* The full n x m cost of problem p, as float64: the input itself when it already is. */
/* The full n x m cost of problem p, as float64: the input itself when it already is. Point
 * clouds: y is first transposed to (dim, m) so that the distance loop runs along a row of the
 * cost; each entry is still summed over the coordinates in order, from 0. */
static const double *load_cost(const normot_emd_problem *problem, int64_t p, double *buffer,
                               double *points_x, double *points_y) {
  const int64_t n = problem->n, m = problem->m;
  if (problem->cost != NULL) {
    int64_t offset = problem->cost_shared ? 0 : p * n * m;
    if (problem->value_type == NORMOT_FLOAT64) return (const double *)problem->cost + offset;
    const float *source = (const float *)problem->cost + offset;
    for (int64_t e = 0; e < n * m; ++e) buffer[e] = source[e];
    return buffer;
  }
  const int64_t dim = problem->dim;
  for (int64_t e = 0; e < n * dim; ++e)
    points_x[e] = normot_emd_load(problem->x, problem->value_type, p * n * dim + e);
  for (int64_t j = 0; j < m; ++j)
    for (int64_t d = 0; d < dim; ++d)
      points_y[d * m + j] = normot_emd_load(problem->y, problem->value_type, (p * m + j) * dim + d);
  for (int64_t i = 0; i < n; ++i) {
    double *row = buffer + i * m;
    for (int64_t j = 0; j < m; ++j) row[j] = 0.0;
    for (int64_t d = 0; d < dim; ++d) {
      const double xd = points_x[i * dim + d];
      const double *yd = points_y + d * m;
      for (int64_t j = 0; j < m; ++j) {
        double diff = xd - yd[j];
        row[j] += diff * diff;
      }
    }
    if (problem->metric == NORMOT_METRIC_EUCLIDEAN)
      for (int64_t j = 0; j < m; ++j) row[j] = sqrt(row[j]);
  }
  return buffer;
}

/* The largest uniform square problem that AUTO hands to the assignment solver. */
enum { ASSIGNMENT_AUTO_MAX_N = 512 };

static int all_equal(const double *values, int32_t count) {
  for (int32_t i = 1; i < count; ++i)
    if (values[i] != values[0]) return 0;
  return 1;
}

static int compare_sparse(const void *left, const void *right) {
  int64_t l = ((const sparse_entry *)left)->key, r = ((const sparse_entry *)right)->key;
  return (l > r) - (l < r);
}

/* Runs the auction core, then turns its plan into a basic solution like the other solvers'.
 * Outside the core's range (it answers INFEASIBLE), or when its answer is not certified on the
 * original costs, the network simplex solves the problem: returns NORMOT_EMD_FLAG_CPU_FALLBACK
 * then, else 0. */
static int32_t solve_with_auction(const emd_dense_problem *dense, int64_t max_iter, workspace *w,
                                  emd_basic_solution *solution) {
  normot_auction_problem auction = {dense->n, dense->m, dense->a, dense->b, dense->cost, max_iter};
  normot_auction_output output;
  memset(&output, 0, sizeof output);
  output.plan = w->auction_plan;
  output.u = solution->u;
  output.v = solution->v;
  int status = normot_auction_solve(&auction, w->solver, &output);
  if (status == NORMOT_EMD_INFEASIBLE || (status == NORMOT_EMD_OPTIMAL && !output.certified)) {
    emd_network_simplex_solve(dense, max_iter, w->solver, solution);
    return NORMOT_EMD_FLAG_CPU_FALLBACK;
  }
  solution->count = emd_basic_from_plan(dense->n, dense->m, w->auction_plan, w->solver,
                                        solution->row, solution->col, solution->flow);
  solution->iterations = output.iterations;
  solution->status = output.status;
  return 0;
}

static void solve_problem(const normot_emd_problem *problem, const normot_emd_params *params,
                          const normot_emd_result *result, int64_t p, workspace *w) {
  const int64_t n = problem->n, m = problem->m;
  load_weights(problem, problem->a, problem->a_shared, n, p, w->a);
  load_weights(problem, problem->b, problem->b_shared, m, p, w->b);
  normot_emd_rescale_b(w->b, m, normot_emd_weight_sum(w->a, n), normot_emd_weight_sum(w->b, m));

  int32_t n_active = 0, m_active = 0;
  for (int64_t i = 0; i < n; ++i)
    if (w->a[i] > 0.0) w->row_of[n_active] = (int32_t)i, w->a_active[n_active++] = w->a[i];
  for (int64_t j = 0; j < m; ++j)
    if (w->b[j] > 0.0) w->col_of[m_active] = (int32_t)j, w->b_active[m_active++] = w->b[j];
  const int has_zero = n_active < n || m_active < m;

  const double *cost = load_cost(problem, p, w->full_cost, w->points_x, w->points_y);
  const double *active_cost = cost;
  if (has_zero) {
    for (int32_t r = 0; r < n_active; ++r) {
      const double *source = cost + (int64_t)w->row_of[r] * m;
      double *target = w->active_cost + (int64_t)r * m_active;
      for (int32_t c = 0; c < m_active; ++c) target[c] = source[w->col_of[c]];
    }
    active_cost = w->active_cost;
  }

  emd_dense_problem dense = {n_active, m_active, w->a_active, w->b_active, active_cost};
  emd_basic_solution solution = {
      w->basis_row,      w->basis_col, w->basis_flow, 0, w->u_active, w->v_active, 0,
      NORMOT_EMD_OPTIMAL};
  int32_t flags = 0;
  const int assignment_fits =
      n_active == m_active && all_equal(w->a_active, n_active) && all_equal(w->b_active, m_active);
  switch (params->solver) {
    case NORMOT_EMD_SOLVER_AUCTION:
      flags = solve_with_auction(&dense, params->max_iter, w, &solution);
      break;
    case NORMOT_EMD_SOLVER_ASSIGNMENT:
      if (assignment_fits)
        emd_assignment_solve(&dense, w->solver, &solution);
      else
        emd_network_simplex_solve(&dense, params->max_iter, w->solver, &solution);
      break;
    case NORMOT_EMD_SOLVER_AUTO:
      /* Uniform square problems up to ASSIGNMENT_AUTO_MAX_N go to the shortest augmenting
       * paths. Measured against the simplex on random clouds: 2.5x faster at n = 100 (2-D,
       * squared Euclidean), 3x with many tied costs, 1.2x to 3.5x at n = 500 (2-D to 10-D),
       * and even at n = 1000 (docs/emd_semantics.md). The assignment solver ends after at
       * most n augmenting paths, so a limit of n or more cannot stop it (POT's default
       * numItermax = 100000, for one); a smaller limit keeps the simplex, whose pivots it
       * counts. */
      if (assignment_fits && n_active <= ASSIGNMENT_AUTO_MAX_N &&
          (params->max_iter == 0 || params->max_iter >= n_active))
        emd_assignment_solve(&dense, w->solver, &solution);
      else
        emd_network_simplex_solve(&dense, params->max_iter, w->solver, &solution);
      break;
    default: /* NETWORK_SIMPLEX */
      emd_network_simplex_solve(&dense, params->max_iter, w->solver, &solution);
  }

  double total = 0.0;
  for (int64_t e = 0; e < solution.count; ++e)
    total += solution.flow[e] * active_cost[(int64_t)solution.row[e] * m_active + solution.col[e]];
  result->cost[p] = total;

  if (result->plan != NULL) {
    double *plan = result->plan + p * n * m;
    memset(plan, 0, (size_t)(n * m) * sizeof(double));
    for (int64_t e = 0; e < solution.count; ++e)
      plan[(int64_t)w->row_of[solution.row[e]] * m + w->col_of[solution.col[e]]] +=
          solution.flow[e];
  }
  if (result->sparse_count != NULL) {
    int64_t count = 0;
    for (int64_t e = 0; e < solution.count; ++e)
      if (solution.flow[e] > 0.0) {
        w->sparse[count].key = (int64_t)w->row_of[solution.row[e]] * m + w->col_of[solution.col[e]];
        w->sparse[count++].value = solution.flow[e];
      }
    qsort(w->sparse, (size_t)count, sizeof *w->sparse, compare_sparse);
    const int64_t base = p * (n + m - 1);
    for (int64_t e = 0; e < count; ++e) {
      result->sparse_row[base + e] = w->sparse[e].key / m;
      result->sparse_col[base + e] = w->sparse[e].key % m;
      result->sparse_value[base + e] = w->sparse[e].value;
    }
    result->sparse_count[p] = count;
  }
  if (result->u != NULL || result->v != NULL) {
    memset(w->u, 0, (size_t)n * sizeof(double));
    memset(w->v, 0, (size_t)m * sizeof(double));
    for (int32_t r = 0; r < n_active; ++r) w->u[w->row_of[r]] = solution.u[r];
    for (int32_t c = 0; c < m_active; ++c) w->v[w->col_of[c]] = solution.v[c];
    const normot_emd_dual_job duals = {n,
                                       m,
                                       w->a,
                                       w->b,
                                       cost,
                                       w->u,
                                       w->v,
                                       w->row_violation,
                                       w->col_violation,
                                       has_zero,
                                       params->center_duals};
    normot_emd_restore_duals(&duals);
    if (result->u != NULL) memcpy(result->u + p * n, w->u, (size_t)n * sizeof(double));
    if (result->v != NULL) memcpy(result->v + p * m, w->v, (size_t)m * sizeof(double));
  }
  if (result->status != NULL) result->status[p] = solution.status;
  if (result->iterations != NULL) result->iterations[p] = solution.iterations;
  if (result->flags != NULL) result->flags[p] = flags;
}

/* ---- the batch ------------------------------------------------------------------------------ */

static int has_zero_weight(const normot_emd_problem *problem, const void *weights, int shared,
                           int64_t length) {
  if (weights == NULL) return 0;
  int64_t count = shared ? length : problem->k * length;
  for (int64_t i = 0; i < count; ++i)
    if (normot_emd_load(weights, problem->value_type, i) == 0.0) return 1;
  return 0;
}

normot_status normot_cpu_emd(normot_context *context, const normot_emd_problem *problem,
                             const normot_emd_params *params, normot_emd_result *result) {
  const int64_t n = problem->n, m = problem->m;
  if (n + m >= INT32_MAX)
    return normot_fail(context, NORMOT_ERROR_INVALID_SIZE,
                       "emd: the CPU solvers need n + m < 2^31 (n=%lld, m=%lld)", (long long)n,
                       (long long)m);
  /* The contents were checked by normot_emd (validate_emd.h) before any backend ran. */
  const int threads = normot_threads_for(context);
  normot_status status;

  batch_plan plan;
  plan.need_full_cost = problem->cost == NULL || problem->value_type != NORMOT_FLOAT64;
  plan.dim = problem->cost == NULL ? problem->dim : 0;
  plan.any_zero_weight = has_zero_weight(problem, problem->a, problem->a_shared, n) ||
                         has_zero_weight(problem, problem->b, problem->b_shared, m);
  plan.use_auction = params->solver == NORMOT_EMD_SOLVER_AUCTION;
  plan.solver_bytes = emd_network_simplex_workspace_bytes((int32_t)n, (int32_t)m);
  if (n == m && emd_assignment_workspace_bytes((int32_t)n) > plan.solver_bytes)
    plan.solver_bytes = emd_assignment_workspace_bytes((int32_t)n);
  if (plan.use_auction) {
    size_t auction_bytes = normot_auction_workspace_bytes(n, m);
    size_t crossover_bytes = emd_crossover_workspace_bytes((int32_t)n, (int32_t)m);
    if (auction_bytes > plan.solver_bytes) plan.solver_bytes = auction_bytes;
    if (crossover_bytes > plan.solver_bytes) plan.solver_bytes = crossover_bytes;
  }

  const int64_t k = problem->k;
  const int used_threads = (int64_t)threads < k ? threads : (int)k;
  emd_cache *cache;
  status = reserve_workspaces(context, used_threads, workspace_bytes(n, m, &plan), &cache);
  if (status != NORMOT_SUCCESS) return status;

#pragma omp parallel num_threads(used_threads)
  {
    int thread = 0;
#ifdef _OPENMP
    thread = omp_get_thread_num();
#endif
    workspace w = carve_workspace(cache->spaces[thread].memory, n, m, &plan);
#pragma omp for schedule(dynamic, 1)
    for (int64_t p = 0; p < k; ++p) solve_problem(problem, params, result, p, &w);
  }
  return NORMOT_SUCCESS;
}
