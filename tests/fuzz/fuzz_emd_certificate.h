/* The optimality certificate of an EMD answer (docs/emd_semantics.md, "Accuracy"), in float64:
 * a feasible plan (marginals to 1e-9 of the mass, b rescaled to the mass of a), dual
 * feasibility and complementary slackness to 1e-9 of max|M|, cost = <G, M> = sum a u + sum b v,
 * a sparse plan that lists exactly the plan's positive entries in row-major order, and, when
 * the duals were centred, sum a u = sum b v (POT's center_ot_dual). */
#ifndef NORMOT_FUZZ_EMD_CERTIFICATE_H
#define NORMOT_FUZZ_EMD_CERTIFICATE_H

#include <stdint.h>

/* One problem as the solver sees it. */
typedef struct emd_instance {
  int64_t n, m;
  const double *a;    /* n weights */
  const double *b;    /* m weights (rescaled here to the mass of a) */
  const double *cost; /* n x m */
} emd_instance;

/* What normot_emd returned for it; NULL pointers were not asked for. */
typedef struct emd_answer {
  double cost;
  const double *plan;
  const double *u, *v;
  const int64_t *sparse_row, *sparse_col, *sparse_count;
  const double *sparse_value;
  int optimal; /* 1: the certificate must hold; 0: only a feasible plan is promised */
  int centred; /* params.center_duals: sum a u = sum b v too */
} emd_answer;

/* Fails (fuzz_fail) naming problem `index` when the answer breaks the certificate. */
void fuzz_check_emd_answer(const emd_instance *instance, const emd_answer *answer, int64_t index);

#endif
