/* The loops of the normalize_total block calls (src/normalize_block_calls.c). Each uses the same
 * per-value arithmetic as the whole-matrix passes (normalize_internal.h): the conversion to the
 * output type, the row total, the rounding, the size factor and the scaled value, so that a
 * matrix processed in blocks gives the same bytes as in one call. The block's contents were
 * checked before any of these run. */
#include "../normalize_block_calls.h"

#include <math.h>
#include <stdlib.h>

#include "normalize_internal.h"
#include "normalize_log1p_table.h"

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

/* ---- sums ------------------------------------------------------------------------------- */

/* Row r's sum of the block, as the whole-matrix pass adds it: every value in order from 0.0, or,
 * with excluded genes, the kept values one by one. */
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
    if (!job->excluded[gene]) sum += normot_load_as_output(X->values, in, out, j);
  }
  return sum;
}

static NORMOT_ALWAYS_INLINE void row_sums_typed(const normot_block_job *job, double *row_sums,
                                                normot_value_type in, normot_index_type idx,
                                                normot_value_type out) {
#pragma omp parallel for num_threads(job->n_threads) schedule(dynamic, NORMOT_ROW_CHUNK)
  for (int64_t r = 0; r < job->X->n_rows; ++r) row_sums[r] = row_sum(job, r, in, idx, out);
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

normot_status normot_cpu_block_sums(const normot_block_job *job) {
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
#define CASE(IN, IDX, OUT) \
  case BLOCK_COMBO(IN, IDX, OUT): row_sums_typed(job, row_sums, IN, IDX, OUT); break;
  BLOCK_DISPATCH(job, X->value_type, index_type_of(X));
#undef CASE
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

static NORMOT_ALWAYS_INLINE void exclusion_typed(const normot_block_job *job, normot_value_type in,
                                                 normot_index_type idx, normot_value_type out) {
  const normot_matrix *X = job->X;
  const int by_column = X->layout == NORMOT_LAYOUT_CSC;
#pragma omp parallel for num_threads(job->n_threads) schedule(dynamic, NORMOT_ROW_CHUNK)
  for (int64_t m = 0; m < major_count(X); ++m) {
    int64_t start, end;
    major_range(X, idx, m, &start, &end);
    for (int64_t j = start; j < end; ++j) {
      int64_t other =
          X->layout == NORMOT_LAYOUT_DENSE ? j - start : normot_load_index(X->indices, idx, j);
      double total = job->totals[by_column ? other : m];
      if (normot_load_as_output(X->values, in, out, j) > job->max_fraction * total)
        flag(job->flags, by_column ? m : other);
    }
  }
}

void normot_cpu_block_exclusion(const normot_block_job *job) {
#define CASE(IN, IDX, OUT) \
  case BLOCK_COMBO(IN, IDX, OUT): exclusion_typed(job, IN, IDX, OUT); break;
  BLOCK_DISPATCH(job, job->X->value_type, index_type_of(job->X));
#undef CASE
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

int64_t normot_cpu_block_first_nonfinite(const normot_block_job *job) {
  const int64_t n_major = major_count(job->X);
  int64_t first = INT64_MAX;
#pragma omp parallel for num_threads(job->n_threads) schedule(static) reduction(min : first)
  for (int64_t m = 0; m < n_major; ++m)
    if (m < first && !results_finite(job, m)) first = m;
  return first == INT64_MAX ? -1 : first;
}

static NORMOT_ALWAYS_INLINE void scale_typed(const normot_block_job *job, normot_value_type in,
                                             normot_index_type idx, normot_value_type out) {
  const normot_matrix *X = job->X;
  const int by_column = X->layout == NORMOT_LAYOUT_CSC;
  const int64_t n_major = major_count(X);
#pragma omp parallel num_threads(job->n_threads)
  {
    normot_log1p_memo storage; /* one per thread: it changes only the speed */
    normot_log1p_memo_init(&storage, out, job->log_divisor);
    normot_log1p_memo *memo = job->log1p ? &storage : NULL;
#if defined(NORMOT_HAVE_AVX512_KERNELS)
    /* Rows only: a column's values have a factor each. */
    const int tables = memo != NULL && !by_column && normot_log1p_table_applies(in, out);
#endif
#pragma omp for schedule(dynamic, NORMOT_ROW_CHUNK)
    for (int64_t m = 0; m < n_major; ++m) {
      double factor = by_column ? 1.0 : dividing_factor(job, m);
      int64_t start, end;
      major_range(X, idx, m, &start, &end);
#if defined(NORMOT_HAVE_AVX512_KERNELS)
      if (tables) {
        normot_log1p_table_row(out, X->values, job->out_values, start, end - start, factor, memo);
        continue;
      }
#endif
      for (int64_t j = start; j < end; ++j) {
        if (by_column) factor = dividing_factor(job, normot_load_index(X->indices, idx, j));
        const double value = normot_load_as_output(X->values, in, out, j);
        normot_scale_store(job->out_values, out, j, value, factor, memo);
      }
    }
  }
}

int64_t normot_cpu_block_scale(const normot_block_job *job) {
  const normot_matrix *X = job->X;
#define CASE(IN, IDX, OUT) \
  case BLOCK_COMBO(IN, IDX, OUT): scale_typed(job, IN, IDX, OUT); break;
  BLOCK_DISPATCH(job, X->value_type, index_type_of(X));
#undef CASE
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
