/* Pass 1 of normalize_total on the CPU: content checks fused with the per-cell totals, and the
 * exclusion of highly expressed genes.
 *
 * Every cell's total is summed in float64 in one fixed order whatever the thread count: the
 * stored order for CSR, increasing column order for dense and CSC (the order of the CSR matrix
 * that Scanpy's CSC.tocsr() would build). CSC is column-major, so each thread takes a block of
 * rows and walks every column, adding only its own rows: each row is then summed by exactly one
 * thread in column order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "normalize_internal.h"

static void flag_gene(unsigned char *excluded, int64_t gene) {
#pragma omp atomic write
  excluded[gene] = 1;
}

static int compare_genes(const void *left, const void *right) {
  int64_t l = *(const int64_t *)left, r = *(const int64_t *)right;
  return (l > r) - (l < r);
}

static int gene_is_excluded(const normalize_job *job, int64_t gene) {
  if (job->sparse_excluded == NULL) return job->excluded[gene];
  const int64_t *genes = job->sparse_excluded->genes;
  int64_t low = 0, high = job->sparse_excluded->count;
  while (low < high) {
    int64_t mid = low + (high - low) / 2;
    if (genes[mid] < gene)
      low = mid + 1;
    else
      high = mid;
  }
  return low < job->sparse_excluded->count && genes[low] == gene;
}

/* The sorted, unique genes of the flagged entries of a CSR matrix. */
static void collect_sparse_exclusion(const normalize_job *job) {
  sparse_exclusion *exclusion = job->sparse_excluded;
  const normot_matrix *X = job->X;
  int64_t count = 0;
  if (X->layout == NORMOT_LAYOUT_CSR)
    for (int64_t j = 0; j < X->nnz; ++j)
      if (exclusion->entry_flags[j])
        exclusion->genes[count++] = normot_load_index(X->indices, X->index_type, j);
  qsort(exclusion->genes, (size_t)count, sizeof *exclusion->genes, compare_genes);
  int64_t unique = 0;
  for (int64_t e = 0; e < count; ++e)
    if (unique == 0 || exclusion->genes[unique - 1] != exclusion->genes[e])
      exclusion->genes[unique++] = exclusion->genes[e];
  exclusion->count = unique;
}

/* Row r's smallest and largest value, read while the row is in cache. */
static NORMOT_ALWAYS_INLINE void record_row_range(const normalize_job *job, int64_t r,
                                                  const void *values, normot_value_type in,
                                                  normot_value_type out, int64_t start,
                                                  int64_t end) {
  job->row_low[r] = INFINITY;
  job->row_high[r] = -INFINITY;
  normot_value_range(values, in, out, start, end, &job->row_low[r], &job->row_high[r]);
}

/* ---- CSR --------------------------------------------------------------------------------- */

static NORMOT_ALWAYS_INLINE void csr_totals_rows(const normalize_job *job, int64_t r0, int64_t r1,
                                                 normot_value_type in, normot_index_type idx,
                                                 normot_value_type out,
                                                 normot_matrix_problem *problem) {
  const normot_matrix *X = job->X;
  const void *values = X->values;
  for (int64_t r = r0; r < r1; ++r) {
    int64_t start = normot_load_index(X->indptr, idx, r);
    int64_t end = normot_load_index(X->indptr, idx, r + 1);
    if (!normot_indptr_step_ok(start, end, X->nnz)) {
      normot_check_indptr_steps(X->indptr, idx, r, r + 1, X->nnz, problem);
      return;
    }
    if (job->exclude) { /* indices are read only when genes are excluded */
      normot_check_indices(X->indices, idx, start, end, X->n_cols, r, problem);
      if (problem->status != NORMOT_SUCCESS) return;
    }
    double sum = normot_row_total(values, in, out, start, end);
    /* A NaN or Inf among the values makes the sum non-finite; only then look for it. */
    if (job->check_values && !isfinite(sum)) {
      normot_check_finite(values, in, start, end, r, problem);
      if (problem->status != NORMOT_SUCCESS) return;
    }
    double total = normot_round_to(out, sum);
    job->sums[r] = total;
    if (job->row_low != NULL) record_row_range(job, r, values, in, out, start, end);
    if (job->exclude) {
      double threshold = job->max_fraction * total;
      if (job->sparse_excluded != NULL)
        for (int64_t j = start; j < end; ++j)
          job->sparse_excluded->entry_flags[j] =
              normot_load_as_output(values, in, out, j) > threshold;
      else
        for (int64_t j = start; j < end; ++j)
          if (normot_load_as_output(values, in, out, j) > threshold)
            flag_gene(job->excluded, normot_load_index(X->indices, idx, j));
    }
  }
}

