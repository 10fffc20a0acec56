/* bench_normalize's cases: one matrix per layout and value type built from the synthetic CSR
 * counts, and the timing loop that measures a case against its stream floor. */
#ifndef NORMOT_BENCH_NORMALIZE_CASES_H
#define NORMOT_BENCH_NORMALIZE_CASES_H

#include <stddef.h>
#include <stdint.h>

#include "normot/normot.h"
#include "synthetic.h"

typedef struct bench_case_settings {
  int repeats;
  double target_sum;
  int threads;
  uint64_t seed;
} bench_case_settings;

typedef struct bench_case {
  char name[32];        /* e.g. csr_f32_median */
  const char *layout;   /* csr, csc, dense */
  normot_matrix view;   /* over `values` */
  void *values;         /* normalized in place by each run */
  const void *pristine; /* restored into `values` before each run */
  size_t value_bytes;   /* of `values` */
  double index_bytes;   /* row indices a CSC pass reads (0 for CSR and dense) */
  int use_target_sum, log1p;
  int out_of_place; /* the run reads `pristine` and writes `values` */
  normot_value_type value_type;
  void *owned[4]; /* what bench_case_free releases */
} bench_case;

/* Whether `name` is an item of the comma-separated `list`. */
int bench_case_listed(const char *list, const char *name);

/* Builds case `name` (median, target_sum, log1p, f64_median, f64_target_sum, csc_median,
 * dense_median, dense_target_sum, out_median, out_target_sum) over `matrix`, which must stay alive
 * and unchanged. Returns 0, or 1 when out of memory or for an unknown name. */
int bench_case_build(const char *name, const synth_csr *matrix, bench_case *c);
void bench_case_free(bench_case *c);

/* Times the case (warm-up + settings->repeats runs, interleaved with a copy and a read of its
 * values), prints its JSON line and returns non-zero when normalize_total failed. */
int bench_case_run(normot_context *context, const bench_case_settings *settings, bench_case *c);

#endif
