/* The OpenMP backend's table. Each kernel lives in its own file. */
#include "cpu_kernels.h"

static int no_devices(void) {
  return 0;
}

static const normot_backend_ops cpu_ops = {
    NORMOT_BACKEND_CPU,
    NULL, /* init: nothing kept beyond the neutral cache slots */
    NULL, /* release */
    no_devices,
    NULL, /* pointer_memory: host memory only */
    NULL, /* enter */
    NULL, /* leave */
    NULL, /* copy_to_host */
    normot_cpu_normalize_total,
    normot_cpu_emd,
};

const normot_backend_ops *normot_cpu_backend_ops(void) {
  return &cpu_ops;
}

normot_status normot_emd_host_exact(normot_context *context, const normot_emd_problem *problem,
                                    const normot_emd_params *params, normot_emd_result *result) {
  return normot_cpu_emd(context, problem, params, result);
}
