/* The OpenMP backend's table. Each kernel lives in its own file. */
#include "cpu_kernels.h"

static const normot_backend_ops cpu_ops = {
    NORMOT_BACKEND_CPU,
    normot_cpu_normalize_total,
    normot_cpu_emd,
    NULL,
};

const normot_backend_ops *normot_cpu_backend_ops(void) { return &cpu_ops; }
