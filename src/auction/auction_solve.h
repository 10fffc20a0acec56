/* One dense problem solved by the auction core and judged against its original float64 costs:
 * the grids, the core, the basic plan, the plan and duals in cost units, and the verdict. Host
 * and device code (NORMOT_AUCTION_INLINE): normot_auction_solve (auction.c, one lane) and the
 * CUDA backend's per-problem code (a team of lanes) both call normot_auction_solve_team, so that
 * the two backends turn the same problem into the same bytes. */
#ifndef NORMOT_SRC_AUCTION_SOLVE_H
#define NORMOT_SRC_AUCTION_SOLVE_H

#include "auction_core.h"

/* The auction's answer is certified when, besides the optimality certificate
 * (docs/emd_semantics.md) with the grid's tolerance, the rounding of the costs onto the grid cannot
 * have moved the plan's cost by more than this fraction of sum_ij G_ij |M_ij| away from the true
 * optimum (see normot_auction_rounding_bound). A few huge costs among small ones make the grid too
 * coarse for the small ones: the bound then fails and the caller re-solves the problem with the
 * network simplex. */
#define NORMOT_AUCTION_RELATIVE_TOLERANCE 1e-6

/* The memory one team works in: the core's state, laid out by the caller (the CUDA kernel may
 * place the hot arrays in shared memory), and two words every lane can read (shared memory on
 * the device). */
typedef struct normot_auction_team {
  normot_auction_state *state;
  int64_t *broadcast; /* 1 word */
  int lane, lanes;
} normot_auction_team;

/* A sum in index order, the same in every lane (each lane adds the whole array itself, so that
 * the result does not depend on the team size). */
NORMOT_AUCTION_INLINE double normot_auction_ordered_sum(const double *values, int64_t count) {
  double total = 0;
  for (int64_t e = 0; e < count; ++e) total += values[e];
  return total;
}

NORMOT_AUCTION_INLINE double normot_auction_max_abs(const double *values, int64_t count, int lane,
                                                    int lanes) {
  double largest = 0;
  for (int64_t e = lane; e < count; e += lanes) {
    double magnitude = fabs(values[e]);
    if (magnitude > largest) largest = magnitude;
  }
  return normot_auction_reduce_max_double(largest);
}

/* How far the rounding of the costs onto the grid can have moved the result: with
 * delta_ij = M_ij - (grid cost in cost units), a plan optimal for the rounded costs costs at most
 * sum G |delta| + mass * max |delta| more than the optimum of the real ones. Every lane gets it;
 * `plan` is complete when this is called. */
NORMOT_AUCTION_INLINE double normot_auction_rounding_bound(const normot_auction_problem *problem,
                                                           const normot_auction_state *state,
                                                           const double *plan, double unit,
                                                           double mass) {
  const int64_t count = problem->n * problem->m;
  const int64_t multiplier = normot_auction_cost_multiplier(problem->n, problem->m);
  double on_plan = 0, largest = 0;
  for (int64_t e = 0; e < count; ++e) {
    double grid = (double)(state->cost[e] / multiplier) / NORMOT_AUCTION_COST_LEVELS * unit;
    double delta = fabs(problem->cost[e] - grid);
    on_plan += plan[e] * delta;
    if (delta > largest) largest = delta;
  }
  return on_plan + mass * largest;
}

/* sum_ij G_ij |M_ij|, in index order. */
NORMOT_AUCTION_INLINE double normot_auction_plan_magnitude(const normot_auction_problem *problem,
                                                           const double *plan) {
  double total = 0;
  for (int64_t e = 0; e < problem->n * problem->m; ++e) total += plan[e] * fabs(problem->cost[e]);
  return total;
}

/* Zeroes the outputs of a problem the core gave up on (INFEASIBLE: the caller re-solves it). */
NORMOT_AUCTION_INLINE int normot_auction_give_up(const normot_auction_problem *problem,
                                                 normot_auction_output *output, int lane,
                                                 int lanes) {
  const int64_t n = problem->n > 0 ? problem->n : 0, m = problem->m > 0 ? problem->m : 0;
  for (int64_t e = lane; e < n * m; e += lanes) output->plan[e] = 0;
  if (output->u != NULL)
    for (int64_t i = lane; i < n; i += lanes) output->u[i] = 0;
  if (output->v != NULL)
    for (int64_t j = lane; j < m; j += lanes) output->v[j] = 0;
  normot_auction_sync();
  output->cost = 0;
  output->iterations = 0;
  output->certified = 0;
  output->status = NORMOT_EMD_INFEASIBLE;
  return output->status;
}

