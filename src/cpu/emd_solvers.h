/* The exact single-problem solvers behind the CPU backend's normot_emd. Each takes one dense,
 * balanced problem whose weights are all positive (the batch driver removed zero weights and
 * rescaled b) and returns a basic optimal solution: at most n + m - 1 arcs with their flows,
 * and dual potentials u, v with u_i + v_j = cost_ij on the basic arcs. */
#ifndef NORMOT_SRC_CPU_EMD_SOLVERS_H
#define NORMOT_SRC_CPU_EMD_SOLVERS_H

#include <stddef.h>
#include <stdint.h>

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
 * plan that may have more positive entries; returns the number of arcs written. */
size_t emd_crossover_workspace_bytes(int32_t n, int32_t m);
int64_t emd_basic_from_plan(int32_t n, int32_t m, const double *plan, void *workspace, int32_t *row,
                            int32_t *col, double *flow);

/* Rounds a byte count up to a multiple of 64 so that carved arrays stay cache-line aligned. */
static inline size_t emd_align64(size_t bytes) {
  return (bytes + 63) & ~(size_t)63;
}

#endif
