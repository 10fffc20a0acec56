/* One problem of the CUDA EMD, as host-and-device code: a view of the batch that reads any
 * problem's weights and costs (dense, shared, or computed on the fly from point clouds), and the
 * solve of one problem (b rescaled and zero weights removed as emd_conventions.h says, the
 * auction core through auction_solve.h, its certificate on the original costs, the outputs with
 * the shared dual conventions). The inputs were validated by the backend-neutral dispatch
 * (src/emd.c) before the backend was called. The kernels of emd_kernels.cuh run this with a
 * warp per problem (lanes = 32); tests/test_auction_cuda_emulation.cc runs it on the host with
 * one lane and with an emulated warp, so that the CUDA backend's logic is exercised without a
 * GPU. Plain C++ that g++ compiles too (no CUDA header needed). */
#ifndef NORMOT_SRC_CUDA_EMD_PROBLEM_CUH
#define NORMOT_SRC_CUDA_EMD_PROBLEM_CUH

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "../auction/auction_solve.h"
#include "../emd_conventions.h"

/* The batch as the device reads it: pointers are device-accessible. */
struct emd_batch_view {
  int64_t k, n, m, dim;
  int is_double; /* 1: FLOAT64 values, 0: FLOAT32 */
  const void *a, *b, *cost, *x, *y;
  int a_shared, b_shared, cost_shared;
  int metric;    /* normot_metric, point-cloud mode (cost == NULL) */
  int64_t first; /* the problem whose data starts the per-problem (unshared) arrays: 0 for the
                    caller's arrays, the chunk's first problem for a staged chunk */
};

NORMOT_AUCTION_INLINE double emd_load(const void *values, int64_t index, int is_double) {
  return is_double ? ((const double *)values)[index] : (double)((const float *)values)[index];
}

/* a_i of problem p (uniform 1/n when absent). */
NORMOT_AUCTION_INLINE double emd_a(const emd_batch_view &v, int64_t p, int64_t i) {
  if (v.a == NULL) return 1.0 / (double)v.n;
  return emd_load(v.a, (v.a_shared ? 0 : (p - v.first) * v.n) + i, v.is_double);
}
NORMOT_AUCTION_INLINE double emd_b(const emd_batch_view &v, int64_t p, int64_t j) {
  if (v.b == NULL) return 1.0 / (double)v.m;
  return emd_load(v.b, (v.b_shared ? 0 : (p - v.first) * v.m) + j, v.is_double);
}

/* M_ij of problem p, read or computed from the point clouds (never stored as k x n x m). */
NORMOT_AUCTION_INLINE double emd_cost(const emd_batch_view &v, int64_t p, int64_t i, int64_t j) {
  if (v.cost != NULL)
    return emd_load(v.cost, (v.cost_shared ? 0 : (p - v.first) * v.n * v.m) + i * v.m + j,
                    v.is_double);
  const int64_t xi = ((p - v.first) * v.n + i) * v.dim, yj = ((p - v.first) * v.m + j) * v.dim;
  double squared = 0;
  for (int64_t d = 0; d < v.dim; ++d) {
    double diff = emd_load(v.x, xi + d, v.is_double) - emd_load(v.y, yj + d, v.is_double);
    squared += diff * diff;
  }
  return v.metric == NORMOT_METRIC_EUCLIDEAN ? sqrt(squared) : squared;
}

/* Where a problem's results go (device pointers; NULL: not asked for), indexed by the
 * problem's number in the whole batch. */
struct emd_outputs {
  double *cost, *plan, *u, *v, *sparse_value;
  int64_t *sparse_row, *sparse_col, *sparse_count, *iterations;
  int32_t *status, *flags;
  int32_t *needs_host; /* 1: the device certificate failed or the core gave up */
  int sparse;          /* any of the sparse arrays asked for */
  int64_t first;       /* the problem at offset 0 of the arrays above (needs_host: always 0) */
};

/* What became of a problem on the device (emd_outputs.needs_host): solved there; handed to the
 * host's network simplex because the device could not certify its answer (flagged
 * NORMOT_EMD_FLAG_CPU_FALLBACK: a failure unless a test expects it); for the host's exact
 * solvers with the caller's parameters, as the CPU backend would solve it (not a fallback: the
 * device has no solver that honours that choice); for the auction kernel, which runs after the
 * assignment kernel. */
