/* normalize_total's passes over a CSC matrix (column-major: a cell's values are spread over all
 * columns).
 *
 * Every cell's total is summed in float64 in one fixed order whatever the thread count:
 * increasing column order, and the stored order within a column (the order of the CSR matrix that
 * Scanpy's CSC.tocsr() would build). Each row is summed by exactly one thread, which walks every
 * column for its own rows.
 *
 * When every column lists its rows in order (checked first), the rows are cut into blocks of
 * NORMOT_CSC_BLOCK_ROWS (normalize_csc.h), and the check records where each block starts in each
 * column. A block's totals, value ranges and size factors then stay in L2 while the block's slice
 * of every column is read: a block touches 256 KiB of size factors, where walking a column of a
 * million-row matrix whole gathers from all 8 MB of them. Otherwise (unsorted columns, or a table
 * that would be too large) each thread takes one range of rows for the totals, reads every index
 * and skips the rows of other threads, and the flags and the scaling walk chunks of whole
 * columns. */
#include "normalize_csc.h"

#include <math.h>
#include <stdlib.h>

#include "normalize_internal.h"

#if defined(NORMOT_KERNELS_AVX2)
#define CSC_NAME(name) name##_avx2
#else
#define CSC_NAME(name) name
#endif

/* Rows [r0, r1) of columns [c0, c1) and, per column, the slice of entries that holds them. */
typedef struct csc_block {
  int64_t r0, r1, c0, c1;
  const int64_t *starts, *ends; /* n_cols each, or NULL: walk the columns whole */
  int kept_only;                /* skip excluded columns (the recomputed totals) */
} csc_block;

/* Block b of a pass over n_blocks: a block of the table; else, for the totals, the b-th of
 * n_blocks equal row ranges over every column, and for the passes in which each value depends
 * only on its own row's numbers (flags, scaling), a chunk of whole columns. */
static csc_block csc_block_at(const normalize_job *job, int64_t b, int64_t n_blocks,
                              int column_chunks) {
  const normot_matrix *X = job->X;
  csc_block block = {0, X->n_rows, 0, X->n_cols, NULL, NULL, 0};
  if (column_chunks) {
    block.c0 = b * NORMOT_ROW_CHUNK;
    block.c1 = block.c0 + NORMOT_ROW_CHUNK < X->n_cols ? block.c0 + NORMOT_ROW_CHUNK : X->n_cols;
    return block;
  }
  if (job->csc->n_blocks > 0) {
    block.r0 = b * NORMOT_CSC_BLOCK_ROWS;
    block.r1 =
        block.r0 + NORMOT_CSC_BLOCK_ROWS < X->n_rows ? block.r0 + NORMOT_CSC_BLOCK_ROWS : X->n_rows;
    block.starts = job->csc->bounds + b * X->n_cols;
    block.ends = block.starts + X->n_cols;
    return block;
  }
  int64_t per = X->n_rows / n_blocks, extra = X->n_rows % n_blocks;
  block.r0 = per * b + (b < extra ? b : extra);
  block.r1 = block.r0 + per + (b < extra ? 1 : 0);
  return block;
}

/* Column c's entries to visit for the block: its slice, or the whole column. */
static NORMOT_ALWAYS_INLINE void csc_slice(const normot_matrix *X, csc_block block,
                                           normot_index_type idx, int64_t c, int64_t *start,
                                           int64_t *end) {
  if (block.starts != NULL) {
    *start = block.starts[c];
    *end = block.ends[c];
  } else {
    *start = normot_load_index(X->indptr, idx, c);
    *end = normot_load_index(X->indptr, idx, c + 1);
  }
}

/* Asks for the lines of elements [start, end) of an array of `size`-byte elements, into L2.
 * A block's slice of a column is a few KiB: too short for the hardware prefetcher to ramp up
 * before it ends, so the walks ask for the next column's slice while they work on this one. */
static NORMOT_ALWAYS_INLINE void csc_prefetch(const void *array, int64_t size, int64_t start,
                                              int64_t end, int for_write) {
#if defined(__GNUC__)
  const char *line = (const char *)array + start * size, *stop = (const char *)array + end * size;
  for (; line < stop; line += 64)
    if (for_write)
      __builtin_prefetch(line, 1, 2);
    else
      __builtin_prefetch(line, 0, 2);
#else
  (void)array, (void)size, (void)start, (void)end, (void)for_write;
#endif
}

/* Prefetches column c's slice of the block (the indices, the values, and the output when it
 * is not the input), when the block has slices and c is one of its columns. */
