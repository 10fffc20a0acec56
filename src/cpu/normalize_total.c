/* normalize_total on the CPU: the order of the passes, the scratch memory, the target and the
 * size factors. The passes themselves are in normalize_totals.c and normalize_scale.c.
 *
 *   target known, nothing to check, no exclusion, CSR or dense:
 *       indptr check, then one fused pass (sum, size factor and scaling of each row in cache)
 *   otherwise:
 *       pass 1: content checks + totals (+ exclusion and recomputed totals), into scratch
 *       target (median of the positive totals, unless given) and size factors, in scratch
 *       pass 2: scaling into the output; then the optional totals/size factors arrays
 * Nothing the caller sees is written before every check has passed. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "cpu_kernels.h"
#include "normalize_csc.h"
#include "normalize_internal.h"

/* Kept in the context (NORMOT_CACHE_NORMALIZE) so that a loop of calls allocates once. */
typedef struct normalize_scratch {
  size_t capacity;
  void *block;
} normalize_scratch;

static void release_scratch(void *pointer) {
  normalize_scratch *scratch = pointer;
  free(scratch->block);
  free(scratch);
}

static void *scratch_block(normot_context *context, size_t bytes) {
  normot_cache *cache = &context->cache[NORMOT_CACHE_NORMALIZE];
  normalize_scratch *scratch = cache->ptr;
  if (scratch == NULL) {
    scratch = calloc(1, sizeof *scratch);
    if (scratch == NULL) return NULL;
    cache->ptr = scratch;
    cache->release = release_scratch;
  }
  if (bytes < 64) bytes = 64;
  if (scratch->capacity < bytes) {
    free(scratch->block);
    scratch->block = malloc(bytes);
    scratch->capacity = scratch->block != NULL ? bytes : 0;
  }
  return scratch->block;
}

static void write_totals(const normalize_job *job) {
  if (job->out_totals == NULL) return;
  int64_t n = job->X->n_rows;
#pragma omp parallel for num_threads(job->n_threads) schedule(static)
  for (int64_t r = 0; r < n; ++r)
    normot_store_as_output(job->out_totals, job->out_type, r, job->sums[r]);
}

/* Scanpy's key_added column is total / target before zeros are replaced by 1, so an all-zero
 * cell reports 0 here although its values were divided by 1. */
static void write_size_factors(const normalize_job *job, double target) {
  if (job->out_size_factors == NULL) return;
  int64_t n = job->X->n_rows;
#pragma omp parallel for num_threads(job->n_threads) schedule(static)
  for (int64_t r = 0; r < n; ++r)
    normot_store_as_output(job->out_size_factors, job->out_type, r,
                           normot_size_factor(job->out_type, job->sums[r], target));
}

static const char *type_name(normot_value_type out) {
  return out == NORMOT_FLOAT32 ? "float32" : "float64";
}

/* With checked results, every total must be finite in the output type. */
static normot_status check_totals_finite(normot_context *context, const normalize_job *job) {
  for (int64_t r = 0; r < job->X->n_rows; ++r)
    if (!isfinite(job->sums[r]))
      return normot_fail(context, NORMOT_ERROR_OVERFLOW,
                         "row %lld: the total of its values overflows %s (results would not be "
                         "finite)",
                         (long long)r, type_name(job->out_type));
  return NORMOT_SUCCESS;
}

/* Whether row r's size factor and every scaled value (checked through the row's smallest and
 * largest value) are finite. */
static int row_results_finite(const normalize_job *job, int64_t r) {
  double factor = job->size_factors[r];
  if (!isfinite(factor)) return 0;
  if (job->row_low[r] > job->row_high[r]) return 1; /* no stored value */
  double low = normot_scaled_value(job->out_type, job->row_low[r], factor, job->log1p,
                                   job->log_base_divisor);
  double high = normot_scaled_value(job->out_type, job->row_high[r], factor, job->log1p,
                                    job->log_base_divisor);
  return isfinite(low) && isfinite(high);
}

/* CSC blocks of rows carry their block's value range in every row (normalize_csc.h): a block
 * in which some row fails with it gets its rows' own ranges, which decide. */
static void refine_csc_ranges(const normalize_job *job) {
  if (job->csc == NULL || job->csc->n_blocks == 0) return;
  const int64_t n_blocks = job->csc->n_blocks;
#pragma omp parallel for num_threads(job->n_threads) schedule(dynamic, 1)
  for (int64_t b = 0; b < n_blocks; ++b) {
    int64_t r0 = b * NORMOT_CSC_BLOCK_ROWS, r1 = r0 + NORMOT_CSC_BLOCK_ROWS;
    if (r1 > job->X->n_rows) r1 = job->X->n_rows;
    for (int64_t r = r0; r < r1; ++r)
      if (!row_results_finite(job, r)) {
        normot_cpu_csc_exact_ranges(job, b); /* rare: the baseline build is enough */
        break;
      }
  }
}

