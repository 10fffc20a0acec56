/* What the CUDA normalize_total keeps in a context between calls (in the backend's state):
 * its streams and events, pinned staging buffers and device scratch. Buffers only grow, so a
 * loop of calls on same-sized data allocates once. */
#ifndef NORMOT_SRC_CUDA_NORMALIZE_WORKSPACE_CUH
#define NORMOT_SRC_CUDA_NORMALIZE_WORKSPACE_CUH

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "../context.h"

namespace normot_cuda {

struct buffer {
  void *ptr = nullptr;
  size_t bytes = 0;
};

/* Makes `buffer` hold at least `bytes` (device memory, or pinned host memory). The old content
 * is not kept. */
normot_status ensure_device(normot_context *context, buffer *buffer, size_t bytes);
normot_status ensure_pinned(normot_context *context, buffer *buffer, size_t bytes);

/* Facts that kernels report back; positions are "first offender" keys (smallest wins), and
 * NO_POSITION means none was found. */
constexpr unsigned long long NO_POSITION = ~0ull;
struct device_report {
  unsigned long long bad_step_major;      // first line m whose indptr[m] -> indptr[m + 1] is bad
  unsigned long long bad_index_position;  // global entry offset of an index out of range
  unsigned long long nonfinite_position;  // global entry offset (dense: row * n_cols + col)
  unsigned long long zero_cells;          // cells whose size factor was 0 and became 1
  unsigned long long excluded_genes;
  long long positive_count;  // totals > 0 (median input)
};

/* Host-resident input is streamed through SLOT_COUNT slots: while the GPU works on one chunk,
 * the next is copied in and the previous one copied out. */
enum { SLOT_COUNT = 3 };

/* A piece of pinned output waiting to be copied to the caller's (pageable) buffer once the
 * slot's event has completed. Dense rows with ld > n_cols are copied row by row. */
struct pending_output {
  int active = 0;
  char *destination = nullptr; /* caller's memory */
  int64_t rows = 0;            /* number of pieces */
  size_t row_bytes = 0;        /* bytes per piece */
  size_t destination_pitch = 0;
};

struct stream_slot {
  cudaStream_t stream = nullptr;
  cudaEvent_t done = nullptr;     /* everything of the slot's last chunk */
  cudaEvent_t computed = nullptr; /* its kernels: CSC totals chain the chunks on it */
  buffer pinned_indptr, pinned_indices, pinned_values, pinned_out;
  buffer device_indptr, device_indices, device_values, device_out;
  /* Lines too long for a warp: a count (first 8 bytes) then their indices. */
  buffer long_lines;
  pending_output pending;
};

struct workspace {
  int device_id = 0;
  cudaStream_t free_stream = nullptr; /* the context's copy stream: the pool's frees at release */
  int multiprocessors = 1;
  int slots_ready = 0;
  stream_slot slots[SLOT_COUNT];
  cudaEvent_t caller_ready = nullptr; /* recorded on the context's stream at the start */
  /* Per call, sized by the matrix. */
  buffer sums;        /* float64 row accumulators, n_rows */
  buffer totals;      /* totals in the output type, n_rows */
  buffer factors;     /* usable size factors in the output type, n_rows */
  buffer raw_factors; /* total / target before 0 -> 1, n_rows */
  buffer excluded;    /* int32 per gene: 1 if highly expressed somewhere */
  buffer positives;   /* positive totals, then sorted */
  buffer sorted;
  buffer cub_temp;
  buffer report;        /* device_report */
  buffer pinned_report; /* device_report, host side */
  /* Host input that fits on the device stays there between passes. */
  buffer resident_indptr, resident_indices, resident_values, resident_out;
  buffer long_lines; /* for device-resident input */
  /* CSC totals: one chunk's entries sorted by cell (chunks run one after the other). */
  buffer csc_sorted_cells, csc_order_in, csc_order_out, csc_temp;
};

/* The context's workspace, created on first use (streams and events on the context's device). */
normot_status get_workspace(normot_context *context, workspace **out);

}  // namespace normot_cuda

#endif
