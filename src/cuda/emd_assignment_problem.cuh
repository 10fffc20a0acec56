/* One problem of the CUDA EMD through the assignment solver (emd_assignment_team.cuh), as
 * host-and-device code: b rescaled and zero weights removed as for the auction
 * (emd_problem.cuh), the problem taken when its positive-weight part is square with equal
 * weights (then some optimal plan is a permutation scaled by the common weight, and the
 * assignment duals are the transport duals), solved by the team, checked against the
 * optimality certificate on its float64 costs, and written out with the CPU backend's
 * arithmetic and order (cost summed row by row, plans, duals by emd_conventions.h). A problem
 * it does not take is routed as the options say (the auction kernel, or the host). */
#ifndef NORMOT_SRC_CUDA_EMD_ASSIGNMENT_PROBLEM_CUH
#define NORMOT_SRC_CUDA_EMD_ASSIGNMENT_PROBLEM_CUH

#include "emd_assignment_team.cuh"
#include "emd_problem.cuh"

NORMOT_AUCTION_INLINE int emd_all_equal(const double *values, int64_t count) {
  for (int64_t i = 1; i < count; ++i)
    if (values[i] != values[0]) return 0;
  return 1;
}

/* Whether the positive-weight part (rn x rm, weights ra, rb) is the assignment solver's. */
NORMOT_AUCTION_INLINE int emd_assignment_takes(const emd_team_call &call,
                                               const emd_problem_space &s, int64_t rn, int64_t rm) {
  return rn == rm && rn >= 1 && rn <= call.options.assignment_max_n && emd_all_equal(s.ra, rn) &&
         emd_all_equal(s.rb, rm);
}

/* Where the team reads the costs of the positive-weight part: the caller's float64 matrix when
 * it is the whole problem, else a float64 copy gathered into the workspace. */
NORMOT_AUCTION_INLINE const double *emd_assignment_costs(const emd_team_call &call, int64_t p,
                                                         const emd_problem_space &s, int64_t rn,
                                                         int64_t *ld) {
  const emd_batch_view &view = *call.view;
  const int64_t n = view.n, m = view.m;
  if (view.cost != NULL && view.is_double && rn == n && rn == m) {
    *ld = m;
    return (const double *)view.cost + (view.cost_shared ? 0 : (p - view.first) * n * m);
  }
  for (int64_t e = call.lane; e < rn * rn; e += call.lanes)
    s.reduced_cost[e] = emd_cost(view, p, s.rows[e / rn], s.cols[e % rn]);
  normot_auction_sync();
  *ld = rn;
  return s.reduced_cost;
}

/* The duals of the part (u_i = c_{i,x(i)} - v_{x(i)}, as the CPU) into s.ru and s.rv, and the
 * certificate: u_i + v_j <= c_ij everywhere, with equality on the assignment, within the
 * auction's tolerance for the largest cost. Every lane gets the verdict. */
NORMOT_AUCTION_INLINE int emd_assignment_certify(const emd_assignment_job *job,
                                                 const emd_problem_space &s) {
  const int32_t n = job->n;
  for (int32_t j = job->lane; j < n; j += job->lanes) s.rv[j] = job->s.price[j];
  for (int32_t i = job->lane; i < n; i += job->lanes) {
    const int32_t j = job->s.row_col[i];
    s.ru[i] = job->cost[(int64_t)i * job->ld + j] - job->s.price[j];
  }
  normot_auction_sync();
  double largest = 0, worst = 0, tight = 0;
  for (int32_t i = job->lane; i < n; i += job->lanes) {
    const double *row = job->cost + (int64_t)i * job->ld;
    for (int32_t j = 0; j < n; ++j) {
      const double violation = s.ru[i] + s.rv[j] - row[j];
      largest = fabs(row[j]) > largest ? fabs(row[j]) : largest;
      worst = violation > worst ? violation : worst;
    }
    const double slack = row[job->s.row_col[i]] - s.ru[i] - s.rv[job->s.row_col[i]];
    tight = fabs(slack) > tight ? fabs(slack) : tight;
  }
  largest = normot_auction_reduce_max_double(largest);
  worst = normot_auction_reduce_max_double(worst);
  tight = normot_auction_reduce_max_double(tight);
  const double tolerance = normot_auction_cost_tolerance(n, n, largest);
  return worst <= tolerance && tight <= tolerance;
}

