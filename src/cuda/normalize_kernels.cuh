/* The kernels of the CUDA normalize_total, behind launch functions that take run-time types, so
 * that the driver (normalize_total.cu) stays free of templates.
 *
 * Work is cut into chunks of whole lines (rows for CSR and dense, columns for CSC): a
 * device-resident matrix is one chunk, a host-resident one is streamed chunk by chunk. */
#ifndef NORMOT_SRC_CUDA_NORMALIZE_KERNELS_CUH
#define NORMOT_SRC_CUDA_NORMALIZE_KERNELS_CUH

#include <cuda_runtime.h>

#include <cstdint>

#include "../context.h"
#include "normalize_workspace.cuh"

namespace normot_cuda {

/* One chunk, as the device sees it. */
struct chunk_view {
  int64_t first_line = 0; /* global index of the chunk's first line */
  int64_t n_lines = 0;
  int64_t entry_base = 0;       /* sparse: global offset of the first entry, = indptr[first_line] */
  int64_t n_entries = 0;        /* sparse: entries in the chunk */
  const void *indptr = nullptr; /* sparse: n_lines + 1 global offsets */
  const void *indices = nullptr; /* sparse: element 0 is global entry entry_base */
  const void *values = nullptr;  /* element 0 is global entry entry_base (dense: the first row) */
  void *out = nullptr;           /* laid out like values */
  int64_t pitch = 0;             /* dense: elements from one row to the next, values and out */
};

/* What does not change from chunk to chunk. */
struct kernel_config {
  normot_layout layout = NORMOT_LAYOUT_CSR;
  normot_value_type in_type = NORMOT_FLOAT32;
  normot_value_type out_type = NORMOT_FLOAT32;
  normot_index_type index_type = NORMOT_INDEX_INT32;
  int64_t n_rows = 0;
  int64_t n_cols = 0;
  int multiprocessors = 1;
  int lanes_per_line = 32; /* CSR/dense: 8 or 32, by the mean line length */
};

/* Scaling: lines longer than this get a block each instead of a group of lanes. */
int64_t long_line_threshold(const kernel_config &config);

/* CSC sorts each chunk's entries by cell: room for n entries of the chunk. */
struct csc_sort_scratch {
  void *sorted_cells = nullptr; /* n indices (the index type) */
  int32_t *order_in = nullptr;  /* n */
  int32_t *order_out = nullptr; /* n */
  void *temp = nullptr;         /* CUB's scratch, csc_sort_temp_bytes() */
  size_t temp_bytes = 0;
};

/* CUB's scratch for sorting chunks of up to n_entries entries by cell. */
normot_status csc_sort_temp_bytes(normot_context *context, normot_index_type index_type,
                                  int64_t n_entries, int64_t n_rows, size_t *bytes);

struct totals_request {
  double *sums = nullptr;        /* n_rows float64 totals: written (CSR/dense) or added to (CSC) */
  const int32_t *mask = nullptr; /* per gene: 1 = leave out of the totals (NULL: none) */
  int32_t *excluded = nullptr;   /* CSR/dense: mark highly expressed genes here (NULL: don't) */
  double max_fraction = 0.0;
  int check_values = 0;
  int check_indices = 0;
  device_report *report = nullptr;
  csc_sort_scratch csc; /* CSC only */
};

/* Float64 totals of the chunk's cells, validating values/indices as asked on the way. CSC
 * chunks must run in column order, one after the other: each adds to the totals that the
 * chunks before it left. */
normot_status launch_totals(normot_context *context, const kernel_config &config,
                            const chunk_view &chunk, const totals_request &request,
                            cudaStream_t stream);

/* CSC: marks genes with an entry above max_fraction of its cell's total (output type). */
normot_status launch_csc_mark(normot_context *context, const kernel_config &config,
                              const chunk_view &chunk, const void *totals, double max_fraction,
                              int32_t *excluded, cudaStream_t stream);

struct scale_request {
  const void *factors = nullptr; /* n_rows usable size factors, output type */
  int log1p = 0;
  double log_of_base = 0.0; /* 0: natural logarithm */
  unsigned long long *long_lines = nullptr;
};

/* out = values / factor of the entry's cell (then log1p), in the output type. */
normot_status launch_scale(normot_context *context, const kernel_config &config,
                           const chunk_view &chunk, const scale_request &request,
                           cudaStream_t stream);

/* Device-resident indptr: the first line m whose step indptr[m] -> indptr[m + 1] leaves
 * 0 <= start <= end <= nnz goes to report->bad_step_major. */
normot_status launch_check_indptr_steps(normot_context *context, normot_index_type index_type,
                                        const void *indptr, int64_t n_lines, int64_t nnz,
                                        int multiprocessors, device_report *report,
                                        cudaStream_t stream);

/* totals[c] = sums[c] rounded to the output type. */
normot_status launch_round_totals(normot_context *context, normot_value_type out_type,
                                  const double *sums, int64_t n, void *totals, cudaStream_t stream);

/* raw[c] = totals[c] / target; usable[c] = raw[c], or 1 where it is 0 (counted in
 * report->zero_cells). target is a value of the output type, carried as a double. */
normot_status launch_size_factors(normot_context *context, normot_value_type out_type,
                                  const void *totals, int64_t n, double target, void *raw,
                                  void *usable, device_report *report, cudaStream_t stream);

/* report->excluded_genes = number of flags set. */
normot_status launch_count_flags(normot_context *context, const int32_t *flags, int64_t n,
                                 device_report *report, cudaStream_t stream);

/* The median of the totals that are > 0, with numpy's rule for an even count; the positive
 * count goes to *positive_count (0: no median, *median untouched). Synchronizes `stream`. */
normot_status median_of_positive_totals(normot_context *context, workspace *space,
                                        normot_value_type out_type, const void *totals, int64_t n,
                                        cudaStream_t stream, double *median,
                                        int64_t *positive_count);

}  // namespace normot_cuda

#endif