/* With checked results, the size factors and the results of every row must be finite. */
static normot_status check_results_finite(normot_context *context, const normalize_job *job,
                                          double target) {
  refine_csc_ranges(job);
  int64_t first_bad = INT64_MAX;
#pragma omp parallel for num_threads(job->n_threads) schedule(static) reduction(min : first_bad)
  for (int64_t r = 0; r < job->X->n_rows; ++r)
    if (r < first_bad && !row_results_finite(job, r)) first_bad = r;
  if (first_bad == INT64_MAX) return NORMOT_SUCCESS;
  const double factor = job->size_factors[first_bad];
  if (!isfinite(factor))
    return normot_fail(context, NORMOT_ERROR_OVERFLOW,
                       "row %lld: its size factor, total %g / target %g, overflows %s",
                       (long long)first_bad, job->sums[first_bad], target,
                       type_name(job->out_type));
  return normot_fail(context, NORMOT_ERROR_OVERFLOW,
                     "row %lld: its values (from %g to %g) divided by its size factor %g%s give "
                     "a result that is not finite in %s",
                     (long long)first_bad, job->row_low[first_bad], job->row_high[first_bad],
                     factor, job->log1p ? " and log1p" : "", type_name(job->out_type));
}

/* The median of the positive totals. With checked results it must be finite: the two middle
 * totals of an even count can be finite while their sum in the output type is not. */
static normot_status median_target(normot_context *context, const normalize_job *job,
                                   int check_results, double *target) {
  /* The size factor array is free until the size factors are computed: the median works in it. */
  int64_t n_positive = 0;
  for (int64_t r = 0; r < job->X->n_rows; ++r)
    if (job->sums[r] > 0.0) job->size_factors[n_positive++] = job->sums[r];
  if (n_positive == 0)
    return normot_fail(context, NORMOT_ERROR_NO_POSITIVE_TOTAL,
                       "no cell has a total > 0 (%lld cells), so there is no median target; "
                       "give target_sum",
                       (long long)job->X->n_rows);
  *target = normot_cpu_median(job->size_factors, n_positive, job->out_type);
  if (check_results && !isfinite(*target))
    return normot_fail(context, NORMOT_ERROR_OVERFLOW,
                       "the median target, the mean of the two middle of %lld positive totals, "
                       "overflows %s",
                       (long long)n_positive, type_name(job->out_type));
  return NORMOT_SUCCESS;
}

/* Carves the scratch block: totals and size factors, the value ranges when results are
 * checked, CSC's table of row blocks, the exclusion's memory (n_cols flags, or O(nnz) for a
 * sparse exclusion). */
static normot_status carve_scratch(normot_context *context, normalize_job *job, int check_results,
                                   sparse_exclusion *sparse) {
  const normot_matrix *X = job->X;
  const size_t n_rows = (size_t)X->n_rows;
  const size_t row_arrays = check_results ? 4 : 2;
  const int per_entry = job->exclude && normot_exclusion_is_sparse(X);
  const size_t entries = per_entry && X->layout == NORMOT_LAYOUT_CSR ? (size_t)X->nnz : 0;
  size_t exclusion_bytes = 0;
  if (per_entry)
    exclusion_bytes = entries * (sizeof(int64_t) + 1);
  else if (job->exclude)
    exclusion_bytes = (size_t)X->n_cols;
  const size_t row_bytes = row_arrays * n_rows * sizeof(double);
  const size_t table_bytes =
      job->csc != NULL
          ? (size_t)(job->csc->n_blocks > 0 ? job->csc->n_blocks + 1 : 0) * (size_t)X->n_cols * 8
          : 0;
  const size_t bytes = row_bytes + table_bytes + exclusion_bytes;
  void *block = scratch_block(context, bytes);
  if (block == NULL)
    return normot_fail(context, NORMOT_ERROR_OUT_OF_MEMORY,
                       "out of memory for %zu bytes of scratch (totals and size factors)", bytes);
  job->sums = block;
  job->size_factors = job->sums + n_rows;
  job->row_low = check_results ? job->size_factors + n_rows : NULL;
  job->row_high = check_results ? job->row_low + n_rows : NULL;
  if (job->csc != NULL)
    job->csc->bounds = table_bytes > 0 ? (int64_t *)(void *)((char *)block + row_bytes) : NULL;
  unsigned char *exclusion = (unsigned char *)block + row_bytes + table_bytes;
  job->excluded = job->exclude && !per_entry ? exclusion : NULL;
  job->sparse_excluded = per_entry ? sparse : NULL;
  if (per_entry) {
    sparse->genes = (int64_t *)(void *)exclusion;
    sparse->entry_flags = exclusion + entries * sizeof(int64_t);
    sparse->count = 0;
  }
  return NORMOT_SUCCESS;
}

static int64_t count_excluded_genes(const normalize_job *job) {
  if (!job->exclude) return 0;
  if (job->sparse_excluded != NULL) return job->sparse_excluded->count;
  int64_t excluded = 0;
  for (int64_t c = 0; c < job->X->n_cols; ++c) excluded += job->excluded[c];
  return excluded;
}

