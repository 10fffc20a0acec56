/* The conventions every EMD backend follows around its solver, in one place: the rescaling of b
 * to the mass of a, and the duals of the whole problem built from those of its positive-weight
 * part (zero-weight rows and columns estimated, then POT's centring). Plain C11 that also
 * compiles for CUDA devices (host-and-device inline functions), so that the CPU backend and the
 * CUDA per-problem code run the very same arithmetic in the very same order. */
#ifndef NORMOT_SRC_EMD_CONVENTIONS_H
#define NORMOT_SRC_EMD_CONVENTIONS_H

#include <float.h>
#include <math.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define NORMOT_CONVENTION static __inline__ __host__ __device__
#else
#define NORMOT_CONVENTION static inline
#endif

/* The sum of a weight vector (float64), in index order. */
NORMOT_CONVENTION double normot_emd_weight_sum(const double *weights, int64_t count) {
  double total = 0.0;
  for (int64_t i = 0; i < count; ++i) total += weights[i];
  return total;
}

/* b_j rescaled to the mass of a: b_j * sum_a / sum_b, as POT computes it, where the product
 * b_j * sum_a is a normal float64; otherwise (b_j / sum_b) * sum_a. Where the product
 * overflows POT's form gives Inf; where it is subnormal or 0 it has lost bits (a b_j of 3e-319
 * against a mass of 196 came out 2.6e-8 of the mass short, against a mass of 2e-41 it was 0).
 * b_j / sum_b <= 1 keeps the result finite (at most about sum_a), rounded twice. */
NORMOT_CONVENTION double normot_emd_rescaled_weight(double b_j, double sum_a, double sum_b) {
  double scaled = b_j * sum_a;
  if (isfinite(scaled) && scaled >= DBL_MIN) return scaled / sum_b;
  return b_j / sum_b * sum_a;
}

/* As POT: b is always rescaled to the mass of a (a no-op when the sums agree), each weight as
 * normot_emd_rescaled_weight says; a positive weight stays positive, so that the zero pattern is
 * the input's. */
NORMOT_CONVENTION void normot_emd_rescale_b(double *b, int64_t m, double sum_a, double sum_b) {
  if (sum_b == sum_a) return;
  for (int64_t j = 0; j < m; ++j) {
    double scaled = normot_emd_rescaled_weight(b[j], sum_a, sum_b);
    b[j] = scaled == 0.0 && b[j] > 0.0 ? DBL_TRUE_MIN : scaled;
  }
}

/* The duals of one whole problem, from those of its positive-weight part. */
typedef struct normot_emd_dual_job {
  int64_t n, m;
  const double *a, *b;   /* n, m: the weights, b rescaled */
  const double *cost;    /* n x m, row-major: the whole problem's costs, for
                            normot_emd_restore_duals; unused by the pass the caller drives */
  double *u, *v;         /* n, m: in: the solver's duals at positive weights, 0 elsewhere; out */
  double *row_violation; /* n, m: scratch */
  double *col_violation;
  int has_zero_weight; /* some a_i or b_j is 0 */
  int center;          /* params->center_duals */
} normot_emd_dual_job;

/* POT's center_ot_dual: shift so that sum a u = sum b v; the objective does not change. With
 * positive_only, only the duals of positive weights move (zero weights add nothing to the sums,
 * so this centres the positive-weight part and leaves the others at 0). */
NORMOT_CONVENTION void normot_emd_center_duals(const normot_emd_dual_job *job, int positive_only) {
  double weighted = 0.0, mass = 0.0;
  for (int64_t j = 0; j < job->m; ++j) weighted += job->b[j] * job->v[j], mass += job->b[j];
  for (int64_t i = 0; i < job->n; ++i) weighted -= job->a[i] * job->u[i], mass += job->a[i];
  const double shift = weighted / mass;
  for (int64_t i = 0; i < job->n; ++i)
    if (!positive_only || job->a[i] > 0.0) job->u[i] += shift;
  for (int64_t j = 0; j < job->m; ++j)
    if (!positive_only || job->b[j] > 0.0) job->v[j] -= shift;
}

/* POT's estimate_dual_null_weights, as a pass over the costs that the caller drives, so that it
 * runs on a dense matrix, on cost rows computed on the fly, or on the edges of a sparse cost
 * (a missing pair constrains nothing): a zero-weight row or column starts at 0 and is lowered
 * by its largest violation of u_i + v_j <= M_ij, so that it violates no constraint.
 * normot_emd_null_duals_begin, then normot_emd_null_duals_pair for every pair (i, j) with its
 * cost (pairs of two positive weights are skipped), then normot_emd_null_duals_end. */
NORMOT_CONVENTION void normot_emd_null_duals_begin(const normot_emd_dual_job *job) {
  for (int64_t i = 0; i < job->n; ++i) job->row_violation[i] = -INFINITY;
  for (int64_t j = 0; j < job->m; ++j) job->col_violation[j] = -INFINITY;
}

NORMOT_CONVENTION void normot_emd_null_duals_pair(const normot_emd_dual_job *job, int64_t i,
                                                  int64_t j, double cost) {
  const int zero_row = job->a[i] == 0.0, zero_col = job->b[j] == 0.0;
  if (!zero_row && !zero_col) return;
  double violation = job->u[i] + job->v[j] - cost;
  if (zero_row && violation > job->row_violation[i]) job->row_violation[i] = violation;
  if (zero_col && violation > job->col_violation[j]) job->col_violation[j] = violation;
}

/* Row i of the costs, m values. */
NORMOT_CONVENTION void normot_emd_null_duals_row(const normot_emd_dual_job *job, int64_t i,
                                                 const double *row) {
  for (int64_t j = 0; j < job->m; ++j) normot_emd_null_duals_pair(job, i, j, row[j]);
}

/* The order every backend follows: centre the positive-weight part first (so that the
 * estimates do not depend on the solver's arbitrary potential offset), estimate the zero-weight
 * duals from 0, centre the whole again (the estimates moved the balance). center_duals = 0: no
 * centring at all, the estimates are taken against the solver's own potentials.
 * normot_emd_restore_duals_begin does the first step and returns whether the estimates need the
 * pass over the costs (some weight is zero); then the pass (pairs or rows), then
 * normot_emd_restore_duals_end. */
NORMOT_CONVENTION int normot_emd_restore_duals_begin(const normot_emd_dual_job *job) {
  if (job->center) normot_emd_center_duals(job, 1);
  if (!job->has_zero_weight) return 0;
  normot_emd_null_duals_begin(job);
  return 1;
}

NORMOT_CONVENTION void normot_emd_restore_duals_end(const normot_emd_dual_job *job) {
  for (int64_t i = 0; i < job->n; ++i)
    if (job->a[i] == 0.0 && job->row_violation[i] > 0.0) job->u[i] -= job->row_violation[i];
  for (int64_t j = 0; j < job->m; ++j)
    if (job->b[j] == 0.0 && job->col_violation[j] > 0.0) job->v[j] -= job->col_violation[j];
  if (job->center) normot_emd_center_duals(job, 0);
}

/* The whole order on a dense cost (job->cost). */
NORMOT_CONVENTION void normot_emd_restore_duals(const normot_emd_dual_job *job) {
  if (!normot_emd_restore_duals_begin(job)) return;
  for (int64_t i = 0; i < job->n; ++i) normot_emd_null_duals_row(job, i, job->cost + i * job->m);
  normot_emd_restore_duals_end(job);
}

#endif
