/* Pass 1 of normalize_total on the CPU: content checks fused with the per-cell totals, and the
 * exclusion of highly expressed genes.
 *
 * Every cell's total is summed in float64 in one fixed order whatever the thread count: the
 * stored order for CSR, increasing column order for dense and CSC (the order of the CSR matrix
 * that Scanpy's CSC.tocsr() would build). CSC, column-major, has its own file: normalize_csc.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "normalize_blocks.h"
#include "normalize_csc.h"
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

/* Flags the genes of row r's values [start, end) that exceed max_fraction of its total (dense:
 * the gene is the position in the row). */
static NORMOT_ALWAYS_INLINE void flag_row(const normalize_job *job, int64_t r, row_range values,
                                          double total, normot_types t) {
  const normot_matrix *X = job->X;
  const double threshold = job->max_fraction * total;
  (void)r;
  if (job->sparse_excluded != NULL)
    for (int64_t j = values.v0; j < values.v1; ++j)
      job->sparse_excluded->entry_flags[j] =
          normot_load_as_output(X->values, t.in, t.out, j) > threshold;
  else
    for (int64_t j = values.v0; j < values.v1; ++j)
      if (normot_load_as_output(X->values, t.in, t.out, j) > threshold)
        flag_gene(job->excluded, X->layout == NORMOT_LAYOUT_CSR
                                     ? normot_load_index(X->indices, t.idx, j)
                                     : j - values.v0);
}

/* ---- CSR and dense rows ------------------------------------------------------------------ */

/* Totals (and checks, value ranges, exclusion flags) of the rows of a block; indptr was checked
 * before. Stops at the first problem. */
static NORMOT_ALWAYS_INLINE void row_totals_block(const normalize_job *job, row_range block,
                                                  normot_types t, normot_matrix_problem *problem) {
  const normot_matrix *X = job->X;
  for (int64_t r = block.r0; r < block.r1; ++r) {
    row_range row = {r, r + 1, normot_row_start(X, t.idx, r), normot_row_end(X, t.idx, r)};
    if (job->exclude && X->layout == NORMOT_LAYOUT_CSR) { /* indices are read only then */
      normot_check_indices(X, row.v0, row.v1, r, problem);
      if (problem->status != NORMOT_SUCCESS) return;
    }
    double sum = job->row_low != NULL
                     ? normot_row_total_and_range(X->values, t, row.v0, row.v1, &job->row_low[r],
                                                  &job->row_high[r])
                     : normot_row_total(X->values, t.in, t.out, row.v0, row.v1);
    /* A NaN or Inf among the values makes the sum non-finite; only then look for it. */
    if (job->check_values && !isfinite(sum)) {
      normot_check_finite(X->values, t.in, row.v0, row.v1, r, problem);
      if (problem->status != NORMOT_SUCCESS) return;
    }
    double total = normot_round_to(t.out, sum);
    job->sums[r] = total;
    if (job->exclude) flag_row(job, r, row, total, t);
  }
}

/* The totals of a block's rows over the genes that were not excluded. */
static NORMOT_ALWAYS_INLINE void row_kept_totals_block(const normalize_job *job, row_range block,
                                                       normot_types t) {
  const normot_matrix *X = job->X;
  const int is_csr = X->layout == NORMOT_LAYOUT_CSR;
  for (int64_t r = block.r0; r < block.r1; ++r) {
    int64_t start = normot_row_start(X, t.idx, r), end = normot_row_end(X, t.idx, r);
    double sum = 0.0;
    for (int64_t j = start; j < end; ++j) {
      int64_t gene = is_csr ? normot_load_index(X->indices, t.idx, j) : j - start;
      if (is_csr ? !gene_is_excluded(job, gene) : !job->excluded[gene])
        sum += normot_load_as_output(X->values, t.in, t.out, j);
    }
    job->sums[r] = normot_round_to(t.out, sum);
  }
}

/* ---- type dispatch ------------------------------------------------------------------------ */

/* Calls the kernel specialised for the job's types; CASE is defined around each use. */
#define DISPATCH()                                                                  \
  do {                                                                              \
    switch (normot_job_combo(job)) { NORMOT_FOR_EACH_COMBO(CASE) default : break; } \
  } while (0)