static NORMOT_ALWAYS_INLINE void csc_prefetch_column(const normalize_job *job, csc_block block,
                                                     normot_types t, int64_t c, int writes) {
  if (block.starts == NULL || c >= block.c1) return;
  const normot_matrix *X = job->X;
  const int64_t start = block.starts[c], end = block.ends[c];
  csc_prefetch(X->indices, t.idx == NORMOT_INDEX_INT32 ? 4 : 8, start, end, 0);
  csc_prefetch(X->values, normot_value_bytes(t.in), start, end, 0);
  if (writes && job->out_values != X->values)
    csc_prefetch(job->out_values, t.out == NORMOT_FLOAT32 ? 4 : 8, start, end, 1);
}

/* ---- pass 1: the index check, which records the block starts ------------------------------ */

/* Records where each block starts in column c (entries [start, end)) while checking its rows;
 * returns -1 at a row out of range (reported), else whether the rows are in order. */
static NORMOT_ALWAYS_INLINE int csc_check_column(const normalize_job *job, int64_t c,
                                                 normot_index_type idx,
                                                 normot_matrix_problem *problem) {
  const normot_matrix *X = job->X;
  const int64_t start = normot_load_index(X->indptr, idx, c);
  const int64_t end = normot_load_index(X->indptr, idx, c + 1);
  int64_t *bounds = job->csc->bounds;
  const int64_t n_blocks = job->csc->n_blocks > 0 ? job->csc->n_blocks : -1;
  int64_t previous = 0, block = 0, next_start = 0;
  int sorted = 1;
  for (int64_t j = start; j < end; ++j) {
    int64_t row = normot_load_index(X->indices, idx, j);
    if ((uint64_t)row >= (uint64_t)X->n_rows) {
      normot_check_indices(X, j, j + 1, c, problem);
      return -1;
    }
    sorted &= row >= previous;
    previous = row;
    /* Rows below n_rows keep `block` below n_blocks, sorted or not. */
    for (; n_blocks >= 0 && row >= next_start; next_start += NORMOT_CSC_BLOCK_ROWS)
      bounds[block++ * X->n_cols + c] = j;
  }
  for (; block <= n_blocks; ++block) bounds[block * X->n_cols + c] = end;
  return sorted;
}

static int csc_check_columns(const normalize_job *job, int64_t c0, int64_t c1,
                             normot_matrix_problem *problem) {
  int sorted = 1;
  for (int64_t c = c0; c < c1; ++c) {
    int found = job->index_type == NORMOT_INDEX_INT32
                    ? csc_check_column(job, c, NORMOT_INDEX_INT32, problem)
                    : csc_check_column(job, c, NORMOT_INDEX_INT64, problem);
    if (found < 0) return 0;
    sorted &= found;
  }
  return sorted;
}

/* Checks the row indices; returns whether every column lists its rows in order. */
static int csc_check_all_columns(const normalize_job *job, normot_matrix_problem *problem) {
  const normot_matrix *X = job->X;
  int sorted = 1;
#pragma omp parallel num_threads(job->n_threads) reduction(&& : sorted)
  {
    normot_matrix_problem local = normot_no_problem();
#pragma omp for schedule(dynamic, 1)
    for (int64_t c0 = 0; c0 < X->n_cols; c0 += NORMOT_ROW_CHUNK) {
      int64_t c1 = c0 + NORMOT_ROW_CHUNK < X->n_cols ? c0 + NORMOT_ROW_CHUNK : X->n_cols;
      if (local.status == NORMOT_SUCCESS) sorted = csc_check_columns(job, c0, c1, &local) && sorted;
    }
#pragma omp critical(normot_cpu_csc_merge)
    normot_merge_problem(problem, &local);
  }
  return sorted;
}

/* ---- pass 1: totals ------------------------------------------------------------------------ */

/* The first non-finite value among the block's rows, in column order, into *problem. */
static NORMOT_ALWAYS_INLINE void csc_find_nonfinite(const normalize_job *job, csc_block block,
                                                    normot_types t,
                                                    normot_matrix_problem *problem) {
  const normot_matrix *X = job->X;
  for (int64_t c = block.c0; c < block.c1; ++c) {
    int64_t start, end;
    csc_slice(X, block, t.idx, c, &start, &end);
    for (int64_t j = start; j < end; ++j) {
      int64_t row = normot_load_index(X->indices, t.idx, j);
      if (row < block.r0 || row >= block.r1) continue;
      if (!isfinite(normot_load_as_output(X->values, t.in, t.out, j))) {
        normot_check_finite(X->values, t.in, j, j + 1, c, problem);
        return;
      }
    }
  }
}