static NORMOT_ALWAYS_INLINE void csr_kept_totals_rows(const normalize_job *job, int64_t r0,
                                                      int64_t r1, normot_value_type in,
                                                      normot_index_type idx,
                                                      normot_value_type out) {
  const normot_matrix *X = job->X;
  for (int64_t r = r0; r < r1; ++r) {
    int64_t start = normot_load_index(X->indptr, idx, r);
    int64_t end = normot_load_index(X->indptr, idx, r + 1);
    double sum = 0.0;
    for (int64_t j = start; j < end; ++j)
      if (!gene_is_excluded(job, normot_load_index(X->indices, idx, j)))
        sum += normot_load_as_output(X->values, in, out, j);
    job->sums[r] = normot_round_to(out, sum);
  }
}

/* ---- dense (row-major, ld) ------------------------------------------------------------------ */

static NORMOT_ALWAYS_INLINE void dense_totals_rows(const normalize_job *job, int64_t r0, int64_t r1,
                                                   normot_value_type in, normot_index_type idx,
                                                   normot_value_type out,
                                                   normot_matrix_problem *problem) {
  const normot_matrix *X = job->X;
  (void)idx;
  for (int64_t r = r0; r < r1; ++r) {
    int64_t start = r * X->ld, end = start + X->n_cols;
    double sum = normot_row_total(X->values, in, out, start, end);
    if (job->check_values && !isfinite(sum)) {
      normot_check_finite(X->values, in, start, end, r, problem);
      if (problem->status != NORMOT_SUCCESS) return;
    }
    double total = normot_round_to(out, sum);
    job->sums[r] = total;
    if (job->row_low != NULL) record_row_range(job, r, X->values, in, out, start, end);
    if (job->exclude) {
      double threshold = job->max_fraction * total;
      for (int64_t j = start; j < end; ++j)
        if (normot_load_as_output(X->values, in, out, j) > threshold)
          flag_gene(job->excluded, j - start);
    }
  }
}

static NORMOT_ALWAYS_INLINE void dense_kept_totals_rows(const normalize_job *job, int64_t r0,
                                                        int64_t r1, normot_value_type in,
                                                        normot_index_type idx,
                                                        normot_value_type out) {
  const normot_matrix *X = job->X;
  (void)idx;
  for (int64_t r = r0; r < r1; ++r) {
    int64_t start = r * X->ld;
    double sum = 0.0;
    for (int64_t c = 0; c < X->n_cols; ++c)
      if (!job->excluded[c]) sum += normot_load_as_output(X->values, in, out, start + c);
    job->sums[r] = normot_round_to(out, sum);
  }
}

/* ---- CSC --------------------------------------------------------------------------------- */

/* Checks the row indices of columns [c0, c1) and tells whether each column lists its rows in
 * non-decreasing order (then a thread finds its own rows in a column by binary search). */
static NORMOT_ALWAYS_INLINE int csc_check_columns(const normalize_job *job, int64_t c0, int64_t c1,
                                                  normot_index_type idx,
                                                  normot_matrix_problem *problem) {
  const normot_matrix *X = job->X;
  int sorted = 1;
  for (int64_t c = c0; c < c1; ++c) {
    int64_t start = normot_load_index(X->indptr, idx, c);
    int64_t end = normot_load_index(X->indptr, idx, c + 1);
    int64_t previous = 0;
    for (int64_t j = start; j < end; ++j) {
      int64_t row = normot_load_index(X->indices, idx, j);
      if ((uint64_t)row >= (uint64_t)X->n_rows) {
        normot_check_indices(X->indices, idx, j, j + 1, X->n_rows, c, problem);
        return 0;
      }
      sorted &= row >= previous;
      previous = row;
    }
  }
  return sorted;
}