enum emd_route {
  EMD_ROUTE_DONE = 0,
  EMD_ROUTE_FALLBACK = 1,
  EMD_ROUTE_HOST = 2,
  EMD_ROUTE_AUCTION = 3,
};

/* The largest uniform square (positive-weight) part that AUTO gives the assignment solver: the
 * CPU backend's limit (ASSIGNMENT_AUTO_MAX_N in src/cpu/emd.c), so that both pick the same
 * solver and the duals agree bit for bit. */
#define EMD_ASSIGNMENT_AUTO_MAX_N 512

/* Which device solvers a batch meets. max_iter is defined per solver (normot.h): the simplex's
 * pivots, the assignment solver's augmenting paths, the auction's pushes. The assignment solver
 * takes the uniform square problems where the CPU backend would run it (AUTO with no limit or
 * one of at least n: it needs at most n paths; ASSIGNMENT always); the auction takes what is
 * left when the auction is asked for, or AUTO without a limit; everything else goes to the
 * host's exact solvers (EMD_ROUTE_HOST), so that a limit means the same on both backends. */
struct emd_device_plan {
  int assignment; /* the assignment kernel runs first */
  int auto_limit; /* it takes only parts up to EMD_ASSIGNMENT_AUTO_MAX_N (AUTO) */
  int auction;    /* the auction kernel takes the problems left (else: the host) */
};

NORMOT_AUCTION_INLINE emd_device_plan emd_plan_device(const normot_emd_params *params, int64_t n) {
  emd_device_plan plan = {0, 0, 0};
  const int unlimited = params->max_iter == 0;
  if (params->solver == NORMOT_EMD_SOLVER_AUCTION) plan.auction = 1;
  if (params->solver == NORMOT_EMD_SOLVER_ASSIGNMENT) plan.assignment = 1;
  if (params->solver == NORMOT_EMD_SOLVER_AUTO && (unlimited || params->max_iter >= n)) {
    plan.assignment = 1;
    plan.auto_limit = 1;
    plan.auction = unlimited;
  }
  return plan;
}

NORMOT_AUCTION_INLINE int emd_runs_on_device(const emd_device_plan &plan) {
  return plan.assignment || plan.auction;
}

struct emd_solve_options {
  int64_t max_iter;
  int center_duals;
  int after_assignment;     /* the auction kernel: only problems routed EMD_ROUTE_AUCTION */
  int misfit_route;         /* the assignment kernel: where a problem it does not take goes */
  int64_t assignment_max_n; /* the assignment kernel: the largest part it takes */
  int costs_in_shared;      /* the grid costs and the prices and excesses live in fast (shared)
                               memory: emd_fast_memory_bytes(n, m) of it */
};

/* Bytes of fast memory for the arrays the core reads on every push: the grid costs, both
 * prices and both excesses. */
NORMOT_AUCTION_INLINE size_t emd_fast_memory_bytes(int64_t n, int64_t m) {
  return (size_t)(n * m + 2 * (n + m)) * sizeof(int64_t);
}

/* Bytes of one problem's global workspace (8-byte aligned pieces). */
NORMOT_AUCTION_INLINE size_t emd_problem_workspace_bytes(int64_t n, int64_t m) {
  return normot_auction_state_bytes(n, m) + (size_t)(2 * n * m + 8 * n + 8 * m) * 8;
}

/* The pieces of one problem's workspace beyond the core's state. */
struct emd_problem_space {
  double *a, *b;        /* n, m: the weights as float64, b rescaled */
  double *reduced_cost; /* n' x m' (later: the whole n x m cost, for the duals) */
  double *reduced_plan; /* n' x m' */
  double *ra, *rb, *ru, *rv;
  double *u, *v; /* n, m: the whole problem's duals */
  double *row_violation, *col_violation;
  int64_t *rows, *cols; /* reduced index -> original index */
};

NORMOT_AUCTION_INLINE emd_problem_space emd_carve_space(int64_t *workspace, int64_t n, int64_t m) {
  double *p = (double *)(workspace + normot_auction_state_bytes(n, m) / 8);
  emd_problem_space s;
  s.a = p, p += n;
  s.b = p, p += m;
  s.reduced_cost = p, p += n * m;
  s.reduced_plan = p, p += n * m;
  s.ra = p, p += n;
  s.rb = p, p += m;
  s.ru = p, p += n;
  s.rv = p, p += m;
  s.u = p, p += n;
  s.v = p, p += m;
  s.row_violation = p, p += n;
  s.col_violation = p, p += m;
  s.rows = (int64_t *)p;
  s.cols = s.rows + n;
  return s;
}

