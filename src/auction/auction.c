/* The host entry points of the auction core: one dense problem, one lane. */
#include "auction.h"

#include <math.h>
#include <string.h>

#include "auction_core.h"

size_t normot_auction_workspace_bytes(int64_t n, int64_t m) {
  if (n < 1 || m < 1) return 0;
  return normot_auction_state_bytes(n, m);
}

static double max_abs(const double *values, int64_t count) {
  double largest = 0;
  for (int64_t e = 0; e < count; ++e) {
    double magnitude = fabs(values[e]);
    if (magnitude > largest) largest = magnitude;
  }
  return largest;
}

static double sum(const double *values, int64_t count) {
  double total = 0;
  for (int64_t e = 0; e < count; ++e) total += values[e];
  return total;
}

static int give_up(const normot_auction_problem *problem, normot_auction_output *output) {
  int64_t n = problem->n > 0 ? problem->n : 0, m = problem->m > 0 ? problem->m : 0;
  memset(output->plan, 0, (size_t)(n * m) * sizeof(double));
  if (output->u != NULL) memset(output->u, 0, (size_t)n * sizeof(double));
  if (output->v != NULL) memset(output->v, 0, (size_t)m * sizeof(double));
  output->cost = 0;
  output->iterations = 0;
  output->status = NORMOT_EMD_INFEASIBLE;
  return output->status;
}

int normot_auction_solve(const normot_auction_problem *problem, void *workspace,
                         normot_auction_output *output) {
  const int64_t n = problem->n, m = problem->m;
  if (n < 1 || m < 1 || (n < m ? n : m) > NORMOT_AUCTION_MAX_SIDE) return give_up(problem, output);

  normot_auction_state state;
  normot_auction_state_init(&state, n, m, workspace);

  const double largest_cost = max_abs(problem->cost, n * m);
  const double unit = normot_auction_cost_unit(largest_cost);
  const int64_t multiplier = normot_auction_cost_multiplier(n, m);
  for (int64_t e = 0; e < n * m; ++e)
    state.cost[e] = normot_auction_grid_cost(problem->cost[e], unit, multiplier);

  /* b is mapped onto the same total as a: when the sums differ slightly this is POT's
   * rescaling of b to the mass of a. */
  const int64_t units = (int64_t)NORMOT_AUCTION_MASS_UNITS;
  const double total_a = sum(problem->a, n), total_b = sum(problem->b, m);
  if (!(total_a > 0) || !(total_b > 0) ||
      !normot_auction_quantize(problem->a, n, total_a, units, state.supply) ||
      !normot_auction_quantize(problem->b, m, total_b, units, state.demand))
    return give_up(problem, output);

  int64_t iterations = 0;
  int status = normot_auction_run(&state, 0, 1, problem->max_iter, &iterations);
  if (status == NORMOT_EMD_INFEASIBLE) return give_up(problem, output);
  if (status == NORMOT_EMD_OPTIMAL) normot_auction_make_basic(&state, 0);

  double cost = 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < m; ++j) {
      double x = normot_auction_flow_to_mass(normot_auction_flow(&state, i, j), total_a);
      output->plan[i * m + j] = x;
      if (x > 0) cost += x * problem->cost[i * m + j];
    }
  }
  /* Scaled by max|M| rather than the grid unit: all-zero costs give duals of exactly 0. */
  if (output->u != NULL)
    for (int64_t i = 0; i < n; ++i)
      output->u[i] = normot_auction_price_to_cost(state.u[i], largest_cost, multiplier);
  if (output->v != NULL)
    for (int64_t j = 0; j < m; ++j)
      output->v[j] = normot_auction_price_to_cost(state.v[j], largest_cost, multiplier);
  output->cost = cost;
  output->iterations = iterations;
  output->status = status;
  return status;
}

int normot_auction_certify(const normot_auction_problem *problem,
                           const normot_auction_output *output) {
  const int64_t n = problem->n, m = problem->m;
  if (n < 1 || m < 1 || output->u == NULL || output->v == NULL) return 0;
  const double total_a = sum(problem->a, n), total_b = sum(problem->b, m);
  const double total = total_a > total_b ? total_a : total_b;
  /* The plan meets b rescaled to the mass of a (see normot_auction_solve). */
  double rescale = total_a / total_b;
  double cost_tol = normot_auction_cost_tolerance(n, m, max_abs(problem->cost, n * m));
  double mass_tol = normot_auction_mass_tolerance(total);
  int certified = 1;
  for (int64_t i = 0; i < n && certified; ++i) {
    double row = 0;
    for (int64_t j = 0; j < m; ++j) {
      double x = output->plan[i * m + j];
      double slack = problem->cost[i * m + j] - output->u[i] - output->v[j];
      row += x;
      if (!(x >= 0) || slack < -cost_tol || (x > 0 && slack > cost_tol)) certified = 0;
    }
    if (!(fabs(row - problem->a[i]) <= mass_tol)) certified = 0;
  }
  for (int64_t j = 0; j < m && certified; ++j) {
    double column = 0;
    for (int64_t i = 0; i < n; ++i) column += output->plan[i * m + j];
    if (!(fabs(column - problem->b[j] * rescale) <= mass_tol)) certified = 0;
  }
  return certified;
}
