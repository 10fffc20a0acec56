/* The host entry points of the auction core: one dense problem, one lane. */
#include "auction.h"

#include <math.h>

#include "auction_solve.h"

size_t normot_auction_workspace_bytes(int64_t n, int64_t m) {
  if (n < 1 || m < 1) return 0;
  return normot_auction_state_bytes(n, m);
}

int normot_auction_solve(const normot_auction_problem *problem, void *workspace,
                         normot_auction_output *output) {
  normot_auction_state state;
  int64_t broadcast = 0;
  if (problem->n >= 1 && problem->m >= 1)
    normot_auction_state_init(&state, problem->n, problem->m, workspace);
  const normot_auction_team team = {&state, &broadcast, 0, 1};
  return normot_auction_solve_team(problem, &team, output);
}

int normot_auction_certify(const normot_auction_problem *problem,
                           const normot_auction_output *output) {
  const int64_t n = problem->n, m = problem->m;
  if (n < 1 || m < 1 || output->u == NULL || output->v == NULL) return 0;
  const double total_a = normot_auction_ordered_sum(problem->a, n);
  const double total_b = normot_auction_ordered_sum(problem->b, m);
  const double largest = normot_auction_max_abs(problem->cost, n * m, 0, 1);
  const normot_auction_claim claim =
      normot_auction_claim_of(problem, output, total_a, total_b, largest);
  return normot_auction_certify_dense(&claim, 0, 1);
}
