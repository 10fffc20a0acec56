/* The exact single-problem solvers behind the CPU backend's normot_emd. Each takes one dense,
 * balanced problem whose weights are all positive (the batch driver removed zero weights and
 * rescaled b) and returns a basic optimal solution: at most n + m - 1 arcs with their flows,
 * and dual potentials u, v with u_i + v_j = cost_ij on the basic arcs. */
#ifndef NORMOT_SRC_CPU_EMD_SOLVERS_H
#define NORMOT_SRC_CPU_EMD_SOLVERS_H

#include <stddef.h>
#include <stdint.h>

#include "normot/normot.h"

typedef struct emd_dense_problem {
  int32_t n, m;
  const double *a;    /* n positive weights */
  const double *b;    /* m positive weights, sum equal to sum a up to rounding */
  const double *cost; /* n x m row-major */
} emd_dense_problem;

typedef struct emd_basic_solution {
  /* Arrays of n + m - 1 (arcs) and n, m (duals) owned by the caller. */
  int32_t *row, *col;
  double *flow;
  int64_t count; /* basic arcs written, zero flows included */
  double *u, *v;
  int64_t iterations;
  int status; /* a normot_emd_status value */
} emd_basic_solution;

/* Network simplex on the complete bipartite graph (any n, m). max_iter 0: no limit. */
size_t emd_network_simplex_workspace_bytes(int32_t n, int32_t m);
void emd_network_simplex_solve(const emd_dense_problem *problem, int64_t max_iter, void *workspace,
                               emd_basic_solution *solution);

/* Shortest augmenting paths for n == m with every a_i equal and every b_j equal: the plan is a
 * permutation scaled by a_0. */
size_t emd_assignment_workspace_bytes(int32_t n);
void emd_assignment_solve(const emd_dense_problem *problem, void *workspace,
                          emd_basic_solution *solution);

/* A basic solution (at most n + m - 1 arcs, no cycle) with the same cost as `plan`, an optimal
 * plan that may have more positive entries: its arcs, flows and count in `solution` (the duals
 * are not touched). */
size_t emd_crossover_workspace_bytes(int32_t n, int32_t m);
void emd_basic_from_plan(int32_t n, int32_t m, const double *plan, void *workspace,
                         emd_basic_solution *solution);

/* ---- sparse graphs -------------------------------------------------------------------------- */

/* A list of arcs row -> column with their costs; grows by doubling (malloc'd, owned by whoever
 * made it; start from all zeros). push and reserve return 0 when memory runs out. */
typedef struct emd_arc_list {
  int64_t count, capacity;
  int32_t *row, *col;
  double *cost;
} emd_arc_list;

int emd_arc_list_reserve(emd_arc_list *arcs, int64_t capacity);
int emd_arc_list_push(emd_arc_list *arcs, int32_t row, int32_t col, double cost);
void emd_arc_list_free(emd_arc_list *arcs);

/* Network simplex on the arcs of an emd_arc_list (emd_sparse_simplex.c). cost_bound must be at
 * least the largest |cost| of any arc that will be given to it. */
typedef struct emd_sparse_setup {
  int32_t n, m;
  const double *a, *b; /* positive weights, sum b equal to sum a up to rounding */
  double cost_bound;
} emd_sparse_setup;

typedef struct emd_sparse_simplex emd_sparse_simplex;

/* The reduced-cost tolerance of the sparse simplex for costs bounded by cost_bound on a graph
 * of `nodes` nodes: arcs whose reduced cost is above -tolerance count as priced out. */
double emd_sparse_tolerance(double cost_bound, int64_t nodes);

/* NULL when memory runs out. */
emd_sparse_simplex *emd_sparse_simplex_create(const emd_sparse_setup *setup);
void emd_sparse_simplex_destroy(emd_sparse_simplex *solver);
/* Pivots until no arc of `arcs` has a reduced cost below -tolerance, starting from the basis
 * the previous run left (arcs may only have been appended since). Adds the pivots to
 * *iterations; returns NORMOT_EMD_OPTIMAL or NORMOT_EMD_MAX_ITER_REACHED (max_iter 0: none). */
int emd_sparse_simplex_run(emd_sparse_simplex *solver, const emd_arc_list *arcs, int64_t max_iter,
                           int64_t *iterations);
/* Replaces the basis by a spanning tree around the arcs `tree_arcs` (ids into `arcs`; those
 * closing a cycle are skipped), each of its components hung from the root by one artificial
 * arc, with the flows that conservation then fixes. Meant for the support of a feasible plan
 * (a warm start); returns 0 and keeps the artificial start when the tree needs a negative flow
 * or memory runs out. */