/* Adds column c's entries [start, end) that belong to the block into job->sums. A slice of the
 * table holds only the block's rows. */
static NORMOT_ALWAYS_INLINE void csc_add_entries(const normalize_job *job, csc_block block,
                                                 normot_types t, int64_t start, int64_t end) {
  const normot_matrix *X = job->X;
  double *sums = job->sums;
  const int filter = block.starts == NULL;
  for (int64_t j = start; j < end; ++j) {
    int64_t row = normot_load_index(X->indices, t.idx, j);
    if (filter && (row < block.r0 || row >= block.r1)) continue;
    sums[row] += normot_load_as_output(X->values, t.in, t.out, j);
  }
}

/* Folds column c's entries [start, end) of the block into their rows' value ranges. */
static NORMOT_ALWAYS_INLINE void csc_range_entries(const normalize_job *job, csc_block block,
                                                   normot_types t, int64_t start, int64_t end) {
  const normot_matrix *X = job->X;
  double *low = job->row_low, *high = job->row_high;
  for (int64_t j = start; j < end; ++j) {
    int64_t row = normot_load_index(X->indices, t.idx, j);
    if (row < block.r0 || row >= block.r1) continue;
    double v = normot_load_as_output(X->values, t.in, t.out, j);
    low[row] = v < low[row] ? v : low[row];
    high[row] = v > high[row] ? v : high[row];
  }
}

/* The exact value range of each of the block's rows (+Inf, -Inf for a row without values). */
static NORMOT_ALWAYS_INLINE void csc_exact_ranges(const normalize_job *job, csc_block block,
                                                  normot_types t) {
  for (int64_t r = block.r0; r < block.r1; ++r)
    job->row_low[r] = INFINITY, job->row_high[r] = -INFINITY;
  for (int64_t c = block.c0; c < block.c1; ++c) {
    int64_t start, end;
    csc_slice(job->X, block, t.idx, c, &start, &end);
    csc_range_entries(job, block, t, start, end);
  }
}

/* The totals of the block's rows over every column (but excluded ones when kept_only), in
 * column order. A non-finite value makes its row's total non-finite; only then is the block
 * searched for the first one. The value ranges (when results are checked) are per row on whole
 * column walks, but on a block of the table the block's range is given to each of its rows:
 * folding every value into its row's range costs two more random updates per value (measured:
 * 0.4 of the totals pass), where the block's range is a vector pass over contiguous slices. A
 * row's range lies within its block's, so a row that passes the results check with the block's
 * range passes with its own; blocks with a row that fails get their exact ranges
 * (normot_cpu_csc_exact_ranges) before the check decides. */
static NORMOT_ALWAYS_INLINE void csc_totals_block(const normalize_job *job, csc_block block,
                                                  normot_types t, normot_matrix_problem *problem) {
  const normot_matrix *X = job->X;
  const int ranges = job->row_low != NULL && !block.kept_only;
  double block_low = INFINITY, block_high = -INFINITY;
  for (int64_t r = block.r0; r < block.r1; ++r) job->sums[r] = 0.0;
  if (ranges && block.starts == NULL) csc_exact_ranges(job, block, t);
  for (int64_t c = block.c0; c < block.c1; ++c) {
    if (block.kept_only && job->excluded[c]) continue;
    csc_prefetch_column(job, block, t, c + 1, 0);
    int64_t start, end;
    csc_slice(X, block, t.idx, c, &start, &end);
    csc_add_entries(job, block, t, start, end);
    if (ranges && block.starts != NULL)
      normot_value_range(X->values, t, start, end, &block_low, &block_high);
  }
  int finite = 1;
  for (int64_t r = block.r0; r < block.r1; ++r) {
    finite &= isfinite(job->sums[r]) != 0;
    job->sums[r] = normot_round_to(t.out, job->sums[r]);
  }
  if (ranges && block.starts != NULL)
    for (int64_t r = block.r0; r < block.r1; ++r)
      job->row_low[r] = block_low, job->row_high[r] = block_high;
  if (!finite && job->check_values && !block.kept_only) csc_find_nonfinite(job, block, t, problem);
}

/* Flags column c's gene when one of the block's entries [start, end) exceeds max_fraction of its
 * row's total. */
