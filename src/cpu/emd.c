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
  double *cost_row; /* m: one row of the cost (zero-weight duals) */
  emd_sparse_entry *sparse;
  void *solver;
  double *auction_plan;
} workspace;

typedef struct batch_plan {
  int need_full_cost, any_zero_weight, use_auction;
  int use_multiscale;  /* the candidate-set solver: no n x m buffer but a float32 cost's copy */
  int pricing_threads; /* its threads inside one problem (the batch has fewer problems) */
  int64_t dim;         /* point-cloud mode: the dimension, else 0 */
  size_t solver_bytes;
  /* NULL: each problem is written as soon as it is solved. Else a first pass solves into the
   * store (write_stored 0) and a second writes from it (write_stored 1). */
  const emd_solution_store *store;
  int write_stored;
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
  if (plan->any_zero_weight && !plan->use_multiscale) bytes += emd_align64(nm * sizeof(double));
  bytes +=
      2 * emd_align64((size_t)n * sizeof(double)) + 2 * emd_align64((size_t)m * sizeof(double));
  bytes += emd_align64((size_t)n * sizeof(int32_t)) + emd_align64((size_t)m * sizeof(int32_t));
  bytes += 2 * emd_align64(nodes * sizeof(int32_t)) + emd_align64(nodes * sizeof(double));
  bytes +=
      2 * emd_align64((size_t)n * sizeof(double)) + 2 * emd_align64((size_t)m * sizeof(double));
  bytes += emd_align64((size_t)n * sizeof(double)) + 2 * emd_align64((size_t)m * sizeof(double));
  bytes += emd_align64(nodes * sizeof(emd_sparse_entry));
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
  if (plan->any_zero_weight && !plan->use_multiscale)
    w.active_cost = carve(&cursor, nm * sizeof(double));
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
  w.cost_row = carve(&cursor, (size_t)m * sizeof(double));
  w.sparse = carve(&cursor, nodes * sizeof(emd_sparse_entry));
  w.solver = carve(&cursor, plan->solver_bytes);
  if (plan->use_auction) w.auction_plan = carve(&cursor, nm * sizeof(double));
  return w;
}

/* Problem p's clouds as float64: x as (n, dim), y transposed to (dim, m). */
static void load_points(const normot_emd_problem *problem, int64_t p, double *points_x,
                        double *points_y) {
  const int64_t n = problem->n, m = problem->m, dim = problem->dim;
  for (int64_t e = 0; e < n * dim; ++e)
    points_x[e] = normot_emd_load(problem->x, problem->value_type, p * n * dim + e);
  for (int64_t j = 0; j < m; ++j)
    for (int64_t d = 0; d < dim; ++d)
      points_y[d * m + j] = normot_emd_load(problem->y, problem->value_type, (p * m + j) * dim + d);
}

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
  load_points(problem, p, points_x, points_y);
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
  emd_basic_from_plan(dense->n, dense->m, w->auction_plan, w->solver, solution);
  solution->iterations = output.iterations;
  solution->status = output.status;
  return 0;
}

typedef struct active_sizes {
  int64_t n, m;               /* the problem's */
  int32_t n_active, m_active; /* rows and columns with mass */
} active_sizes;

/* Loads problem p's weights, rescales b to the mass of a, and lists the rows and columns with
 * mass (w->row_of, w->col_of, w->a_active, w->b_active). */
static void prepare_weights(const normot_emd_problem *problem, int64_t p, workspace *w,
                            int32_t *n_active, int32_t *m_active) {
  const int64_t n = problem->n, m = problem->m;
  emd_load_weights(problem->a, problem->a_shared ? 0 : p * n, n, problem->value_type, w->a);
  emd_load_weights(problem->b, problem->b_shared ? 0 : p * m, m, problem->value_type, w->b);
  normot_emd_rescale_b(w->b, m, normot_emd_weight_sum(w->a, n), normot_emd_weight_sum(w->b, m));
  *n_active = 0, *m_active = 0;
  for (int64_t i = 0; i < n; ++i)
    if (w->a[i] > 0.0) w->row_of[*n_active] = (int32_t)i, w->a_active[(*n_active)++] = w->a[i];
  for (int64_t j = 0; j < m; ++j)
    if (w->b[j] > 0.0) w->col_of[*m_active] = (int32_t)j, w->b_active[(*m_active)++] = w->b[j];
}