int emd_sparse_simplex_warm_start(emd_sparse_simplex *solver, const emd_sparse_setup *setup,
                                  const emd_arc_list *arcs, const int64_t *tree_arcs,
                                  int64_t count);
/* Whether flow is still on artificial arcs at optimality (the arcs cannot carry the marginals)
 * beyond the rounding of marginals of this mass: 1e-12 of it, and at least one step of 2^-1074
 * per node (b rescaled to a subnormal mass sums to it only to such steps; 1e-12 of that mass
 * underflowed to 0 and such problems were said INFEASIBLE). */
int emd_sparse_simplex_leaves_artificial_flow(const emd_sparse_simplex *solver, double mass);
/* u (n) and v (m) with u_i + v_j = cost on every basic arc of the last run. */
void emd_sparse_simplex_duals(const emd_sparse_simplex *solver, double *u, double *v);
/* The basic arcs of the last run that are real arcs (at most n + m - 1), zero flows included,
 * with their costs when `cost` is not NULL; returns their number. */
int64_t emd_sparse_simplex_basis(const emd_sparse_simplex *solver, int32_t *row, int32_t *col,
                                 double *flow, double *cost);

/* ---- costs that are not stored: rows on demand (emd_cost_source.c) --------------------------- */

/* An n x m cost: a dense float64 matrix, or distances between point clouds. */
typedef struct emd_cost_source {
  int32_t n, m;
  const double *cost;     /* n x m row-major; NULL: point clouds */
  const double *x;        /* n x dim */
  const double *y_by_dim; /* dim x m: y transposed, so that a row runs along memory */
  int32_t dim;
  int euclidean; /* 0: squared Euclidean */
} emd_cost_source;

/* Row i of the cost into out (m values). */
void emd_cost_row(const emd_cost_source *source, int32_t i, double *out);
double emd_cost_at(const emd_cost_source *source, int32_t i, int32_t j);

/* ---- the candidate-set solver (emd_multiscale.c) ------------------------------------------ */

typedef struct emd_multiscale_stats {
  int64_t rounds; /* sparse solves, each followed by pricing over all pairs */
  int64_t arcs;   /* candidate arcs at the end */
} emd_multiscale_stats;

/* An exact pricing over all pairs that is faster than computing every pair (the cloud
 * hierarchy's, which skips whole cells by a lower bound). prepare() gets the column duals before
 * each pass; price_row() writes row r's most negative reduced costs c - u_r - v_c below
 * `threshold` (at most `capacity` columns and their costs, each cost computed with emd_cost_at
 * as the arcs carry it, and the reduced cost as (c - u_r) - v_c) and returns how many; it must
 * miss no row that has such a pair. price_row runs on several threads at once. */
typedef struct emd_row_request {
  int32_t r;
  double u_r;
  const double *v;
  double threshold;
  int32_t *cols; /* out: at most capacity columns ... */
  double *costs; /* ... and their costs */
  int32_t capacity;
} emd_row_request;

typedef struct emd_row_pricer {
  void *context;
  void (*prepare)(void *context, const double *v);
  int32_t (*price_row)(const void *context, const emd_row_request *request);
  double cost_bound; /* at least |cost| of every pair */
} emd_row_pricer;

/* Inserts (value, index) into a list of at most `capacity` smallest values kept sorted. */
static inline void emd_keep_smallest(double value, int32_t index, double *values, int32_t *indices,
                                     int32_t *count, int32_t capacity) {
  if (*count == capacity && value >= values[capacity - 1]) return;
  int32_t slot = *count < capacity ? (*count)++ : capacity - 1;
  while (slot > 0 && values[slot - 1] > value) {
    values[slot] = values[slot - 1], indices[slot] = indices[slot - 1];
    --slot;
  }
  values[slot] = value, indices[slot] = index;
}

/* The rows and columns with mass of a problem whose cost comes from `source`. */
typedef struct emd_multiscale_problem {
  int32_t n, m;                   /* active sizes */
  const double *a, *b;            /* active weights, positive, balanced */
  const emd_cost_source *source;  /* the full cost */
  const int32_t *row_of, *col_of; /* active index -> source index; NULL: the identity */
  int threads;                    /* OpenMP threads for the pricing over all pairs */
  emd_multiscale_stats *stats;    /* optional */
  const emd_row_pricer *pricer;   /* optional: NULL prices every pair */
  const int64_t *warm_arcs;       /* optional: ids into the arcs, a start basis's support */
  int64_t warm_count;
  /* optional: how many coincident points each row / column stands for (emd_cloud_solve_merged);
   * it starts with that many times the usual number of cheapest partners */
  const int32_t *row_copies, *col_copies;
} emd_multiscale_problem;