/* The plans, the cost and the scalars of problem p from the assignment (lane 0 where the CPU
 * works in order: the cost sum and the sparse plan, one entry per row). */
NORMOT_AUCTION_INLINE void emd_assignment_write(const emd_team_call &call, int64_t p,
                                                const emd_assignment_job *job,
                                                const emd_problem_space &s, int32_t paths) {
  const emd_batch_view &view = *call.view;
  const emd_outputs &out = *call.out;
  const int64_t n = view.n, m = view.m, q = p - out.first, rn = job->n;
  if (out.plan != NULL) {
    double *plan = out.plan + q * n * m;
    for (int64_t e = call.lane; e < n * m; e += call.lanes) plan[e] = 0;
    normot_auction_sync();
    for (int64_t i = call.lane; i < rn; i += call.lanes)
      plan[s.rows[i] * m + s.cols[job->s.row_col[i]]] = s.ra[i];
  }
  /* The assigned costs are read by all lanes at once (row_violation is free until the duals);
   * lane 0 then sums them in the CPU's order. */
  for (int64_t i = call.lane; i < rn; i += call.lanes)
    s.row_violation[i] = emd_cost(view, p, s.rows[i], s.cols[job->s.row_col[i]]);
  normot_auction_sync();
  if (call.lane != 0) return;
  double total = 0.0;
  for (int64_t i = 0; i < rn; ++i) total += s.ra[i] * s.row_violation[i];
  out.cost[q] = total;
  const int64_t base = q * (n + m - 1);
  for (int64_t i = 0; out.sparse && i < rn; ++i) {
    if (out.sparse_row != NULL) out.sparse_row[base + i] = s.rows[i];
    if (out.sparse_col != NULL) out.sparse_col[base + i] = s.cols[job->s.row_col[i]];
    if (out.sparse_value != NULL) out.sparse_value[base + i] = s.ra[i];
  }
  if (out.sparse_count != NULL) out.sparse_count[q] = rn;
  if (out.status != NULL) out.status[q] = NORMOT_EMD_OPTIMAL;
  if (out.iterations != NULL) out.iterations[q] = paths;
  if (out.flags != NULL) out.flags[q] = 0;
}

/* Solves problem p if the assignment solver takes it, and writes its outputs; otherwise (or
 * when the certificate fails) only its route. */
NORMOT_AUCTION_INLINE void emd_assign_problem(const emd_team_call &call, int64_t p) {
  const emd_batch_view &view = *call.view;
  const emd_problem_space s = emd_carve_space(call.workspace, view.n, view.m);
  const emd_part part = emd_team_weights(call, p, s);
  const int64_t rn = part.rn;
  if (!emd_assignment_takes(call, s, rn, part.rm)) {
    if (call.lane == 0) call.out->needs_host[p] = call.options.misfit_route;
    return;
  }
  emd_assignment_job job;
  job.n = (int32_t)rn;
  job.cost = emd_assignment_costs(call, p, s, rn, &job.ld);
  job.s = emd_assignment_carve(call.fast, rn);
  job.lane = call.lane, job.lanes = call.lanes;
  const int32_t paths = emd_assignment_solve_team(&job);
  const int certified = emd_assignment_certify(&job, s);
  if (call.lane == 0) call.out->needs_host[p] = certified ? EMD_ROUTE_DONE : EMD_ROUTE_FALLBACK;
  if (!certified) return;
  emd_assignment_write(call, p, &job, s, paths);
  normot_auction_sync();
  if (call.out->u != NULL || call.out->v != NULL) emd_write_duals(call, p, part, s);
}

#endif
