#include "fuzz_emd_certificate.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "fuzz_support.h"

static const double relative_tol = 1e-9;

typedef struct scales {
  double sum_a, sum_b, largest_cost;
  double mass_tol, cost_tol;
} scales;

static scales scales_of(const emd_instance *instance) {
  scales s = {0, 0, 0, 0, 0};
  for (int64_t i = 0; i < instance->n; ++i) s.sum_a += instance->a[i];
  for (int64_t j = 0; j < instance->m; ++j) s.sum_b += instance->b[j];
  for (int64_t e = 0; e < instance->n * instance->m; ++e)
    s.largest_cost = fmax(s.largest_cost, fabs(instance->cost[e]));
  /* Plan entries of a subnormal mass lie on float64's grid of 2^-1074, far coarser than 1e-9 of
   * that mass: a marginal is then allowed one grid step per row and column. */
  s.mass_tol = fmax(relative_tol * s.sum_a, (double)(instance->n + instance->m) * DBL_TRUE_MIN);
  s.cost_tol = relative_tol * fmax(s.largest_cost, 1e-300);
  return s;
}

/* b_j rescaled to the mass of a as emd_semantics.md ("Magnitude limits") states it:
 * b_j * sum_a / sum_b where the product b_j * sum_a is a normal float64, else
 * (b_j / sum_b) * sum_a. */
static double rescaled_b(const emd_instance *instance, scales s, int64_t j) {
  const double product = instance->b[j] * s.sum_a;
  if (isfinite(product) && product >= DBL_MIN) return product / s.sum_b;
  return instance->b[j] / s.sum_b * s.sum_a;
}

/* G >= 0, finite, rows sum to a, columns to b rescaled (rescaled_b); returns <G, M>. */
static double check_plan(const emd_instance *instance, const double *plan, scales s, int64_t index,
                         double *scale) {
  const int64_t n = instance->n, m = instance->m;
  double primal = 0;
  *scale = 0;
  for (int64_t i = 0; i < n; ++i) {
    long double row = 0; /* wider: a row of a mass near DBL_MAX may round past it in double */
    for (int64_t j = 0; j < m; ++j) {
      const double g = plan[i * m + j];
      if (!(isfinite(g) && g >= 0)) fuzz_fail("problem %lld: plan entry %g", (long long)index, g);
      row += g;
      primal += g * instance->cost[i * m + j];
      *scale += g * fabs(instance->cost[i * m + j]);
    }
    if (fabsl(row - instance->a[i]) > s.mass_tol)
      fuzz_fail("problem %lld: row %lld sums to %.17g, a is %.17g", (long long)index, (long long)i,
                (double)row, instance->a[i]);
  }
  for (int64_t j = 0; j < m; ++j) {
    long double column = 0;
    for (int64_t i = 0; i < n; ++i) column += plan[i * m + j];
    const double target = rescaled_b(instance, s, j);
    if (fabsl(column - target) > s.mass_tol)
      fuzz_fail("problem %lld: column %lld sums to %.17g, b is %.17g", (long long)index,
                (long long)j, (double)column, target);
  }
  return primal;
}

/* u + v <= M everywhere, = M on the plan's support; returns sum a u + sum b v. */
static double check_duals(const emd_instance *instance, const emd_answer *answer, scales s,
                          int64_t index, double *scale) {
  const int64_t n = instance->n, m = instance->m;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < m; ++j) {
      const double reduced = instance->cost[i * m + j] - answer->u[i] - answer->v[j];
      if (!(reduced >= -s.cost_tol))
        fuzz_fail("problem %lld: dual infeasible at (%lld, %lld) by %g", (long long)index,
                  (long long)i, (long long)j, reduced);
      if (answer->plan != NULL && answer->plan[i * m + j] > 0 && !(reduced <= s.cost_tol))
        fuzz_fail("problem %lld: slackness broken at (%lld, %lld) by %g", (long long)index,
                  (long long)i, (long long)j, reduced);
    }
  }
  double dual = 0;
  *scale = 0;
  for (int64_t i = 0; i < n; ++i) {
    dual += instance->a[i] * answer->u[i];
    *scale += instance->a[i] * fabs(answer->u[i]);
  }
  for (int64_t j = 0; j < m; ++j) {
    const double b = rescaled_b(instance, s, j);
    dual += b * answer->v[j];
    *scale += b * fabs(answer->v[j]);
  }
  return dual;
}

