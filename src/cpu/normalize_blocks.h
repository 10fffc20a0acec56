/* How the row-wise passes (CSR and dense) split the matrix: into blocks of about the same number
 * of stored values, whatever the row lengths, so that threads get equal work from a dynamic
 * schedule and a block's bookkeeping is paid per ~128 KiB of values, not per row; and each block
 * into groups of whole rows small enough to stay in cache between the sum of a row and its
 * scaling. Every row belongs to exactly one block, and every result depends only on its own row,
 * so the split never changes a byte (the same for any thread count). */
#ifndef NORMOT_SRC_CPU_NORMALIZE_BLOCKS_H
#define NORMOT_SRC_CPU_NORMALIZE_BLOCKS_H

#include <stdint.h>

#include "normalize_internal.h"

enum {
  NORMOT_BLOCK_VALUES = 1 << 15, /* values per block (a whole row may make one longer) */
  NORMOT_GROUP_VALUES = 1 << 11, /* a group's values stay in L1 between its two passes */
  NORMOT_GROUP_ROWS = 512        /* and its per-row factors fit on the stack */
};

/* Rows [r0, r1), whose values are [v0, v1) for CSR (for dense, rows r0 * ld ...). */
typedef struct row_range {
  int64_t r0, r1, v0, v1;
} row_range;

/* Where row r starts (CSR: indptr[r]; dense: r * ld). */
static NORMOT_ALWAYS_INLINE int64_t normot_row_start(const normot_matrix *X, normot_index_type idx,
                                                     int64_t r) {
  return X->layout == NORMOT_LAYOUT_CSR ? normot_load_index(X->indptr, idx, r) : r * X->ld;
}

/* Where row r ends (one past its last value). */
static NORMOT_ALWAYS_INLINE int64_t normot_row_end(const normot_matrix *X, normot_index_type idx,
                                                   int64_t r) {
  return X->layout == NORMOT_LAYOUT_CSR ? normot_load_index(X->indptr, idx, r + 1)
                                        : r * X->ld + X->n_cols;
}

/* Dense rows per block (at least 1). */
static inline int64_t normot_dense_block_rows(const normot_matrix *X) {
  int64_t rows = NORMOT_BLOCK_VALUES / (X->n_cols > 0 ? X->n_cols : 1);
  return rows > 0 ? rows : 1;
}

/* How many blocks the row-wise passes split X into. CSR: one per NORMOT_BLOCK_VALUES stored
 * values, plus one for the rows that start at nnz (the last block may be empty). */
static inline int64_t normot_block_count(const normot_matrix *X) {
  if (X->layout == NORMOT_LAYOUT_CSR) return X->nnz / NORMOT_BLOCK_VALUES + 1;
  int64_t rows = normot_dense_block_rows(X);
  return (X->n_rows + rows - 1) / rows;
}

/* The first row that starts at or after value v (indptr checked monotone before). */
static inline int64_t normot_csr_first_row_from(const normot_matrix *X, int64_t v) {
  int64_t low = 0, high = X->n_rows;
  while (low < high) {
    int64_t mid = low + (high - low) / 2;
    if (normot_load_index(X->indptr, X->index_type, mid) < v)
      low = mid + 1;
    else
      high = mid;
  }
  return low;
}

/* The rows of block b: for CSR, those whose first value lies in the block's value range. */
static inline row_range normot_block_rows(const normot_matrix *X, int64_t b) {
  row_range block;
  if (X->layout == NORMOT_LAYOUT_CSR) {
    const int64_t last = normot_block_count(X) - 1;
    block.r0 = normot_csr_first_row_from(X, b * (int64_t)NORMOT_BLOCK_VALUES);
    block.r1 = b == last ? X->n_rows : normot_csr_first_row_from(X, (b + 1) * NORMOT_BLOCK_VALUES);
  } else {
    const int64_t rows = normot_dense_block_rows(X);
    block.r0 = b * rows;
    block.r1 = block.r0 + rows < X->n_rows ? block.r0 + rows : X->n_rows;
  }
  block.v0 = block.r0 < block.r1 ? normot_row_start(X, X->index_type, block.r0) : 0;
  block.v1 = block.r0 < block.r1 ? normot_row_end(X, X->index_type, block.r1 - 1) : 0;
  return block;
}

/* The group of whole rows that starts at row r0 of a block ending at row `end`: as many rows as
 * fit NORMOT_GROUP_VALUES values and NORMOT_GROUP_ROWS rows, at least one. */
static NORMOT_ALWAYS_INLINE row_range normot_next_group(const normot_matrix *X,
                                                        normot_index_type idx, int64_t r0,
                                                        int64_t end) {
  row_range group;
  group.r0 = r0;
  group.v0 = normot_row_start(X, idx, r0);
  group.r1 = r0 + 1;
  group.v1 = normot_row_end(X, idx, r0);
  const int64_t row_limit = end - r0 < NORMOT_GROUP_ROWS ? end : r0 + NORMOT_GROUP_ROWS;
  while (group.r1 < row_limit) {
    int64_t next_end = normot_row_end(X, idx, group.r1);
    if (next_end - group.v0 > NORMOT_GROUP_VALUES) break;
    group.v1 = next_end;
    ++group.r1;
  }
  return group;
}

#endif