/* The first entry of [start, end) whose row is >= r0, in a column with sorted rows. */
static NORMOT_ALWAYS_INLINE int64_t csc_first_row_at_least(const void *indices,
                                                           normot_index_type idx, int64_t start,
                                                           int64_t end, int64_t r0) {
  while (start < end) {
    int64_t mid = start + (end - start) / 2;
    if (normot_load_index(indices, idx, mid) < r0)
      start = mid + 1;
    else
      end = mid;
  }
  return start;
}

/* Sums rows [r0, r1) over every column in column order (skipping excluded columns when
 * `kept_only`) and checks the finiteness of those rows' values. The row indices were checked
 * already. With sorted columns a thread reads only its own entries; otherwise it reads every
 * index and skips the rows of other threads. */
static NORMOT_ALWAYS_INLINE void csc_totals_block(const normalize_job *job, int64_t r0, int64_t r1,
                                                  int kept_only, int sorted, normot_value_type in,
                                                  normot_index_type idx, normot_value_type out,
                                                  normot_matrix_problem *problem) {
  const normot_matrix *X = job->X;
  double *sums = job->sums;
  const int track_range = job->row_low != NULL && !kept_only;
  for (int64_t r = r0; r < r1; ++r) sums[r] = 0.0;
  if (track_range)
    for (int64_t r = r0; r < r1; ++r) job->row_low[r] = INFINITY, job->row_high[r] = -INFINITY;
  if (r0 == r1) return;
  for (int64_t c = 0; c < X->n_cols; ++c) {
    if (kept_only && job->excluded[c]) continue;
    int64_t start = normot_load_index(X->indptr, idx, c);
    int64_t end = normot_load_index(X->indptr, idx, c + 1);
    if (sorted) start = csc_first_row_at_least(X->indices, idx, start, end, r0);
    for (int64_t j = start; j < end; ++j) {
      int64_t row = normot_load_index(X->indices, idx, j);
      if (row < r0 || row >= r1) {
        if (sorted) break;
        continue;
      }
      double v = normot_load_as_output(X->values, in, out, j);
      if (job->check_values && !isfinite(v)) {
        normot_check_finite(X->values, in, j, j + 1, c, problem);
        return;
      }
      sums[row] += v;
      if (track_range)
        normot_value_range(X->values, in, out, j, j + 1, &job->row_low[row], &job->row_high[row]);
    }
  }
  for (int64_t r = r0; r < r1; ++r) sums[r] = normot_round_to(out, sums[r]);
}

static NORMOT_ALWAYS_INLINE void csc_flag_columns(const normalize_job *job, int64_t c0, int64_t c1,
                                                  normot_value_type in, normot_index_type idx,
                                                  normot_value_type out) {
  const normot_matrix *X = job->X;
  for (int64_t c = c0; c < c1; ++c) {
    int64_t start = normot_load_index(X->indptr, idx, c);
    int64_t end = normot_load_index(X->indptr, idx, c + 1);
    for (int64_t j = start; j < end; ++j) {
      int64_t row = normot_load_index(X->indices, idx, j);
      if (normot_load_as_output(X->values, in, out, j) > job->max_fraction * job->sums[row]) {
        job->excluded[c] = 1; /* one thread owns column c */
        break;
      }
    }
  }
}

/* ---- type dispatch ------------------------------------------------------------------------ */

/* Calls the kernel specialised for the job's types; CASE is defined around each use. */
#define DISPATCH()                                                                  \
  do {                                                                              \
    switch (normot_job_combo(job)) { NORMOT_FOR_EACH_COMBO(CASE) default : break; } \
  } while (0)

static void csr_totals(const normalize_job *job, int64_t r0, int64_t r1,
                       normot_matrix_problem *problem) {
#define CASE(IN, IDX, OUT) \
  case NORMOT_COMBO(IN, IDX, OUT): csr_totals_rows(job, r0, r1, IN, IDX, OUT, problem); break;
  DISPATCH();
#undef CASE
}

static void csr_kept_totals(const normalize_job *job, int64_t r0, int64_t r1) {
#define CASE(IN, IDX, OUT) \
  case NORMOT_COMBO(IN, IDX, OUT): csr_kept_totals_rows(job, r0, r1, IN, IDX, OUT); break;
  DISPATCH();
#undef CASE
}

