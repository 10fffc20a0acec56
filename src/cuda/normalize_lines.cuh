/* Device-side pieces shared by the normalize kernels: how a line (a row of CSR or dense, a
 * column of CSC) is found in a chunk, how a failure is recorded, and the run-time type
 * dispatch that picks a template instance. Included by the kernel .cu files only. */
#ifndef NORMOT_SRC_CUDA_NORMALIZE_LINES_CUH
#define NORMOT_SRC_CUDA_NORMALIZE_LINES_CUH

#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "../context.h"
#include "normalize_arith.cuh"
#include "normalize_kernels.cuh"

namespace normot_cuda {

constexpr int BLOCK_THREADS = 256;

/* A compressed chunk: indptr holds global offsets, so the chunk-local entry of a global offset
 * is offset - base (base = indptr[0] of the chunk). */
template <class Index>
struct sparse_lines {
  const Index *indptr;
  const Index *indices;
  int64_t base;
  __device__ int64_t begin(int64_t line) const { return static_cast<int64_t>(indptr[line]) - base; }
  __device__ int64_t end(int64_t line) const {
    return static_cast<int64_t>(indptr[line + 1]) - base;
  }
  __device__ int64_t minor(int64_t entry, int64_t line_begin) const {
    return static_cast<int64_t>(indices[entry]);
  }
  /* The key that orders failures as a serial scan of the whole matrix would meet them. */
  __device__ unsigned long long position(int64_t global_line, int64_t entry,
                                         int64_t line_begin) const {
    return static_cast<unsigned long long>(base + entry);
  }
};

/* Dense rows at a fixed pitch; the column of an entry is its place in the row. */
struct dense_lines {
  int64_t pitch;
  int64_t n_cols;
  __device__ int64_t begin(int64_t line) const { return line * pitch; }
  __device__ int64_t end(int64_t line) const { return line * pitch + n_cols; }
  __device__ int64_t minor(int64_t entry, int64_t line_begin) const { return entry - line_begin; }
  __device__ unsigned long long position(int64_t global_line, int64_t entry,
                                         int64_t line_begin) const {
    return static_cast<unsigned long long>(global_line * n_cols + (entry - line_begin));
  }
};

/* The CSC column holding chunk-local entry `entry`: the last line whose begin is <= entry
 * (empty columns are skipped because their begin equals the next one's). */
template <class Index>
__device__ int64_t line_of_entry(const Index *indptr, int64_t n_lines, int64_t base,
                                 int64_t entry) {
  const int64_t offset = base + entry;
  int64_t low = 0, high = n_lines;  // indptr[low] <= offset < indptr[high]
  while (high - low > 1) {
    const int64_t middle = low + (high - low) / 2;
    if (static_cast<int64_t>(indptr[middle]) <= offset)
      low = middle;
    else
      high = middle;
  }
  return low;
}

__device__ __forceinline__ void record_first(unsigned long long *slot, unsigned long long key) {
  if (key < *reinterpret_cast<volatile unsigned long long *>(slot)) atomicMin(slot, key);
}

inline unsigned grid_for(int64_t work_items, int threads_per_item, int multiprocessors) {
  // Enough blocks to fill the device several times over; kernels loop over the rest.
  const int64_t threads = work_items * threads_per_item;
  int64_t blocks = (threads + BLOCK_THREADS - 1) / BLOCK_THREADS;
  const int64_t cap = static_cast<int64_t>(multiprocessors) * 32;
  if (blocks > cap) blocks = cap;
  if (blocks < 1) blocks = 1;
  return static_cast<unsigned>(blocks);
}

/* ---- run-time types to template instances --------------------------------------------- */

template <class T>
struct type_tag {
  using type = T;
};

/* Calls f(type_tag<In>, type_tag<Out>) for the value types the API allows: float input keeps
 * its type, integer input becomes float32 or float64. */
template <class Out, class F>
normot_status dispatch_input(normot_value_type in_type, F &&f) {
  switch (in_type) {
    case NORMOT_FLOAT32:
      if constexpr (std::is_same<Out, float>::value) return f(type_tag<float>(), type_tag<Out>());
      break;
    case NORMOT_FLOAT64:
      if constexpr (std::is_same<Out, double>::value) return f(type_tag<double>(), type_tag<Out>());
      break;
    case NORMOT_INT32: return f(type_tag<int32_t>(), type_tag<Out>());
    case NORMOT_INT64: return f(type_tag<int64_t>(), type_tag<Out>());
    case NORMOT_UINT16: return f(type_tag<uint16_t>(), type_tag<Out>());
    case NORMOT_UINT32: return f(type_tag<uint32_t>(), type_tag<Out>());
  }
  return NORMOT_ERROR_UNSUPPORTED_TYPE;
}

template <class F>
normot_status dispatch_values(normot_value_type in_type, normot_value_type out_type, F &&f) {
  switch (out_type) {
    case NORMOT_FLOAT32: return dispatch_input<float>(in_type, f);
    case NORMOT_FLOAT64: return dispatch_input<double>(in_type, f);
    default: break;
  }
  return NORMOT_ERROR_UNSUPPORTED_TYPE;
}

template <class F>
normot_status dispatch_index(normot_index_type index_type, F &&f) {
  switch (index_type) {
    case NORMOT_INDEX_INT32: return f(type_tag<int32_t>());
    case NORMOT_INDEX_INT64: return f(type_tag<int64_t>());
  }
  return NORMOT_ERROR_UNSUPPORTED_TYPE;
}

template <class F>
normot_status dispatch_output(normot_value_type out_type, F &&f) {
  switch (out_type) {
    case NORMOT_FLOAT32: return f(type_tag<float>());
    case NORMOT_FLOAT64: return f(type_tag<double>());
    default: break;
  }
  return NORMOT_ERROR_UNSUPPORTED_TYPE;
}

/* A status for a type combination the dispatch layer should have refused. */
inline normot_status unsupported_types(normot_context *context, normot_status status) {
  if (status == NORMOT_ERROR_UNSUPPORTED_TYPE)
    return normot_fail(context, status, "CUDA normalize_total: unsupported type combination");
  return status;
}

}  // namespace normot_cuda

#endif
