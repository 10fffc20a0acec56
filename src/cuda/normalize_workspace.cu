/* The CUDA normalize_total workspace: creation on first use, growth, and release with the
 * context. */
#include <new>

#include "cuda_check.cuh"
#include "cuda_state.cuh"
#include "normalize_workspace.cuh"

namespace normot_cuda {

/* Grows a cached buffer from the context's pool, in the order of the context's stream; the
 * stream is waited for once the buffer is new (rarely: buffers are kept between calls), so that
 * the slots' streams may use it at once. The old buffer's users are done: every call waits for
 * its streams before it returns, and a buffer is grown before the call's first use of it. */
normot_status ensure_device(normot_context *context, buffer *buffer, size_t bytes) {
  if (buffer->bytes >= bytes && buffer->ptr != nullptr) return NORMOT_SUCCESS;
  cudaStream_t stream = static_cast<cudaStream_t>(context->stream);
  normot_cuda_free(buffer->ptr, stream);
  buffer->ptr = nullptr;
  buffer->bytes = 0;
  if (bytes == 0) bytes = 16;  // a valid pointer even for empty arrays
  NORMOT_TRY(normot_cuda_allocate(context, bytes, stream, &buffer->ptr));
  NORMOT_CUDA_TRY(cudaStreamSynchronize(stream));
  buffer->bytes = bytes;
  return NORMOT_SUCCESS;
}

normot_status ensure_pinned(normot_context *context, buffer *buffer, size_t bytes) {
  if (buffer->bytes >= bytes && buffer->ptr != nullptr) return NORMOT_SUCCESS;
  if (buffer->ptr != nullptr) cudaFreeHost(buffer->ptr);
  buffer->ptr = nullptr;
  buffer->bytes = 0;
  if (bytes == 0) bytes = 16;
  NORMOT_CUDA_TRY(cudaMallocHost(&buffer->ptr, bytes));
  buffer->bytes = bytes;
  return NORMOT_SUCCESS;
}

/* At release, on the context's copy stream (the pool is destroyed after it). */
static void free_device(buffer *buffer, cudaStream_t stream) {
  normot_cuda_free(buffer->ptr, stream);
  *buffer = normot_cuda::buffer();
}

static void free_pinned(buffer *buffer) {
  if (buffer->ptr != nullptr) cudaFreeHost(buffer->ptr);
  *buffer = normot_cuda::buffer();
}

/* The cache slot's release function: frees everything, whatever state it was left in. Errors
 * are ignored: there is nobody to report them to, and each free is independent. */
static void release_workspace(void *pointer) {
  workspace *space = static_cast<workspace *>(pointer);
  if (space == nullptr) return;
  int previous_device = 0;
  bool switched = cudaGetDevice(&previous_device) == cudaSuccess &&
                  previous_device != space->device_id &&
                  cudaSetDevice(space->device_id) == cudaSuccess;
  for (int i = 0; i < SLOT_COUNT; ++i) {
    stream_slot &slot = space->slots[i];
    if (slot.stream != nullptr) {
      cudaStreamSynchronize(slot.stream);
      cudaStreamDestroy(slot.stream);
    }
    if (slot.done != nullptr) cudaEventDestroy(slot.done);
    if (slot.computed != nullptr) cudaEventDestroy(slot.computed);
    free_pinned(&slot.pinned_indptr);
    free_pinned(&slot.pinned_indices);
    free_pinned(&slot.pinned_values);
    free_pinned(&slot.pinned_out);
    free_device(&slot.device_indptr, space->free_stream);
    free_device(&slot.device_indices, space->free_stream);
    free_device(&slot.device_values, space->free_stream);
    free_device(&slot.device_out, space->free_stream);
    free_device(&slot.long_lines, space->free_stream);
  }
  if (space->caller_ready != nullptr) cudaEventDestroy(space->caller_ready);
  buffer *device_buffers[] = {&space->sums,
                              &space->totals,
                              &space->factors,
                              &space->raw_factors,
                              &space->excluded,
                              &space->positives,
                              &space->sorted,
                              &space->cub_temp,
                              &space->report,
                              &space->resident_indptr,
                              &space->resident_indices,
                              &space->resident_values,
                              &space->resident_out,
                              &space->long_lines,
                              &space->csc_sorted_cells,
                              &space->csc_order_in,
                              &space->csc_order_out,
                              &space->csc_temp};
  for (buffer *b : device_buffers) free_device(b, space->free_stream);
  free_pinned(&space->pinned_report);
  (void)cudaGetLastError();
  if (switched) cudaSetDevice(previous_device);
  delete space;
}

static normot_status create_slots(normot_context *context, workspace *space) {
  for (int i = space->slots_ready; i < SLOT_COUNT; ++i) {
    stream_slot &slot = space->slots[i];
    // Non-blocking: the slots must not serialize with the legacy default stream, which the
    // caller may be using for unrelated work; ordering with the context's stream is explicit.
    if (slot.stream == nullptr)
      NORMOT_CUDA_TRY(cudaStreamCreateWithFlags(&slot.stream, cudaStreamNonBlocking));
    if (slot.done == nullptr)
      NORMOT_CUDA_TRY(cudaEventCreateWithFlags(&slot.done, cudaEventDisableTiming));
    if (slot.computed == nullptr)
      NORMOT_CUDA_TRY(cudaEventCreateWithFlags(&slot.computed, cudaEventDisableTiming));
    space->slots_ready = i + 1;
  }
  return NORMOT_SUCCESS;
}

normot_status get_workspace(normot_context *context, workspace **out) {
  *out = nullptr;
  NORMOT_CUDA_TRY(cudaSetDevice(context->device_id));
  normot_cache *cache = &normot_cuda_state_of(context)->normalize;
  workspace *space = static_cast<workspace *>(cache->ptr);
  if (space == nullptr) {
    space = new (std::nothrow) workspace();
    if (space == nullptr)
      return normot_fail(context, NORMOT_ERROR_OUT_OF_MEMORY, "CUDA workspace: out of host memory");
    space->device_id = context->device_id;
    space->free_stream = normot_cuda_state_of(context)->copy_stream;
    // Stored before anything else can fail, so that the context's destruction frees it all.
    cache->ptr = space;
    cache->release = release_workspace;
    NORMOT_CUDA_TRY(cudaDeviceGetAttribute(&space->multiprocessors, cudaDevAttrMultiProcessorCount,
                                           context->device_id));
  }
  // Each piece is created when missing, so that a failure half-way is retried by the next call.
  if (space->caller_ready == nullptr)
    NORMOT_CUDA_TRY(cudaEventCreateWithFlags(&space->caller_ready, cudaEventDisableTiming));
  NORMOT_TRY(create_slots(context, space));
  *out = space;
  return NORMOT_SUCCESS;
}

}  // namespace normot_cuda