/* The dense solvers, on the active rows and columns of a cost held in memory. Returns the
 * problem's flags (NORMOT_EMD_FLAG_*). */
static int32_t solve_dense(const normot_emd_params *params, const double *cost,
                           const active_sizes *sizes, workspace *w, emd_basic_solution *solution) {
  const int32_t n_active = sizes->n_active, m_active = sizes->m_active;
  const int64_t m = sizes->m;
  const double *active_cost = cost;
  if (n_active < sizes->n || m_active < m) {
    for (int32_t r = 0; r < n_active; ++r) {
      const double *source = cost + (int64_t)w->row_of[r] * m;
      double *target = w->active_cost + (int64_t)r * m_active;
      for (int32_t c = 0; c < m_active; ++c) target[c] = source[w->col_of[c]];
    }
    active_cost = w->active_cost;
  }
  emd_dense_problem dense = {n_active, m_active, w->a_active, w->b_active, active_cost};
  int32_t flags = 0;
  const int assignment_fits =
      n_active == m_active && all_equal(w->a_active, n_active) && all_equal(w->b_active, m_active);
  switch (params->solver) {
    case NORMOT_EMD_SOLVER_AUCTION:
      flags = solve_with_auction(&dense, params->max_iter, w, solution);
      break;
    case NORMOT_EMD_SOLVER_ASSIGNMENT:
      if (assignment_fits)
        emd_assignment_solve(&dense, w->solver, solution);
      else
        emd_network_simplex_solve(&dense, params->max_iter, w->solver, solution);
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
        emd_assignment_solve(&dense, w->solver, solution);
      else
        emd_network_simplex_solve(&dense, params->max_iter, w->solver, solution);
      break;
    default: /* NETWORK_SIMPLEX */
      emd_network_simplex_solve(&dense, params->max_iter, w->solver, solution);
  }
  return flags;
}

/* The duals of the whole problem in w->u and w->v (emd_conventions.h), the zero-weight
 * estimates passing over the cost rows: the dense cost when there is one, else rows computed
 * from the clouds one at a time (no n x m memory). */
static void restore_duals(const normot_emd_params *params, const emd_cost_source *cost,
                          workspace *w, int has_zero_weight) {
  const normot_emd_dual_job job = {cost->n,
                                   cost->m,
                                   w->a,
                                   w->b,
                                   cost->cost,
                                   w->u,
                                   w->v,
                                   w->row_violation,
                                   w->col_violation,
                                   has_zero_weight,
                                   params->center_duals};
  if (cost->cost != NULL) {
    normot_emd_restore_duals(&job);
    return;
  }
  if (!normot_emd_restore_duals_begin(&job)) return;
  for (int32_t i = 0; i < cost->n; ++i) {
    emd_cost_row(cost, i, w->cost_row);
    normot_emd_null_duals_row(&job, i, w->cost_row);
  }
  normot_emd_restore_duals_end(&job);
}

/* Problem p's basic solution on the active rows and columns, with what maps it back: `cost` is
 * the full cost (zero-weight rows and columns included). */
typedef struct problem_answer {
  const emd_cost_source *cost;
  const active_sizes *sizes;
  emd_basic_solution *solution;
} problem_answer;

static double transport_cost(const problem_answer *answer, const workspace *w) {
  const emd_basic_solution *solution = answer->solution;
  double total = 0.0;
  for (int64_t e = 0; e < solution->count; ++e)
    total += solution->flow[e] *
             emd_cost_at(answer->cost, w->row_of[solution->row[e]], w->col_of[solution->col[e]]);
  return total;
}

static void write_dense_plan(const problem_answer *answer, const workspace *w, double *plan) {
  const int64_t n = answer->cost->n, m = answer->cost->m;
  const emd_basic_solution *solution = answer->solution;
  memset(plan, 0, (size_t)(n * m) * sizeof(double));
  for (int64_t e = 0; e < solution->count; ++e)
    plan[(int64_t)w->row_of[solution->row[e]] * m + w->col_of[solution->col[e]]] +=
        solution->flow[e];
}

