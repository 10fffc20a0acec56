/* The context behind the opaque normot_context handle, and the backend interface.
 * Private: never installed. Every backend sees the context through this header only. */
#ifndef NORMOT_SRC_CONTEXT_H
#define NORMOT_SRC_CONTEXT_H

#include "normot/normot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A backend is a small table of functions. Arguments reach them already checked by the
 * dispatch layer for everything that needs no pass over the data (pointers, sizes, enums,
 * parameter ranges, memory tags): a backend checks the contents (indptr, indices, finiteness)
 * itself, fused with its first read, and must still write nothing before that check passes. */
typedef struct normot_backend_ops {
  normot_backend kind;
  normot_status (*normalize_total)(normot_context *context, const normot_matrix *X,
                                   const normot_normalize_params *params,
                                   normot_normalize_output *output);
  normot_status (*emd)(normot_context *context, const normot_emd_problem *problem,
                       const normot_emd_params *params, normot_emd_result *result);
  /* Releases whatever the backend keeps in the context (device handles, streams). */
  void (*release)(normot_context *context);
} normot_backend_ops;

/* Scratch memory that a kernel keeps in the context between calls, so that a loop of calls
 * allocates once. Each slot belongs to one kernel; `release` frees `ptr`. */
typedef enum normot_cache_slot {
  NORMOT_CACHE_NORMALIZE = 0,
  NORMOT_CACHE_EMD = 1,
  NORMOT_CACHE_CUDA = 2,
  NORMOT_CACHE_COUNT = 3
} normot_cache_slot;

typedef struct normot_cache {
  void *ptr;
  void (*release)(void *ptr);
} normot_cache;

enum { NORMOT_MESSAGE_CAPACITY = 512 };

struct normot_context {
  normot_backend backend; /* resolved: CPU or CUDA */
  int device_id;
  int n_threads; /* 0: omp_get_max_threads() at each call */
  void *stream;
  const normot_backend_ops *ops;
  normot_cache cache[NORMOT_CACHE_COUNT];
  char message[NORMOT_MESSAGE_CAPACITY];
};

/* Records a failure message (printf-style) and returns `status`, so that callers can write
 * `return normot_fail(ctx, NORMOT_ERROR_..., "...", ...);`. */
normot_status normot_fail(normot_context *context, normot_status status, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* The thread count to hand to OpenMP for this context (>= 1). */
int normot_threads_for(const normot_context *context);

/* Releases whatever sits in a cache slot and empties it. */
void normot_cache_clear(normot_context *context, normot_cache_slot slot);

/* Backends. */
const normot_backend_ops *normot_cpu_backend_ops(void);

#ifdef NORMOT_HAVE_CUDA
/* Provided by src/cuda/. */
const normot_backend_ops *normot_cuda_backend_ops(void);
int normot_cuda_visible_devices(void);
/* Prepares the context for `device_id` (sets the device, creates what the backend keeps). */
normot_status normot_cuda_context_init(normot_context *context);
/* Where a pointer lives, as the CUDA driver sees it (HOST if unknown to it). */
normot_memory normot_cuda_pointer_memory(const void *pointer);
#endif

/* Resolves NORMOT_MEMORY_AUTO for a pointer; other tags are returned unchanged. */
normot_memory normot_resolve_memory(normot_memory tag, const void *pointer);

/* Size helpers that report overflow: return 0 when a*b would not fit in int64_t. */
int normot_mul_fits(int64_t a, int64_t b, int64_t *product);

/* Bytes per element of a value type (0 for an unknown type). */
size_t normot_value_size(normot_value_type type);
size_t normot_index_size(normot_index_type type);
int normot_is_float_type(normot_value_type type);

#ifdef __cplusplus
}
#endif

#endif
