/* Rows of a problem's cost, from a dense float64 matrix or computed from point clouds (see
 * emd_solvers.h). The point-cloud distances are summed over the coordinates in order from 0,
 * exactly as the dense path computes its cost matrix, so both give the same bits. */
#include <math.h>

#include "emd_solvers.h"

void emd_cost_row(const emd_cost_source *source, int32_t i, double *out) {
  const int32_t m = source->m;
  if (source->cost != NULL) {
    const double *row = source->cost + (size_t)i * m;
    for (int32_t j = 0; j < m; ++j) out[j] = row[j];
    return;
  }
  for (int32_t j = 0; j < m; ++j) out[j] = 0.0;
  for (int32_t d = 0; d < source->dim; ++d) {
    const double xd = source->x[(size_t)i * source->dim + d];
    const double *yd = source->y_by_dim + (size_t)d * m;
    for (int32_t j = 0; j < m; ++j) {
      double diff = xd - yd[j];
      out[j] += diff * diff;
    }
  }
  if (source->euclidean)
    for (int32_t j = 0; j < m; ++j) out[j] = sqrt(out[j]);
}

double emd_cost_at(const emd_cost_source *source, int32_t i, int32_t j) {
  if (source->cost != NULL) return source->cost[(size_t)i * source->m + j];
  double total = 0.0;
  for (int32_t d = 0; d < source->dim; ++d) {
    double diff =
        source->x[(size_t)i * source->dim + d] - source->y_by_dim[(size_t)d * source->m + j];
    total += diff * diff;
  }
  return source->euclidean ? sqrt(total) : total;
}