static NORMOT_ALWAYS_INLINE void csc_flag_entries(const normalize_job *job, csc_block block,
                                                  normot_types t, int64_t c) {
  const normot_matrix *X = job->X;
  int64_t start, end;
  csc_slice(X, block, t.idx, c, &start, &end);
  for (int64_t j = start; j < end; ++j) {
    int64_t row = normot_load_index(X->indices, t.idx, j);
    if (row < block.r0 || row >= block.r1) continue;
    if (normot_load_as_output(X->values, t.in, t.out, j) > job->max_fraction * job->sums[row]) {
      /* Several blocks may flag one gene; they all write 1. */
#pragma omp atomic write
      job->excluded[c] = 1;
      return;
    }
  }
}

static NORMOT_ALWAYS_INLINE void csc_flag_block(const normalize_job *job, csc_block block,
                                                normot_types t) {
  for (int64_t c = block.c0; c < block.c1; ++c) csc_flag_entries(job, block, t, c);
}

/* ---- pass 2: scaling ------------------------------------------------------------------------ */

/* The block's entries divided by their rows' size factors (then log1p through memo unless it is
 * NULL): a true division in the output type, as on every other layout. */
static NORMOT_ALWAYS_INLINE void csc_scale_block(const normalize_job *job, csc_block block,
                                                 normot_types t, normot_log1p_memo *memo) {
  const normot_matrix *X = job->X;
  const double *factors = job->size_factors;
  const int filter = block.starts == NULL;
  for (int64_t c = block.c0; c < block.c1; ++c) {
    csc_prefetch_column(job, block, t, c + 1, 1);
    int64_t start, end;
    csc_slice(X, block, t.idx, c, &start, &end);
    for (int64_t j = start; j < end; ++j) {
      int64_t row = normot_load_index(X->indices, t.idx, j);
      if (filter && (row < block.r0 || row >= block.r1)) continue;
      normot_scale_store(job->out_values, t.out, j,
                         normot_load_as_output(X->values, t.in, t.out, j), factors[row], memo);
    }
  }
}

#if defined(__AVX2__)
/* csc_scale_block for float32 values with int32 indices and no log1p, on a block of the table:
 * eight values at a time, their factors gathered from `factors`, a float32 copy of the block's
 * (128 KiB, where the float64 ones would take twice the cache and twice the gathers; measured
 * 1.6x slower). Each lane is the same IEEE float32 division as the scalar loop, so the same
 * bytes. */
static void csc_scale_block_f32(const normalize_job *job, csc_block block, float *factors) {
  const normot_matrix *X = job->X;
  const float *in = X->values;
  const int32_t *rows = X->indices;
  float *out = job->out_values;
  for (int64_t r = block.r0; r < block.r1; ++r) factors[r - block.r0] = (float)job->size_factors[r];
  const __m256i first = _mm256_set1_epi32((int32_t)block.r0);
  const normot_types t = {NORMOT_FLOAT32, NORMOT_INDEX_INT32, NORMOT_FLOAT32};
  for (int64_t c = block.c0; c < block.c1; ++c) {
    csc_prefetch_column(job, block, t, c + 1, 1);
    int64_t j = block.starts[c];
    const int64_t end = block.ends[c];
    for (; j + 8 <= end; j += 8) {
      __m256i at = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(rows + j)), first);
      __m256 f = _mm256_i32gather_ps(factors, at, 4);
      _mm256_storeu_ps(out + j, _mm256_div_ps(_mm256_loadu_ps(in + j), f));
    }
    for (; j < end; ++j) out[j] = in[j] / factors[rows[j] - block.r0];
  }
}
#endif

/* ---- type dispatch and the passes -------------------------------------------------------- */

#define DISPATCH()                                                                  \
  do {                                                                              \
    switch (normot_job_combo(job)) { NORMOT_FOR_EACH_COMBO(CASE) default : break; } \
  } while (0)

static void csc_totals(const normalize_job *job, csc_block block, normot_matrix_problem *problem) {
#define CASE(IN, IDX, OUT)                                               \
  case NORMOT_COMBO(IN, IDX, OUT):                                       \
    csc_totals_block(job, block, (normot_types){IN, IDX, OUT}, problem); \
    break;
  DISPATCH();
#undef CASE
}

static void csc_ranges(const normalize_job *job, csc_block block) {
#define CASE(IN, IDX, OUT)                                      \
  case NORMOT_COMBO(IN, IDX, OUT):                              \
    csc_exact_ranges(job, block, (normot_types){IN, IDX, OUT}); \
    break;
  DISPATCH();
#undef CASE
}

static void csc_flags(const normalize_job *job, csc_block block) {
#define CASE(IN, IDX, OUT) \
  case NORMOT_COMBO(IN, IDX, OUT): csc_flag_block(job, block, (normot_types){IN, IDX, OUT}); break;
  DISPATCH();
#undef CASE
}