static void dense_totals(const normalize_job *job, int64_t r0, int64_t r1,
                         normot_matrix_problem *problem) {
#define CASE(IN, IDX, OUT) \
  case NORMOT_COMBO(IN, IDX, OUT): dense_totals_rows(job, r0, r1, IN, IDX, OUT, problem); break;
  DISPATCH();
#undef CASE
}

static void dense_kept_totals(const normalize_job *job, int64_t r0, int64_t r1) {
#define CASE(IN, IDX, OUT) \
  case NORMOT_COMBO(IN, IDX, OUT): dense_kept_totals_rows(job, r0, r1, IN, IDX, OUT); break;
  DISPATCH();
#undef CASE
}

static void csc_totals(const normalize_job *job, int64_t r0, int64_t r1, int kept_only, int sorted,
                       normot_matrix_problem *problem) {
#define CASE(IN, IDX, OUT)                                                   \
  case NORMOT_COMBO(IN, IDX, OUT):                                           \
    csc_totals_block(job, r0, r1, kept_only, sorted, IN, IDX, OUT, problem); \
    break;
  DISPATCH();
#undef CASE
}

static int csc_check(const normalize_job *job, int64_t c0, int64_t c1,
                     normot_matrix_problem *problem) {
  return job->index_type == NORMOT_INDEX_INT32
             ? csc_check_columns(job, c0, c1, NORMOT_INDEX_INT32, problem)
             : csc_check_columns(job, c0, c1, NORMOT_INDEX_INT64, problem);
}

static void csc_flags(const normalize_job *job, int64_t c0, int64_t c1) {
#define CASE(IN, IDX, OUT) \
  case NORMOT_COMBO(IN, IDX, OUT): csc_flag_columns(job, c0, c1, IN, IDX, OUT); break;
  DISPATCH();
#undef CASE
}

/* ---- the passes ------------------------------------------------------------------------- */

void NORMOT_KERNEL(normot_cpu_check_indptr)(const normalize_job *job,
                                            normot_matrix_problem *problem) {
  const normot_matrix *X = job->X;
  *problem = normot_no_problem();
  if (X->layout == NORMOT_LAYOUT_DENSE) return;
  int64_t n_major = X->layout == NORMOT_LAYOUT_CSR ? X->n_rows : X->n_cols;
  normot_check_indptr_ends(X->indptr, X->index_type, n_major, X->nnz, problem);
  if (problem->status != NORMOT_SUCCESS) return;
#pragma omp parallel num_threads(job->n_threads)
  {
    normot_matrix_problem local = normot_no_problem();
#pragma omp for schedule(static)
    for (int64_t m0 = 0; m0 < n_major; m0 += 4096) {
      int64_t m1 = m0 + 4096 < n_major ? m0 + 4096 : n_major;
      if (local.status == NORMOT_SUCCESS)
        normot_check_indptr_steps(X->indptr, X->index_type, m0, m1, X->nnz, &local);
    }
#pragma omp critical(normot_cpu_totals_merge)
    normot_merge_problem(problem, &local);
  }
}

/* Row-parallel pass for CSR and dense. Rows after an already found problem are skipped: they
 * cannot change which problem comes first. */
