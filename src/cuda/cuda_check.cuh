/* Turning CUDA runtime errors into normot statuses.
 *
 * Every CUDA call of the backend goes through normot_cuda_check(): an allocation failure is
 * NORMOT_ERROR_OUT_OF_MEMORY (the caller can do something about it), anything else is
 * NORMOT_ERROR_CUDA, and the message names the call and carries cudaGetErrorString(). */
#ifndef NORMOT_SRC_CUDA_CHECK_CUH
#define NORMOT_SRC_CUDA_CHECK_CUH

#include <cuda_runtime.h>

#include "../context.h"

static inline normot_status normot_cuda_check(normot_context *context, cudaError_t error,
                                              const char *what) {
  if (error == cudaSuccess) return NORMOT_SUCCESS;
  // Clear the sticky "last error" so that a later, unrelated check does not see it again.
  (void)cudaGetLastError();
  normot_status status =
      error == cudaErrorMemoryAllocation ? NORMOT_ERROR_OUT_OF_MEMORY : NORMOT_ERROR_CUDA;
  return normot_fail(context, status, "CUDA: %s failed: %s", what, cudaGetErrorString(error));
}

/* Inside a function that returns normot_status and has `context` in scope. The statement text
 * is the message, so that a failure says which call it was. */
#define NORMOT_CUDA_TRY(call)                                                          \
  do {                                                                                 \
    normot_status normot_cuda_try_status_ = normot_cuda_check(context, (call), #call); \
    if (normot_cuda_try_status_ != NORMOT_SUCCESS) return normot_cuda_try_status_;     \
  } while (0)

/* Same, for a status-returning normot function. */
#define NORMOT_TRY(expression)                                           \
  do {                                                                   \
    normot_status normot_try_status_ = (expression);                     \
    if (normot_try_status_ != NORMOT_SUCCESS) return normot_try_status_; \
  } while (0)

/* A kernel launch reports a bad configuration only through cudaGetLastError(); `name` says
 * which kernel it was. */
#define NORMOT_CUDA_TRY_LAUNCH(name)                                               \
  do {                                                                             \
    normot_status normot_cuda_try_status_ =                                        \
        normot_cuda_check(context, cudaGetLastError(), "launch of " name);         \
    if (normot_cuda_try_status_ != NORMOT_SUCCESS) return normot_cuda_try_status_; \
  } while (0)

#endif
