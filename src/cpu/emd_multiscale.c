/* The candidate-set solver (NORMOT_EMD_SOLVER_MULTISCALE): the exact optimum of a dense or
 * point-cloud problem from a sequence of sparse ones, certified over every pair.
 *
 * 1. Candidates: each row's CANDIDATES cheapest columns and each column's CANDIDATES cheapest
 *    rows, found in one pass over the costs (which also bounds |cost|).
 * 2. The network simplex solves the problem restricted to the candidate arcs
 *    (emd_sparse_simplex.c), from the artificial basis or, on the levels of the cloud
 *    hierarchy, from the coarser level's plan refined onto the candidates (a warm start).
 * 3. Pricing over all pairs: with the duals (u, v) of that solution, every pair's reduced cost
 *    c_ij - u_i - v_j is computed from the full cost, row by row (point clouds: on the fly).
 *    Each row's ADDED_PER_ROW most negative pairs below -tolerance join the candidates, and the
 *    simplex resumes from its last basis, until no pair is below -tolerance.
 * When no pair is left, (u, v) is dual feasible for the full problem and the plan is primal
 * feasible with complementary slackness: optimal for the full problem, not only for the
 * candidates. Memory is O((n + m) x candidates), never n x m: rows are computed one at a time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../validate_emd.h"
#include "emd_solvers.h"
#include "normot/normot.h"

enum { CANDIDATES = 6, ADDED_PER_ROW = 4, WARM_PIVOTS_PER_NODE = 64 };

typedef struct scratch {
  double *full_row;   /* m of the source */
  double *active_row; /* m active */
} scratch;

/* Costs of active row r over the active columns. */
static const double *active_row(const emd_multiscale_problem *p, int32_t r, const scratch *s) {
  const int32_t source_row = p->row_of != NULL ? p->row_of[r] : r;
  emd_cost_row(p->source, source_row, s->full_row);
  if (p->col_of == NULL) return s->full_row;
  for (int32_t c = 0; c < p->m; ++c) s->active_row[c] = s->full_row[p->col_of[c]];
  return s->active_row;
}

/* How many cheapest partners point k of a side starts with: CANDIDATES for each of the points
 * it stands for (`copies`, NULL: one each), at most `limit`. */
static int32_t quota(const int32_t *copies, int32_t k, int32_t limit) {
  const int64_t wanted = copies != NULL ? (int64_t)CANDIDATES * copies[k] : CANDIDATES;
  return (int32_t)(wanted < limit ? wanted : limit);
}

typedef struct candidate_lists {
  double *cost;   /* the lists one after the other */
  int32_t *index; /* the partners */
  int64_t *first; /* count + 1: where each list starts */
  int32_t *size;  /* count */
} candidate_lists;

static void free_lists(candidate_lists *l) {
  free(l->cost), free(l->index), free(l->first), free(l->size);
}

/* Room for `count` lists of the side's quotas (partners on the other side: `limit`). */
static int allocate_lists(candidate_lists *l, const int32_t *copies, int32_t count, int32_t limit) {
  l->first = malloc(((size_t)count + 1) * sizeof(int64_t));
  l->size = calloc((size_t)count + 1, sizeof(int32_t));
  if (l->first == NULL || l->size == NULL) return 0;
  l->first[0] = 0;
  for (int32_t k = 0; k < count; ++k) l->first[k + 1] = l->first[k] + quota(copies, k, limit);
  l->cost = malloc((size_t)(l->first[count] > 0 ? l->first[count] : 1) * sizeof(double));
  l->index = malloc((size_t)(l->first[count] > 0 ? l->first[count] : 1) * sizeof(int32_t));
  return l->cost != NULL && l->index != NULL;
}

