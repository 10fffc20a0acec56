/* The context's device memory pool, its copy stream and the EMD pipeline's events. */
#include <cuda_runtime.h>
#include <stdint.h>

#include "cuda_check.cuh"
#include "cuda_state.cuh"

/* The pool keeps what was freed, up to this fraction of the device's memory, for the next call
 * (beyond it, memory goes back to the device when a stream synchronises). */
static const size_t kReleaseFraction = 4;

static normot_status create_pool(normot_context *context, normot_cuda_state *state) {
  int supported = 0;
  NORMOT_CUDA_TRY(
      cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, context->device_id));
  if (!supported)
    return normot_fail(context, NORMOT_ERROR_BACKEND_UNAVAILABLE,
                       "CUDA device %d has no stream-ordered memory pools (CUDA 11.2+ driver)",
                       context->device_id);
  cudaMemPoolProps props = {};
  props.allocType = cudaMemAllocationTypePinned;
  props.location.type = cudaMemLocationTypeDevice;
  props.location.id = context->device_id;
  NORMOT_CUDA_TRY(cudaMemPoolCreate(&state->pool, &props));
  size_t free_bytes = 0, total_bytes = 0;
  NORMOT_CUDA_TRY(cudaMemGetInfo(&free_bytes, &total_bytes));
  uint64_t threshold = total_bytes / kReleaseFraction;
  NORMOT_CUDA_TRY(
      cudaMemPoolSetAttribute(state->pool, cudaMemPoolAttrReleaseThreshold, &threshold));
  return NORMOT_SUCCESS;
}

normot_status normot_cuda_state_open(normot_context *context, normot_cuda_state *state) {
  NORMOT_TRY(create_pool(context, state));
  // Non-blocking: no implicit ordering with the legacy default stream the caller may use.
  NORMOT_CUDA_TRY(cudaStreamCreateWithFlags(&state->copy_stream, cudaStreamNonBlocking));
  for (int set = 0; set < NORMOT_CUDA_EMD_SETS; ++set) {
    NORMOT_CUDA_TRY(cudaEventCreateWithFlags(&state->staged[set], cudaEventDisableTiming));
    NORMOT_CUDA_TRY(cudaEventCreateWithFlags(&state->solved[set], cudaEventDisableTiming));
  }
  NORMOT_CUDA_TRY(cudaEventCreateWithFlags(&state->ready, cudaEventDisableTiming));
  NORMOT_CUDA_TRY(cudaEventCreateWithFlags(&state->copied, cudaEventDisableTiming));
  return NORMOT_SUCCESS;
}

/* Errors are ignored: nobody is left to report them to. The pool goes last: a pool destroyed
 * with frees still pending on a stream is released once they are done. */
void normot_cuda_state_close(normot_cuda_state *state) {
  if (state->copy_stream != nullptr) cudaStreamSynchronize(state->copy_stream);
  for (int set = 0; set < NORMOT_CUDA_EMD_SETS; ++set) {
    if (state->staged[set] != nullptr) cudaEventDestroy(state->staged[set]);
    if (state->solved[set] != nullptr) cudaEventDestroy(state->solved[set]);
  }
  if (state->ready != nullptr) cudaEventDestroy(state->ready);
  if (state->copied != nullptr) cudaEventDestroy(state->copied);
  if (state->copy_stream != nullptr) cudaStreamDestroy(state->copy_stream);
  if (state->pool != nullptr) cudaMemPoolDestroy(state->pool);
  (void)cudaGetLastError();
}

normot_status normot_cuda_allocate(normot_context *context, size_t bytes, cudaStream_t stream,
                                   void **out) {
  *out = nullptr;
  normot_cuda_state *state = normot_cuda_state_of(context);
  NORMOT_CUDA_TRY(cudaMallocFromPoolAsync(out, bytes, state->pool, stream));
  return NORMOT_SUCCESS;
}

void normot_cuda_free(void *pointer, cudaStream_t stream) {
  if (pointer != nullptr) (void)cudaFreeAsync(pointer, stream);
}
