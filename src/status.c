#include "normot/normot.h"

const char *normot_status_string(normot_status status) {
  switch (status) {
    case NORMOT_SUCCESS: return "success";
    case NORMOT_ERROR_NULL_POINTER: return "null pointer";
    case NORMOT_ERROR_INVALID_SIZE: return "invalid size";
    case NORMOT_ERROR_INVALID_INDPTR: return "invalid indptr";
    case NORMOT_ERROR_INDEX_OUT_OF_RANGE: return "index out of range";
    case NORMOT_ERROR_NONFINITE_VALUE: return "NaN or Inf value";
    case NORMOT_ERROR_INVALID_MAX_FRACTION: return "max_fraction outside [0, 1]";
    case NORMOT_ERROR_INVALID_TARGET_SUM: return "target_sum not finite and positive";
    case NORMOT_ERROR_INVALID_LOG_BASE: return "invalid log base";
    case NORMOT_ERROR_UNSUPPORTED_TYPE: return "unsupported type combination";
    case NORMOT_ERROR_BACKEND_UNAVAILABLE: return "backend unavailable";
    case NORMOT_ERROR_NO_POSITIVE_TOTAL: return "no cell has a positive total";
    case NORMOT_ERROR_OUT_OF_MEMORY: return "out of memory";
    case NORMOT_ERROR_NOT_IMPLEMENTED: return "not implemented by this backend";
    case NORMOT_ERROR_CUDA: return "CUDA error";
    case NORMOT_ERROR_INVALID_MEMORY: return "memory kind not usable here";
    case NORMOT_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case NORMOT_ERROR_NEGATIVE_WEIGHT: return "negative weight";
    case NORMOT_ERROR_UNBALANCED: return "unbalanced marginals";
    case NORMOT_ERROR_ZERO_MASS: return "marginal of zero mass";
    case NORMOT_ERROR_OVERFLOW: return "result would overflow";
    case NORMOT_ERROR_INTERNAL: return "internal error";
  }
  return "unknown status";
}
