/* The loops of the normalize_total block calls (src/normalize_block_calls.c). Each uses the same
 * per-value arithmetic as the whole-matrix passes (normalize_internal.h): the conversion to the
 * output type, the row total, the rounding, the size factor and the scaled value, so that a
 * matrix processed in blocks gives the same bytes as in one call. The block's contents were
 * checked before any of these run (or the caller chose not to check them).
 *
 * Compiled twice on x86-64 (CMakeLists.txt): the inner loops of rows are written without
 * branches on the values so that the AVX2 build runs them in vectors, and
 * normot_cpu_block_kernels picks the build at run time. */
#include "../normalize_block_calls.h"

#include <math.h>
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "normalize_internal.h"
#include "normalize_log1p_table.h"

#if defined(NORMOT_KERNELS_AVX2)
#define BLOCK_NAME(name) name##_avx2
#else
#define BLOCK_NAME(name) name
#endif

#define BLOCK_COMBO(in, idx, out) NORMOT_COMBO(in, idx, out)
/* Calls BODY's function specialised for the job's types; CASE is defined around each use. */
#define BLOCK_DISPATCH(job, in_type, idx_type)            \
  do {                                                    \
    switch (BLOCK_COMBO(in_type, idx_type, (job)->out)) { \
      NORMOT_FOR_EACH_COMBO(CASE) default : break;        \
    }                                                     \
  } while (0)

static normot_index_type index_type_of(const normot_matrix *X) {
  return X->layout == NORMOT_LAYOUT_DENSE ? NORMOT_INDEX_INT32 : X->index_type;
}

/* Rows of a CSR or dense block, columns of a CSC block. */
static int64_t major_count(const normot_matrix *X) {
  return X->layout == NORMOT_LAYOUT_CSC ? X->n_cols : X->n_rows;
}

static int64_t leading_dimension(const normot_matrix *X) {
  return X->ld > 0 ? X->ld : X->n_cols;
}

/* The values of row m (CSR, dense) or column m (CSC): [*start, *end). */
static NORMOT_ALWAYS_INLINE void major_range(const normot_matrix *X, normot_index_type idx,
                                             int64_t m, int64_t *start, int64_t *end) {
  if (X->layout == NORMOT_LAYOUT_DENSE) {
    *start = m * leading_dimension(X);
    *end = *start + X->n_cols;
  } else {
    *start = normot_load_index(X->indptr, idx, m);
    *end = normot_load_index(X->indptr, idx, m + 1);
  }
}

/* Rows (CSR, dense) or columns (CSC) [first, end) of a block. */
typedef struct span {
  int64_t first, end;
} span;

/* What the loop over a group of rows or columns does, with what it writes: the row sums, the
 * thread's own flags (NULL for CSC) or the thread's log1p memo (NULL without log1p). */
typedef enum { GROUP_SUMS, GROUP_EXCLUSION, GROUP_SCALE } group_kind;
typedef struct group_task {
  group_kind kind;
  double *row_sums;
  unsigned char *flags;
  normot_log1p_memo *memo;
} group_task;

/* The group of NORMOT_ROW_CHUNK rows or columns of n that starts at first, through the task's
 * loop specialised for the job's types (defined at the end of the file). The types are
 * dispatched here, inside the parallel loops: GCC outlines a parallel region into a function that
 * receives its variables at run time, so types fixed outside it would be switched on for every
 * value, and the loops would run neither specialised nor in vectors. */
static void run_group(const normot_block_job *job, const group_task *task, int64_t first,
                      int64_t n);

/* ---- sums ------------------------------------------------------------------------------- */

/* Row r's sum of the block, as the whole-matrix pass adds it: every value in order from 0.0, or,
 * with excluded genes, the kept values one by one. An excluded value is replaced by +0.0 rather
 * than skipped, which leaves the loop without a branch and the sum's bytes unchanged: the sum
 * starts at +0.0 and never becomes -0.0 (x + y is -0.0 only for two -0.0 under rounding to
 * nearest), and s + +0.0 is s for every other s, NaN and infinities included. */
