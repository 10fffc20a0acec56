/* The CUDA backend's table, device discovery and pointer classification. */
#include <cuda_runtime.h>

#include "cuda_kernels.h"

static void cuda_release(normot_context *context) {
  (void)context;
}

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
  cudaError_t error = cudaSetDevice(context->device_id);
  if (error != cudaSuccess)
    return normot_fail(context, NORMOT_ERROR_CUDA, "cudaSetDevice(%d): %s", context->device_id,
                       cudaGetErrorString(error));
  return NORMOT_SUCCESS;
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
