/* The CUDA backend of normot_normalize_total: the order of the passes, and where the data comes
 * from.
 *
 * Device (or managed) memory is processed where it lies, on the context's stream, as one chunk.
 * Host memory is cut into chunks of whole lines and streamed through SLOT_COUNT slots, each with
 * its own stream, pinned staging and device buffers: chunk k is copied in while chunk k - 1 is
 * computed and chunk k - 2 copied out. A matrix that fits in about half of the free device
 * memory stays there after the first pass ("resident"); a larger one is streamed again in every
 * pass, so its size is bounded by host memory only.
 *
 * Passes: (1) totals, with every content check, and on CSR/dense the marking of highly
 * expressed genes; (CSC only) the marking; (exclusion only) totals again without the marked
 * genes; then target, size factors, and (last) the scaling, the only pass that writes the
 * caller's values. Nothing the caller owns is written before pass 1's checks have passed. */
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>
#include <vector>

#include "../validate_matrix.h"
#include "cuda_check.cuh"
#include "cuda_kernels.h"
#include "normalize_arith.cuh"
#include "normalize_kernels.cuh"
#include "normalize_workspace.cuh"

namespace normot_cuda {
namespace {

enum pass_kind { PASS_TOTALS, PASS_MARK, PASS_MASKED_TOTALS, PASS_SCALE };

/* A run of whole lines of a host-resident matrix. */
struct chunk_plan {
  int64_t first_line;
  int64_t n_lines;
  int64_t entry_base; /* sparse: indptr[first_line] */
  int64_t n_entries;  /* sparse: entries; dense: rows * n_cols */
};

/* Everything one call needs, in one place. */
struct call_state {
  normot_context *context = nullptr;
  workspace *space = nullptr;
  const normot_matrix *X = nullptr;
  const normot_normalize_params *params = nullptr;
  kernel_config config;
  bool on_device = false;   /* device or managed memory: no copies */
  bool pinned_host = false; /* CUDA_HOST: copies go straight from/to the caller's memory */
  bool resident = false;    /* host input kept on the device between passes */
  bool needs_indices = false;
  size_t in_size = 0, out_size = 0, index_size = 0;
  int64_t n_lines = 0; /* rows (CSR, dense) or columns (CSC) */
  int64_t nnz = 0;     /* sparse: stored entries */
  /* Lines [0, valid_lines) have valid indptr slices (all of them, unless a CSR indptr breaks
   * at line valid_lines: then pass 1 checks the lines before it, as the CPU backend does). */
  int64_t valid_lines = 0;
  int64_t valid_entries = 0;
  int64_t ld = 0; /* dense: the caller's leading dimension */
  void *out_values = nullptr;
  cudaStream_t caller_stream = nullptr;
  cudaStream_t main_stream = nullptr; /* target, factors, checks */
  std::vector<chunk_plan> chunks;
  int64_t max_chunk_lines = 0, max_chunk_entries = 0;
  device_report *report = nullptr;
  device_report *host_report = nullptr; /* pinned */
};

/* An environment override of a size, for tests that must see many chunks on small data. */
int64_t size_from_environment(const char *name, int64_t fallback) {
  const char *text = getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char *end = nullptr;
  long long value = strtoll(text, &end, 10);
  return (end != text && value > 0) ? static_cast<int64_t>(value) : fallback;
}

/* memcpy between the caller's pageable memory and pinned staging. One core copies about
 * 5-10 GB/s, below a PCIe 5 link, so large pieces are split over a few threads. */
void staging_copy(void *destination, const void *source, size_t bytes) {
  const size_t piece_floor = size_t(4) << 20;
  unsigned workers = std::thread::hardware_concurrency();
  if (workers > 8) workers = 8;
  if (bytes < 2 * piece_floor || workers < 2) {
    memcpy(destination, source, bytes);
    return;
  }
  if (bytes / workers < piece_floor) workers = static_cast<unsigned>(bytes / piece_floor);
  const size_t piece = (bytes + workers - 1) / workers;
  std::thread helpers[8];
  unsigned started = 0;
  try {
    for (unsigned i = 1; i < workers; ++i) {
      const size_t begin = i * piece;
      if (begin >= bytes) break;
      const size_t length = bytes - begin < piece ? bytes - begin : piece;
      char *to = static_cast<char *>(destination) + begin;
      const char *from = static_cast<const char *>(source) + begin;
      helpers[started] = std::thread([to, from, length] { memcpy(to, from, length); });
      ++started;
    }
  } catch (...) {
    // No thread could be started: this thread copies what the helpers did not take.
    const size_t begin = (started + 1) * piece;
    if (begin < bytes)
      memcpy(static_cast<char *>(destination) + begin, static_cast<const char *>(source) + begin,
             bytes - begin);
  }
  memcpy(destination, source, piece < bytes ? piece : bytes);
  for (unsigned i = 0; i < started; ++i) helpers[i].join();
}

/* ---- the device report ---------------------------------------------------------------- */

normot_status reset_report(call_state &call) {
  normot_context *context = call.context;
  device_report initial;
  initial.bad_step_major = NO_POSITION;
  initial.bad_index_position = NO_POSITION;
  initial.nonfinite_position = NO_POSITION;
  initial.zero_cells = 0;
  initial.excluded_genes = 0;
  initial.positive_count = 0;
  *call.host_report = initial;
  NORMOT_CUDA_TRY(cudaMemcpyAsync(call.report, call.host_report, sizeof(device_report),
                                  cudaMemcpyHostToDevice, call.main_stream));
  // The pinned copy is rewritten by read_report: wait until the device has it.
  NORMOT_CUDA_TRY(cudaStreamSynchronize(call.main_stream));
  return NORMOT_SUCCESS;
}

normot_status read_report(call_state &call) {
  normot_context *context = call.context;
  NORMOT_CUDA_TRY(cudaMemcpyAsync(call.host_report, call.report, sizeof(device_report),
                                  cudaMemcpyDeviceToHost, call.main_stream));
  NORMOT_CUDA_TRY(cudaStreamSynchronize(call.main_stream));
  return NORMOT_SUCCESS;
}

/* ---- checks, reported as the CPU backend reports them ---------------------------------- */

/* One index of the caller's indptr or indices, wherever it lives. */
normot_status read_index(call_state &call, const void *array, int64_t i, int64_t *value) {
  normot_context *context = call.context;
  const normot_index_type type = call.X->index_type;
  if (!call.on_device) {
    *value = normot_load_index(array, type, i);
    return NORMOT_SUCCESS;
  }
  int64_t wide = 0;
  int32_t narrow = 0;
  void *into = type == NORMOT_INDEX_INT32 ? static_cast<void *>(&narrow) : &wide;
  NORMOT_CUDA_TRY(cudaMemcpyAsync(into, static_cast<const char *>(array) + i * call.index_size,
                                  call.index_size, cudaMemcpyDefault, call.caller_stream));
  NORMOT_CUDA_TRY(cudaStreamSynchronize(call.caller_stream));
  *value = type == NORMOT_INDEX_INT32 ? narrow : wide;
  return NORMOT_SUCCESS;
}

/* One input value as a double (for the message), wherever it lives. */
normot_status read_value(call_state &call, int64_t position, double *value) {
  normot_context *context = call.context;
  double wide = 0.0;
  float narrow = 0.0f;
  const bool single = call.X->value_type == NORMOT_FLOAT32;
  void *into = single ? static_cast<void *>(&narrow) : &wide;
  const char *source = static_cast<const char *>(call.X->values) + position * call.in_size;
  if (call.on_device) {
    NORMOT_CUDA_TRY(
        cudaMemcpyAsync(into, source, call.in_size, cudaMemcpyDefault, call.caller_stream));
    NORMOT_CUDA_TRY(cudaStreamSynchronize(call.caller_stream));
  } else {
    memcpy(into, source, call.in_size);
  }
  *value = single ? narrow : wide;
  return NORMOT_SUCCESS;
}

/* The line (row of CSR, column of CSC) holding entry `position`: the last m with
 * indptr[m] <= position, among the lines whose slices are valid. */
normot_status major_of_entry(call_state &call, int64_t position, int64_t *major) {
  int64_t low = 0, high = call.valid_lines;  // indptr[low] <= position < indptr[high]
  while (high - low > 1) {
    const int64_t middle = low + (high - low) / 2;
    int64_t offset = 0;
    NORMOT_TRY(read_index(call, call.X->indptr, middle, &offset));
    if (offset <= position)
      low = middle;
    else
      high = middle;
  }
  *major = low;
  return NORMOT_SUCCESS;
}

/* indptr, before any value is read. The ends (indptr[0] == 0, indptr[n] == nnz) are reported
 * at once; so is any problem of a CSC indptr (the CPU backend checks CSC structure before
 * reading anything). A CSR step problem at line m is kept in *structure and valid_lines = m:
 * pass 1 then looks for content problems in the lines before m, which come first. */
normot_status check_structure(call_state &call, normot_matrix_problem *structure) {
  normot_context *context = call.context;
  const normot_matrix *X = call.X;
  *structure = normot_no_problem();
  call.valid_lines = call.n_lines;
  call.valid_entries = call.nnz;
  if (X->layout == NORMOT_LAYOUT_DENSE) return NORMOT_SUCCESS;
  if (!call.on_device) {
    normot_check_indptr_ends(X->indptr, X->index_type, call.n_lines, call.nnz, structure);
    if (structure->status != NORMOT_SUCCESS)
      return normot_report_matrix_problem(context, X, structure);
    normot_check_indptr_steps(X->indptr, X->index_type, 0, call.n_lines, call.nnz, structure);
  } else {
    int64_t first = 0, last = 0;
    NORMOT_TRY(read_index(call, X->indptr, 0, &first));
    NORMOT_TRY(read_index(call, X->indptr, call.n_lines, &last));
    if (first != 0) {
      *structure = normot_matrix_problem{NORMOT_ERROR_INVALID_INDPTR, 0, 0, first, 0.0};
      return normot_report_matrix_problem(context, X, structure);
    }
    if (last != call.nnz) {
      *structure =
          normot_matrix_problem{NORMOT_ERROR_INVALID_INDPTR, call.n_lines, call.n_lines, last, 0.0};
      return normot_report_matrix_problem(context, X, structure);
    }
    NORMOT_TRY(launch_check_indptr_steps(context, X->index_type, X->indptr, call.n_lines, call.nnz,
                                         call.config.multiprocessors, call.report,
                                         call.caller_stream));
    NORMOT_TRY(read_report(call));
    const unsigned long long bad = call.host_report->bad_step_major;
    if (bad != NO_POSITION) {
      const int64_t m = static_cast<int64_t>(bad);
      int64_t start = 0, end = 0;
      NORMOT_TRY(read_index(call, X->indptr, m, &start));
      NORMOT_TRY(read_index(call, X->indptr, m + 1, &end));
      // Blame the entry that breaks the order: the end, unless the start is already off.
      const bool blame_start = start < 0 || start > call.nnz;
      *structure = normot_matrix_problem{NORMOT_ERROR_INVALID_INDPTR, m, blame_start ? m : m + 1,
                                         blame_start ? start : end, 0.0};
    }
  }
  if (structure->status == NORMOT_SUCCESS) return NORMOT_SUCCESS;
  if (X->layout == NORMOT_LAYOUT_CSC) return normot_report_matrix_problem(context, X, structure);
  call.valid_lines = structure->major;
  NORMOT_TRY(read_index(call, X->indptr, call.valid_lines, &call.valid_entries));
  return NORMOT_SUCCESS;
}

/* The first content problem pass 1 found, merged with a CSR structure problem, as the CPU
 * backend orders them: CSR and dense, the earliest row wins, and within a CSR row a bad index
 * comes before a non-finite value (indices are checked first); CSC checks every index before it
 * reads any value, so there a bad index anywhere comes first. */
normot_status report_problems(call_state &call, const normot_matrix_problem &structure) {
  const normot_matrix *X = call.X;
  const device_report report = *call.host_report;
  normot_matrix_problem index_problem = normot_no_problem();
  normot_matrix_problem value_problem = normot_no_problem();
  if (report.bad_index_position != NO_POSITION) {
    const int64_t position = static_cast<int64_t>(report.bad_index_position);
    int64_t major = 0, index = 0;
    NORMOT_TRY(major_of_entry(call, position, &major));
    NORMOT_TRY(read_index(call, X->indices, position, &index));
    index_problem =
        normot_matrix_problem{NORMOT_ERROR_INDEX_OUT_OF_RANGE, major, position, index, 0.0};
  }
  if (report.nonfinite_position != NO_POSITION) {
    int64_t major = 0, position = 0;
    if (X->layout == NORMOT_LAYOUT_DENSE) {
      const int64_t cols = X->n_cols > 0 ? X->n_cols : 1;
      major = static_cast<int64_t>(report.nonfinite_position) / cols;
      position = major * call.ld + static_cast<int64_t>(report.nonfinite_position) % cols;
    } else {
      position = static_cast<int64_t>(report.nonfinite_position);
      NORMOT_TRY(major_of_entry(call, position, &major));
    }
    double value = 0.0;
    NORMOT_TRY(read_value(call, position, &value));
    value_problem = normot_matrix_problem{NORMOT_ERROR_NONFINITE_VALUE, major, position, 0, value};
  }
  normot_matrix_problem first = index_problem;
  if (value_problem.status != NORMOT_SUCCESS) {
    const bool value_first = first.status == NORMOT_SUCCESS ||
                             (X->layout != NORMOT_LAYOUT_CSC && value_problem.major < first.major);
    if (value_first) first = value_problem;
  }
  if (first.status == NORMOT_SUCCESS) first = structure;
  return normot_report_matrix_problem(call.context, X, &first);
}

/* ---- planning ------------------------------------------------------------------------- */

/* The sort-by-cell scratch of CSC totals, for the largest chunk. */
normot_status prepare_csc_scratch(call_state &call) {
  normot_context *context = call.context;
  workspace *space = call.space;
  const int64_t entries = call.max_chunk_entries;
  if (entries > INT32_MAX)
    return normot_fail(context, NORMOT_ERROR_NOT_IMPLEMENTED,
                       "CUDA normalize_total: a CSC column of %lld entries (more than 2^31 - 1)",
                       static_cast<long long>(entries));
  size_t temp_bytes = 0;
  NORMOT_TRY(
      csc_sort_temp_bytes(context, call.X->index_type, entries, call.X->n_rows, &temp_bytes));
  const size_t n = static_cast<size_t>(entries);
  NORMOT_TRY(ensure_device(context, &space->csc_sorted_cells, n * call.index_size));
  NORMOT_TRY(ensure_device(context, &space->csc_order_in, n * sizeof(int32_t)));
  NORMOT_TRY(ensure_device(context, &space->csc_order_out, n * sizeof(int32_t)));
  NORMOT_TRY(ensure_device(context, &space->csc_temp, temp_bytes));
  return NORMOT_SUCCESS;
}

normot_status plan_chunks(call_state &call) {
  normot_context *context = call.context;
  const normot_matrix *X = call.X;
  const bool csc = X->layout == NORMOT_LAYOUT_CSC;
  // Device CSC is cut too, so that the per-chunk sort by cell needs bounded scratch.
  const int64_t entry_cap =
      size_from_environment("NORMOT_CUDA_CHUNK_ENTRIES", int64_t(1) << (call.on_device ? 25 : 23));
  try {
    call.chunks.clear();
    const void *indptr = X->indptr;
    std::vector<unsigned char> indptr_copy;
    if (call.on_device && csc) {
      const size_t bytes = static_cast<size_t>(call.n_lines + 1) * call.index_size;
      indptr_copy.resize(bytes);
      NORMOT_CUDA_TRY(cudaMemcpyAsync(indptr_copy.data(), X->indptr, bytes, cudaMemcpyDefault,
                                      call.caller_stream));
      NORMOT_CUDA_TRY(cudaStreamSynchronize(call.caller_stream));
      indptr = indptr_copy.data();
    }
    if (call.on_device && !csc) {
      call.chunks.push_back({0, call.valid_lines, 0, call.valid_entries});
    } else if (X->layout == NORMOT_LAYOUT_DENSE) {
      const int64_t cols = X->n_cols > 0 ? X->n_cols : 1;
      const int64_t rows_per_chunk = entry_cap / cols > 0 ? entry_cap / cols : 1;
      for (int64_t first = 0; first < call.n_lines; first += rows_per_chunk) {
        const int64_t rows =
            call.n_lines - first < rows_per_chunk ? call.n_lines - first : rows_per_chunk;
        call.chunks.push_back({first, rows, first * X->n_cols, rows * X->n_cols});
      }
    } else {
      // Greedy runs of whole lines holding at most entry_cap entries (a longer line gets a
      // chunk of its own), and at most entry_cap lines.
      int64_t first = 0;
      while (first < call.valid_lines) {
        const int64_t base = normot_load_index(indptr, X->index_type, first);
        int64_t low = first + 1, high = call.valid_lines;  // the last line end that fits
        if (high - first > entry_cap) high = first + entry_cap;
        while (low < high) {
          const int64_t middle = low + (high - low + 1) / 2;
          if (normot_load_index(indptr, X->index_type, middle) - base <= entry_cap)
            low = middle;
          else
            high = middle - 1;
        }
        const int64_t end = low;
        call.chunks.push_back(
            {first, end - first, base, normot_load_index(indptr, X->index_type, end) - base});
        first = end;
      }
    }
  } catch (const std::bad_alloc &) {
    return normot_fail(call.context, NORMOT_ERROR_OUT_OF_MEMORY, "CUDA: chunk plan: out of memory");
  }
  call.max_chunk_lines = call.max_chunk_entries = 0;
  for (const chunk_plan &chunk : call.chunks) {
    if (chunk.n_lines > call.max_chunk_lines) call.max_chunk_lines = chunk.n_lines;
    if (chunk.n_entries > call.max_chunk_entries) call.max_chunk_entries = chunk.n_entries;
  }
  if (csc) NORMOT_TRY(prepare_csc_scratch(call));
  return NORMOT_SUCCESS;
}

/* Device buffers of host-resident input: the whole matrix when it fits comfortably, else one
 * chunk per slot. Pinned staging only where the caller's memory is pageable. */
normot_status prepare_host_buffers(call_state &call) {
  normot_context *context = call.context;
  workspace *space = call.space;
  const bool dense = call.X->layout == NORMOT_LAYOUT_DENSE;
  const bool same_type = call.config.in_type == call.config.out_type;
  const int64_t all_entries = dense ? call.n_lines * call.X->n_cols : call.nnz;
  const size_t entry_bytes =
      call.in_size + (same_type ? 0 : call.out_size) + (call.needs_indices ? call.index_size : 0);
  const size_t whole_bytes = static_cast<size_t>(all_entries) * entry_bytes +
                             static_cast<size_t>(call.n_lines + 1) * call.index_size;
  size_t free_bytes = 0, total_bytes = 0;
  NORMOT_CUDA_TRY(cudaMemGetInfo(&free_bytes, &total_bytes));
  call.resident =
      whole_bytes <= free_bytes / 2 && size_from_environment("NORMOT_CUDA_FORCE_STREAMING", 0) == 0;

  const size_t lines = static_cast<size_t>(call.max_chunk_lines);
  const size_t entries = static_cast<size_t>(call.max_chunk_entries);
  if (call.resident) {
    if (!dense)
      NORMOT_TRY(ensure_device(context, &space->resident_indptr,
                               static_cast<size_t>(call.n_lines + 1) * call.index_size));
    if (call.needs_indices)
      NORMOT_TRY(ensure_device(context, &space->resident_indices,
                               static_cast<size_t>(all_entries) * call.index_size));
    NORMOT_TRY(ensure_device(context, &space->resident_values,
                             static_cast<size_t>(all_entries) * call.in_size));
    if (!same_type)
      NORMOT_TRY(ensure_device(context, &space->resident_out,
                               static_cast<size_t>(all_entries) * call.out_size));
  }
  for (int i = 0; i < SLOT_COUNT && i < static_cast<int>(call.chunks.size()); ++i) {
    stream_slot &slot = space->slots[i];
    NORMOT_TRY(ensure_device(context, &slot.long_lines, (lines + 1) * sizeof(unsigned long long)));
    if (!call.resident) {
      if (!dense)
        NORMOT_TRY(ensure_device(context, &slot.device_indptr, (lines + 1) * call.index_size));
      if (call.needs_indices)
        NORMOT_TRY(ensure_device(context, &slot.device_indices, entries * call.index_size));
      NORMOT_TRY(ensure_device(context, &slot.device_values, entries * call.in_size));
      if (!same_type) NORMOT_TRY(ensure_device(context, &slot.device_out, entries * call.out_size));
    }
    if (!call.pinned_host) {
      if (!dense)
        NORMOT_TRY(ensure_pinned(context, &slot.pinned_indptr, (lines + 1) * call.index_size));
      if (call.needs_indices)
        NORMOT_TRY(ensure_pinned(context, &slot.pinned_indices, entries * call.index_size));
      NORMOT_TRY(ensure_pinned(context, &slot.pinned_values, entries * call.in_size));
      NORMOT_TRY(ensure_pinned(context, &slot.pinned_out, entries * call.out_size));
    }
  }
  return NORMOT_SUCCESS;
}

/* ---- streaming ------------------------------------------------------------------------ */

/* Waits for the slot's last work, then hands its pinned output to the caller's memory. */
normot_status finish_slot(call_state &call, stream_slot &slot) {
  normot_context *context = call.context;
  NORMOT_CUDA_TRY(cudaEventSynchronize(slot.done));
  pending_output &pending = slot.pending;
  if (pending.active) {
    const char *source = static_cast<const char *>(slot.pinned_out.ptr);
    if (pending.rows == 1 || pending.destination_pitch == pending.row_bytes) {
      staging_copy(pending.destination, source,
                   pending.row_bytes * static_cast<size_t>(pending.rows));
    } else {
      for (int64_t row = 0; row < pending.rows; ++row)
        memcpy(pending.destination + static_cast<size_t>(row) * pending.destination_pitch,
               source + static_cast<size_t>(row) * pending.row_bytes, pending.row_bytes);
    }
    pending.active = 0;
  }
  return NORMOT_SUCCESS;
}

/* After a failure: let in-flight copies land in our own buffers, and forget pending outputs so
 * that nothing reaches the caller's memory later. Errors here change nothing for the caller. */
void abandon_slots(workspace *space) {
  for (int i = 0; i < space->slots_ready; ++i) {
    if (space->slots[i].stream != nullptr) cudaStreamSynchronize(space->slots[i].stream);
    space->slots[i].pending.active = 0;
  }
  (void)cudaGetLastError();
}

/* Where chunk k lives on the device in this call. */
chunk_view device_view(const call_state &call, const chunk_plan &plan, const stream_slot &slot) {
  const workspace *space = call.space;
  const normot_matrix *X = call.X;
  const bool dense = X->layout == NORMOT_LAYOUT_DENSE;
  const bool same_type = call.config.in_type == call.config.out_type;
  chunk_view view;
  view.first_line = plan.first_line;
  view.n_lines = plan.n_lines;
  view.entry_base = dense ? 0 : plan.entry_base;
  view.n_entries = plan.n_entries;
  if (call.on_device) {
    // In place in the caller's arrays: a chunk is an offset into them (dense: one chunk).
    const size_t entry = static_cast<size_t>(view.entry_base);
    view.indptr = X->indptr == nullptr ? nullptr
                                       : static_cast<const char *>(X->indptr) +
                                             static_cast<size_t>(plan.first_line) * call.index_size;
    view.indices = X->indices == nullptr
                       ? nullptr
                       : static_cast<const char *>(X->indices) + entry * call.index_size;
    view.values = X->values == nullptr
                      ? nullptr
                      : static_cast<const char *>(X->values) + entry * call.in_size;
    view.out =
        call.out_values == nullptr
            ? nullptr
            : static_cast<void *>(static_cast<char *>(call.out_values) + entry * call.out_size);
    view.pitch = call.ld;
    return view;
  }
  view.pitch = X->n_cols;  // staged dense rows are packed
  const size_t entry_offset = dense ? static_cast<size_t>(plan.first_line * X->n_cols)
                                    : static_cast<size_t>(plan.entry_base);
  if (call.resident) {
    char *values = static_cast<char *>(space->resident_values.ptr);
    view.indptr = static_cast<char *>(space->resident_indptr.ptr) +
                  static_cast<size_t>(plan.first_line) * call.index_size;
    if (call.needs_indices)
      view.indices =
          static_cast<char *>(space->resident_indices.ptr) + entry_offset * call.index_size;
    view.values = values + entry_offset * call.in_size;
    view.out = same_type ? static_cast<void *>(values + entry_offset * call.in_size)
                         : static_cast<void *>(static_cast<char *>(space->resident_out.ptr) +
                                               entry_offset * call.out_size);
  } else {
    view.indptr = slot.device_indptr.ptr;
    view.indices = slot.device_indices.ptr;
    view.values = slot.device_values.ptr;
    view.out = same_type ? slot.device_values.ptr : slot.device_out.ptr;
  }
  if (dense) view.indptr = view.indices = nullptr;
  return view;
}

/* Host -> device for one array piece, through the slot's pinned buffer when the caller's memory
 * is pageable. */
normot_status upload(call_state &call, stream_slot &slot, buffer &pinned, void *device,
                     const void *host, size_t bytes) {
  normot_context *context = call.context;
  if (bytes == 0) return NORMOT_SUCCESS;
  const void *source = host;
  if (!call.pinned_host) {
    staging_copy(pinned.ptr, host, bytes);
    source = pinned.ptr;
  }
  NORMOT_CUDA_TRY(cudaMemcpyAsync(device, source, bytes, cudaMemcpyHostToDevice, slot.stream));
  return NORMOT_SUCCESS;
}

normot_status upload_chunk(call_state &call, const chunk_plan &plan, stream_slot &slot,
                           const chunk_view &view, bool with_indices) {
  normot_context *context = call.context;
  const normot_matrix *X = call.X;
  if (X->layout == NORMOT_LAYOUT_DENSE) {
    const size_t row_bytes = static_cast<size_t>(X->n_cols) * call.in_size;
    const size_t pitch = static_cast<size_t>(call.ld) * call.in_size;
    const char *host =
        static_cast<const char *>(X->values) + static_cast<size_t>(plan.first_line) * pitch;
    if (row_bytes == 0 || plan.n_lines == 0) return NORMOT_SUCCESS;
    if (call.pinned_host) {
      NORMOT_CUDA_TRY(cudaMemcpy2DAsync(const_cast<void *>(view.values), row_bytes, host, pitch,
                                        row_bytes, static_cast<size_t>(plan.n_lines),
                                        cudaMemcpyHostToDevice, slot.stream));
      return NORMOT_SUCCESS;
    }
    char *staged = static_cast<char *>(slot.pinned_values.ptr);
    if (pitch == row_bytes)
      staging_copy(staged, host, row_bytes * static_cast<size_t>(plan.n_lines));
    else
      for (int64_t row = 0; row < plan.n_lines; ++row)
        memcpy(staged + static_cast<size_t>(row) * row_bytes,
               host + static_cast<size_t>(row) * pitch, row_bytes);
    NORMOT_CUDA_TRY(cudaMemcpyAsync(const_cast<void *>(view.values), staged,
                                    row_bytes * static_cast<size_t>(plan.n_lines),
                                    cudaMemcpyHostToDevice, slot.stream));
    return NORMOT_SUCCESS;
  }
  NORMOT_TRY(upload(
      call, slot, slot.pinned_indptr, const_cast<void *>(view.indptr),
      static_cast<const char *>(X->indptr) + static_cast<size_t>(plan.first_line) * call.index_size,
      static_cast<size_t>(plan.n_lines + 1) * call.index_size));
  if (with_indices)
    NORMOT_TRY(upload(call, slot, slot.pinned_indices, const_cast<void *>(view.indices),
                      static_cast<const char *>(X->indices) +
                          static_cast<size_t>(plan.entry_base) * call.index_size,
                      static_cast<size_t>(plan.n_entries) * call.index_size));
  NORMOT_TRY(upload(
      call, slot, slot.pinned_values, const_cast<void *>(view.values),
      static_cast<const char *>(X->values) + static_cast<size_t>(plan.entry_base) * call.in_size,
      static_cast<size_t>(plan.n_entries) * call.in_size));
  return NORMOT_SUCCESS;
}

/* Device -> caller's memory for a scaled chunk; pageable memory gets it from finish_slot. */
normot_status download_chunk(call_state &call, const chunk_plan &plan, stream_slot &slot,
                             const chunk_view &view) {
  normot_context *context = call.context;
  const normot_matrix *X = call.X;
  const bool dense = X->layout == NORMOT_LAYOUT_DENSE;
  const size_t row_bytes = dense ? static_cast<size_t>(X->n_cols) * call.out_size
                                 : static_cast<size_t>(plan.n_entries) * call.out_size;
  const int64_t rows = dense ? plan.n_lines : 1;
  const size_t destination_pitch = dense ? static_cast<size_t>(call.ld) * call.out_size : row_bytes;
  char *destination = static_cast<char *>(call.out_values) +
                      (dense ? static_cast<size_t>(plan.first_line) * destination_pitch
                             : static_cast<size_t>(plan.entry_base) * call.out_size);
  if (row_bytes == 0 || rows == 0) return NORMOT_SUCCESS;
  if (call.pinned_host) {
    NORMOT_CUDA_TRY(cudaMemcpy2DAsync(destination, destination_pitch, view.out, row_bytes,
                                      row_bytes, static_cast<size_t>(rows), cudaMemcpyDeviceToHost,
                                      slot.stream));
    return NORMOT_SUCCESS;
  }
  NORMOT_CUDA_TRY(cudaMemcpyAsync(slot.pinned_out.ptr, view.out,
                                  row_bytes * static_cast<size_t>(rows), cudaMemcpyDeviceToHost,
                                  slot.stream));
  slot.pending.active = 1;
  slot.pending.destination = destination;
  slot.pending.rows = rows;
  slot.pending.row_bytes = row_bytes;
  slot.pending.destination_pitch = destination_pitch;
  return NORMOT_SUCCESS;
}

/* The kernels of one pass over one chunk. */
normot_status run_kernels(call_state &call, pass_kind pass, const chunk_view &view,
                          unsigned long long *long_lines, cudaStream_t stream) {
  normot_context *context = call.context;
  workspace *space = call.space;
  const normot_normalize_params *params = call.params;
  const bool csc = call.X->layout == NORMOT_LAYOUT_CSC;
  switch (pass) {
    case PASS_TOTALS:
    case PASS_MASKED_TOTALS: {
      totals_request request;
      request.sums = static_cast<double *>(space->sums.ptr);
      request.report = call.report;
      request.max_fraction = params->max_fraction;
      request.csc.sorted_cells = space->csc_sorted_cells.ptr;
      request.csc.order_in = static_cast<int32_t *>(space->csc_order_in.ptr);
      request.csc.order_out = static_cast<int32_t *>(space->csc_order_out.ptr);
      request.csc.temp = space->csc_temp.ptr;
      request.csc.temp_bytes = space->csc_temp.bytes;
      if (pass == PASS_TOTALS) {
        request.check_values = params->check_values && normot_is_float_type(call.X->value_type);
        request.check_indices = call.needs_indices;
        if (params->exclude_highly_expressed && !csc)
          request.excluded = static_cast<int32_t *>(space->excluded.ptr);
      } else {
        request.mask = static_cast<const int32_t *>(space->excluded.ptr);
      }
      return launch_totals(context, call.config, view, request, stream);
    }
    case PASS_MARK:
      return launch_csc_mark(context, call.config, view, space->totals.ptr, params->max_fraction,
                             static_cast<int32_t *>(space->excluded.ptr), stream);
    case PASS_SCALE: {
      scale_request request;
      request.factors = space->factors.ptr;
      request.log1p = params->log1p;
      request.log_of_base = params->log1p && params->log_base != 0.0 ? log(params->log_base) : 0.0;
      request.long_lines = long_lines;
      return launch_scale(context, call.config, view, request, stream);
    }
  }
  return normot_fail(context, NORMOT_ERROR_INTERNAL, "CUDA normalize_total: unknown pass");
}

normot_status run_pass(call_state &call, pass_kind pass) {
  normot_context *context = call.context;
  workspace *space = call.space;
  if (call.on_device) {
    // One stream: the chunks run in order, as CSC totals need.
    for (const chunk_plan &plan : call.chunks)
      NORMOT_TRY(run_kernels(call, pass, device_view(call, plan, space->slots[0]),
                             static_cast<unsigned long long *>(space->long_lines.ptr),
                             call.caller_stream));
    return NORMOT_SUCCESS;
  }
  // Resident data was copied in by the first pass; later passes only compute (and copy out).
  const bool copy_in = !call.resident || pass == PASS_TOTALS;
  // Which passes read the indices: CSC always (they name the cells), CSR only around exclusion.
  const bool csc = call.X->layout == NORMOT_LAYOUT_CSC;
  const bool with_indices = call.needs_indices && (call.resident || csc || pass != PASS_SCALE);
  // CSC totals add chunk after chunk to the same cells: their kernels form a chain (and share
  // the sort scratch), while the copies still overlap.
  const bool chained = csc && (pass == PASS_TOTALS || pass == PASS_MASKED_TOTALS);
  cudaEvent_t previous = nullptr;
  for (size_t k = 0; k < call.chunks.size(); ++k) {
    stream_slot &slot = space->slots[k % SLOT_COUNT];
    NORMOT_TRY(finish_slot(call, slot));
    const chunk_plan &plan = call.chunks[k];
    const chunk_view view = device_view(call, plan, slot);
    if (copy_in) NORMOT_TRY(upload_chunk(call, plan, slot, view, with_indices));
    if (chained && previous != nullptr)
      NORMOT_CUDA_TRY(cudaStreamWaitEvent(slot.stream, previous, 0));
    NORMOT_TRY(run_kernels(call, pass, view, static_cast<unsigned long long *>(slot.long_lines.ptr),
                           slot.stream));
    if (chained) {
      NORMOT_CUDA_TRY(cudaEventRecord(slot.computed, slot.stream));
      previous = slot.computed;
    }
    if (pass == PASS_SCALE) NORMOT_TRY(download_chunk(call, plan, slot, view));
    NORMOT_CUDA_TRY(cudaEventRecord(slot.done, slot.stream));
  }
  for (int i = 0; i < SLOT_COUNT; ++i) NORMOT_TRY(finish_slot(call, space->slots[i]));
  return NORMOT_SUCCESS;
}

/* Waits for the whole pass (device path: the caller's stream; host path: run_pass drained). */
normot_status pass_done(call_state &call) {
  normot_context *context = call.context;
  if (call.on_device) NORMOT_CUDA_TRY(cudaStreamSynchronize(call.caller_stream));
  return NORMOT_SUCCESS;
}

/* ---- the call ------------------------------------------------------------------------- */

normot_status prepare(call_state &call) {
  normot_context *context = call.context;
  const normot_matrix *X = call.X;
  const normot_normalize_params *params = call.params;
  workspace *space = call.space;

  const normot_memory memory =
      normot_resolve_memory(X->memory, X->values != nullptr ? X->values : X->indptr);
  switch (memory) {
    case NORMOT_MEMORY_CUDA:
    case NORMOT_MEMORY_CUDA_MANAGED: call.on_device = true; break;
    case NORMOT_MEMORY_CUDA_HOST: call.pinned_host = true; break;
    case NORMOT_MEMORY_HOST: break;
    default:
      return normot_fail(context, NORMOT_ERROR_INVALID_MEMORY,
                         "CUDA normalize_total: unknown memory tag %d", static_cast<int>(memory));
  }
  call.caller_stream = static_cast<cudaStream_t>(context->stream);
  call.main_stream = call.on_device ? call.caller_stream : space->slots[0].stream;
  call.in_size = normot_value_size(X->value_type);
  call.out_size = normot_value_size(call.config.out_type);
  call.index_size = normot_index_size(X->index_type);
  call.n_lines = X->layout == NORMOT_LAYOUT_CSC ? X->n_cols : X->n_rows;
  call.nnz = X->layout == NORMOT_LAYOUT_DENSE ? X->n_rows * X->n_cols : X->nnz;
  call.ld = X->layout == NORMOT_LAYOUT_DENSE ? (X->ld > 0 ? X->ld : X->n_cols) : 0;
  call.needs_indices = X->layout == NORMOT_LAYOUT_CSC ||
                       (X->layout == NORMOT_LAYOUT_CSR && params->exclude_highly_expressed);
  // Mean line length picks the lanes per row: short rows share a warp.
  const int64_t mean = call.n_lines > 0 ? call.nnz / call.n_lines : 0;
  call.config.lanes_per_line = mean <= 64 ? 8 : 32;
  call.config.multiprocessors = space->multiprocessors;

  // Scratch that lives for the whole call.
  const size_t rows = static_cast<size_t>(X->n_rows);
  NORMOT_TRY(ensure_device(context, &space->sums, rows * sizeof(double)));
  NORMOT_TRY(ensure_device(context, &space->totals, rows * call.out_size));
  NORMOT_TRY(ensure_device(context, &space->factors, rows * call.out_size));
  NORMOT_TRY(ensure_device(context, &space->raw_factors, rows * call.out_size));
  NORMOT_TRY(
      ensure_device(context, &space->excluded, static_cast<size_t>(X->n_cols) * sizeof(int32_t)));
  NORMOT_TRY(ensure_device(context, &space->report, sizeof(device_report)));
  NORMOT_TRY(ensure_pinned(context, &space->pinned_report, sizeof(device_report)));
  call.report = static_cast<device_report *>(space->report.ptr);
  call.host_report = static_cast<device_report *>(space->pinned_report.ptr);
  if (call.on_device) {
    const int64_t lines = call.n_lines;
    NORMOT_TRY(ensure_device(context, &space->long_lines,
                             static_cast<size_t>(lines + 1) * sizeof(unsigned long long)));
  }
  return NORMOT_SUCCESS;
}

normot_status normalize(call_state &call, normot_normalize_output *output) {
  normot_context *context = call.context;
  workspace *space = call.space;
  const normot_matrix *X = call.X;
  const normot_normalize_params *params = call.params;
  const bool csc = X->layout == NORMOT_LAYOUT_CSC;

  NORMOT_TRY(prepare(call));
  if (!call.on_device) {
    // The slots start after whatever the caller queued on its stream.
    NORMOT_CUDA_TRY(cudaEventRecord(space->caller_ready, call.caller_stream));
    for (int i = 0; i < SLOT_COUNT; ++i)
      NORMOT_CUDA_TRY(cudaStreamWaitEvent(space->slots[i].stream, space->caller_ready, 0));
  }
  NORMOT_TRY(reset_report(call));
  normot_matrix_problem structure;
  NORMOT_TRY(check_structure(call, &structure));
  NORMOT_TRY(plan_chunks(call));
  if (!call.on_device) NORMOT_TRY(prepare_host_buffers(call));

  // Pass 1: totals and every content check. CSC adds into the sums; the others overwrite.
  const size_t sums_bytes = static_cast<size_t>(X->n_rows) * sizeof(double);
  if (csc && sums_bytes > 0)
    NORMOT_CUDA_TRY(cudaMemsetAsync(space->sums.ptr, 0, sums_bytes, call.main_stream));
  if (params->exclude_highly_expressed && X->n_cols > 0)
    NORMOT_CUDA_TRY(cudaMemsetAsync(space->excluded.ptr, 0,
                                    static_cast<size_t>(X->n_cols) * sizeof(int32_t),
                                    call.main_stream));
  NORMOT_CUDA_TRY(cudaStreamSynchronize(call.main_stream));
  NORMOT_TRY(run_pass(call, PASS_TOTALS));
  NORMOT_TRY(pass_done(call));
  NORMOT_TRY(read_report(call));
  NORMOT_TRY(report_problems(call, structure));

  // The totals in the output type; with exclusion, recomputed without the marked genes.
  NORMOT_TRY(launch_round_totals(context, call.config.out_type,
                                 static_cast<const double *>(space->sums.ptr), X->n_rows,
                                 space->totals.ptr, call.main_stream));
  if (params->exclude_highly_expressed) {
    NORMOT_CUDA_TRY(cudaStreamSynchronize(call.main_stream));
    if (csc) {
      NORMOT_TRY(run_pass(call, PASS_MARK));
      NORMOT_TRY(pass_done(call));
    }
    NORMOT_TRY(launch_count_flags(context, static_cast<const int32_t *>(space->excluded.ptr),
                                  X->n_cols, call.report, call.main_stream));
    if (csc && sums_bytes > 0)
      NORMOT_CUDA_TRY(cudaMemsetAsync(space->sums.ptr, 0, sums_bytes, call.main_stream));
    NORMOT_CUDA_TRY(cudaStreamSynchronize(call.main_stream));
    NORMOT_TRY(run_pass(call, PASS_MASKED_TOTALS));
    NORMOT_TRY(pass_done(call));
    NORMOT_TRY(launch_round_totals(context, call.config.out_type,
                                   static_cast<const double *>(space->sums.ptr), X->n_rows,
                                   space->totals.ptr, call.main_stream));
  }

  // The target, in the output type.
  double target = 0.0;
  if (params->has_target_sum) {
    target = call.config.out_type == NORMOT_FLOAT32
                 ? static_cast<double>(static_cast<float>(params->target_sum))
                 : params->target_sum;
  } else {
    int64_t positive = 0;
    NORMOT_TRY(median_of_positive_totals(context, space, call.config.out_type, space->totals.ptr,
                                         X->n_rows, call.main_stream, &target, &positive));
    if (positive == 0)
      return normot_fail(context, NORMOT_ERROR_NO_POSITIVE_TOTAL,
                         "no cell has a positive total, so there is no median to use as the "
                         "target: give target_sum");
  }
  NORMOT_TRY(launch_size_factors(context, call.config.out_type, space->totals.ptr, X->n_rows,
                                 target, space->raw_factors.ptr, space->factors.ptr, call.report,
                                 call.main_stream));
  NORMOT_CUDA_TRY(cudaStreamSynchronize(call.main_stream));

  // The only pass that writes the caller's values.
  NORMOT_TRY(run_pass(call, PASS_SCALE));
  const size_t row_bytes = static_cast<size_t>(X->n_rows) * call.out_size;
  cudaStream_t result_stream = call.on_device ? call.caller_stream : call.main_stream;
  if (output->totals != nullptr && row_bytes > 0)
    NORMOT_CUDA_TRY(cudaMemcpyAsync(output->totals, space->totals.ptr, row_bytes, cudaMemcpyDefault,
                                    result_stream));
  if (output->size_factors != nullptr && row_bytes > 0)
    NORMOT_CUDA_TRY(cudaMemcpyAsync(output->size_factors, space->raw_factors.ptr, row_bytes,
                                    cudaMemcpyDefault, result_stream));
  NORMOT_CUDA_TRY(cudaStreamSynchronize(result_stream));
  NORMOT_TRY(read_report(call));

  output->target = target;
  output->n_zero_cells = static_cast<int64_t>(call.host_report->zero_cells);
  output->n_excluded_genes = static_cast<int64_t>(call.host_report->excluded_genes);
  return NORMOT_SUCCESS;
}

}  // namespace
}  // namespace normot_cuda