static NORMOT_ALWAYS_INLINE double row_sum(const normot_block_job *job, int64_t r,
                                           normot_value_type in, normot_index_type idx,
                                           normot_value_type out) {
  const normot_matrix *X = job->X;
  int64_t start, end;
  major_range(X, idx, r, &start, &end);
  if (job->excluded == NULL) return normot_row_total(X->values, in, out, start, end);
  double sum = 0.0;
  for (int64_t j = start; j < end; ++j) {
    int64_t gene =
        X->layout == NORMOT_LAYOUT_CSR ? normot_load_index(X->indices, idx, j) : j - start;
    double value = normot_load_as_output(X->values, in, out, j);
    sum += job->excluded[gene] ? 0.0 : value;
  }
  return sum;
}

static NORMOT_ALWAYS_INLINE void row_sums_typed(const normot_block_job *job, double *row_sums,
                                                span g, normot_value_type in, normot_index_type idx,
                                                normot_value_type out) {
  for (int64_t r = g.first; r < g.end; ++r) row_sums[r] = row_sum(job, r, in, idx, out);
}

/* Column order, one chain of additions per row, as the whole-matrix CSC pass adds them. */
static NORMOT_ALWAYS_INLINE void csc_sums_typed(const normot_block_job *job, normot_value_type in,
                                                normot_index_type idx, normot_value_type out) {
  const normot_matrix *X = job->X;
  for (int64_t c = 0; c < X->n_cols; ++c) {
    if (job->excluded != NULL && job->excluded[c]) continue;
    int64_t end = normot_load_index(X->indptr, idx, c + 1);
    for (int64_t j = normot_load_index(X->indptr, idx, c); j < end; ++j)
      job->sums[normot_load_index(X->indices, idx, j)] +=
          normot_load_as_output(X->values, in, out, j);
  }
}

normot_status BLOCK_NAME(normot_cpu_block_sums)(const normot_block_job *job) {
  const normot_matrix *X = job->X;
  if (X->layout == NORMOT_LAYOUT_CSC) {
#define CASE(IN, IDX, OUT) \
  case BLOCK_COMBO(IN, IDX, OUT): csc_sums_typed(job, IN, IDX, OUT); break;
    BLOCK_DISPATCH(job, X->value_type, X->index_type);
#undef CASE
    return NORMOT_SUCCESS;
  }
  double *row_sums = malloc((size_t)(X->n_rows > 0 ? X->n_rows : 1) * sizeof *row_sums);
  if (row_sums == NULL) return NORMOT_ERROR_OUT_OF_MEMORY;
#pragma omp parallel for num_threads(job->n_threads) schedule(dynamic, 1)
  for (int64_t r0 = 0; r0 < X->n_rows; r0 += NORMOT_ROW_CHUNK)
    run_group(job, &(const group_task){GROUP_SUMS, row_sums, NULL, NULL}, r0, X->n_rows);
  for (int64_t r = 0; job->stop_on_nonfinite && r < X->n_rows; ++r)
    if (!isfinite(row_sums[r])) {
      free(row_sums);
      return NORMOT_ERROR_NONFINITE_VALUE;
    }
  for (int64_t r = 0; r < X->n_rows; ++r) job->sums[r] += row_sums[r];
  free(row_sums);
  return NORMOT_SUCCESS;
}

/* ---- exclusion -------------------------------------------------------------------------- */

static void flag(unsigned char *flags, int64_t gene) {
#pragma omp atomic write
  flags[gene] = 1;
}

