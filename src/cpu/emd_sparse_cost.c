/* normot_emd_sparse on the CPU: the edges of the rows and columns with mass become the arc list
 * of the sparse network simplex (emd_sparse_simplex.c); flow left on its artificial arcs at the
 * optimum means the edges cannot carry the marginals. */
#include "emd_sparse_cost.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../validate_emd.h"
#include "../validate_matrix.h"
#include "emd_solvers.h"

/* Everything one solve holds (malloc'd; sizes n, m, and n + m for the basis). */
typedef struct sparse_solve {
  double *a, *b, *a_active, *b_active, *u, *v, *u_active, *v_active, *flow, *arc_cost;
  int32_t *row_of, *col_of, *active_row, *active_col, *basis_row, *basis_col;
  emd_sparse_entry *entries;
  int32_t n_active, m_active;
  emd_arc_list arcs;
} sparse_solve;

static void free_solve(sparse_solve *s) {
  free(s->a), free(s->b), free(s->a_active), free(s->b_active), free(s->u), free(s->v);
  free(s->u_active), free(s->v_active);
  free(s->flow), free(s->arc_cost), free(s->row_of), free(s->col_of), free(s->active_row);
  free(s->active_col), free(s->basis_row), free(s->basis_col), free(s->entries);
  emd_arc_list_free(&s->arcs);
}

static int allocate_solve(sparse_solve *s, int64_t n, int64_t m) {
  const size_t nodes = (size_t)(n + m);
  memset(s, 0, sizeof *s);
  s->a = malloc((size_t)n * sizeof(double)), s->a_active = malloc((size_t)n * sizeof(double));
  s->b = malloc((size_t)m * sizeof(double)), s->b_active = malloc((size_t)m * sizeof(double));
  s->u = malloc((size_t)n * sizeof(double)), s->v = malloc((size_t)m * sizeof(double));
  s->u_active = malloc((size_t)n * sizeof(double));
  s->v_active = malloc((size_t)m * sizeof(double));
  s->flow = malloc(nodes * sizeof(double)), s->arc_cost = malloc(nodes * sizeof(double));
  s->row_of = malloc((size_t)n * sizeof(int32_t)), s->col_of = malloc((size_t)m * sizeof(int32_t));
  s->active_row = malloc((size_t)n * sizeof(int32_t));
  s->active_col = malloc((size_t)m * sizeof(int32_t));
  s->basis_row = malloc(nodes * sizeof(int32_t)), s->basis_col = malloc(nodes * sizeof(int32_t));
  s->entries = malloc(nodes * sizeof(emd_sparse_entry));
  return s->a && s->b && s->a_active && s->b_active && s->u && s->v && s->u_active && s->v_active &&
         s->flow && s->arc_cost && s->row_of && s->col_of && s->active_row && s->active_col &&
         s->basis_row && s->basis_col && s->entries;
}

/* Weights (b rescaled to the mass of a), the rows and columns with mass, and the edges between
 * them as arcs; returns 0 when memory runs out. */
static int build_arcs(const normot_emd_sparse_problem *problem, sparse_solve *s,
                      double *cost_bound) {
  const int64_t n = problem->n, m = problem->m;
  emd_load_weights(problem->a, 0, n, problem->value_type, s->a);
  emd_load_weights(problem->b, 0, m, problem->value_type, s->b);
  normot_emd_rescale_b(s->b, m, normot_emd_weight_sum(s->a, n), normot_emd_weight_sum(s->b, m));
  s->n_active = s->m_active = 0;
  for (int64_t i = 0; i < n; ++i) {
    s->active_row[i] = s->a[i] > 0.0 ? s->n_active : -1;
    if (s->a[i] > 0.0) s->row_of[s->n_active] = (int32_t)i, s->a_active[s->n_active++] = s->a[i];
  }
  for (int64_t j = 0; j < m; ++j) {
    s->active_col[j] = s->b[j] > 0.0 ? s->m_active : -1;
    if (s->b[j] > 0.0) s->col_of[s->m_active] = (int32_t)j, s->b_active[s->m_active++] = s->b[j];
  }
  double bound = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    if (s->active_row[i] < 0) continue;
    const int64_t begin = normot_load_index(problem->indptr, problem->index_type, i);
    const int64_t end = normot_load_index(problem->indptr, problem->index_type, i + 1);
    for (int64_t e = begin; e < end; ++e) {
      const int64_t j = normot_load_index(problem->indices, problem->index_type, e);
      if (s->active_col[j] < 0) continue;
      const double cost = normot_emd_load(problem->values, problem->value_type, e);
      bound = fabs(cost) > bound ? fabs(cost) : bound;
      if (!emd_arc_list_push(&s->arcs, s->active_row[i], s->active_col[j], cost)) return 0;
    }
  }
  *cost_bound = bound;
  return 1;
}

/* Runs the simplex; fills the basis (in the problem's numbering), duals and status. */
static int solve_arcs(const normot_emd_params *params, sparse_solve *s, double cost_bound,
                      emd_basic_solution *solution) {
  emd_sparse_setup setup = {s->n_active, s->m_active, s->a_active, s->b_active, cost_bound};
  emd_sparse_simplex *simplex = emd_sparse_simplex_create(&setup);
  if (simplex == NULL) return 0;
  solution->iterations = 0;
  solution->status =
      emd_sparse_simplex_run(simplex, &s->arcs, params->max_iter, &solution->iterations);
  double mass = 0.0;
  for (int32_t r = 0; r < s->n_active; ++r) mass += s->a_active[r];
  if (solution->status == NORMOT_EMD_OPTIMAL &&
      emd_sparse_simplex_leaves_artificial_flow(simplex, mass))
    solution->status = NORMOT_EMD_INFEASIBLE;
  solution->count =
      emd_sparse_simplex_basis(simplex, solution->row, solution->col, solution->flow, s->arc_cost);
  emd_sparse_simplex_duals(simplex, solution->u, solution->v);
  emd_sparse_simplex_destroy(simplex);
  return 1;
}