/* Scales a block; `factors` (NORMOT_CSC_BLOCK_ROWS floats, or NULL) is room for the AVX2 path. */
static void csc_scale(const normalize_job *job, csc_block block, normot_log1p_memo *memo,
                      float *factors) {
#if defined(__AVX2__)
  if (factors != NULL && memo == NULL && block.starts != NULL &&
      normot_job_combo(job) == NORMOT_COMBO(NORMOT_FLOAT32, NORMOT_INDEX_INT32, NORMOT_FLOAT32)) {
    csc_scale_block_f32(job, block, factors);
    return;
  }
#else
  (void)factors;
#endif
#define CASE(IN, IDX, OUT)                                             \
  case NORMOT_COMBO(IN, IDX, OUT):                                     \
    if (memo != NULL)                                                  \
      csc_scale_block(job, block, (normot_types){IN, IDX, OUT}, memo); \
    else                                                               \
      csc_scale_block(job, block, (normot_types){IN, IDX, OUT}, NULL); \
    break;
  DISPATCH();
#undef CASE
}

/* How many blocks a pass takes: the table's; else column chunks, or for the totals one row
 * range per thread (more would each read every index once more). */
static int64_t csc_pass_blocks(const normalize_job *job, int column_chunks) {
  if (job->csc->n_blocks > 0) return job->csc->n_blocks;
  if (column_chunks) return (job->X->n_cols + NORMOT_ROW_CHUNK - 1) / NORMOT_ROW_CHUNK;
  return job->n_threads > 0 ? job->n_threads : 1;
}

enum { CSC_TOTALS, CSC_KEPT_TOTALS, CSC_FLAGS };

/* One pass of `kind` over every block, scheduled dynamically. Every block runs to its first
 * problem and the earliest in the matrix is kept, so the report does not depend on the thread
 * count. */
static void csc_blocks_pass(const normalize_job *job, int kind, normot_matrix_problem *problem) {
  const int column_chunks = kind == CSC_FLAGS && job->csc->n_blocks == 0;
  const int64_t n_blocks = csc_pass_blocks(job, column_chunks);
#pragma omp parallel num_threads(job->n_threads)
  {
    normot_matrix_problem local = normot_no_problem();
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < n_blocks; ++b) {
      csc_block block = csc_block_at(job, b, n_blocks, column_chunks);
      block.kept_only = kind == CSC_KEPT_TOTALS;
      if (block.r0 == block.r1) continue;
      normot_matrix_problem found = normot_no_problem();
      if (kind == CSC_FLAGS)
        csc_flags(job, block);
      else
        csc_totals(job, block, &found);
      normot_merge_problem(&local, &found);
    }
#pragma omp critical(normot_cpu_csc_merge)
    normot_merge_problem(problem, &local);
  }
}

void CSC_NAME(normot_cpu_csc_totals)(const normalize_job *job, normot_matrix_problem *problem) {
  if (!csc_check_all_columns(job, problem)) job->csc->n_blocks = 0; /* the table is unusable */
  if (problem->status != NORMOT_SUCCESS) return;
  csc_blocks_pass(job, CSC_TOTALS, problem);
  if (problem->status != NORMOT_SUCCESS || !job->exclude) return;
  csc_blocks_pass(job, CSC_FLAGS, problem);
  csc_blocks_pass(job, CSC_KEPT_TOTALS, problem);
}

void CSC_NAME(normot_cpu_csc_exact_ranges)(const normalize_job *job, int64_t b) {
  csc_ranges(job, csc_block_at(job, b, job->csc->n_blocks, 0));
}

void CSC_NAME(normot_cpu_csc_scale)(const normalize_job *job) {
  const int column_chunks = job->csc->n_blocks == 0;
  const int64_t n_blocks = csc_pass_blocks(job, column_chunks);
#pragma omp parallel num_threads(job->n_threads)
  {
    normot_log1p_memo storage;
    normot_log1p_memo *memo = NULL;
    if (job->log1p) {
      normot_log1p_memo_init(&storage, job->out_type, job->log_base_divisor);
      memo = &storage;
    }
    /* Without this room (out of memory) the scalar loop does the same divisions. */
    float *factors = column_chunks ? NULL : malloc(NORMOT_CSC_BLOCK_ROWS * sizeof *factors);
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < n_blocks; ++b) {
      csc_block block = csc_block_at(job, b, n_blocks, column_chunks);
      if (block.r0 < block.r1) csc_scale(job, block, memo, factors);
    }
    free(factors);
  }
}