/* Column m of a CSC block, flagged through atomic stores (threads share the flags). */
static NORMOT_ALWAYS_INLINE void flag_column(const normot_block_job *job, int64_t m,
                                             normot_value_type in, normot_index_type idx,
                                             normot_value_type out) {
  const normot_matrix *X = job->X;
  int64_t start, end;
  major_range(X, idx, m, &start, &end);
  for (int64_t j = start; j < end; ++j) {
    double total = job->totals[normot_load_index(X->indices, idx, j)];
    if (normot_load_as_output(X->values, in, out, j) > job->max_fraction * total)
      flag(job->flags, m);
  }
}

/* Row m of a CSR or dense block, flagged into `flags`, a thread's own: no atomics and no branch,
 * so that a dense row runs in vectors (nearly every row of counts has some gene above 5% of its
 * total, so the flagging loop, not a test before it, is what every row pays). A NaN exceeds
 * nothing. */
static NORMOT_ALWAYS_INLINE void flag_row(const normot_block_job *job, unsigned char *flags,
                                          int64_t m, normot_value_type in, normot_index_type idx,
                                          normot_value_type out) {
  const normot_matrix *X = job->X;
  int64_t start, end;
  major_range(X, idx, m, &start, &end);
  const double threshold = job->max_fraction * job->totals[m];
  if (X->layout == NORMOT_LAYOUT_DENSE) {
    for (int64_t j = start; j < end; ++j)
      flags[j - start] |= normot_load_as_output(X->values, in, out, j) > threshold;
    return;
  }
  for (int64_t j = start; j < end; ++j)
    flags[normot_load_index(X->indices, idx, j)] |=
        normot_load_as_output(X->values, in, out, j) > threshold;
}

/* mine: the thread's own n_cols flags, or NULL for CSC (shared flags). */
static NORMOT_ALWAYS_INLINE void exclusion_typed(const normot_block_job *job, unsigned char *mine,
                                                 span g, normot_value_type in,
                                                 normot_index_type idx, normot_value_type out) {
  for (int64_t m = g.first; m < g.end; ++m) {
    if (mine == NULL)
      flag_column(job, m, in, idx, out);
    else
      flag_row(job, mine, m, in, idx, out);
  }
}

/* Returns NORMOT_ERROR_OUT_OF_MEMORY (nothing flagged) when the per-thread flags of CSR and dense
 * blocks cannot be had. */
normot_status BLOCK_NAME(normot_cpu_block_exclusion)(const normot_block_job *job) {
  const normot_matrix *X = job->X;
  const int threads = job->n_threads > 0 ? job->n_threads : 1;
  unsigned char *per_thread = NULL;
  if (X->layout != NORMOT_LAYOUT_CSC) {
    per_thread = calloc((size_t)threads * (size_t)(X->n_cols > 0 ? X->n_cols : 1), 1);
    if (per_thread == NULL) return NORMOT_ERROR_OUT_OF_MEMORY;
  }
  const int64_t n_major = major_count(X);
#pragma omp parallel num_threads(threads)
  {
    int thread = 0;
#ifdef _OPENMP
    thread = omp_get_thread_num();
#endif
    unsigned char *mine = per_thread ? per_thread + (size_t)thread * (size_t)X->n_cols : NULL;
#pragma omp for schedule(dynamic, 1)
    for (int64_t m0 = 0; m0 < n_major; m0 += NORMOT_ROW_CHUNK)
      run_group(job, &(const group_task){GROUP_EXCLUSION, NULL, mine, NULL}, m0, n_major);
  }
  for (int t = 0; per_thread != NULL && t < threads; ++t)
    for (int64_t c = 0; c < X->n_cols; ++c) job->flags[c] |= per_thread[(size_t)t * X->n_cols + c];
  free(per_thread);
  return NORMOT_SUCCESS;
}

/* ---- scaling ---------------------------------------------------------------------------- */

/* A cell's size factor as the values are divided by it: 1 for a zero total. */
static double dividing_factor(const normot_block_job *job, int64_t row) {
  double factor = normot_size_factor(job->out, job->totals[row], job->target);
  return factor == 0.0 ? 1.0 : factor;
}

