/* normot_emd: argument checks that need no pass over the data, then the backend. */
#include "context.h"

void normot_emd_params_init(normot_emd_params *params) {
  if (params == NULL) return;
  params->max_iter = 0;
  params->check_marginals = 1;
  params->marginal_tol = 1e-6;
  params->center_duals = 1;
  params->solver = NORMOT_EMD_SOLVER_AUTO;
}

normot_status normot_emd(normot_context *context, const normot_emd_problem *problem,
                         const normot_emd_params *params, normot_emd_result *result) {
  if (context == NULL) return NORMOT_ERROR_NULL_POINTER;
  if (problem == NULL || params == NULL || result == NULL)
    return normot_fail(context, NORMOT_ERROR_NULL_POINTER, "problem, params or result is NULL");
  return context->ops->emd(context, problem, params, result);
}
