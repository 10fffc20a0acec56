/* How normalize_total splits a CSC matrix whose columns list their rows in order: into blocks of
 * NORMOT_CSC_BLOCK_ROWS rows, each summed and scaled over every column while its per-row arrays
 * (totals, value ranges, size factors) stay in L2. Where each block starts in each column is
 * recorded while the row indices are checked, so no pass searches for it. */
#ifndef NORMOT_SRC_CPU_NORMALIZE_CSC_H
#define NORMOT_SRC_CPU_NORMALIZE_CSC_H

#include <stdint.h>

#include "normalize_internal.h"

/* 8192 rows: the totals pass keeps 24 bytes per row (total, smallest and largest value), 192 KiB,
 * within every x86 L2; the scaling pass 8 (the size factor). */
enum { NORMOT_CSC_BLOCK_ROWS = 32768 };

typedef struct csc_blocking {
  /* 0: the columns are walked whole (no table, or the totals pass found a column whose rows
   * are out of order and set it to 0). Above 0 after the totals pass, job->row_low and
   * job->row_high hold each block's value range in all its rows, until
   * normot_cpu_csc_exact_ranges replaces it by the rows' own. */
  int64_t n_blocks;
  /* (n_blocks + 1) x n_cols: bounds[b * n_cols + c] is the first entry of column c whose row is
   * at least b * NORMOT_CSC_BLOCK_ROWS */
  int64_t *bounds;
} csc_blocking;

/* How many row blocks a CSC matrix is split into, or 0 when the table of block starts would not
 * pay for itself: more than one entry per 4 stored values means blocks of a handful of values
 * per column, where the table costs more memory traffic than it saves. */
static inline int64_t normot_csc_block_count(const normot_matrix *X) {
  /* No columns: no table to point into (and nothing to walk). */
  if (X->layout != NORMOT_LAYOUT_CSC || X->n_rows == 0 || X->n_cols == 0) return 0;
  const int64_t n_blocks = (X->n_rows + NORMOT_CSC_BLOCK_ROWS - 1) / NORMOT_CSC_BLOCK_ROWS;
  const int64_t allowed = X->nnz / 4 > 65536 ? X->nnz / 4 : 65536;
  return X->n_cols <= allowed / (n_blocks + 1) ? n_blocks : 0;
}

/* The CSC passes (normalize_csc.c, compiled like normalize_totals.c and normalize_scale.c once
 * per instruction set): pass 1 for CSC, called by normot_cpu_normalize_totals, and pass 2. */
void normot_cpu_csc_totals(const normalize_job *job, normot_matrix_problem *problem);
void normot_cpu_csc_totals_avx2(const normalize_job *job, normot_matrix_problem *problem);
/* The exact value range of each row of block b of the table (the totals pass gives each row its
 * block's range): job->row_low and job->row_high. */
void normot_cpu_csc_exact_ranges(const normalize_job *job, int64_t b);
void normot_cpu_csc_exact_ranges_avx2(const normalize_job *job, int64_t b);
void normot_cpu_csc_scale(const normalize_job *job);
void normot_cpu_csc_scale_avx2(const normalize_job *job);

#endif
