/* What the CUDA backend keeps in a context (context->backend_state, created by the table's init
 * and freed by its release): the neutral layer never sees inside. */
#ifndef NORMOT_SRC_CUDA_STATE_CUH
#define NORMOT_SRC_CUDA_STATE_CUH

#include <cuda_runtime.h>

#include "../context.h"

/* Events of the EMD pipeline, per buffer set (emd_chunks.h). */
enum { NORMOT_CUDA_EMD_SETS = 2 };

struct normot_cuda_state {
  normot_cache normalize; /* normalize_total's streams, events and buffers
                             (normalize_workspace.cu), created on first use */
  /* The context's device memory: normalize and EMD allocate from this pool in stream order
   * (device_memory.cu); it keeps up to a release threshold cached between calls, so that a call
   * does not pay for cudaMalloc and cudaFree (which synchronise the device). */
  cudaMemPool_t pool = nullptr;
  /* A non-blocking stream of the context's own: EMD stages and returns chunks on it while the
   * caller's stream computes, and the pool's last frees run on it at release. */
  cudaStream_t copy_stream = nullptr;
  cudaEvent_t staged[NORMOT_CUDA_EMD_SETS] = {nullptr, nullptr};
  cudaEvent_t solved[NORMOT_CUDA_EMD_SETS] = {nullptr, nullptr};
  cudaEvent_t ready = nullptr;  /* on the caller's stream: the call's allocations and its
                                   earlier work, before the copy stream starts */
  cudaEvent_t copied = nullptr; /* on the copy stream: its last copy, before the caller's stream
                                   goes on */
};

static inline normot_cuda_state *normot_cuda_state_of(normot_context *context) {
  return static_cast<normot_cuda_state *>(context->backend_state);
}

/* device_memory.cu: the pool, stream and events above (created at context init, freed at
 * release), and allocations from the pool in the order of `stream`. */
normot_status normot_cuda_state_open(normot_context *context, normot_cuda_state *state);
void normot_cuda_state_close(normot_cuda_state *state);
normot_status normot_cuda_allocate(normot_context *context, size_t bytes, cudaStream_t stream,
                                   void **out);
void normot_cuda_free(void *pointer, cudaStream_t stream);

#endif