/* Step 1; returns 0 when memory runs out. */
static int initial_candidates(const emd_multiscale_problem *p, const scratch *s, emd_arc_list *arcs,
                              double *cost_bound) {
  const int32_t n = p->n, m = p->m;
  candidate_lists cols = {0};
  int32_t widest = 1;
  for (int32_t r = 0; r < n; ++r)
    widest = quota(p->row_copies, r, m) > widest ? quota(p->row_copies, r, m) : widest;
  double *row_cost = malloc((size_t)widest * sizeof(double));
  int32_t *row_col = malloc((size_t)widest * sizeof(int32_t));
  int ok = row_cost != NULL && row_col != NULL && allocate_lists(&cols, p->col_copies, m, n) &&
           emd_arc_list_reserve(arcs, (int64_t)(n + m) * CANDIDATES);
  double bound = 0.0;
  for (int32_t r = 0; ok && r < n; ++r) {
    const double *row = active_row(p, r, s);
    const int32_t per = quota(p->row_copies, r, m);
    int32_t kept = 0;
    for (int32_t c = 0; c < m; ++c) {
      const double value = row[c];
      bound = fabs(value) > bound ? fabs(value) : bound;
      emd_keep_smallest(value, c, row_cost, row_col, &kept, per);
      const int32_t per_col = (int32_t)(cols.first[c + 1] - cols.first[c]);
      double *column_cost = cols.cost + cols.first[c];
      if (cols.size[c] < per_col || value < column_cost[per_col - 1])
        emd_keep_smallest(value, r, column_cost, cols.index + cols.first[c], &cols.size[c],
                          per_col);
    }
    for (int32_t t = 0; ok && t < kept; ++t)
      ok = emd_arc_list_push(arcs, r, row_col[t], row_cost[t]);
  }
  for (int32_t c = 0; ok && c < m; ++c)
    for (int32_t t = 0; ok && t < cols.size[c]; ++t)
      ok = emd_arc_list_push(arcs, cols.index[cols.first[c] + t], c, cols.cost[cols.first[c] + t]);
  free(row_cost), free(row_col), free_lists(&cols);
  *cost_bound = bound;
  return ok;
}

typedef struct pricing {
  const double *u, *v;
  double tolerance;
  double *added_cost;  /* n x ADDED_PER_ROW */
  int32_t *added_col;  /* n x ADDED_PER_ROW */
  int32_t *added_size; /* n */
} pricing;

/* Step 3 for one row: its most negative reduced costs below -tolerance. */
static void price_row(const emd_multiscale_problem *p, const pricing *q, int32_t r,
                      const scratch *s) {
  const double *row = active_row(p, r, s);
  const double ur = q->u[r], *v = q->v, threshold = -q->tolerance;
  /* A branch-free count (which compilers vectorize) decides whether the row needs a second,
   * selecting pass; most rows do not once the first rounds are done. */
  int32_t violations = 0;
  for (int32_t c = 0; c < p->m; ++c) violations += row[c] - ur - v[c] < threshold;
  q->added_size[r] = 0;
  if (violations == 0) return;
  double reduced_kept[ADDED_PER_ROW];
  int32_t *cols = q->added_col + (size_t)r * ADDED_PER_ROW;
  for (int32_t c = 0; c < p->m; ++c) {
    double reduced = row[c] - ur - v[c];
    if (reduced < threshold)
      emd_keep_smallest(reduced, c, reduced_kept, cols, &q->added_size[r], ADDED_PER_ROW);
  }
  for (int32_t t = 0; t < q->added_size[r]; ++t)
    q->added_cost[(size_t)r * ADDED_PER_ROW + t] = row[cols[t]];
}

/* Prices every pair (rows in parallel, each with its own scratch) and appends the violators in
 * row order, so that the result does not depend on the thread count. Returns the number added,
 * or -1 when memory runs out. */
