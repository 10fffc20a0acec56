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

int emd_solution_store_create(emd_solution_store *store, int64_t k, int64_t n, int64_t m) {
  const size_t slots = (size_t)k * (size_t)(n + m);
  memset(store, 0, sizeof *store);
  store->n = n, store->m = m;
  store->row = malloc(slots * sizeof(int32_t));
  store->col = malloc(slots * sizeof(int32_t));
  store->flow = malloc(slots * sizeof(double));
  store->u = malloc((size_t)k * (size_t)n * sizeof(double));
  store->v = malloc((size_t)k * (size_t)m * sizeof(double));
  store->count = calloc((size_t)k, sizeof(int64_t));
  store->iterations = calloc((size_t)k, sizeof(int64_t));
  store->status = calloc((size_t)k, sizeof(int));
  if (store->row && store->col && store->flow && store->u && store->v && store->count &&
      store->iterations && store->status)
    return 1;
  emd_solution_store_free(store);
  return 0;
}

void emd_solution_store_free(emd_solution_store *store) {
  free(store->row), free(store->col), free(store->flow), free(store->u), free(store->v);
  free(store->count), free(store->iterations), free(store->status);
  memset(store, 0, sizeof *store);
}

emd_basic_solution emd_solution_store_slot(const emd_solution_store *store, int64_t p) {
  const int64_t arcs = p * (store->n + store->m);
  emd_basic_solution slot = {store->row + arcs,    store->col + arcs,       store->flow + arcs,
                             store->count[p],      store->u + p * store->n, store->v + p * store->m,
                             store->iterations[p], store->status[p]};
  return slot;
}

void emd_solution_store_save(const emd_solution_store *store, int64_t p,
                             const emd_basic_solution *solution) {
  store->count[p] = solution->count;
  store->iterations[p] = solution->iterations;
  store->status[p] = solution->status;
}