static void row_layout_totals(const normalize_job *job, normot_matrix_problem *problem) {
  const normot_matrix *X = job->X;
  int is_csr = X->layout == NORMOT_LAYOUT_CSR;
  int64_t first_bad_row = INT64_MAX;
  if (is_csr) {
    normot_check_indptr_ends(X->indptr, X->index_type, X->n_rows, X->nnz, problem);
    if (problem->status != NORMOT_SUCCESS) return;
  }
#pragma omp parallel num_threads(job->n_threads)
  {
    normot_matrix_problem local = normot_no_problem();
#pragma omp for schedule(dynamic, 1)
    for (int64_t r0 = 0; r0 < X->n_rows; r0 += NORMOT_ROW_CHUNK) {
      int64_t known_bad;
#pragma omp atomic read
      known_bad = first_bad_row;
      if (local.status != NORMOT_SUCCESS || r0 > known_bad) continue;
      int64_t r1 = r0 + NORMOT_ROW_CHUNK < X->n_rows ? r0 + NORMOT_ROW_CHUNK : X->n_rows;
      if (is_csr)
        csr_totals(job, r0, r1, &local);
      else
        dense_totals(job, r0, r1, &local);
      if (local.status != NORMOT_SUCCESS) {
        /* Writers take turns; readers above only need some recent value. */
#pragma omp critical(normot_cpu_totals_bad_row)
        if (local.major < first_bad_row) {
#pragma omp atomic write
          first_bad_row = local.major;
        }
      }
    }
#pragma omp critical(normot_cpu_totals_merge)
    normot_merge_problem(problem, &local);
  }
  if (problem->status != NORMOT_SUCCESS || !job->exclude) return;
  if (job->sparse_excluded != NULL) collect_sparse_exclusion(job);
#pragma omp parallel for num_threads(job->n_threads) schedule(dynamic, 1)
  for (int64_t r0 = 0; r0 < X->n_rows; r0 += NORMOT_ROW_CHUNK) {
    int64_t r1 = r0 + NORMOT_ROW_CHUNK < X->n_rows ? r0 + NORMOT_ROW_CHUNK : X->n_rows;
    if (is_csr)
      csr_kept_totals(job, r0, r1);
    else
      dense_kept_totals(job, r0, r1);
  }
}

static void csc_layout_totals(const normalize_job *job, normot_matrix_problem *problem) {
  const normot_matrix *X = job->X;
  NORMOT_KERNEL(normot_cpu_check_indptr)(job, problem);
  if (problem->status != NORMOT_SUCCESS) return;
  int sorted = 1;
#pragma omp parallel num_threads(job->n_threads) reduction(&& : sorted)
  {
    normot_matrix_problem local = normot_no_problem();
#pragma omp for schedule(dynamic, 1)
    for (int64_t c0 = 0; c0 < X->n_cols; c0 += NORMOT_ROW_CHUNK) {
      int64_t c1 = c0 + NORMOT_ROW_CHUNK < X->n_cols ? c0 + NORMOT_ROW_CHUNK : X->n_cols;
      if (local.status == NORMOT_SUCCESS) sorted = csc_check(job, c0, c1, &local) && sorted;
    }
#pragma omp critical(normot_cpu_totals_merge)
    normot_merge_problem(problem, &local);
  }
  if (problem->status != NORMOT_SUCCESS) return;
  for (int kept_only = 0; kept_only <= (job->exclude ? 1 : 0); ++kept_only) {
#pragma omp parallel num_threads(job->n_threads)
    {
      int64_t n_blocks = 1, block = 0;
#ifdef _OPENMP
      n_blocks = omp_get_num_threads();
      block = omp_get_thread_num();
#endif
      int64_t r0 = X->n_rows / n_blocks * block +
                   (block < X->n_rows % n_blocks ? block : X->n_rows % n_blocks);
      int64_t r1 = r0 + X->n_rows / n_blocks + (block < X->n_rows % n_blocks ? 1 : 0);
      normot_matrix_problem local = normot_no_problem();
      csc_totals(job, r0, r1, kept_only, sorted, &local);
#pragma omp critical(normot_cpu_totals_merge)
      normot_merge_problem(problem, &local);
    }
    if (problem->status != NORMOT_SUCCESS) return;
    if (kept_only || !job->exclude) continue;
#pragma omp parallel for num_threads(job->n_threads) schedule(dynamic, 1)
    for (int64_t c0 = 0; c0 < X->n_cols; c0 += NORMOT_ROW_CHUNK) {
      int64_t c1 = c0 + NORMOT_ROW_CHUNK < X->n_cols ? c0 + NORMOT_ROW_CHUNK : X->n_cols;
      csc_flags(job, c0, c1);
    }
  }
}

void NORMOT_KERNEL(normot_cpu_normalize_totals)(const normalize_job *job,
                                                normot_matrix_problem *problem) {
  *problem = normot_no_problem();
  if (job->exclude && job->sparse_excluded == NULL)
    memset(job->excluded, 0, (size_t)job->X->n_cols);
  if (job->X->layout == NORMOT_LAYOUT_CSC)
    csc_layout_totals(job, problem);
  else
    row_layout_totals(job, problem);
}
