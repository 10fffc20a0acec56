/* The CUDA backend's table: device discovery, the context's state (cuda_state.cuh), the device
 * guard every entry point runs under, pointer classification and the copy the neutral content
 * checks use for device-resident inputs. */
#include <cuda_runtime.h>

#include <new>

#include "cuda_check.cuh"
#include "cuda_kernels.h"
#include "cuda_state.cuh"

/* Launching nothing: its attributes exist only if this library holds code the device can run. */
static __global__ void normot_cuda_probe_kernel(void) {}

static int cuda_device_count(void) {
  int count = 0;
  // No driver or no device is an error code here, not a failure: it means zero devices.
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return count;
}

/* The context's device becomes current; *token keeps the caller's (-1: unknown). */
static normot_status cuda_enter(normot_context *context, int *token) {
  *token = -1;
  if (cudaGetDevice(token) != cudaSuccess) {
    (void)cudaGetLastError();
    *token = -1;
  }
  cudaError_t error = cudaSetDevice(context->device_id);
  if (error != cudaSuccess) {
    (void)cudaGetLastError();
    return normot_fail(context, NORMOT_ERROR_CUDA, "cudaSetDevice(%d): %s", context->device_id,
                       cudaGetErrorString(error));
  }
  return NORMOT_SUCCESS;
}

/* The caller's current device stays theirs. */
static void cuda_leave(normot_context *context, int token) {
  if (token >= 0 && token != context->device_id) (void)cudaSetDevice(token);
}

/* A device older than the architectures this library was built for (sm_90 by default) would
 * fail every launch: say so at context creation, as an unavailable backend. */
static normot_status check_device_runs_this_build(normot_context *context) {
  cudaFuncAttributes attributes;
  cudaError_t error = cudaFuncGetAttributes(&attributes, normot_cuda_probe_kernel);
  if (error == cudaSuccess) return NORMOT_SUCCESS;
  (void)cudaGetLastError();
  cudaDeviceProp properties;
  int major = 0, minor = 0;
  if (cudaGetDeviceProperties(&properties, context->device_id) == cudaSuccess) {
    major = properties.major;
    minor = properties.minor;
  }
  (void)cudaGetLastError();
  return normot_fail(context, NORMOT_ERROR_BACKEND_UNAVAILABLE,
                     "CUDA device %d (compute capability %d.%d) cannot run this build of "
                     "normot: %s (rebuild with CMAKE_CUDA_ARCHITECTURES for it)",
                     context->device_id, major, minor, cudaGetErrorString(error));
}

static normot_status cuda_init(normot_context *context) {
  normot_cuda_state *state = new (std::nothrow) normot_cuda_state();
  if (state == nullptr)
    return normot_fail(context, NORMOT_ERROR_OUT_OF_MEMORY, "CUDA context: out of host memory");
  context->backend_state = state;
  int token = -1;
  normot_status status = cuda_enter(context, &token);
  if (status == NORMOT_SUCCESS) status = check_device_runs_this_build(context);
  if (status == NORMOT_SUCCESS) status = normot_cuda_state_open(context, state);
  cuda_leave(context, token);
  return status;
}

static void cuda_release(normot_context *context) {
  normot_cuda_state *state = normot_cuda_state_of(context);
  if (state == nullptr) return;
  int token = -1;
  const bool entered = cuda_enter(context, &token) == NORMOT_SUCCESS;
  if (state->normalize.ptr != nullptr && state->normalize.release != nullptr)
    state->normalize.release(state->normalize.ptr);
  normot_cuda_state_close(state); /* after normalize: its buffers go back to the pool first */
  if (entered) cuda_leave(context, token);
  delete state;
  context->backend_state = nullptr;
}

static normot_memory cuda_pointer_memory(const void *pointer) {
  cudaPointerAttributes attributes;
  if (pointer == NULL || cudaPointerGetAttributes(&attributes, pointer) != cudaSuccess) {
    (void)cudaGetLastError();
    return NORMOT_MEMORY_HOST;
  }
  switch (attributes.type) {
    case cudaMemoryTypeDevice: return NORMOT_MEMORY_CUDA;
    case cudaMemoryTypeHost: return NORMOT_MEMORY_CUDA_HOST;
    case cudaMemoryTypeManaged: return NORMOT_MEMORY_CUDA_MANAGED;
    default: return NORMOT_MEMORY_HOST;
  }
}

/* On the context's stream, then waited for: the caller's stream order is kept. */
static normot_status cuda_copy_to_host(normot_context *context, void *host, const void *source,
                                       size_t bytes) {
  cudaStream_t stream = (cudaStream_t)context->stream;
  NORMOT_CUDA_TRY(cudaMemcpyAsync(host, source, bytes, cudaMemcpyDefault, stream));
  NORMOT_CUDA_TRY(cudaStreamSynchronize(stream));
  return NORMOT_SUCCESS;
}

static const normot_backend_ops cuda_ops = {
    NORMOT_BACKEND_CUDA,         cuda_init,       cuda_release, cuda_device_count,
    cuda_pointer_memory,         cuda_enter,      cuda_leave,   cuda_copy_to_host,
    normot_cuda_normalize_total, normot_cuda_emd,
};

extern "C" const normot_backend_ops *normot_cuda_backend_ops(void) {
  return &cuda_ops;
}
