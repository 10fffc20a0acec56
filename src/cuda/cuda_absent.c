/* Built instead of the CUDA backend when the library is configured without it: the neutral
 * layer finds no CUDA table and reports the backend as unavailable. */
#include "../backend.h"

const normot_backend_ops *normot_cuda_backend_ops(void) {
  return NULL;
}