/* The duals of the whole problem (emd_conventions.h): the estimates of the zero-weight rows and
 * columns pass over the edges only, a missing pair constraining nothing (s->flow and
 * s->arc_cost serve as scratch: n + m long). */
static void write_duals(const normot_emd_sparse_problem *problem, const normot_emd_params *params,
                        sparse_solve *s, normot_emd_result *result) {
  const int64_t n = problem->n, m = problem->m;
  memset(s->u, 0, (size_t)n * sizeof(double));
  memset(s->v, 0, (size_t)m * sizeof(double));
  for (int32_t r = 0; r < s->n_active; ++r) s->u[s->row_of[r]] = s->u_active[r];
  for (int32_t c = 0; c < s->m_active; ++c) s->v[s->col_of[c]] = s->v_active[c];
  const normot_emd_dual_job job = {n,
                                   m,
                                   s->a,
                                   s->b,
                                   NULL,
                                   s->u,
                                   s->v,
                                   s->flow,
                                   s->arc_cost,
                                   s->n_active < n || s->m_active < m,
                                   params->center_duals};
  if (normot_emd_restore_duals_begin(&job)) {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t begin = normot_load_index(problem->indptr, problem->index_type, i);
      const int64_t end = normot_load_index(problem->indptr, problem->index_type, i + 1);
      for (int64_t e = begin; e < end; ++e)
        normot_emd_null_duals_pair(&job, i,
                                   normot_load_index(problem->indices, problem->index_type, e),
                                   normot_emd_load(problem->values, problem->value_type, e));
    }
    normot_emd_restore_duals_end(&job);
  }
  if (result->u != NULL) memcpy(result->u, s->u, (size_t)n * sizeof(double));
  if (result->v != NULL) memcpy(result->v, s->v, (size_t)m * sizeof(double));
}

static void write_results(const normot_emd_sparse_problem *problem, const normot_emd_params *params,
                          sparse_solve *s, emd_basic_solution *solution,
                          normot_emd_result *result) {
  const int64_t n = problem->n, m = problem->m;
  /* As POT: an infeasible problem has no plan, cost 0 and zero duals. */
  if (solution->status == NORMOT_EMD_INFEASIBLE) solution->count = 0;
  double total = 0.0;
  for (int64_t e = 0; e < solution->count; ++e) {
    total += solution->flow[e] * s->arc_cost[e];
    solution->row[e] = s->row_of[solution->row[e]];
    solution->col[e] = s->col_of[solution->col[e]];
  }
  result->cost[0] = total;
  if (result->plan != NULL) {
    memset(result->plan, 0, (size_t)(n * m) * sizeof(double));
    for (int64_t e = 0; e < solution->count; ++e)
      result->plan[(int64_t)solution->row[e] * m + solution->col[e]] += solution->flow[e];
  }
  if (result->sparse_count != NULL) {
    emd_sparse_plan_view plan = {result->sparse_row, result->sparse_col, result->sparse_value,
                                 result->sparse_count};
    emd_write_sparse_plan(solution, m, s->entries, &plan);
  }
  if (solution->status == NORMOT_EMD_INFEASIBLE) {
    if (result->u != NULL) memset(result->u, 0, (size_t)n * sizeof(double));
    if (result->v != NULL) memset(result->v, 0, (size_t)m * sizeof(double));
  } else if (result->u != NULL || result->v != NULL) {
    write_duals(problem, params, s, result);
  }
  if (result->status != NULL) result->status[0] = solution->status;
  if (result->iterations != NULL) result->iterations[0] = solution->iterations;
  if (result->flags != NULL) result->flags[0] = 0;
}

normot_status normot_cpu_emd_sparse(normot_context *context,
                                    const normot_emd_sparse_problem *problem,
                                    const normot_emd_params *params, normot_emd_result *result) {
  if (normot_resolve_memory(problem->memory, problem->indptr) == NORMOT_MEMORY_CUDA)
    return normot_fail(context, NORMOT_ERROR_INVALID_MEMORY,
                       "emd_sparse: the CPU backend cannot read device memory");
  normot_status status =
      normot_validate_emd_sparse_host(context, problem, params, normot_threads_for(context));
  if (status != NORMOT_SUCCESS) return status;
  sparse_solve s;
  double cost_bound = 0.0;
  int ok = allocate_solve(&s, problem->n, problem->m) && build_arcs(problem, &s, &cost_bound);
  emd_basic_solution solution = {s.basis_row, s.basis_col, s.flow, 0,
                                 s.u_active,  s.v_active,  0,      NORMOT_EMD_OPTIMAL};
  ok = ok && solve_arcs(params, &s, cost_bound, &solution);
  if (ok) write_results(problem, params, &s, &solution, result);
  free_solve(&s);
  if (!ok)
    return normot_fail(context, NORMOT_ERROR_OUT_OF_MEMORY,
                       "emd_sparse: out of memory for %lld edges", (long long)problem->nnz);
  return NORMOT_SUCCESS;
}
