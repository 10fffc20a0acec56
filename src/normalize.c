/* normot_normalize_total: argument checks that need no pass over the data, then the backend. */
#include "context.h"

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

normot_status normot_normalize_total(normot_context *context, const normot_matrix *X,
                                     const normot_normalize_params *params,
                                     normot_normalize_output *output) {
  if (context == NULL) return NORMOT_ERROR_NULL_POINTER;
  if (X == NULL || params == NULL || output == NULL)
    return normot_fail(context, NORMOT_ERROR_NULL_POINTER, "X, params or output is NULL");
  return context->ops->normalize_total(context, X, params, output);
}
