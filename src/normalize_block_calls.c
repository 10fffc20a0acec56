/* normalize_total in blocks (normot.h): the checks of each call, then the CPU loops of
 * src/cpu/normalize_block_calls.c on host memory, whatever the context's backend (as
 * normot_emd_sparse does). The rounding, target and median are the whole-matrix ones. */
#include "normalize_block_calls.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/normalize_internal.h"

static const char *type_name(normot_value_type type) {
  return type == NORMOT_FLOAT32 ? "float32" : "float64";
}

/* The block's contents: indptr, the indices when they are read, the values with check_values. */
static normot_status check_contents(normot_context *context, const normot_matrix *X,
                                    int read_indices, int check_values) {
  normot_matrix_problem problem;
  normot_check_matrix(X, read_indices, check_values, normot_threads_for(context), &problem);
  return normot_report_matrix_problem(context, X, &problem);
}

static normot_block_job job_for(normot_context *context, const normot_matrix *X,
                                normot_value_type out) {
  normot_block_job job;
  memset(&job, 0, sizeof job);
  job.X = X;
  job.out = out;
  job.n_threads = normot_threads_for(context);
  return job;
}

normot_status normot_normalize_block_sums(normot_context *context, const normot_matrix *X,
                                          const normot_normalize_params *params,
                                          normot_value_type value_type,
                                          const unsigned char *excluded, double *sums) {
  normot_status status = normot_check_normalize_block(context, X, params, value_type);
  if (status != NORMOT_SUCCESS) return status;
  if (sums == NULL) return normot_fail(context, NORMOT_ERROR_NULL_POINTER, "sums is NULL");
  int read_indices = X->layout == NORMOT_LAYOUT_CSC || excluded != NULL;
  /* A NaN or Inf among a row's values makes its sum NaN or Inf, so when every value of a row
   * enters its sum (CSR or dense rows, no gene left out) the values are checked only after a sum
   * that is not finite: one read of the block instead of two, and the same status and message. */
  int check_after = params->check_values && excluded == NULL && X->layout != NORMOT_LAYOUT_CSC;
  status = check_contents(context, X, read_indices, params->check_values && !check_after);
  if (status != NORMOT_SUCCESS) return status;
  normot_block_job job = job_for(context, X, value_type);
  job.excluded = excluded;
  job.sums = sums;
  job.stop_on_nonfinite = check_after;
  status = normot_cpu_block_kernels()->sums(&job);
  if (status == NORMOT_ERROR_NONFINITE_VALUE) {
    status = check_contents(context, X, read_indices, 1);
    if (status != NORMOT_SUCCESS) return status;
    /* Finite values whose sum overflows: added as before, for block_totals to refuse. */
    job.stop_on_nonfinite = 0;
    status = normot_cpu_block_kernels()->sums(&job);
  }
  if (status != NORMOT_SUCCESS)
    return normot_fail(context, NORMOT_ERROR_OUT_OF_MEMORY,
                       "out of memory for the sums of %lld rows", (long long)X->n_rows);
  return NORMOT_SUCCESS;
}

normot_status normot_normalize_block_totals(normot_context *context,
                                            const normot_normalize_params *params,
                                            normot_value_type value_type, int64_t n, double *sums) {
  if (context == NULL) return NORMOT_ERROR_NULL_POINTER;
  if (params == NULL || (sums == NULL && n > 0))
    return normot_fail(context, NORMOT_ERROR_NULL_POINTER, "%s is NULL",
                       params == NULL ? "params" : "sums");
  if (!normot_is_float_type(value_type))
    return normot_fail(context, NORMOT_ERROR_UNSUPPORTED_TYPE,
                       "value_type %d is not NORMOT_FLOAT32 or NORMOT_FLOAT64", (int)value_type);
  if (n < 0)
    return normot_fail(context, NORMOT_ERROR_INVALID_SIZE, "negative n: %lld", (long long)n);
  for (int64_t r = 0; params->check_values && r < n; ++r)
    if (!isfinite(normot_round_to(value_type, sums[r])))
      return normot_fail(context, NORMOT_ERROR_OVERFLOW,
                         "row %lld: the total of its values overflows %s (results would not be "
                         "finite)",
                         (long long)r, type_name(value_type));
  for (int64_t r = 0; r < n; ++r) sums[r] = normot_round_to(value_type, sums[r]);
  return NORMOT_SUCCESS;
}

normot_status normot_normalize_block_exclusion(normot_context *context, const normot_matrix *X,
                                               const normot_normalize_params *params,
                                               normot_value_type value_type, const double *totals,
                                               unsigned char *excluded) {
  normot_status status = normot_check_normalize_block(context, X, params, value_type);
  if (status != NORMOT_SUCCESS) return status;
  if (totals == NULL || excluded == NULL)
    return normot_fail(context, NORMOT_ERROR_NULL_POINTER, "%s is NULL",
                       totals == NULL ? "totals" : "excluded");
  status = check_contents(context, X, 1, params->check_values);
  if (status != NORMOT_SUCCESS) return status;
  normot_block_job job = job_for(context, X, value_type);
  job.totals = totals;
  job.max_fraction = params->max_fraction;
  job.flags = excluded;
  if (normot_cpu_block_kernels()->exclusion(&job) != NORMOT_SUCCESS)
    return normot_fail(context, NORMOT_ERROR_OUT_OF_MEMORY,
                       "out of memory for the flags of %lld genes", (long long)X->n_cols);
  return NORMOT_SUCCESS;
}