extern "C" normot_status normot_cuda_normalize_total(normot_context *context,
                                                     const normot_matrix *X,
                                                     const normot_normalize_params *params,
                                                     normot_normalize_output *output) {
  using namespace normot_cuda;
  int previous_device = -1;
  if (cudaGetDevice(&previous_device) != cudaSuccess) {
    (void)cudaGetLastError();
    previous_device = -1;
  }
  workspace *space = nullptr;
  normot_status status = get_workspace(context, &space);
  if (status == NORMOT_SUCCESS) {
    call_state call;
    call.context = context;
    call.space = space;
    call.X = X;
    call.params = params;
    call.out_values = output->values != nullptr ? output->values : X->values;
    call.config.layout = X->layout;
    call.config.in_type = X->value_type;
    call.config.out_type = output->value_type;
    call.config.index_type = X->index_type;
    call.config.n_rows = X->n_rows;
    call.config.n_cols = X->n_cols;
    try {
      status = normalize(call, output);
    } catch (const std::bad_alloc &) {
      status = normot_fail(context, NORMOT_ERROR_OUT_OF_MEMORY,
                           "CUDA normalize_total: out of host memory");
    }
    if (status != NORMOT_SUCCESS) abandon_slots(space);
  }
  // The caller's current device is theirs: put it back.
  if (previous_device >= 0 && previous_device != context->device_id) cudaSetDevice(previous_device);
  return status;
}
