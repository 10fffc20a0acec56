/* Weights in and results out, shared by the CPU EMD drivers (dense batches and sparse costs). */
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
