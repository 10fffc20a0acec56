/* The CUDA backend's table, device discovery, context set-up and pointer classification.
 *
 * What a kernel keeps per context (streams, pinned and device buffers) lives in the context's
 * cache slots (NORMOT_CACHE_CUDA for normalize_total, see normalize_workspace.cu), created on
 * first use and freed by normot_context_destroy() before `release` runs. */
#include <cuda_runtime.h>

#include "cuda_kernels.h"

static void cuda_release(normot_context *context) {
  (void)context;  // nothing beyond the cache slots, which the context frees itself
}

/* Launching nothing: its attributes exist only if this library holds code the device can run. */
static __global__ void normot_cuda_probe_kernel(void) {}

static const normot_backend_ops cuda_ops = {
    NORMOT_BACKEND_CUDA,
    normot_cuda_normalize_total,
    normot_cuda_emd,
    cuda_release,
};

extern "C" const normot_backend_ops *normot_cuda_backend_ops(void) {
  return &cuda_ops;
}

extern "C" int normot_cuda_visible_devices(void) {
  int count = 0;
  // No driver or no device is an error code here, not a failure: it means zero devices.
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return count;
}

extern "C" normot_status normot_cuda_context_init(normot_context *context) {
  int previous_device = -1;
  if (cudaGetDevice(&previous_device) != cudaSuccess) previous_device = -1;
  cudaError_t error = cudaSetDevice(context->device_id);
  if (error != cudaSuccess) {
    (void)cudaGetLastError();
    return normot_fail(context, NORMOT_ERROR_CUDA, "cudaSetDevice(%d): %s", context->device_id,
                       cudaGetErrorString(error));
  }
  // A device older than the architectures this library was built for (sm_90 by default) would
  // fail every launch: say so now, as an unavailable backend.
  cudaFuncAttributes attributes;
  error = cudaFuncGetAttributes(&attributes, normot_cuda_probe_kernel);
  normot_status status = NORMOT_SUCCESS;
  if (error != cudaSuccess) {
    (void)cudaGetLastError();
    cudaDeviceProp properties;
    int major = 0, minor = 0;
    if (cudaGetDeviceProperties(&properties, context->device_id) == cudaSuccess) {
      major = properties.major;
      minor = properties.minor;
    }
    (void)cudaGetLastError();
    status = normot_fail(context, NORMOT_ERROR_BACKEND_UNAVAILABLE,
                         "CUDA device %d (compute capability %d.%d) cannot run this build of "
                         "normot: %s (rebuild with CMAKE_CUDA_ARCHITECTURES for it)",
                         context->device_id, major, minor, cudaGetErrorString(error));
  }
  // The caller's current device stays theirs.
  if (previous_device >= 0 && previous_device != context->device_id) cudaSetDevice(previous_device);
  return status;
}

extern "C" normot_memory normot_cuda_pointer_memory(const void *pointer) {
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