normot_status normot_normalize_block_target(normot_context *context,
                                            const normot_normalize_params *params,
                                            normot_value_type value_type, int64_t n,
                                            const double *totals, double *target) {
  if (context == NULL) return NORMOT_ERROR_NULL_POINTER;
  if (params == NULL || target == NULL || (totals == NULL && n > 0))
    return normot_fail(context, NORMOT_ERROR_NULL_POINTER, "params, totals or target is NULL");
  if (!normot_is_float_type(value_type))
    return normot_fail(context, NORMOT_ERROR_UNSUPPORTED_TYPE,
                       "value_type %d is not NORMOT_FLOAT32 or NORMOT_FLOAT64", (int)value_type);
  if (params->has_target_sum) {
    double rounded = normot_round_to(value_type, params->target_sum);
    if (!(isfinite(rounded) && rounded > 0.0))
      return normot_fail(context, NORMOT_ERROR_INVALID_TARGET_SUM,
                         "target_sum = %g must be finite and > 0 in the output type (%s)",
                         params->target_sum, type_name(value_type));
    *target = rounded;
    return NORMOT_SUCCESS;
  }
  int64_t n_positive = 0;
  for (int64_t r = 0; r < n; ++r) n_positive += totals[r] > 0.0;
  if (n_positive == 0)
    return normot_fail(context, NORMOT_ERROR_NO_POSITIVE_TOTAL,
                       "no cell has a total > 0 (%lld cells), so there is no median target; "
                       "give target_sum",
                       (long long)n);
  double *positive = malloc((size_t)n_positive * sizeof *positive);
  if (positive == NULL)
    return normot_fail(context, NORMOT_ERROR_OUT_OF_MEMORY,
                       "out of memory for the %lld positive totals", (long long)n_positive);
  n_positive = 0;
  for (int64_t r = 0; r < n; ++r)
    if (totals[r] > 0.0) positive[n_positive++] = totals[r];
  double median = normot_cpu_median(positive, n_positive, value_type);
  free(positive);
  if (params->check_values && !isfinite(median))
    return normot_fail(context, NORMOT_ERROR_OVERFLOW,
                       "the median target, the mean of the two middle of %lld positive totals, "
                       "overflows %s",
                       (long long)n_positive, type_name(value_type));
  *target = median;
  return NORMOT_SUCCESS;
}

/* What block_scale checks besides the block: the target, and where the results go. */
static normot_status check_scale_request(normot_context *context, const normot_matrix *X,
                                         const normot_normalize_params *params,
                                         const double *totals, normot_normalize_output *output) {
  if (output == NULL || totals == NULL)
    return normot_fail(context, NORMOT_ERROR_NULL_POINTER, "%s is NULL",
                       output == NULL ? "output" : "totals");
  if (!params->has_target_sum)
    return normot_fail(context, NORMOT_ERROR_INVALID_TARGET_SUM,
                       "the block scaling needs the target: set has_target_sum and target_sum");
  if (output->totals != NULL)
    return normot_fail(context, NORMOT_ERROR_INVALID_ARGUMENT,
                       "output->totals must be NULL for a block (the caller holds the totals)");
  if (output->values == NULL && !normot_is_float_type(X->value_type))
    return normot_fail(context, NORMOT_ERROR_UNSUPPORTED_TYPE,
                       "in-place normalization (output->values NULL) needs float input");
  return normot_check_normalize_overlaps(context, X, output);
}

normot_status normot_normalize_block_scale(normot_context *context, const normot_matrix *X,
                                           const normot_normalize_params *params,
                                           const double *totals, normot_normalize_output *output) {
  normot_value_type out = output != NULL ? output->value_type : NORMOT_FLOAT32;
  normot_status status = normot_check_normalize_block(context, X, params, out);
  if (status == NORMOT_SUCCESS) status = check_scale_request(context, X, params, totals, output);
  if (status == NORMOT_SUCCESS)
    status = check_contents(context, X, X->layout == NORMOT_LAYOUT_CSC, params->check_values);
  if (status != NORMOT_SUCCESS) return status;
  normot_block_job job = job_for(context, X, out);
  job.totals = totals;
  job.target = normot_round_to(out, params->target_sum);
  job.log1p = params->log1p != 0;
  job.log_divisor = job.log1p && params->log_base != 0.0 ? log(params->log_base) : 0.0;
  job.out_values = output->values != NULL ? output->values : X->values;
  job.out_size_factors = output->size_factors;
  int64_t bad = params->check_values ? normot_cpu_block_kernels()->first_nonfinite(&job) : -1;
  if (bad >= 0)
    return normot_fail(context, NORMOT_ERROR_OVERFLOW,
                       "%s %lld: its values divided by their size factor%s give a result that is "
                       "not finite in %s",
                       X->layout == NORMOT_LAYOUT_CSC ? "column" : "row", (long long)bad,
                       job.log1p ? " and log1p" : "", type_name(out));
  output->n_zero_cells = normot_cpu_block_kernels()->scale(&job);
  output->target = job.target;
  output->n_excluded_genes = 0;
  return NORMOT_SUCCESS;
}