/* Whether every result of row or column m would be finite: the factor, and the scaled smallest
 * and largest values of a row (monotone, as in the whole-matrix check), or each value of a
 * column. */
static int results_finite(const normot_block_job *job, int64_t m) {
  const normot_matrix *X = job->X;
  normot_index_type idx = index_type_of(X);
  int64_t start, end;
  major_range(X, idx, m, &start, &end);
  if (X->layout == NORMOT_LAYOUT_CSC) {
    for (int64_t j = start; j < end; ++j) {
      double factor = dividing_factor(job, normot_load_index(X->indices, idx, j));
      double value = normot_load_as_output(X->values, X->value_type, job->out, j);
      if (!isfinite(factor) ||
          !isfinite(normot_scaled_value(job->out, value, factor, job->log1p, job->log_divisor)))
        return 0;
    }
    return 1;
  }
  double factor = dividing_factor(job, m);
  if (!isfinite(factor)) return 0;
  double low = INFINITY, high = -INFINITY;
  const normot_types types = {X->value_type, idx, job->out};
  normot_value_range(X->values, types, start, end, &low, &high);
  if (low > high) return 1;
  return isfinite(normot_scaled_value(job->out, low, factor, job->log1p, job->log_divisor)) &&
         isfinite(normot_scaled_value(job->out, high, factor, job->log1p, job->log_divisor));
}

int64_t BLOCK_NAME(normot_cpu_block_first_nonfinite)(const normot_block_job *job) {
  const int64_t n_major = major_count(job->X);
  int64_t first = INT64_MAX;
#pragma omp parallel for num_threads(job->n_threads) schedule(static) reduction(min : first)
  for (int64_t m = 0; m < n_major; ++m)
    if (m < first && !results_finite(job, m)) first = m;
  return first == INT64_MAX ? -1 : first;
}

/* Values [start, end) of a row divided by its factor (then log1p through memo unless it is NULL).
 * Two loops, so that the common case has no branch inside and runs in vectors. */
static NORMOT_ALWAYS_INLINE void scale_row(const normot_block_job *job, normot_value_type in,
                                           normot_value_type out, span values_of_row, double factor,
                                           normot_log1p_memo *memo) {
  const void *values = job->X->values;
  const int64_t start = values_of_row.first, end = values_of_row.end;
  if (memo == NULL) {
    for (int64_t j = start; j < end; ++j)
      normot_scale_store(job->out_values, out, j, normot_load_as_output(values, in, out, j), factor,
                         NULL);
    return;
  }
#if defined(NORMOT_HAVE_AVX512_KERNELS)
  if (normot_log1p_table_applies(in, out)) {
    normot_log1p_table_row(out, values, job->out_values, start, end - start, factor,
                           NORMOT_LOG1P_NO_HINTS, memo);
    return;
  }
#endif
  for (int64_t j = start; j < end; ++j)
    normot_scale_store(job->out_values, out, j, normot_load_as_output(values, in, out, j), factor,
                       memo);
}

/* A CSC column: each value divided by its own row's factor. */
static NORMOT_ALWAYS_INLINE void scale_column(const normot_block_job *job, normot_value_type in,
                                              normot_index_type idx, normot_value_type out,
                                              int64_t m, normot_log1p_memo *memo) {
  const normot_matrix *X = job->X;
  int64_t start, end;
  major_range(X, idx, m, &start, &end);
  for (int64_t j = start; j < end; ++j) {
    double factor = dividing_factor(job, normot_load_index(X->indices, idx, j));
    normot_scale_store(job->out_values, out, j, normot_load_as_output(X->values, in, out, j),
                       factor, memo);
  }
}

