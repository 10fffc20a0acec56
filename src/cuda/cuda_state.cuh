/* What the CUDA backend keeps in a context (context->backend_state, created by the table's init
 * and freed by its release): the neutral layer never sees inside. */
#ifndef NORMOT_SRC_CUDA_STATE_CUH
#define NORMOT_SRC_CUDA_STATE_CUH

#include "../context.h"

struct normot_cuda_state {
  normot_cache normalize; /* normalize_total's streams, events and buffers
                             (normalize_workspace.cu), created on first use */
};

static inline normot_cuda_state *normot_cuda_state_of(normot_context *context) {
  return static_cast<normot_cuda_state *>(context->backend_state);
}

#endif
