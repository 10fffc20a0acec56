/* The backend table: what the backend-neutral layer (context.c, emd.c, normalize.c) knows of a
 * backend. The neutral layer holds no backend state of its own and no compile-time switch: it
 * asks the table of the CPU backend (always built) or of the CUDA backend (whose table is NULL
 * when the library is built without CUDA: src/cuda/cuda_absent.c). */
#ifndef NORMOT_SRC_BACKEND_H
#define NORMOT_SRC_BACKEND_H

#include <stddef.h>

#include "normot/normot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Arguments reach the kernels already checked by the dispatch layer: everything that needs no
 * pass over the data (pointers, sizes, enums, parameter ranges, memory tags), and for EMD the
 * contents too (validate_emd.h, run once in src/emd.c for every backend). normalize_total checks
 * its contents itself (indptr, indices, finiteness), fused with its first read, and writes
 * nothing before that check passes. */
typedef struct normot_backend_ops {
  normot_backend kind;
  /* Sets up / frees what the backend keeps in context->backend_state (device handles, streams,
   * workspaces). init may be NULL (nothing to keep); release is called once, last. */
  normot_status (*init)(normot_context *context);
  void (*release)(normot_context *context);
  /* Devices this backend can use (the CPU: 0; it is always available). */
  int (*device_count)(void);
  /* Where a pointer lives, as this backend sees it (NULL: everything is host memory). */
  normot_memory (*pointer_memory)(const void *pointer);
  /* Every entry point runs between enter and leave: enter makes the context's device current
   * and records the caller's in *token; leave restores it. NULL: nothing to do. */
  normot_status (*enter)(normot_context *context, int *token);
  void (*leave)(normot_context *context, int token);
  /* Copies `bytes` of memory the backend can read (device memory included) into host memory,
   * for the neutral content checks. NULL: the backend reads host memory only. */
  normot_status (*copy_to_host)(normot_context *context, void *host, const void *source,
                                size_t bytes);
  normot_status (*normalize_total)(normot_context *context, const normot_matrix *X,
                                   const normot_normalize_params *params,
                                   normot_normalize_output *output);
  normot_status (*emd)(normot_context *context, const normot_emd_problem *problem,
                       const normot_emd_params *params, normot_emd_result *result);
} normot_backend_ops;

const normot_backend_ops *normot_cpu_backend_ops(void);
/* NULL when the library was built without the CUDA backend. */
const normot_backend_ops *normot_cuda_backend_ops(void);

/* The exact host EMD solvers (network simplex, assignment, auction with its own fallback), on
 * host-readable arrays whose contents are already validated: what the CPU backend runs, and
 * what another backend calls for the problems it gives to the host. */
normot_status normot_emd_host_exact(normot_context *context, const normot_emd_problem *problem,
                                    const normot_emd_params *params, normot_emd_result *result);

#ifdef __cplusplus
}
#endif

#endif