static NORMOT_ALWAYS_INLINE void scale_typed(const normot_block_job *job, normot_log1p_memo *memo,
                                             span g, normot_value_type in, normot_index_type idx,
                                             normot_value_type out) {
  for (int64_t m = g.first; m < g.end; ++m) {
    if (job->X->layout == NORMOT_LAYOUT_CSC) {
      scale_column(job, in, idx, out, m, memo);
      continue;
    }
    span row;
    major_range(job->X, idx, m, &row.first, &row.end);
    scale_row(job, in, out, row, dividing_factor(job, m), memo);
  }
}

int64_t BLOCK_NAME(normot_cpu_block_scale)(const normot_block_job *job) {
  const normot_matrix *X = job->X;
  const int64_t n_major = major_count(X);
#pragma omp parallel num_threads(job->n_threads)
  {
    normot_log1p_memo storage; /* one per thread: it changes only the speed */
    normot_log1p_memo_init(&storage, job->out, job->log_divisor);
    normot_log1p_memo *memo = job->log1p ? &storage : NULL;
    if (memo != NULL && X->layout != NORMOT_LAYOUT_CSC)
      normot_log1p_memo_add_tables(memo, X->value_type, job->out);
#pragma omp for schedule(dynamic, 1)
    for (int64_t m0 = 0; m0 < n_major; m0 += NORMOT_ROW_CHUNK)
      run_group(job, &(const group_task){GROUP_SCALE, NULL, NULL, memo}, m0, n_major);
    if (memo != NULL) normot_log1p_memo_drop_tables(memo);
  }
  /* The rows whose totals this block was given: its own, or every cell for CSC. */
  int64_t n_rows = X->n_rows, zero_cells = 0;
  for (int64_t r = 0; r < n_rows; ++r) {
    double factor = normot_size_factor(job->out, job->totals[r], job->target);
    zero_cells += factor == 0.0;
    if (job->out_size_factors != NULL)
      normot_store_as_output(job->out_size_factors, job->out, r, factor);
  }
  return zero_cells;
}

/* ---- groups ----------------------------------------------------------------------------- */

static NORMOT_ALWAYS_INLINE void group_typed(const normot_block_job *job, const group_task *task,
                                             span g, normot_value_type in, normot_index_type idx,
                                             normot_value_type out) {
  switch (task->kind) {
    case GROUP_SUMS: row_sums_typed(job, task->row_sums, g, in, idx, out); break;
    case GROUP_EXCLUSION: exclusion_typed(job, task->flags, g, in, idx, out); break;
    case GROUP_SCALE: scale_typed(job, task->memo, g, in, idx, out); break;
  }
}

static void run_group(const normot_block_job *job, const group_task *task, int64_t first,
                      int64_t n) {
  const span g = {first, n - first > NORMOT_ROW_CHUNK ? first + NORMOT_ROW_CHUNK : n};
#define CASE(IN, IDX, OUT) \
  case BLOCK_COMBO(IN, IDX, OUT): group_typed(job, task, g, IN, IDX, OUT); break;
  BLOCK_DISPATCH(job, job->X->value_type, index_type_of(job->X));
#undef CASE
}

#if !defined(NORMOT_KERNELS_AVX2)
#include "cpu_features.h"

static const normot_block_kernels baseline_block_kernels = {
    normot_cpu_block_sums, normot_cpu_block_exclusion, normot_cpu_block_first_nonfinite,
    normot_cpu_block_scale};

#if defined(NORMOT_HAVE_AVX2_KERNELS)
static const normot_block_kernels avx2_block_kernels = {
    normot_cpu_block_sums_avx2, normot_cpu_block_exclusion_avx2,
    normot_cpu_block_first_nonfinite_avx2, normot_cpu_block_scale_avx2};
#endif

const normot_block_kernels *normot_cpu_block_kernels(void) {
#if defined(NORMOT_HAVE_AVX2_KERNELS)
  if (normot_cpu_use_avx2()) return &avx2_block_kernels;
#endif
  return &baseline_block_kernels;
}
#endif