/* The basis in the full problem's indices, as the sparse plan arrays of problem p. */
static void write_sparse_plan(const problem_answer *answer, const normot_emd_result *result,
                              int64_t p, workspace *w) {
  const int64_t n = answer->cost->n, m = answer->cost->m;
  emd_basic_solution *solution = answer->solution;
  for (int64_t e = 0; e < solution->count; ++e) {
    solution->row[e] = w->row_of[solution->row[e]];
    solution->col[e] = w->col_of[solution->col[e]];
  }
  emd_sparse_plan_view plan = {result->sparse_row + p * (n + m - 1),
                               result->sparse_col + p * (n + m - 1),
                               result->sparse_value + p * (n + m - 1), result->sparse_count + p};
  emd_write_sparse_plan(solution, m, w->sparse, &plan);
}

/* The active duals spread to the full problem in w->u and w->v, then restored (zero weights,
 * centring). */
static void write_duals(const normot_emd_params *params, const problem_answer *answer,
                        const normot_emd_result *result, int64_t p, workspace *w) {
  const int64_t n = answer->cost->n, m = answer->cost->m;
  const int32_t n_active = answer->sizes->n_active, m_active = answer->sizes->m_active;
  memset(w->u, 0, (size_t)n * sizeof(double));
  memset(w->v, 0, (size_t)m * sizeof(double));
  for (int32_t r = 0; r < n_active; ++r) w->u[w->row_of[r]] = answer->solution->u[r];
  for (int32_t c = 0; c < m_active; ++c) w->v[w->col_of[c]] = answer->solution->v[c];
  restore_duals(params, answer->cost, w, n_active < n || m_active < m);
  if (result->u != NULL) memcpy(result->u + p * n, w->u, (size_t)n * sizeof(double));
  if (result->v != NULL) memcpy(result->v + p * m, w->v, (size_t)m * sizeof(double));
}

/* Writes problem p's cost, plans, duals, status and iterations. */
static void write_results(const normot_emd_params *params, const problem_answer *answer,
                          const normot_emd_result *result, int64_t p, workspace *w) {
  const int64_t n = answer->cost->n, m = answer->cost->m;
  result->cost[p] = transport_cost(answer, w);
  if (result->plan != NULL) write_dense_plan(answer, w, result->plan + p * n * m);
  if (result->sparse_count != NULL) write_sparse_plan(answer, result, p, w);
  if (result->u != NULL || result->v != NULL) write_duals(params, answer, result, p, w);
  if (result->status != NULL) result->status[p] = answer->solution->status;
  if (result->iterations != NULL) result->iterations[p] = answer->solution->iterations;
}

/* Returns 0 when the candidate-set solver ran out of memory (nothing written for p). */
static int solve_problem(const normot_emd_problem *problem, const normot_emd_params *params,
                         const normot_emd_result *result, int64_t p, workspace *w,
                         const batch_plan *plan) {
  const int64_t n = problem->n, m = problem->m;
  emd_basic_solution solution = {
      w->basis_row,      w->basis_col, w->basis_flow, 0, w->u_active, w->v_active, 0,
      NORMOT_EMD_OPTIMAL};
  if (plan->store != NULL) solution = emd_solution_store_slot(plan->store, p);
  active_sizes sizes = {n, m, 0, 0};
  int32_t flags = 0;
  prepare_weights(problem, p, w, &sizes.n_active, &sizes.m_active);
  emd_cost_source cost = {(int32_t)n,
                          (int32_t)m,
                          NULL,
                          w->points_x,
                          w->points_y,
                          (int32_t)problem->dim,
                          problem->metric == NORMOT_METRIC_EUCLIDEAN};
  if (plan->use_multiscale && problem->cost == NULL) {
    load_points(problem, p, w->points_x, w->points_y);
  } else {
    cost.cost = load_cost(problem, p, w->full_cost, w->points_x, w->points_y);
  }
  if (plan->write_stored) {
    /* solved in the first pass (flags: the multiscale solver sets none) */
  } else if (plan->use_multiscale) {
    const int has_zero = sizes.n_active < n || sizes.m_active < m;
    emd_multiscale_problem sparse = {sizes.n_active,
                                     sizes.m_active,
                                     w->a_active,
                                     w->b_active,
                                     &cost,
                                     has_zero ? w->row_of : NULL,
                                     has_zero ? w->col_of : NULL,
                                     plan->pricing_threads,
                                     NULL,
                                     NULL,
                                     NULL,
                                     0,
                                     NULL,
                                     NULL};
    if (!emd_multiscale_solve(&sparse, &solution)) return 0;
  } else {
    flags = solve_dense(params, cost.cost, &sizes, w, &solution);
  }
  if (plan->store != NULL && !plan->write_stored) {
    emd_solution_store_save(plan->store, p, &solution);
    return 1;
  }
  const problem_answer answer = {&cost, &sizes, &solution};
  write_results(params, &answer, result, p, w);
  if (result->flags != NULL) result->flags[p] = flags;
  return 1;
}