/* Lane 0: the weights as float64, b rescaled to the mass of a, and the positive-weight rows and
 * columns listed in order (their count in sizes[0], sizes[1]). */
NORMOT_AUCTION_INLINE void emd_reduce_weights(const emd_batch_view &view, int64_t p,
                                              const emd_problem_space &s, int64_t *sizes) {
  const int64_t n = view.n, m = view.m;
  for (int64_t i = 0; i < n; ++i) s.a[i] = emd_a(view, p, i);
  for (int64_t j = 0; j < m; ++j) s.b[j] = emd_b(view, p, j);
  normot_emd_rescale_b(s.b, m, normot_emd_weight_sum(s.a, n), normot_emd_weight_sum(s.b, m));
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i)
    if (s.a[i] > 0) s.ra[count] = s.a[i], s.rows[count++] = i;
  sizes[0] = count;
  count = 0;
  for (int64_t j = 0; j < m; ++j)
    if (s.b[j] > 0) s.rb[count] = s.b[j], s.cols[count++] = j;
  sizes[1] = count;
}

/* The core's state for the reduced problem; with costs_in_shared the arrays the core reads on
 * every push (grid costs, prices, excesses) live in `fast`. */
NORMOT_AUCTION_INLINE void emd_lay_out_state(normot_auction_state *state, int64_t rn, int64_t rm,
                                             int64_t *workspace, int64_t *fast) {
  normot_auction_state_init(state, rn, rm, workspace);
  if (fast == NULL) return;
  state->cost = fast;
  fast += rn * rm;
  state->u = fast;
  fast += rn;
  state->v = fast;
  fast += rm;
  state->source_excess = fast;
  fast += rn;
  state->sink_excess = fast;
}

/* What one team needs for one problem, in either kernel. workspace:
 * emd_problem_workspace_bytes(n, m) of global memory; fast: the kernel's dynamic shared memory
 * (the auction's emd_fast_memory_bytes(n, m) when options.costs_in_shared, the assignment
 * solver's labels); scratch: 4 int64 that every lane sees (shared memory on the device). */
struct emd_team_call {
  const emd_batch_view *view;
  const emd_outputs *out;
  emd_solve_options options;
  int64_t *workspace;
  void *fast;
  int64_t *scratch;
  int lane, lanes;
};

/* The positive-weight part's size, rn x rm. */
struct emd_part {
  int64_t rn, rm;
};

/* The dense and sparse plans of problem p (reduced entries put back in place). */
NORMOT_AUCTION_INLINE void emd_write_plans(const emd_team_call &call, int64_t p,
                                           const emd_part &part, const emd_problem_space &s) {
  const emd_outputs &out = *call.out;
  const int64_t n = call.view->n, m = call.view->m, rn = part.rn, rm = part.rm;
  if (out.plan != NULL) {
    double *plan = out.plan + (p - out.first) * n * m;
    for (int64_t e = call.lane; e < n * m; e += call.lanes) plan[e] = 0;
    normot_auction_sync();
    for (int64_t e = call.lane; e < rn * rm; e += call.lanes)
      plan[s.rows[e / rm] * m + s.cols[e % rm]] = s.reduced_plan[e];
  }
  if (!out.sparse || call.lane != 0) return;
  const int64_t base = (p - out.first) * (n + m - 1);
  int64_t count = 0;
  for (int64_t e = 0; e < rn * rm; ++e) {
    if (s.reduced_plan[e] > 0) {
      if (out.sparse_row != NULL) out.sparse_row[base + count] = s.rows[e / rm];
      if (out.sparse_col != NULL) out.sparse_col[base + count] = s.cols[e % rm];
      if (out.sparse_value != NULL) out.sparse_value[base + count] = s.reduced_plan[e];
      ++count;
    }
  }
  if (out.sparse_count != NULL) out.sparse_count[p - out.first] = count;
}

/* The whole problem's duals from the part's (s.ru, s.rv), by the shared conventions (lane 0
 * works on the whole cost, which the lanes first gather into reduced_cost's room). */
