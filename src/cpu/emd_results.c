/* Weights in and results out, shared by the CPU EMD drivers (dense batches and sparse costs). */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "emd_solvers.h"

void emd_load_weights(const void *weights, int64_t offset, int64_t length, normot_value_type type,
                      double *out) {
  if (weights == NULL) {
    for (int64_t i = 0; i < length; ++i) out[i] = 1.0 / (double)length;
    return;
  }
  if (type == NORMOT_FLOAT64) {
    memcpy(out, (const double *)weights + offset, (size_t)length * sizeof(double));
  } else {
    const float *source = (const float *)weights + offset;
    for (int64_t i = 0; i < length; ++i) out[i] = source[i];
  }
}

void emd_rescale_to_mass(const double *a, int64_t n, double *b, int64_t m) {
  double sum_a = 0.0, sum_b = 0.0;
  for (int64_t i = 0; i < n; ++i) sum_a += a[i];
  for (int64_t j = 0; j < m; ++j) sum_b += b[j];
  if (sum_b == sum_a) return;
  for (int64_t j = 0; j < m; ++j) {
    double scaled = b[j] * sum_a / sum_b;
    /* a positive weight stays positive, so that the zero pattern is the input's */
    b[j] = scaled == 0.0 && b[j] > 0.0 ? DBL_TRUE_MIN : scaled;
  }
}

/* POT's center_ot_dual: shift so that sum a u = sum b v; the objective does not change. */
void emd_center_duals(double *u, double *v, const double *a, const double *b, int64_t n,
                      int64_t m) {
  double weighted = 0.0, mass = 0.0;
  for (int64_t j = 0; j < m; ++j) weighted += b[j] * v[j], mass += b[j];
  for (int64_t i = 0; i < n; ++i) weighted -= a[i] * u[i], mass += a[i];
  double shift = weighted / mass;
  for (int64_t i = 0; i < n; ++i) u[i] += shift;
  for (int64_t j = 0; j < m; ++j) v[j] -= shift;
}

static int compare_entries(const void *left, const void *right) {
  int64_t l = ((const emd_sparse_entry *)left)->key, r = ((const emd_sparse_entry *)right)->key;
  return (l > r) - (l < r);
}

void emd_write_sparse_plan(const emd_basic_solution *solution, int64_t m, emd_sparse_entry *scratch,
                           const emd_sparse_plan_view *plan) {
  int64_t count = 0;
  for (int64_t e = 0; e < solution->count; ++e)
    if (solution->flow[e] > 0.0) {
      scratch[count].key = (int64_t)solution->row[e] * m + solution->col[e];
      scratch[count++].value = solution->flow[e];
    }
  qsort(scratch, (size_t)count, sizeof *scratch, compare_entries);
  for (int64_t e = 0; e < count; ++e) {
    plan->row[e] = scratch[e].key / m;
    plan->col[e] = scratch[e].key % m;
    plan->value[e] = scratch[e].value;
  }
  *plan->count = count;
}