/* Fills `solution` (arrays of n + m - 1 arcs, n and m duals) with an optimal basic solution
 * certified over all pairs. Returns 0 when memory runs out (solution not written). */
int emd_multiscale_solve(const emd_multiscale_problem *problem, emd_basic_solution *solution);

/* The certified loop alone, starting from the candidate arcs already in `arcs` (each row's and
 * column's cheapest partners when it is empty); arcs grows with the violators it adds. */
int emd_certified_solve(const emd_multiscale_problem *problem, emd_arc_list *arcs,
                        emd_basic_solution *solution);

/* The clouds the hierarchy takes: dim <= EMD_HIERARCHY_MAX_DIM and n + m above
 * EMD_HIERARCHY_MIN_POINTS (the size of its coarsest level). */
enum { EMD_HIERARCHY_MAX_DIM = 3, EMD_HIERARCHY_MIN_POINTS = 2048 };

/* Point clouds in 1 to 3 dimensions, large enough to coarsen: solved coarse to fine on a
 * hierarchy of grid cells (emd_multiscale_clouds.c), each level certified, each level's
 * candidates the pairs of points inside the cells paired by the coarser level's basis. */
int emd_cloud_hierarchy_applies(const emd_multiscale_problem *problem);
int emd_cloud_hierarchy_solve(const emd_multiscale_problem *problem, emd_basic_solution *solution);

/* Two lists of amounts with (nearly) equal sums, matched in order by the northwest-corner rule:
 * pair t moves moved[t] from first[pair_first[t]] to second[pair_second[t]]. The pairs form a
 * staircase, a tree on the two lists. Returns their number, at most first_count +
 * second_count - 1 (emd_multiscale_clouds.c). */
typedef struct emd_staircase {
  const double *first, *second; /* amounts, at least one each */
  int32_t first_count, second_count;
  int32_t *pair_first, *pair_second; /* out */
  double *moved;                     /* out */
} emd_staircase;
int32_t emd_northwest(const emd_staircase *st);

/* Point clouds where some points of a side coincide: each set of coincident points becomes one
 * point carrying their total weight, that smaller problem is solved (emd_multiscale_solve), and
 * its plan is split back among the coincident points (emd_cloud_duplicates.c). Returns -1 when
 * no two points of a side coincide (nothing done), else as emd_multiscale_solve. */
int emd_cloud_solve_merged(const emd_multiscale_problem *problem, emd_basic_solution *solution);

/* ---- results (emd_results.c) ---------------------------------------------------------------- */

/* `length` weights from offset `offset` of a float32/float64 array as float64; NULL: uniform. */
void emd_load_weights(const void *weights, int64_t offset, int64_t length, normot_value_type type,
                      double *out);
typedef struct emd_sparse_entry {
  int64_t key; /* row * m + col */
  double value;
} emd_sparse_entry;

typedef struct emd_sparse_plan_view {
  int64_t *row, *col;
  double *value;
  int64_t *count;
} emd_sparse_plan_view;

/* The positive flows of `solution` (row and col already in the caller's numbering, m columns)
 * sorted by row then column; scratch holds solution->count entries. */
void emd_write_sparse_plan(const emd_basic_solution *solution, int64_t m, emd_sparse_entry *scratch,
                           const emd_sparse_plan_view *plan);

/* Basic solutions of a whole batch, kept until every problem is solved: a batch whose solver may
 * run out of memory part-way (the multiscale one) writes no output unless all its problems
 * succeeded. Per problem n + m arcs and n + m duals: 24 (n + m) bytes, the order of the inputs. */
typedef struct emd_solution_store {
  int64_t n, m;
  int32_t *row, *col;
  double *flow, *u, *v;
  int64_t *count, *iterations;
  int *status;
} emd_solution_store;

/* Returns 0 when memory runs out (nothing to free then). */
int emd_solution_store_create(emd_solution_store *store, int64_t k, int64_t n, int64_t m);
void emd_solution_store_free(emd_solution_store *store);
/* Problem p's slot as a solution to solve into, its count, iterations and status as saved. */
emd_basic_solution emd_solution_store_slot(const emd_solution_store *store, int64_t p);
/* Saves the count, iterations and status of a solution solved into slot p. */
void emd_solution_store_save(const emd_solution_store *store, int64_t p,
                             const emd_basic_solution *solution);

/* Rounds a byte count up to a multiple of 64 so that carved arrays stay cache-line aligned. */
static inline size_t emd_align64(size_t bytes) {
  return (bytes + 63) & ~(size_t)63;
}

#endif
