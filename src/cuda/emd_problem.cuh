/* One problem of the CUDA EMD, as host-and-device code: a view of the batch that reads any
 * problem's weights and costs (dense, shared, or computed on the fly from point clouds), the
 * validation of one problem, and the solve of one problem (zero weights removed, the auction
 * core, a basic plan, the device certificate, the outputs with POT's dual conventions). The
 * kernels of emd_kernels.cuh run these with a warp per problem (lanes = 32); the tests run them
 * on the host with one lane, so that the CUDA backend's logic is exercised without a GPU.
 * Plain C++ that g++ compiles too (no CUDA header needed). */
#ifndef NORMOT_SRC_CUDA_EMD_PROBLEM_CUH
#define NORMOT_SRC_CUDA_EMD_PROBLEM_CUH

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "../auction/auction_core.h"

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

/* Validation verdicts, per problem. */
enum emd_input_fault {
  EMD_INPUT_OK = 0,
  EMD_INPUT_NONFINITE_WEIGHT = 1,
  EMD_INPUT_NEGATIVE_WEIGHT = 2,
  EMD_INPUT_NONFINITE_COST = 3,
  EMD_INPUT_ZERO_MASS = 4,
  EMD_INPUT_UNBALANCED = 5
};

/* Problem p's input fault and its two masses (faults[p], sums[2p], sums[2p + 1]). Reads only. */
NORMOT_AUCTION_INLINE void emd_validate_problem(const emd_batch_view &view, int64_t p,
                                                int check_marginals, double tolerance,
                                                int32_t *faults, double *sums, int lane,
                                                int lanes) {
  int64_t nonfinite = 0, negative = 0, bad_cost = 0;
  double sum_a = 0, sum_b = 0;
  for (int64_t i = lane; i < view.n; i += lanes) {
    double w = emd_a(view, p, i);
    if (!isfinite(w))
      ++nonfinite;
    else if (w < 0)
      ++negative;
    sum_a += w;
  }
  for (int64_t j = lane; j < view.m; j += lanes) {
    double w = emd_b(view, p, j);
    if (!isfinite(w))
      ++nonfinite;
    else if (w < 0)
      ++negative;
    sum_b += w;
  }
  if (view.cost != NULL) {
    for (int64_t e = lane; e < view.n * view.m; e += lanes)
      if (!isfinite(emd_cost(view, p, e / view.m, e % view.m))) ++bad_cost;
  } else {
    for (int64_t e = lane; e < view.n * view.dim; e += lanes)
      if (!isfinite(emd_load(view.x, (p - view.first) * view.n * view.dim + e, view.is_double)))
        ++bad_cost;
    for (int64_t e = lane; e < view.m * view.dim; e += lanes)
      if (!isfinite(emd_load(view.y, (p - view.first) * view.m * view.dim + e, view.is_double)))
        ++bad_cost;
  }
  nonfinite = normot_auction_reduce_max(nonfinite);
  negative = normot_auction_reduce_max(negative);
  bad_cost = normot_auction_reduce_max(bad_cost);
  sum_a = normot_auction_reduce_sum(sum_a);
  sum_b = normot_auction_reduce_sum(sum_b);
  if (lane != 0) return;
  int32_t fault = EMD_INPUT_OK;
  double larger = sum_a > sum_b ? sum_a : sum_b;
  if (nonfinite)
    fault = EMD_INPUT_NONFINITE_WEIGHT;
  else if (negative)
    fault = EMD_INPUT_NEGATIVE_WEIGHT;
  else if (bad_cost)
    fault = EMD_INPUT_NONFINITE_COST;
  else if (!(sum_a > 0) || !(sum_b > 0))
    fault = EMD_INPUT_ZERO_MASS;
  else if (check_marginals && fabs(sum_a - sum_b) > tolerance * larger)
    fault = EMD_INPUT_UNBALANCED;
  faults[p] = fault;
  sums[2 * p] = sum_a;
  sums[2 * p + 1] = sum_b;
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

struct emd_solve_options {
  int64_t max_iter;
  int center_duals;
  int costs_in_shared; /* the grid costs and the prices and excesses live in fast (shared)
                          memory: emd_fast_memory_bytes(n, m) of it */
};

/* Bytes of fast memory for the arrays the core reads on every push: the grid costs, both
 * prices and both excesses. */
NORMOT_AUCTION_INLINE size_t emd_fast_memory_bytes(int64_t n, int64_t m) {
  return (size_t)(n * m + 2 * (n + m)) * sizeof(int64_t);
}

/* Bytes of one problem's global workspace (8-byte aligned pieces). */
NORMOT_AUCTION_INLINE size_t emd_problem_workspace_bytes(int64_t n, int64_t m) {
  return normot_auction_state_bytes(n, m) + (size_t)(2 * n * m + 6 * n + 6 * m) * 8;
}

/* Solves problem p with `workspace` (emd_problem_workspace_bytes) and writes its outputs, or
 * marks it needs_host. shared_costs: emd_fast_memory_bytes(n, m) of fast memory when
 * options.costs_in_shared; scratch: 3 int64 that every lane sees (shared memory on the
 * device). */
NORMOT_AUCTION_INLINE void emd_solve_problem(const emd_batch_view &view, int64_t p,
                                             const double *sums, int64_t *workspace,
                                             const emd_solve_options &options,
                                             const emd_outputs &out, int64_t *shared_costs,
                                             int64_t *scratch, int lane, int lanes) {
  const int64_t n = view.n, m = view.m;
  int64_t *w = workspace;

  /* Carve the workspace; sizes are those of the full problem, the reduced one fits. */
  normot_auction_state state;
  normot_auction_state_init(&state, n, m, w);
  double *words = (double *)(w + normot_auction_state_bytes(n, m) / 8);
  double *reduced_cost = words;         /* n' x m' */
  double *reduced_plan = words + n * m; /* n' x m' */
  double *ra = reduced_plan + n * m, *rb = ra + n, *ru = rb + m, *rv = ru + n;
  double *u_full = rv + m, *v_full = u_full + n;
  int64_t *rows = (int64_t *)(v_full + m), *cols = rows + n;
  double *violation_of = (double *)(cols + m); /* n + m */

  const double sum_a = sums[2 * p], sum_b = sums[2 * p + 1];
  const double b_factor = sum_a / sum_b; /* b rescaled to the mass of a (POT) */

  /* Zero-weight rows and columns leave the problem; lane 0 lists the others in order. */
  int64_t *sizes = scratch;
  if (lane == 0) {
    int64_t count = 0;
    for (int64_t i = 0; i < n; ++i) {
      double wi = emd_a(view, p, i);
      if (wi > 0) {
        ra[count] = wi;
        rows[count++] = i;
      }
    }
    sizes[0] = count;
    count = 0;
    for (int64_t j = 0; j < m; ++j) {
      double wj = emd_b(view, p, j) * b_factor;
      if (wj > 0) {
        rb[count] = wj;
        cols[count++] = j;
      }
    }
    sizes[1] = count;
  }
  normot_auction_sync();
  const int64_t rn = sizes[0], rm = sizes[1];
  normot_auction_state_init(&state, rn, rm, w);
  if (options.costs_in_shared) {
    int64_t *fast = shared_costs;
    state.cost = fast;
    fast += rn * rm;
    state.u = fast;
    fast += rn;
    state.v = fast;
    fast += rm;
    state.source_excess = fast;
    fast += rn;
    state.sink_excess = fast;
  }

  double largest = 0;
  for (int64_t e = lane; e < rn * rm; e += lanes) {
    double c = emd_cost(view, p, rows[e / rm], cols[e % rm]);
    reduced_cost[e] = c;
    if (fabs(c) > largest) largest = fabs(c);
  }
  /* max of non-negative doubles through their ordered bit patterns */
  largest = normot_auction_reduce_max_double(largest);
  const double unit = normot_auction_cost_unit(largest);
  const int64_t multiplier = normot_auction_cost_multiplier(rn, rm);
  for (int64_t e = lane; e < rn * rm; e += lanes)
    state.cost[e] = normot_auction_grid_cost(reduced_cost[e], unit, multiplier);

  int64_t *quantized = scratch + 2;
  if (lane == 0) {
    const int64_t units = (int64_t)NORMOT_AUCTION_MASS_UNITS;
    *quantized = normot_auction_quantize(ra, rn, sum_a, units, state.supply) &&
                 normot_auction_quantize(rb, rm, sum_a, units, state.demand);
  }
  normot_auction_sync();
  const int64_t masses_ok = *quantized;

  int64_t iterations = 0;
  int status = NORMOT_EMD_INFEASIBLE;
  if (masses_ok && (rn < rm ? rn : rm) <= NORMOT_AUCTION_MAX_SIDE)
    status = normot_auction_run(&state, lane, lanes, options.max_iter, &iterations);
  if (status == NORMOT_EMD_OPTIMAL) normot_auction_make_basic(&state, lane);

  for (int64_t e = lane; e < rn * rm; e += lanes)
    reduced_plan[e] =
        normot_auction_flow_to_mass(normot_auction_flow(&state, e / rm, e % rm), sum_a);
  /* Scaled by max|M| rather than the grid unit: all-zero costs give duals of exactly 0. */
  for (int64_t i = lane; i < rn; i += lanes)
    ru[i] = normot_auction_price_to_cost(state.u[i], largest, multiplier);
  for (int64_t j = lane; j < rm; j += lanes)
    rv[j] = normot_auction_price_to_cost(state.v[j], largest, multiplier);
  normot_auction_sync();

  int certified = 0;
  if (status == NORMOT_EMD_OPTIMAL)
    certified = normot_auction_certify_dense(
        rn, rm, ra, rb, reduced_cost, reduced_plan, ru, rv,
        normot_auction_cost_tolerance(rn, rm, largest),
        normot_auction_mass_tolerance(sum_a > sum_b ? sum_a : sum_b), lane, lanes);

  /* A sparse plan must be basic (at most n + m - 1 entries); a plan with more positive
   * entries than that is re-solved on the host, whose simplex returns a basic one. */
  int64_t positive = 0;
  for (int64_t e = lane; e < rn * rm; e += lanes) positive += reduced_plan[e] > 0;
  positive = -normot_auction_reduce_min(-positive);
  const int sparse_fits = positive <= n + m - 1;

  const int needs_host = (status == NORMOT_EMD_OPTIMAL && !certified) ||
                         status == NORMOT_EMD_INFEASIBLE || (out.sparse && !sparse_fits);
  if (lane == 0) out.needs_host[p] = needs_host;
  if (needs_host) return; /* the host writes this problem's results */

  double cost = 0;
  for (int64_t e = lane; e < rn * rm; e += lanes) cost += reduced_plan[e] * reduced_cost[e];
  cost = normot_auction_reduce_sum(cost);

  if (out.plan != NULL) {
    double *plan = out.plan + (p - out.first) * n * m;
    for (int64_t e = lane; e < n * m; e += lanes) plan[e] = 0;
    normot_auction_sync();
    for (int64_t e = lane; e < rn * rm; e += lanes)
      plan[rows[e / rm] * m + cols[e % rm]] = reduced_plan[e];
  }
  if (out.sparse && lane == 0) {
    const int64_t base = (p - out.first) * (n + m - 1);
    int64_t count = 0;
    for (int64_t e = 0; e < rn * rm; ++e) {
      if (reduced_plan[e] > 0) {
        if (out.sparse_row != NULL) out.sparse_row[base + count] = rows[e / rm];
        if (out.sparse_col != NULL) out.sparse_col[base + count] = cols[e % rm];
        if (out.sparse_value != NULL) out.sparse_value[base + count] = reduced_plan[e];
        ++count;
      }
    }
    if (out.sparse_count != NULL) out.sparse_count[p - out.first] = count;
  }

  if (out.u != NULL || out.v != NULL) {
    /* Duals of zero-weight rows and columns start at 0 and are lowered by their largest
     * violation of u_i + v_j <= M_ij (POT's estimate_dual_null_weights), then the pair is
     * centred (POT's center_ot_dual). */
    for (int64_t i = lane; i < n; i += lanes) u_full[i] = 0;
    for (int64_t j = lane; j < m; j += lanes) v_full[j] = 0;
    normot_auction_sync();
    for (int64_t i = lane; i < rn; i += lanes) u_full[rows[i]] = ru[i];
    for (int64_t j = lane; j < rm; j += lanes) v_full[cols[j]] = rv[j];
    normot_auction_sync();
    if (rn < n || rm < m) {
      for (int64_t i = lane; i < n; i += lanes) {
        if (emd_a(view, p, i) > 0) continue;
        double violation = -INFINITY;
        for (int64_t j = 0; j < m; ++j)
          violation = fmax(violation, u_full[i] + v_full[j] - emd_cost(view, p, i, j));
        violation_of[i] = violation > 0 ? violation : 0;
      }
      for (int64_t j = lane; j < m; j += lanes) {
        if (emd_b(view, p, j) > 0) continue;
        double violation = -INFINITY;
        for (int64_t i = 0; i < n; ++i)
          violation = fmax(violation, u_full[i] + v_full[j] - emd_cost(view, p, i, j));
        violation_of[n + j] = violation > 0 ? violation : 0;
      }
      normot_auction_sync();
      for (int64_t i = lane; i < n; i += lanes)
        if (!(emd_a(view, p, i) > 0)) u_full[i] -= violation_of[i];
      for (int64_t j = lane; j < m; j += lanes)
        if (!(emd_b(view, p, j) > 0)) v_full[j] -= violation_of[n + j];
      normot_auction_sync();
    }
    double shift = 0;
    if (options.center_duals) {
      double weighted = 0, mass = 0;
      for (int64_t i = lane; i < n; i += lanes) {
        double wi = emd_a(view, p, i);
        weighted -= wi * u_full[i];
        mass += wi;
      }
      for (int64_t j = lane; j < m; j += lanes) {
        double wj = emd_b(view, p, j) * b_factor;
        weighted += wj * v_full[j];
        mass += wj;
      }
      weighted = normot_auction_reduce_sum(weighted);
      mass = normot_auction_reduce_sum(mass);
      shift = weighted / mass;
    }
    if (out.u != NULL)
      for (int64_t i = lane; i < n; i += lanes) out.u[(p - out.first) * n + i] = u_full[i] + shift;
    if (out.v != NULL)
      for (int64_t j = lane; j < m; j += lanes) out.v[(p - out.first) * m + j] = v_full[j] - shift;
  }
  if (lane == 0) {
    const int64_t q = p - out.first;
    out.cost[q] = cost;
    if (out.status != NULL) out.status[q] = status;
    if (out.iterations != NULL) out.iterations[q] = iterations;
    if (out.flags != NULL) out.flags[q] = 0;
  }
}

#endif