static normot_status two_pass(normot_context *context, normalize_job *job,
                              const normot_normalize_params *params,
                              normot_normalize_output *output) {
  const normot_matrix *X = job->X;
  const int check_results = params->check_values != 0;
  sparse_exclusion sparse;
  csc_blocking csc = {normot_csc_block_count(X), NULL};
  job->csc = X->layout == NORMOT_LAYOUT_CSC ? &csc : NULL;
  normot_status status = carve_scratch(context, job, check_results, &sparse);
  if (status != NORMOT_SUCCESS) return status;

  normot_matrix_problem problem;
  job->kernels->totals(job, &problem);
  if (problem.status != NORMOT_SUCCESS) return normot_report_matrix_problem(context, X, &problem);
  if (check_results && (status = check_totals_finite(context, job)) != NORMOT_SUCCESS)
    return status;

  double target = 0.0;
  if (params->has_target_sum)
    target = normot_round_to(job->out_type, params->target_sum);
  else if ((status = median_target(context, job, check_results, &target)) != NORMOT_SUCCESS)
    return status;

  int64_t zero_cells = 0;
#pragma omp parallel for num_threads(job->n_threads) schedule(static) reduction(+ : zero_cells)
  for (int64_t r = 0; r < X->n_rows; ++r) {
    double factor = normot_size_factor(job->out_type, job->sums[r], target);
    if (factor == 0.0) {
      factor = 1.0;
      ++zero_cells;
    }
    job->size_factors[r] = factor;
  }
  if (check_results && (status = check_results_finite(context, job, target)) != NORMOT_SUCCESS)
    return status;

  job->kernels->scale(job);
  write_totals(job);
  write_size_factors(job, target);

  output->target = target;
  output->n_zero_cells = zero_cells;
  output->n_excluded_genes = count_excluded_genes(job);
  return NORMOT_SUCCESS;
}

/* The largest magnitude of a value of an integer type (0 for a float type). */
static double integer_type_magnitude(normot_value_type type) {
  switch (type) {
    case NORMOT_INT32: return 0x1p31;
    case NORMOT_INT64: return 0x1p63;
    case NORMOT_UINT16: return 65535.0;
    case NORMOT_UINT32: return 4294967295.0;
    default: return 0.0;
  }
}

/* Whether integer input with a given target has finite results whatever its values, so that
 * the fused pass needs no check: a row holds at most `longest` values of magnitude at most V,
 * so |total| <= longest * V; a non-zero total of integers is at least 1 in magnitude, so
 * 1 / target <= |size factor| <= longest * V / target and |value / size factor| <= V * target.
 * log1p of a negative result may be -Inf or NaN, so signed input with log1p is checked. */
static int integer_results_stay_finite(const normalize_job *job, double target) {
  const double magnitude = integer_type_magnitude(job->in_type);
  if (magnitude == 0.0) return 0;
  if (job->log1p && (job->in_type == NORMOT_INT32 || job->in_type == NORMOT_INT64)) return 0;
  const normot_matrix *X = job->X;
  const double longest = (double)(X->layout == NORMOT_LAYOUT_CSR ? X->nnz : X->n_cols);
  const double largest = job->out_type == NORMOT_FLOAT32 ? FLT_MAX : DBL_MAX;
  /* A factor of 2 covers the rounding of each bound. */
  return 2.0 * longest * magnitude / target <= largest && 2.0 * magnitude * target <= largest &&
         2.0 / target <= largest;
}

normot_status normot_cpu_normalize_total(normot_context *context, const normot_matrix *X,
                                         const normot_normalize_params *params,
                                         normot_normalize_output *output) {
  normalize_job job = {0};
  job.X = X;
  job.in_type = X->value_type;
  job.out_type = output->value_type;
  job.index_type = X->layout == NORMOT_LAYOUT_DENSE ? NORMOT_INDEX_INT32 : X->index_type;
  job.check_values = params->check_values && normot_is_float_type(X->value_type);
  job.exclude = params->exclude_highly_expressed != 0;
  job.max_fraction = params->max_fraction;
  job.log1p = params->log1p != 0;
  job.log_base_divisor = job.log1p && params->log_base != 0.0 ? log(params->log_base) : 0.0;
  job.out_values = output->values != NULL ? output->values : X->values;
  job.out_totals = output->totals;
  job.out_size_factors = output->size_factors;
  job.n_threads = normot_threads_for(context);
  job.kernels = normot_cpu_normalize_kernels();

  double target = normot_round_to(job.out_type, params->target_sum);
  int fusable = params->has_target_sum && !job.check_values && !job.exclude &&
                X->layout != NORMOT_LAYOUT_CSC &&
                (!params->check_values || integer_results_stay_finite(&job, target));
  if (!fusable) return two_pass(context, &job, params, output);

  normot_matrix_problem problem;
  job.kernels->check_indptr(&job, &problem);
  if (problem.status != NORMOT_SUCCESS) return normot_report_matrix_problem(context, X, &problem);
  output->n_zero_cells = job.kernels->fused(&job, target);
  output->target = target;
  output->n_excluded_genes = 0;
  return NORMOT_SUCCESS;
}