static int64_t add_violators(const emd_multiscale_problem *p, const pricing *q, scratch *spaces,
                             emd_arc_list *arcs) {
  const int32_t n = p->n;
  if (p->pricer != NULL) p->pricer->prepare(p->pricer->context, q->v);
#pragma omp parallel for schedule(dynamic, 16) num_threads(p->threads)
  for (int32_t r = 0; r < n; ++r) {
    int thread = 0;
#ifdef _OPENMP
    thread = omp_get_thread_num();
#endif
    if (p->pricer != NULL) {
      const size_t slot = (size_t)r * ADDED_PER_ROW;
      const emd_row_request request = {r,
                                       q->u[r],
                                       q->v,
                                       -q->tolerance,
                                       q->added_col + slot,
                                       q->added_cost + slot,
                                       ADDED_PER_ROW};
      q->added_size[r] = p->pricer->price_row(p->pricer->context, &request);
    } else {
      price_row(p, q, r, &spaces[thread]);
    }
  }
  int64_t added = 0;
  for (int32_t r = 0; r < n; ++r)
    for (int32_t t = 0; t < q->added_size[r]; ++t) {
      if (!emd_arc_list_push(arcs, r, q->added_col[(size_t)r * ADDED_PER_ROW + t],
                             q->added_cost[(size_t)r * ADDED_PER_ROW + t]))
        return -1;
      ++added;
    }
  return added;
}

/* The largest |cost| over the active pairs: a pass over every row (rows in parallel). */
static double largest_cost(const emd_multiscale_problem *p, scratch *spaces) {
  double largest = 0.0;
#pragma omp parallel for schedule(dynamic, 16) num_threads(p->threads) reduction(max : largest)
  for (int32_t r = 0; r < p->n; ++r) {
    int thread = 0;
#ifdef _OPENMP
    thread = omp_get_thread_num();
#endif
    const double *row = active_row(p, r, &spaces[thread]);
    int finite; /* the costs were checked before */
    const double row_largest = normot_largest_magnitude(row, p->m, &finite);
    largest = row_largest > largest ? row_largest : largest;
  }
  return largest;
}

typedef struct buffers {
  scratch *spaces; /* one per thread */
  double *scratch_memory, *u, *v, *added_cost;
  int32_t *added_col, *added_size;
} buffers;

static void free_buffers(buffers *b) {
  free(b->spaces), free(b->scratch_memory), free(b->u), free(b->v), free(b->added_cost);
  free(b->added_col), free(b->added_size);
}

static int allocate_buffers(const emd_multiscale_problem *p, buffers *b) {
  const size_t n = (size_t)p->n, m = (size_t)p->m, threads = (size_t)p->threads;
  const size_t full_m = (size_t)p->source->m;
  memset(b, 0, sizeof *b);
  b->spaces = malloc(threads * sizeof *b->spaces);
  b->scratch_memory = malloc(threads * (full_m + m) * sizeof(double));
  b->u = malloc(n * sizeof(double));
  b->v = malloc(m * sizeof(double));
  b->added_cost = malloc(n * ADDED_PER_ROW * sizeof(double));
  b->added_col = malloc(n * ADDED_PER_ROW * sizeof(int32_t));
  b->added_size = malloc(n * sizeof(int32_t));
  if (!b->spaces || !b->scratch_memory || !b->u || !b->v || !b->added_cost || !b->added_col ||
      !b->added_size)
    return 0;
  for (size_t t = 0; t < threads; ++t) {
    b->spaces[t].full_row = b->scratch_memory + t * (full_m + m);
    b->spaces[t].active_row = b->spaces[t].full_row + full_m;
  }
  return 1;
}

/* The sparse simplex, from the caller's start basis when it has one (warm: 1) or the
 * artificial one; NULL when memory runs out. */
static emd_sparse_simplex *start_simplex(const emd_multiscale_problem *p,
                                         const emd_sparse_setup *setup, const emd_arc_list *arcs,
                                         int use_start, int *warm) {
  emd_sparse_simplex *simplex = emd_sparse_simplex_create(setup);
  *warm = simplex != NULL && use_start && p->warm_arcs != NULL &&
          emd_sparse_simplex_warm_start(simplex, setup, arcs, p->warm_arcs, p->warm_count);
  return simplex;
}