NORMOT_AUCTION_INLINE void emd_write_duals(const emd_team_call &call, int64_t p,
                                           const emd_part &part, const emd_problem_space &s) {
  const emd_batch_view &view = *call.view;
  const emd_outputs &out = *call.out;
  const int64_t n = view.n, m = view.m;
  const int lane = call.lane, lanes = call.lanes;
  for (int64_t i = lane; i < n; i += lanes) s.u[i] = 0;
  for (int64_t j = lane; j < m; j += lanes) s.v[j] = 0;
  for (int64_t e = lane; e < n * m; e += lanes) s.reduced_cost[e] = emd_cost(view, p, e / m, e % m);
  normot_auction_sync();
  for (int64_t i = lane; i < part.rn; i += lanes) s.u[s.rows[i]] = s.ru[i];
  for (int64_t j = lane; j < part.rm; j += lanes) s.v[s.cols[j]] = s.rv[j];
  normot_auction_sync();
  if (lane == 0) {
    const normot_emd_dual_job job = {n,
                                     m,
                                     s.a,
                                     s.b,
                                     s.reduced_cost,
                                     s.u,
                                     s.v,
                                     s.row_violation,
                                     s.col_violation,
                                     part.rn < n || part.rm < m,
                                     call.options.center_duals};
    normot_emd_restore_duals(&job);
  }
  normot_auction_sync();
  if (out.u != NULL)
    for (int64_t i = lane; i < n; i += lanes) out.u[(p - out.first) * n + i] = s.u[i];
  if (out.v != NULL)
    for (int64_t j = lane; j < m; j += lanes) out.v[(p - out.first) * m + j] = s.v[j];
}

/* Lane 0 reads the weights; every lane gets the positive-weight part's size. */
NORMOT_AUCTION_INLINE emd_part emd_team_weights(const emd_team_call &call, int64_t p,
                                                const emd_problem_space &s) {
  if (call.lane == 0) emd_reduce_weights(*call.view, p, s, call.scratch);
  normot_auction_sync();
  const emd_part part = {call.scratch[0], call.scratch[1]};
  normot_auction_sync(); /* every lane has read the sizes before the words are reused */
  return part;
}

/* Solves problem p with the auction core and writes its outputs, or marks it needs_host (the
 * core gave up, or its answer is not certified on the original costs, or a sparse plan would
 * not be basic). */
NORMOT_AUCTION_INLINE void emd_solve_problem(const emd_team_call &call, int64_t p) {
  const emd_batch_view &view = *call.view;
  const emd_outputs &out = *call.out;
  const int lane = call.lane, lanes = call.lanes;
  const emd_problem_space s = emd_carve_space(call.workspace, view.n, view.m);
  const emd_part part = emd_team_weights(call, p, s);
  const int64_t rn = part.rn, rm = part.rm;

  normot_auction_state state;
  emd_lay_out_state(&state, rn, rm, call.workspace,
                    call.options.costs_in_shared ? (int64_t *)call.fast : NULL);
  for (int64_t e = lane; e < rn * rm; e += lanes)
    s.reduced_cost[e] = emd_cost(view, p, s.rows[e / rm], s.cols[e % rm]);
  normot_auction_sync();

  const normot_auction_problem reduced = {
      rn, rm, s.ra, s.rb, s.reduced_cost, call.options.max_iter};
  normot_auction_output solved = {s.reduced_plan, s.ru, s.rv, 0, 0, 0, 0};
  const normot_auction_team team = {&state, call.scratch + 2, lane, lanes};
  const int status = normot_auction_solve_team(&reduced, &team, &solved);

  /* A sparse plan must be basic (at most n + m - 1 entries): a safety net, the core's optimal
   * plans are basic. */
  int64_t positive = 0;
  for (int64_t e = lane; e < rn * rm; e += lanes) positive += s.reduced_plan[e] > 0;
  positive = -normot_auction_reduce_min(-positive);
  const int needs_host = status == NORMOT_EMD_INFEASIBLE ||
                         (status == NORMOT_EMD_OPTIMAL && !solved.certified) ||
                         (out.sparse && positive > view.n + view.m - 1);
  if (lane == 0) out.needs_host[p] = needs_host ? EMD_ROUTE_FALLBACK : EMD_ROUTE_DONE;
  if (needs_host) return; /* the host writes this problem's results */

  emd_write_plans(call, p, part, s);
  if (out.u != NULL || out.v != NULL) emd_write_duals(call, p, part, s);
  if (lane == 0) {
    const int64_t q = p - out.first;
    out.cost[q] = solved.cost;
    if (out.status != NULL) out.status[q] = status;
    if (out.iterations != NULL) out.iterations[q] = solved.iterations;
    if (out.flags != NULL) out.flags[q] = 0;
  }
}

#endif
