/* Context lifetime, backend choice, threads, stream and the last error message. */
#include "context.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define NORMOT_STR2(x) #x
#define NORMOT_STR(x) NORMOT_STR2(x)

const char *normot_version_string(void) {
  return NORMOT_STR(NORMOT_VERSION_MAJOR) "." NORMOT_STR(NORMOT_VERSION_MINOR) "." NORMOT_STR(
      NORMOT_VERSION_PATCH);
}

unsigned normot_version_number(void) {
  return NORMOT_VERSION_NUMBER;
}

int normot_cuda_device_count(void) {
  const normot_backend_ops *cuda = normot_cuda_backend_ops();
  return cuda == NULL ? 0 : cuda->device_count();
}

int normot_backend_available(normot_backend backend) {
  switch (backend) {
    case NORMOT_BACKEND_AUTO:
    case NORMOT_BACKEND_CPU: return 1;
    case NORMOT_BACKEND_CUDA: return normot_cuda_device_count() > 0;
  }
  return 0;
}

const char *normot_backend_name(normot_backend backend) {
  switch (backend) {
    case NORMOT_BACKEND_AUTO: return "auto";
    case NORMOT_BACKEND_CPU: return "cpu";
    case NORMOT_BACKEND_CUDA: return "cuda";
  }
  return "unknown";
}

normot_status normot_context_create(normot_context **out_context, normot_backend backend,
                                    int device_id) {
  if (out_context == NULL) return NORMOT_ERROR_NULL_POINTER;
  *out_context = NULL;
  if (backend != NORMOT_BACKEND_AUTO && backend != NORMOT_BACKEND_CPU &&
      backend != NORMOT_BACKEND_CUDA)
    return NORMOT_ERROR_INVALID_ARGUMENT;
  if (device_id < 0) return NORMOT_ERROR_INVALID_ARGUMENT;

  normot_backend chosen = backend;
  if (chosen == NORMOT_BACKEND_AUTO)
    chosen = normot_cuda_device_count() > device_id ? NORMOT_BACKEND_CUDA : NORMOT_BACKEND_CPU;
  if (chosen == NORMOT_BACKEND_CUDA && normot_cuda_device_count() <= device_id)
    return NORMOT_ERROR_BACKEND_UNAVAILABLE;

  normot_context *context = calloc(1, sizeof *context);
  if (context == NULL) return NORMOT_ERROR_OUT_OF_MEMORY;
  context->backend = chosen;
  context->device_id = device_id;
  context->ops =
      chosen == NORMOT_BACKEND_CUDA ? normot_cuda_backend_ops() : normot_cpu_backend_ops();
  if (context->ops->init != NULL) {
    normot_status status = context->ops->init(context);
    if (status != NORMOT_SUCCESS) {
      normot_context_destroy(context);
      return status;
    }
  }
  *out_context = context;
  return NORMOT_SUCCESS;
}

void normot_cache_clear(normot_context *context, normot_cache_slot slot) {
  normot_cache *cache = &context->cache[slot];
  if (cache->ptr != NULL && cache->release != NULL) cache->release(cache->ptr);
  cache->ptr = NULL;
  cache->release = NULL;
}

void normot_context_destroy(normot_context *context) {
  if (context == NULL) return;
  for (int slot = 0; slot < NORMOT_CACHE_COUNT; ++slot)
    normot_cache_clear(context, (normot_cache_slot)slot);
  if (context->ops != NULL && context->ops->release != NULL) context->ops->release(context);
  free(context);
}

normot_backend normot_context_backend(const normot_context *context) {
  return context == NULL ? NORMOT_BACKEND_CPU : context->backend;
}

normot_status normot_context_set_threads(normot_context *context, int n_threads) {
  if (context == NULL) return NORMOT_ERROR_NULL_POINTER;
  if (n_threads < 0)
    return normot_fail(context, NORMOT_ERROR_INVALID_ARGUMENT,
                       "thread count %d is negative (0 means what OpenMP would use)", n_threads);
  if (n_threads > NORMOT_MAX_THREADS)
    return normot_fail(context, NORMOT_ERROR_INVALID_ARGUMENT,
                       "thread count %d is above NORMOT_MAX_THREADS = %d", n_threads,
                       NORMOT_MAX_THREADS);
  context->n_threads = n_threads;
  return NORMOT_SUCCESS;
}

int normot_threads_for(const normot_context *context) {
  if (context != NULL && context->n_threads > 0) return context->n_threads;
#ifdef _OPENMP
  /* OMP_NUM_THREADS may ask for more than the cap; the runtime would try to start them all. */
  int openmp_default = omp_get_max_threads();
  return openmp_default < NORMOT_MAX_THREADS ? openmp_default : NORMOT_MAX_THREADS;
#else
  return 1;
#endif
}

int normot_context_threads(const normot_context *context) {
  return normot_threads_for(context);
}

normot_status normot_context_set_stream(normot_context *context, void *cuda_stream) {
  if (context == NULL) return NORMOT_ERROR_NULL_POINTER;
  context->stream = cuda_stream;
  return NORMOT_SUCCESS;
}

void *normot_context_stream(const normot_context *context) {
  return context == NULL ? NULL : context->stream;
}

const char *normot_context_last_error(const normot_context *context) {
  return context == NULL ? "context is NULL" : context->message;
}

normot_status normot_fail(normot_context *context, normot_status status, const char *format, ...) {
  if (context == NULL) return status;
  va_list args;
  va_start(args, format);
  vsnprintf(context->message, sizeof context->message, format, args);
  va_end(args);
  return status;
}

normot_memory normot_resolve_memory(normot_memory tag, const void *pointer) {
  if (tag != NORMOT_MEMORY_AUTO) return tag;
  const normot_backend_ops *cuda = normot_cuda_backend_ops();
  if (cuda == NULL || cuda->pointer_memory == NULL) return NORMOT_MEMORY_HOST;
  return cuda->pointer_memory(pointer);
}

int normot_mul_fits(int64_t a, int64_t b, int64_t *product) {
  if (a < 0 || b < 0) return 0;
  if (a != 0 && b > INT64_MAX / a) return 0;
  *product = a * b;
  return 1;
}

size_t normot_value_size(normot_value_type type) {
  switch (type) {
    case NORMOT_FLOAT32: return 4;
    case NORMOT_FLOAT64: return 8;
    case NORMOT_INT32: return 4;
    case NORMOT_INT64: return 8;
    case NORMOT_UINT16: return 2;
    case NORMOT_UINT32: return 4;
  }
  return 0;
}

size_t normot_index_size(normot_index_type type) {
  switch (type) {
    case NORMOT_INDEX_INT32: return 4;
    case NORMOT_INDEX_INT64: return 8;
  }
  return 0;
}

int normot_is_float_type(normot_value_type type) {
  return type == NORMOT_FLOAT32 || type == NORMOT_FLOAT64;
}