/* Solves, re-prices and adds violators until none is left. */
static int solve_until_certified(const emd_multiscale_problem *p, buffers *b, emd_arc_list *arcs,
                                 emd_basic_solution *solution) {
  double cost_bound = 0.0;
  if (arcs->count == 0) {
    if (!initial_candidates(p, &b->spaces[0], arcs, &cost_bound)) return 0;
  } else {
    cost_bound = p->pricer != NULL ? p->pricer->cost_bound : largest_cost(p, b->spaces);
  }
  emd_sparse_setup setup = {p->n, p->m, p->a, p->b, cost_bound};
  int warm = 0;
  emd_sparse_simplex *simplex = start_simplex(p, &setup, arcs, 1, &warm);
  if (simplex == NULL) return 0;
  pricing q = {
      b->u,          b->v,         emd_sparse_tolerance(cost_bound, (int64_t)p->n + p->m + 1),
      b->added_cost, b->added_col, b->added_size};
  int64_t iterations = 0, rounds = 0, added = 0;
  int status = NORMOT_EMD_OPTIMAL;
  do {
    /* A warm start's tree need not be strongly feasible, so degenerate pivots could cycle: a
     * round far beyond any seen (a few pivots per node) restarts from the artificial basis. */
    const int64_t limit = warm ? iterations + WARM_PIVOTS_PER_NODE * ((int64_t)p->n + p->m) : 0;
    status = emd_sparse_simplex_run(simplex, arcs, limit, &iterations);
    if (warm && status == NORMOT_EMD_MAX_ITER_REACHED) {
      emd_sparse_simplex_destroy(simplex);
      simplex = start_simplex(p, &setup, arcs, 0, &warm);
      if (simplex == NULL) return 0;
      added = 1;
      continue;
    }
    emd_sparse_simplex_duals(simplex, b->u, b->v);
    ++rounds;
    if (status != NORMOT_EMD_OPTIMAL) break;
    added = add_violators(p, &q, b->spaces, arcs);
    if (added < 0) {
      emd_sparse_simplex_destroy(simplex);
      return 0;
    }
  } while (added > 0);
  double mass = 0.0;
  for (int32_t i = 0; i < p->n; ++i) mass += p->a[i];
  /* Over the complete graph an optimal basis carries no artificial flow; anything else would
   * be a failure of the method, reported rather than returned as optimal. */
  if (status == NORMOT_EMD_OPTIMAL && emd_sparse_simplex_leaves_artificial_flow(simplex, mass))
    status = NORMOT_EMD_INFEASIBLE;
  solution->count =
      emd_sparse_simplex_basis(simplex, solution->row, solution->col, solution->flow, NULL);
  memcpy(solution->u, b->u, (size_t)p->n * sizeof(double));
  memcpy(solution->v, b->v, (size_t)p->m * sizeof(double));
  solution->iterations = iterations;
  solution->status = status;
  if (p->stats != NULL) {
    p->stats->rounds = rounds;
    p->stats->arcs = arcs->count;
  }
  emd_sparse_simplex_destroy(simplex);
  return 1;
}

int emd_certified_solve(const emd_multiscale_problem *problem, emd_arc_list *arcs,
                        emd_basic_solution *solution) {
  buffers b;
  int ok = allocate_buffers(problem, &b) && solve_until_certified(problem, &b, arcs, solution);
  free_buffers(&b);
  return ok;
}

int emd_multiscale_solve(const emd_multiscale_problem *problem, emd_basic_solution *solution) {
  if (emd_cloud_hierarchy_applies(problem)) return emd_cloud_hierarchy_solve(problem, solution);
  emd_arc_list arcs = {0, 0, NULL, NULL, NULL};
  int ok = emd_certified_solve(problem, &arcs, solution);
  emd_arc_list_free(&arcs);
  return ok;
}
