/* normot_normalize_total: every check that needs no pass over the data (pointers, sizes, enum
 * values, type combinations, parameter ranges, memory), then the backend. The backend checks
 * the contents (indptr, indices, finiteness) during its own first pass. */
#include <math.h>

#include "context.h"
#include "validate_matrix.h"

void normot_normalize_params_init(normot_normalize_params *params) {
  if (params == NULL) return;
  params->has_target_sum = 0;
  params->target_sum = 0.0;
  params->exclude_highly_expressed = 0;
  params->max_fraction = 0.05;
  params->log1p = 0;
  params->log_base = 0.0;
  params->check_values = 1;
}

static normot_status check_types(normot_context *context, const normot_matrix *X,
                                 const normot_normalize_output *output) {
  if (X->layout != NORMOT_LAYOUT_CSR && X->layout != NORMOT_LAYOUT_CSC &&
      X->layout != NORMOT_LAYOUT_DENSE)
    return normot_fail(context, NORMOT_ERROR_UNSUPPORTED_TYPE, "unknown layout %d in X",
                       (int)X->layout);
  if (normot_value_size(X->value_type) == 0)
    return normot_fail(context, NORMOT_ERROR_UNSUPPORTED_TYPE, "unknown value_type %d in X",
                       (int)X->value_type);
  if (X->layout != NORMOT_LAYOUT_DENSE && normot_index_size(X->index_type) == 0)
    return normot_fail(context, NORMOT_ERROR_UNSUPPORTED_TYPE, "unknown index_type %d in X",
                       (int)X->index_type);
  if (!normot_is_float_type(output->value_type))
    return normot_fail(context, NORMOT_ERROR_UNSUPPORTED_TYPE,
                       "output value_type %d is not NORMOT_FLOAT32 or NORMOT_FLOAT64",
                       (int)output->value_type);
  if (normot_is_float_type(X->value_type) && output->value_type != X->value_type)
    return normot_fail(context, NORMOT_ERROR_UNSUPPORTED_TYPE,
                       "output value_type must equal the float input's value_type (%s)",
                       X->value_type == NORMOT_FLOAT32 ? "NORMOT_FLOAT32" : "NORMOT_FLOAT64");
  if (output->values == NULL && !normot_is_float_type(X->value_type))
    return normot_fail(context, NORMOT_ERROR_UNSUPPORTED_TYPE,
                       "in-place normalization (output->values NULL) needs float input; "
                       "integer input needs an output->values buffer");
  return NORMOT_SUCCESS;
}

static normot_status check_sizes(normot_context *context, const normot_matrix *X) {
  if (X->n_rows < 0 || X->n_cols < 0)
    return normot_fail(context, NORMOT_ERROR_INVALID_SIZE, "negative size: %lld x %lld",
                       (long long)X->n_rows, (long long)X->n_cols);
  int64_t bytes;
  if (X->layout == NORMOT_LAYOUT_DENSE) {
    if (X->ld < 0 || (X->ld > 0 && X->ld < X->n_cols))
      return normot_fail(context, NORMOT_ERROR_INVALID_SIZE,
                         "ld = %lld is smaller than n_cols = %lld (0 means n_cols)",
                         (long long)X->ld, (long long)X->n_cols);
    int64_t ld = X->ld > 0 ? X->ld : X->n_cols, elements;
    if (!normot_mul_fits(X->n_rows, ld, &elements) ||
        !normot_mul_fits(elements, (int64_t)normot_value_size(X->value_type), &bytes) ||
        !normot_mul_fits(elements, 8, &bytes))
      return normot_fail(context, NORMOT_ERROR_INVALID_SIZE,
                         "dense size %lld x %lld (ld %lld) overflows", (long long)X->n_rows,
                         (long long)X->n_cols, (long long)ld);
    return NORMOT_SUCCESS;
  }
  if (X->nnz < 0)
    return normot_fail(context, NORMOT_ERROR_INVALID_SIZE, "negative nnz: %lld", (long long)X->nnz);
  int64_t n_major = X->layout == NORMOT_LAYOUT_CSR ? X->n_rows : X->n_cols;
  if (n_major == INT64_MAX || !normot_mul_fits(n_major + 1, 8, &bytes) ||
      !normot_mul_fits(X->nnz, 8, &bytes) || !normot_mul_fits(X->n_rows, 16, &bytes))
    return normot_fail(context, NORMOT_ERROR_INVALID_SIZE,
                       "sparse size %lld x %lld with nnz %lld overflows", (long long)X->n_rows,
                       (long long)X->n_cols, (long long)X->nnz);
  return NORMOT_SUCCESS;
}

static int dense_is_empty(const normot_matrix *X) {
  return X->n_rows == 0 || X->n_cols == 0;
}

static normot_status check_pointers(normot_context *context, const normot_matrix *X) {
  if (X->layout == NORMOT_LAYOUT_DENSE) {
    if (X->values == NULL && !dense_is_empty(X))
      return normot_fail(context, NORMOT_ERROR_NULL_POINTER, "X->values is NULL");
    return NORMOT_SUCCESS;
  }
  if (X->indptr == NULL)
    return normot_fail(context, NORMOT_ERROR_NULL_POINTER, "X->indptr is NULL");
  if (X->nnz > 0 && X->indices == NULL)
    return normot_fail(context, NORMOT_ERROR_NULL_POINTER, "X->indices is NULL (nnz = %lld)",
                       (long long)X->nnz);
  if (X->nnz > 0 && X->values == NULL)
    return normot_fail(context, NORMOT_ERROR_NULL_POINTER, "X->values is NULL (nnz = %lld)",
                       (long long)X->nnz);
  return NORMOT_SUCCESS;
}

