/* Private: what the normalize_total block calls (src/normalize_block_calls.c) share with the checks
 * of src/normalize.c and with their CPU loops (src/cpu/normalize_block_calls.c). */
#ifndef NORMOT_SRC_NORMALIZE_BLOCKS_H
#define NORMOT_SRC_NORMALIZE_BLOCKS_H

#include "context.h"
#include "validate_matrix.h"

/* normot_normalize_total's checks that need no pass over the data, for a block: pointers,
 * sizes, types (value_type is the output type), parameters, and host memory. */
normot_status normot_check_normalize_block(normot_context *context, const normot_matrix *X,
                                           const normot_normalize_params *params,
                                           normot_value_type value_type);

/* One block call, as the CPU loops read it. */
typedef struct normot_block_job {
  const normot_matrix *X; /* checked: indptr, indices and values may be read without care */
  normot_value_type out;
  const unsigned char *excluded; /* sums: genes left out (X->n_cols flags) or NULL */
  double *sums;                  /* sums: added to; scale: unused */
  int stop_on_nonfinite;         /* sums: add nothing if a row's sum is not finite */
  const double *totals;          /* exclusion and scale */
  double max_fraction;           /* exclusion */
  unsigned char *flags;          /* exclusion: X->n_cols flags set */
  double target;                 /* scale: the target in the output type */
  int log1p;                     /* scale */
  double log_divisor;            /* scale: log(log_base), or 0 for the natural log */
  void *out_values;              /* scale */
  void *out_size_factors;        /* scale: optional */
  int n_threads;
} normot_block_job;

/* The loops of src/cpu/normalize_block_calls.c, which is compiled twice on x86-64 like the
 * normalize passes (normalize_internal.h): for the baseline instruction set and with AVX2, where
 * the file defines the _avx2 names. Both give the same bytes. */
typedef struct normot_block_kernels {
  /* Each row's sum of the block (CSR, dense) added to sums[row]; or, for CSC, each entry added
   * to its row's sum in column order. Needs scratch for CSR and dense: returns
   * NORMOT_ERROR_OUT_OF_MEMORY (nothing added) without it. */
  normot_status (*sums)(const normot_block_job *job);
  /* Flags the genes whose value exceeds max_fraction times the cell's total (sets flags, never
   * clears them). Needs scratch for CSR and dense: returns NORMOT_ERROR_OUT_OF_MEMORY (nothing
   * flagged) without it. */
  normot_status (*exclusion)(const normot_block_job *job);
  /* The first row (CSR, dense) or column (CSC) whose results would not be finite, or -1. */
  int64_t (*first_nonfinite)(const normot_block_job *job);
  /* Scales the block; returns the number of zero totals among the rows it covers. */
  int64_t (*scale)(const normot_block_job *job);
} normot_block_kernels;

/* The AVX2 set where normot_cpu_use_avx2() says so, else the baseline set. */
const normot_block_kernels *normot_cpu_block_kernels(void);

normot_status normot_cpu_block_sums(const normot_block_job *job);
normot_status normot_cpu_block_exclusion(const normot_block_job *job);
int64_t normot_cpu_block_first_nonfinite(const normot_block_job *job);
int64_t normot_cpu_block_scale(const normot_block_job *job);
normot_status normot_cpu_block_sums_avx2(const normot_block_job *job);
normot_status normot_cpu_block_exclusion_avx2(const normot_block_job *job);
int64_t normot_cpu_block_first_nonfinite_avx2(const normot_block_job *job);
int64_t normot_cpu_block_scale_avx2(const normot_block_job *job);

#endif