/* sum a u = sum b v, in long double, to 1e-9 of the larger of sum a |u| + sum b |v| and
 * (n + m) max|M| sum a: the potentials the solvers centre carry offsets up to about (n + m)
 * max|M| (n + m, on all-zero costs, for the sparse simplex), whose rounding the centring
 * leaves behind. Duals that were not centred at all miss this by far. */
static void check_centring(const emd_instance *instance, const emd_answer *answer, scales s,
                           int64_t index) {
  long double au = 0, bv = 0, scale = 0;
  for (int64_t i = 0; i < instance->n; ++i) {
    au += (long double)instance->a[i] * answer->u[i];
    scale += fabsl((long double)instance->a[i] * answer->u[i]);
  }
  for (int64_t j = 0; j < instance->m; ++j) {
    const long double b = rescaled_b(instance, s, j);
    bv += b * answer->v[j];
    scale += fabsl(b * answer->v[j]);
  }
  const long double offsets = (long double)(instance->n + instance->m) *
                              (s.largest_cost > 0 ? s.largest_cost : 1.0) * s.sum_a;
  const long double tol = relative_tol * fmaxl(fmaxl(scale, offsets), 1e-300L);
  if (fabsl(au - bv) > tol)
    fuzz_fail("problem %lld: centred duals with sum a u = %.17Lg, sum b v = %.17Lg",
              (long long)index, au, bv);
}

static void check_sparse(const emd_instance *instance, const emd_answer *answer, int64_t index) {
  const int64_t n = instance->n, m = instance->m, count = *answer->sparse_count;
  if (count < 1 || count > n + m - 1)
    fuzz_fail("problem %lld: sparse count %lld", (long long)index, (long long)count);
  int64_t positives = 0;
  for (int64_t e = 0; answer->plan != NULL && e < n * m; ++e) positives += answer->plan[e] > 0;
  if (answer->plan != NULL && positives != count)
    fuzz_fail("problem %lld: %lld sparse entries, %lld positive in the plan", (long long)index,
              (long long)count, (long long)positives);
  for (int64_t e = 0; e < count; ++e) {
    const int64_t i = answer->sparse_row[e], j = answer->sparse_col[e];
    if (i < 0 || i >= n || j < 0 || j >= m || !(answer->sparse_value[e] > 0))
      fuzz_fail("problem %lld: sparse entry %lld invalid", (long long)index, (long long)e);
    if (answer->plan != NULL && answer->sparse_value[e] != answer->plan[i * m + j])
      fuzz_fail("problem %lld: sparse entry %lld differs from the plan", (long long)index,
                (long long)e);
    if (e > 0 && answer->sparse_row[e - 1] * m + answer->sparse_col[e - 1] >= i * m + j)
      fuzz_fail("problem %lld: sparse entries out of order", (long long)index);
  }
}

void fuzz_check_emd_answer(const emd_instance *instance, const emd_answer *answer, int64_t index) {
  if (!isfinite(answer->cost))
    fuzz_fail("problem %lld: success with cost %g", (long long)index, answer->cost);
  const scales s = scales_of(instance);
  double primal_scale = 0, dual_scale = 0;
  if (answer->plan != NULL) {
    const double primal = check_plan(instance, answer->plan, s, index, &primal_scale);
    const double tol = relative_tol * fmax(fmax(primal_scale, s.largest_cost * s.sum_a), 1e-300);
    if (fabs(primal - answer->cost) > tol)
      fuzz_fail("problem %lld: cost %.17g but <G, M> = %.17g", (long long)index, answer->cost,
                primal);
  }
  if (answer->sparse_count != NULL) check_sparse(instance, answer, index);
  if (!answer->optimal || answer->u == NULL || answer->v == NULL) return;
  for (int64_t i = 0; i < instance->n; ++i)
    if (!isfinite(answer->u[i])) fuzz_fail("problem %lld: u not finite", (long long)index);
  for (int64_t j = 0; j < instance->m; ++j)
    if (!isfinite(answer->v[j])) fuzz_fail("problem %lld: v not finite", (long long)index);
  const double dual = check_duals(instance, answer, s, index, &dual_scale);
  const double tol =
      relative_tol * fmax(fmax(fmax(primal_scale, dual_scale), s.largest_cost * s.sum_a), 1e-300);
  if (fabs(dual - answer->cost) > tol)
    fuzz_fail("problem %lld: cost %.17g but the dual objective is %.17g", (long long)index,
              answer->cost, dual);
  if (answer->centred) check_centring(instance, answer, s, index);
}
