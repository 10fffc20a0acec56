/* The context behind the opaque normot_context handle, and the backend interface.
 * Private: never installed. Every backend sees the context through this header only. */
#ifndef NORMOT_SRC_CONTEXT_H
#define NORMOT_SRC_CONTEXT_H

#include "backend.h"
#include "normot/normot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Scratch memory that a kernel keeps in the context between calls, so that a loop of calls
 * allocates once. Each slot belongs to one kernel; `release` frees `ptr`. */
typedef enum normot_cache_slot {
  NORMOT_CACHE_NORMALIZE = 0,
  NORMOT_CACHE_EMD = 1,
  NORMOT_CACHE_COUNT = 2
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
  void *backend_state; /* the backend's own (ops->init / ops->release) */
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

/* Resolves NORMOT_MEMORY_AUTO for a pointer; other tags are returned unchanged. */
normot_memory normot_resolve_memory(normot_memory tag, const void *pointer);

/* Size helpers that report overflow: return 0 when a*b would not fit in int64_t. */
int normot_mul_fits(int64_t a, int64_t b, int64_t *product);

int normot_is_float_type(normot_value_type type);

#ifdef __cplusplus
}
#endif

#endif