static normot_status check_params(normot_context *context, const normot_normalize_params *params,
                                  normot_value_type out_type) {
  /* Written so that NaN fails too. */
  if (!(params->max_fraction >= 0.0 && params->max_fraction <= 1.0))
    return normot_fail(context, NORMOT_ERROR_INVALID_MAX_FRACTION,
                       "max_fraction = %g must lie in [0, 1]", params->max_fraction);
  if (params->has_target_sum) {
    /* The target is used in the output type, so it must survive rounding to it. */
    double rounded =
        out_type == NORMOT_FLOAT32 ? (double)(float)params->target_sum : params->target_sum;
    if (!(isfinite(rounded) && rounded > 0.0))
      return normot_fail(context, NORMOT_ERROR_INVALID_TARGET_SUM,
                         "target_sum = %g must be finite and > 0 in the output type (%s)",
                         params->target_sum, out_type == NORMOT_FLOAT32 ? "float32" : "float64");
  }
  if (params->log_base != 0.0 &&
      !(isfinite(params->log_base) && params->log_base > 0.0 && params->log_base != 1.0))
    return normot_fail(context, NORMOT_ERROR_INVALID_LOG_BASE,
                       "log_base = %g must be finite, > 0 and != 1 (0 means natural log)",
                       params->log_base);
  return NORMOT_SUCCESS;
}

static int memory_tag_known(normot_memory tag) {
  return tag == NORMOT_MEMORY_AUTO || tag == NORMOT_MEMORY_HOST || tag == NORMOT_MEMORY_CUDA ||
         tag == NORMOT_MEMORY_CUDA_HOST || tag == NORMOT_MEMORY_CUDA_MANAGED;
}

static const void *some_data_pointer(const normot_matrix *X) {
  if (X->values != NULL) return X->values;
  return X->indptr;
}

normot_status normot_check_normalize_block(normot_context *context, const normot_matrix *X,
                                           const normot_normalize_params *params,
                                           normot_value_type value_type) {
  if (context == NULL) return NORMOT_ERROR_NULL_POINTER;
  if (X == NULL || params == NULL)
    return normot_fail(context, NORMOT_ERROR_NULL_POINTER, "%s is NULL",
                       X == NULL ? "X" : "params");
  /* check_types wants an output; one of value_type, written out of place, asks nothing more. */
  static char out_of_place;
  normot_normalize_output output = {0};
  output.values = &out_of_place;
  output.value_type = value_type;
  normot_status status = check_types(context, X, &output);
  if (status == NORMOT_SUCCESS) status = check_sizes(context, X);
  if (status == NORMOT_SUCCESS) status = check_pointers(context, X);
  if (status == NORMOT_SUCCESS) status = check_params(context, params, value_type);
  if (status != NORMOT_SUCCESS) return status;
  if (!memory_tag_known(X->memory))
    return normot_fail(context, NORMOT_ERROR_INVALID_MEMORY, "unknown memory tag %d in X",
                       (int)X->memory);
  if (normot_resolve_memory(X->memory, some_data_pointer(X)) == NORMOT_MEMORY_CUDA)
    return normot_fail(context, NORMOT_ERROR_INVALID_MEMORY,
                       "the block calls read host memory; X lives in CUDA device memory");
  return NORMOT_SUCCESS;
}

normot_status normot_normalize_total(normot_context *context, const normot_matrix *X,
                                     const normot_normalize_params *params,
                                     normot_normalize_output *output) {
  if (context == NULL) return NORMOT_ERROR_NULL_POINTER;
  if (X == NULL || params == NULL || output == NULL)
    return normot_fail(context, NORMOT_ERROR_NULL_POINTER, "%s is NULL",
                       X == NULL        ? "X"
                       : params == NULL ? "params"
                                        : "output");
  normot_status status = check_types(context, X, output);
  if (status == NORMOT_SUCCESS) status = check_sizes(context, X);
  if (status == NORMOT_SUCCESS) status = check_pointers(context, X);
  if (status == NORMOT_SUCCESS) status = check_params(context, params, output->value_type);
  if (status == NORMOT_SUCCESS) status = normot_check_normalize_overlaps(context, X, output);
  if (status != NORMOT_SUCCESS) return status;

  if (!memory_tag_known(X->memory))
    return normot_fail(context, NORMOT_ERROR_INVALID_MEMORY, "unknown memory tag %d in X",
                       (int)X->memory);
  normot_matrix resolved = *X;
  resolved.memory = normot_resolve_memory(X->memory, some_data_pointer(X));
  if (resolved.layout == NORMOT_LAYOUT_DENSE && resolved.ld == 0) resolved.ld = resolved.n_cols;
  if (context->backend == NORMOT_BACKEND_CPU && resolved.memory == NORMOT_MEMORY_CUDA)
    return normot_fail(context, NORMOT_ERROR_INVALID_MEMORY,
                       "X lives in CUDA device memory, which the CPU backend cannot read; use "
                       "a CUDA context or host memory");
  return context->ops->normalize_total(context, &resolved, params, output);
}