/* Maps both weight vectors onto the mass grid (lane 0 writes, every lane gets the verdict). */
NORMOT_AUCTION_INLINE int normot_auction_load_masses(const normot_auction_problem *problem,
                                                     const normot_auction_team *team,
                                                     double total_a, double total_b) {
  normot_auction_state *state = team->state;
  const int64_t units = (int64_t)NORMOT_AUCTION_MASS_UNITS;
  if (team->lane == 0)
    team->broadcast[0] =
        total_a > 0 && total_b > 0 &&
        normot_auction_quantize(problem->a, problem->n, total_a, units, state->supply) &&
        normot_auction_quantize(problem->b, problem->m, total_b, units, state->demand);
  normot_auction_sync();
  const int loaded = team->broadcast[0] != 0;
  normot_auction_sync(); /* every lane has read the word before it is used again */
  return loaded;
}

/* The claim that `output` solves `problem` optimally, with the tolerances the auction
 * guarantees: weights summing to total_a and total_b (b compared rescaled to total_a), costs at
 * most `largest` in magnitude. */
NORMOT_AUCTION_INLINE normot_auction_claim
normot_auction_claim_of(const normot_auction_problem *problem, const normot_auction_output *output,
                        double total_a, double total_b, double largest) {
  const double mass = total_a > total_b ? total_a : total_b;
  const normot_auction_claim claim = {
      problem->n,
      problem->m,
      problem->a,
      problem->b,
      total_a / total_b,
      problem->cost,
      output->plan,
      output->u,
      output->v,
      normot_auction_cost_tolerance(problem->n, problem->m, largest),
      normot_auction_mass_tolerance(mass)};
  return claim;
}

/* Solves `problem` with the team and writes output->plan (n x m), u, v (optional), cost,
 * iterations, status and `certified` (1: the certificate holds on the original costs with the
 * grid's tolerance, and the rounding bound is within NORMOT_AUCTION_RELATIVE_TOLERANCE).
 * b is mapped onto the total mass of a (POT's rescaling). Every lane returns the status. */
NORMOT_AUCTION_INLINE int normot_auction_solve_team(const normot_auction_problem *problem,
                                                    const normot_auction_team *team,
                                                    normot_auction_output *output) {
  const int64_t n = problem->n, m = problem->m;
  const int lane = team->lane, lanes = team->lanes;
  normot_auction_state *state = team->state;
  if (n < 1 || m < 1 || (n < m ? n : m) > NORMOT_AUCTION_MAX_SIDE)
    return normot_auction_give_up(problem, output, lane, lanes);

  const double largest_cost = normot_auction_max_abs(problem->cost, n * m, lane, lanes);
  const double unit = normot_auction_cost_unit(largest_cost);
  const int64_t multiplier = normot_auction_cost_multiplier(n, m);
  for (int64_t e = lane; e < n * m; e += lanes)
    state->cost[e] = normot_auction_grid_cost(problem->cost[e], unit, multiplier);
  const double total_a = normot_auction_ordered_sum(problem->a, n);
  const double total_b = normot_auction_ordered_sum(problem->b, m);
  if (!normot_auction_load_masses(problem, team, total_a, total_b))
    return normot_auction_give_up(problem, output, lane, lanes);

  int64_t iterations = 0;
  int status = normot_auction_run(state, lane, lanes, problem->max_iter, &iterations);
  if (status == NORMOT_EMD_INFEASIBLE) return normot_auction_give_up(problem, output, lane, lanes);
  if (status == NORMOT_EMD_OPTIMAL) normot_auction_make_basic(state, lane);

  for (int64_t e = lane; e < n * m; e += lanes)
    output->plan[e] =
        normot_auction_flow_to_mass(normot_auction_flow(state, e / m, e % m), total_a);
  /* All-zero costs: the prices are multiples of the grid's epsilon, not 0, yet the exact duals
   * are 0 (a dual unit of 0 gives them, and keeps complementary slackness exact). */
  const double dual_unit = largest_cost > 0 ? unit : 0.0;
  if (output->u != NULL)
    for (int64_t i = lane; i < n; i += lanes)
      output->u[i] = normot_auction_price_to_cost(state->u[i], dual_unit, multiplier);
  if (output->v != NULL)
    for (int64_t j = lane; j < m; j += lanes)
      output->v[j] = normot_auction_price_to_cost(state->v[j], dual_unit, multiplier);
  normot_auction_sync();

  double cost = 0;
  for (int64_t e = 0; e < n * m; ++e)
    if (output->plan[e] > 0) cost += output->plan[e] * problem->cost[e];
  int certified = 0;
  if (status == NORMOT_EMD_OPTIMAL && output->u != NULL && output->v != NULL) {
    const normot_auction_claim claim =
        normot_auction_claim_of(problem, output, total_a, total_b, largest_cost);
    certified = normot_auction_certify_dense(&claim, lane, lanes);
    const double bound = normot_auction_rounding_bound(problem, state, output->plan, unit, total_a);
    double scale = normot_auction_plan_magnitude(problem, output->plan);
    certified = certified && (bound == 0 || bound <= NORMOT_AUCTION_RELATIVE_TOLERANCE * scale);
  }
  output->cost = cost;
  output->iterations = iterations;
  output->certified = certified;
  output->status = status;
  return status;
}

#endif