static void row_totals(const normalize_job *job, row_range block, normot_matrix_problem *problem) {
#define CASE(IN, IDX, OUT)                                               \
  case NORMOT_COMBO(IN, IDX, OUT):                                       \
    row_totals_block(job, block, (normot_types){IN, IDX, OUT}, problem); \
    break;
  DISPATCH();
#undef CASE
}

static void row_kept_totals(const normalize_job *job, row_range block) {
#define CASE(IN, IDX, OUT)                                           \
  case NORMOT_COMBO(IN, IDX, OUT):                                   \
    row_kept_totals_block(job, block, (normot_types){IN, IDX, OUT}); \
    break;
  DISPATCH();
#undef CASE
}

/* ---- the passes ------------------------------------------------------------------------- */

static void check_indptr(const normalize_job *job, normot_matrix_problem *problem) {
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

/* Block-parallel pass for CSR and dense, after indptr was checked. Blocks after an already found
 * problem are skipped: they cannot change which problem comes first. */
static void row_layout_first_pass(const normalize_job *job, normot_matrix_problem *problem) {
  const normot_matrix *X = job->X;
  const int64_t n_blocks = normot_block_count(X);
  /* Shared by the threads of the region below (cppcheck sees one scope). */
  // cppcheck-suppress variableScope
  int64_t first_bad_row = INT64_MAX;
#pragma omp parallel num_threads(job->n_threads)
  {
    normot_matrix_problem local = normot_no_problem();
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < n_blocks; ++b) {
      row_range block = normot_block_rows(X, b);
      int64_t known_bad;
#pragma omp atomic read
      known_bad = first_bad_row;
      if (local.status != NORMOT_SUCCESS || block.r0 > known_bad || block.r0 == block.r1) continue;
      row_totals(job, block, &local);
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
}

static void row_layout_totals(const normalize_job *job, normot_matrix_problem *problem) {
  const normot_matrix *X = job->X;
  check_indptr(job, problem);
  if (problem->status != NORMOT_SUCCESS) return;
  row_layout_first_pass(job, problem);
  if (problem->status != NORMOT_SUCCESS || !job->exclude) return;
  if (job->sparse_excluded != NULL) collect_sparse_exclusion(job);
  const int64_t n_blocks = normot_block_count(X);
#pragma omp parallel for num_threads(job->n_threads) schedule(dynamic, 1)
  for (int64_t b = 0; b < n_blocks; ++b) row_kept_totals(job, normot_block_rows(X, b));
}

/* CSC: normalize_csc.c, once indptr is known to be safe to read. */
static void csc_totals(const normalize_job *job, normot_matrix_problem *problem) {
  check_indptr(job, problem);
  if (problem->status != NORMOT_SUCCESS) return;
#if defined(NORMOT_KERNELS_AVX2)
  normot_cpu_csc_totals_avx2(job, problem);
#else
  normot_cpu_csc_totals(job, problem);
#endif
}

static void normalize_totals(const normalize_job *job, normot_matrix_problem *problem) {
  *problem = normot_no_problem();
  if (job->exclude && job->sparse_excluded == NULL)
    memset(job->excluded, 0, (size_t)job->X->n_cols);
  if (job->X->layout == NORMOT_LAYOUT_CSC)
    csc_totals(job, problem);
  else
    row_layout_totals(job, problem);
}

#if defined(NORMOT_KERNELS_AVX2)
void normot_cpu_normalize_totals_avx2(const normalize_job *job, normot_matrix_problem *problem) {
  normalize_totals(job, problem);
}
void normot_cpu_check_indptr_avx2(const normalize_job *job, normot_matrix_problem *problem) {
  check_indptr(job, problem);
}
#else
void normot_cpu_normalize_totals(const normalize_job *job, normot_matrix_problem *problem) {
  normalize_totals(job, problem);
}
void normot_cpu_check_indptr(const normalize_job *job, normot_matrix_problem *problem) {
  check_indptr(job, problem);
}
#endif