/* ---- the batch ------------------------------------------------------------------------------ */

/* AUTO takes the multiscale solver where it measurably wins over the dense simplex: point
 * clouds in 1 to 3 dimensions large enough for its coarse-to-fine hierarchy (docs/
 * emd_semantics.md: 20x at DOTmark 64 x 64, and no n x m memory). On a dense cost, or below
 * that size, the dense simplex was faster. Only under no pivot limit or one of at least POT's
 * default, since the multiscale solver does not stop early. */
enum { MULTISCALE_AUTO_MIN_MAX_ITER = 100000 };

static int uses_multiscale(const normot_emd_problem *problem, const normot_emd_params *params) {
  if (params->solver == NORMOT_EMD_SOLVER_MULTISCALE) return 1;
  return params->solver == NORMOT_EMD_SOLVER_AUTO && problem->cost == NULL &&
         problem->dim <= EMD_HIERARCHY_MAX_DIM &&
         problem->n + problem->m > EMD_HIERARCHY_MIN_POINTS &&
         (params->max_iter == 0 || params->max_iter >= MULTISCALE_AUTO_MIN_MAX_ITER);
}

static int has_zero_weight(const normot_emd_problem *problem, const void *weights, int shared,
                           int64_t length) {
  if (weights == NULL) return 0;
  int64_t count = shared ? length : problem->k * length;
  for (int64_t i = 0; i < count; ++i)
    if (normot_emd_load(weights, problem->value_type, i) == 0.0) return 1;
  return 0;
}

/* Every problem of the batch on `threads` threads; returns the first that ran out of memory, or
 * k when none did. */
static int64_t solve_batch(const normot_emd_problem *problem, const normot_emd_params *params,
                           const normot_emd_result *result, const emd_cache *cache,
                           const batch_plan *plan, int threads) {
  const int64_t k = problem->k;
  int64_t first_failed = k;
#pragma omp parallel num_threads(threads)
  {
    int thread = 0;
#ifdef _OPENMP
    thread = omp_get_thread_num();
#endif
    workspace w = carve_workspace(cache->spaces[thread].memory, problem->n, problem->m, plan);
#pragma omp for schedule(dynamic, 1) reduction(min : first_failed)
    for (int64_t p = 0; p < k; ++p)
      if (!solve_problem(problem, params, result, p, &w, plan) && p < first_failed)
        first_failed = p;
  }
  return first_failed;
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
  plan.store = NULL, plan.write_stored = 0;
  plan.use_multiscale = uses_multiscale(problem, params);
  plan.need_full_cost = problem->cost == NULL || problem->value_type != NORMOT_FLOAT64;
  if (plan.use_multiscale && problem->cost == NULL) plan.need_full_cost = 0;
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
  plan.pricing_threads = threads / used_threads;
  emd_cache *cache = NULL;
  status = reserve_workspaces(context, used_threads, workspace_bytes(n, m, &plan), &cache);
  if (status != NORMOT_SUCCESS) return status;

  /* The multiscale solver allocates as it goes: its batches solve every problem into a store
   * first, so that running out of memory part-way leaves every output untouched. */
  emd_solution_store store;
  if (plan.use_multiscale && k > 1) {
    if (!emd_solution_store_create(&store, k, n, m))
      return normot_fail(context, NORMOT_ERROR_OUT_OF_MEMORY,
                         "emd: cannot allocate the solutions of %lld problems", (long long)k);
    plan.store = &store;
  }
  int64_t first_failed = solve_batch(problem, params, result, cache, &plan, used_threads);
  if (plan.store != NULL && first_failed == k) {
    plan.write_stored = 1;
    solve_batch(problem, params, result, cache, &plan, used_threads);
  }
  if (plan.store != NULL) emd_solution_store_free(&store);
  if (first_failed < k)
    return normot_fail(context, NORMOT_ERROR_OUT_OF_MEMORY,
                       "emd: problem %lld: out of memory for the candidate arcs of the "
                       "multiscale solver",
                       (long long)first_failed);
  return NORMOT_SUCCESS;
}
