/* Cell totals on the device, with the content checks (finite values, indices in range) fused
 * into this first read, and the marking of highly expressed genes.
 *
 * Every total is accumulated in float64 in the order the CPU backend uses: a CSR row in stored
 * order, a dense row and a CSC cell in column order. Float64 addition is not associative, so
 * this order is what makes totals (hence everything after) bitwise equal to the CPU backend on
 * any data, not only on integer counts, where every order gives the same exact sum.
 *
 * CSR and dense: a warp owns 32 consecutive rows, one per lane. Step by step it loads 32
 * entries of each of its rows, coalesced, into a shared-memory tile; then each lane adds its
 * own row's entries in order. Loads stay coalesced whatever the row lengths, and a long row
 * costs its own warp time, nobody else's.
 *
 * CSC: a chunk of columns is sorted by cell with a stable radix sort (CUB), so that each cell's
 * entries come out in column order; one thread per cell of the chunk then adds them to the
 * cell's running total. Chunks run in column order, one after the other. */
#include <cub/device/device_radix_sort.cuh>

#include "cuda_check.cuh"
#include "normalize_lines.cuh"

namespace normot_cuda {

namespace {

struct totals_args {
  double *sums; /* global rows */
  const int32_t *mask;
  int32_t *excluded;
  double max_fraction;
  int check_values;
  int check_indices;
  int64_t n_minor; /* the bound of indices */
  device_report *report;
};

constexpr int ORDERED_WARPS = 4; /* warps per block of the ordered row kernel */
constexpr unsigned FULL_MASK = 0xffffffffu;
constexpr int LOAD_BATCH = 8; /* rows whose loads a lane issues together (divides 32) */

/* One entry as its row total sees it, in the output type: 0 where it does not count (a gene
 * left out by the mask, or an index out of range, which is recorded). Adding +0.0 to a sum that
 * starts at +0.0 changes nothing, so a 0 here is the same as skipping the entry. */
template <class Out, class In, class Lines>
__device__ Out counted_value(const Lines &lines, const In *values, int64_t global_line,
                             int64_t entry, int64_t begin, const totals_args &args) {
  const In value = values[entry];
  if (args.check_indices || args.mask != nullptr) {
    const int64_t gene = lines.minor(entry, begin);
    if (args.check_indices && (gene < 0 || gene >= args.n_minor)) {
      record_first(&args.report->bad_index_position, lines.position(global_line, entry, begin));
      return static_cast<Out>(0);
    }
    if (args.mask != nullptr && args.mask[gene] != 0) return static_cast<Out>(0);
  }
  if (args.check_values && !is_finite_value(value))
    record_first(&args.report->nonfinite_position, lines.position(global_line, entry, begin));
  return as_output<Out>(value);
}

template <class Out, class In, class Lines>
__global__ void __launch_bounds__(ORDERED_WARPS * 32)
    ordered_row_totals(Lines lines, const In *values, int64_t n_lines, int64_t first_line,
                       totals_args args) {
  // Row i of a warp's tile holds entries [step, step + 32) of the warp's i-th row; the odd
  // pitch spreads a lane's reads of its own row over the banks.
  __shared__ Out tiles[ORDERED_WARPS][32][33];
  const int warp = static_cast<int>(threadIdx.x / 32);
  const int lane = static_cast<int>(threadIdx.x % 32);
  Out(*tile)[33] = tiles[warp];
  const int64_t warps = static_cast<int64_t>(gridDim.x) * ORDERED_WARPS;
  for (int64_t base = (static_cast<int64_t>(blockIdx.x) * ORDERED_WARPS + warp) * 32;
       base < n_lines; base += warps * 32) {
    const int64_t line = base + lane;
    int64_t begin = 0, length = 0;
    if (line < n_lines) {
      begin = lines.begin(line);
      length = lines.end(line) - begin;
    }
    int64_t longest = length;
    for (int offset = 16; offset > 0; offset /= 2) {
      const int64_t other = __shfl_xor_sync(FULL_MASK, longest, offset);
      longest = other > longest ? other : longest;
    }
    double sum = 0.0;
    for (int64_t step = 0; step < longest; step += 32) {
      // Rows in batches of LOAD_BATCH: the batch's loads are all issued before any of them is
      // stored, so that each warp keeps several cache lines in flight.
      for (int first_row = 0; first_row < 32; first_row += LOAD_BATCH) {
        Out loaded[LOAD_BATCH];
#pragma unroll
        for (int u = 0; u < LOAD_BATCH; ++u) {
          const int i = first_row + u;
          const int64_t length_i = __shfl_sync(FULL_MASK, length, i);
          const int64_t begin_i = __shfl_sync(FULL_MASK, begin, i);
          const int64_t k = step + lane;
          loaded[u] = k < length_i ? counted_value<Out>(lines, values, first_line + base + i,
                                                        begin_i + k, begin_i, args)
                                   : static_cast<Out>(0);
        }
#pragma unroll
        for (int u = 0; u < LOAD_BATCH; ++u) tile[first_row + u][lane] = loaded[u];
      }
      __syncwarp();
      const int64_t left = length - step;
      const int count = left >= 32 ? 32 : (left > 0 ? static_cast<int>(left) : 0);
      for (int k = 0; k < count; ++k) sum += static_cast<double>(tile[lane][k]);
      __syncwarp();
    }
    if (line < n_lines) args.sums[first_line + line] = sum;
    if (args.excluded == nullptr) continue;
    // Exclusion: an entry marks its gene when it exceeds max_fraction of its row's total.
    const Out total = static_cast<Out>(sum);
    for (int i = 0; i < 32; ++i) {
      const int64_t length_i = __shfl_sync(FULL_MASK, length, i);
      const int64_t begin_i = __shfl_sync(FULL_MASK, begin, i);
      const Out total_i = __shfl_sync(FULL_MASK, total, i);
      for (int64_t k = lane; k < length_i; k += 32) {
        const int64_t entry = begin_i + k;
        const int64_t gene = lines.minor(entry, begin_i);
        if (gene < 0 || gene >= args.n_minor) continue;  // recorded above
        if (is_highly_expressed<Out>(summand<Out>(values[entry]), total_i, args.max_fraction))
          args.excluded[gene] = 1;  // every writer stores the same 1: no atomic needed
      }
    }
  }
}

/* CSC, pass 1: indices in range and finite values, entry by entry (the sums need sorted
 * entries, so the checks run on their own, on the chunk the sums will read next). */
template <class In, class Index>
__global__ void __launch_bounds__(BLOCK_THREADS)
    csc_check(const Index *indices, const In *values, int64_t n_entries, int64_t base,
              totals_args args) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t entry = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       entry < n_entries; entry += stride) {
    const int64_t cell = static_cast<int64_t>(indices[entry]);
    if (args.check_indices && (cell < 0 || cell >= args.n_minor))
      record_first(&args.report->bad_index_position, static_cast<unsigned long long>(base + entry));
    if (args.check_values && !is_finite_value(values[entry]))
      record_first(&args.report->nonfinite_position, static_cast<unsigned long long>(base + entry));
  }
}

__global__ void identity_order(int32_t *order, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    order[i] = static_cast<int32_t>(i);
}

/* CSC: the chunk's entries sorted by cell (stable: column order within a cell). The first
 * thread of each cell's run adds the run, in order, to the cell's running total. */
template <class Out, class In, class Index>
__global__ void __launch_bounds__(BLOCK_THREADS)
    csc_ordered_sums(const Index *indptr, const Index *sorted_cells, const int32_t *order,
                     const In *values, int64_t n_entries, int64_t n_lines, int64_t first_line,
                     int64_t base, totals_args args) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t run = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; run < n_entries;
       run += stride) {
    const Index cell = sorted_cells[run];
    if (cell < 0 || static_cast<int64_t>(cell) >= args.n_minor) continue;  // reported, fails
    if (run > 0 && sorted_cells[run - 1] == cell) continue;                // not a run start
    double sum = args.sums[cell];
    for (int64_t t = run; t < n_entries && sorted_cells[t] == cell; ++t) {
      const int64_t entry = order[t];
      if (args.mask != nullptr &&
          args.mask[first_line + line_of_entry(indptr, n_lines, base, entry)] != 0)
        continue;
      sum += summand<Out>(values[entry]);
    }
    args.sums[cell] = sum;
  }
}

template <class Out, class In, class Index>
__global__ void __launch_bounds__(BLOCK_THREADS)
    csc_mark(const Index *indptr, const Index *indices, const In *values, int64_t n_entries,
             int64_t n_lines, int64_t first_line, int64_t base, const Out *totals,
             double max_fraction, int32_t *excluded) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t entry = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       entry < n_entries; entry += stride) {
    const int64_t cell = static_cast<int64_t>(indices[entry]);  // checked by csc_totals
    if (is_highly_expressed<Out>(summand<Out>(values[entry]), totals[cell], max_fraction))
      excluded[first_line + line_of_entry(indptr, n_lines, base, entry)] = 1;
  }
}

template <class Out, class In, class Lines>
normot_status row_totals(normot_context *context, const kernel_config &config, Lines lines,
                         const chunk_view &chunk, const totals_args &args, cudaStream_t stream) {
  const int64_t warps = (chunk.n_lines + 31) / 32;
  int64_t blocks = (warps + ORDERED_WARPS - 1) / ORDERED_WARPS;
  const int64_t cap = static_cast<int64_t>(config.multiprocessors) * 16;
  if (blocks > cap) blocks = cap;
  ordered_row_totals<Out, In><<<static_cast<unsigned>(blocks), ORDERED_WARPS * 32, 0, stream>>>(
      lines, static_cast<const In *>(chunk.values), chunk.n_lines, chunk.first_line, args);
  NORMOT_CUDA_TRY_LAUNCH("ordered_row_totals");
  return NORMOT_SUCCESS;
}

/* Bits that hold every valid cell index, for the radix sort. */
int cell_bits(int64_t n_rows) {
  int bits = 1;
  while (bits < 63 && (int64_t(1) << bits) < n_rows) ++bits;
  return bits;
}

template <class Out, class In, class Index>
normot_status csc_totals(normot_context *context, const kernel_config &config,
                         const chunk_view &chunk, const totals_request &request,
                         const totals_args &args, cudaStream_t stream) {
  const Index *indptr = static_cast<const Index *>(chunk.indptr);
  const Index *indices = static_cast<const Index *>(chunk.indices);
  const In *values = static_cast<const In *>(chunk.values);
  const unsigned grid = grid_for(chunk.n_entries, 1, config.multiprocessors);
  if (args.check_indices || args.check_values) {
    csc_check<In, Index><<<grid, BLOCK_THREADS, 0, stream>>>(indices, values, chunk.n_entries,
                                                             chunk.entry_base, args);
    NORMOT_CUDA_TRY_LAUNCH("csc_check");
  }
  const csc_sort_scratch &scratch = request.csc;
  identity_order<<<grid, BLOCK_THREADS, 0, stream>>>(scratch.order_in, chunk.n_entries);
  NORMOT_CUDA_TRY_LAUNCH("identity_order");
  size_t temp_bytes = scratch.temp_bytes;
  Index *sorted_cells = static_cast<Index *>(scratch.sorted_cells);
  NORMOT_CUDA_TRY(cub::DeviceRadixSort::SortPairs(
      scratch.temp, temp_bytes, indices, sorted_cells, scratch.order_in, scratch.order_out,
      chunk.n_entries, 0, cell_bits(config.n_rows), stream));
  csc_ordered_sums<Out, In, Index><<<grid, BLOCK_THREADS, 0, stream>>>(
      indptr, sorted_cells, scratch.order_out, values, chunk.n_entries, chunk.n_lines,
      chunk.first_line, chunk.entry_base, args);
  NORMOT_CUDA_TRY_LAUNCH("csc_ordered_sums");
  return NORMOT_SUCCESS;
}

}  // namespace

normot_status csc_sort_temp_bytes(normot_context *context, normot_index_type index_type,
                                  int64_t n_entries, int64_t n_rows, size_t *bytes) {
  *bytes = 0;
  normot_status status = dispatch_index(index_type, [&](auto index_tag) {
    using Index = typename decltype(index_tag)::type;
    NORMOT_CUDA_TRY(cub::DeviceRadixSort::SortPairs(
        nullptr, *bytes, static_cast<const Index *>(nullptr), static_cast<Index *>(nullptr),
        static_cast<const int32_t *>(nullptr), static_cast<int32_t *>(nullptr), n_entries, 0,
        cell_bits(n_rows)));
    return NORMOT_SUCCESS;
  });
  return unsupported_types(context, status);
}

normot_status launch_totals(normot_context *context, const kernel_config &config,
                            const chunk_view &chunk, const totals_request &request,
                            cudaStream_t stream) {
  if (chunk.n_lines == 0) return NORMOT_SUCCESS;
  totals_args args;
  args.sums = request.sums;
  args.mask = request.mask;
  args.excluded = request.excluded;
  args.max_fraction = request.max_fraction;
  args.check_values = request.check_values;
  args.check_indices = request.check_indices;
  args.n_minor = config.layout == NORMOT_LAYOUT_CSC ? config.n_rows : config.n_cols;
  args.report = request.report;
  normot_status status =
      dispatch_values(config.in_type, config.out_type, [&](auto in_tag, auto out_tag) {
        using In = typename decltype(in_tag)::type;
        using Out = typename decltype(out_tag)::type;
        if (config.layout == NORMOT_LAYOUT_DENSE)
          return row_totals<Out, In>(context, config, dense_lines{chunk.pitch, config.n_cols},
                                     chunk, args, stream);
        return dispatch_index(config.index_type, [&](auto index_tag) {
          using Index = typename decltype(index_tag)::type;
          if (config.layout == NORMOT_LAYOUT_CSR) {
            sparse_lines<Index> lines{static_cast<const Index *>(chunk.indptr),
                                      static_cast<const Index *>(chunk.indices), chunk.entry_base};
            return row_totals<Out, In>(context, config, lines, chunk, args, stream);
          }
          if (chunk.n_entries == 0) return NORMOT_SUCCESS;
          return csc_totals<Out, In, Index>(context, config, chunk, request, args, stream);
        });
      });
  return unsupported_types(context, status);
}

normot_status launch_csc_mark(normot_context *context, const kernel_config &config,
                              const chunk_view &chunk, const void *totals, double max_fraction,
                              int32_t *excluded, cudaStream_t stream) {
  if (chunk.n_entries == 0) return NORMOT_SUCCESS;
  normot_status status =
      dispatch_values(config.in_type, config.out_type, [&](auto in_tag, auto out_tag) {
        using In = typename decltype(in_tag)::type;
        using Out = typename decltype(out_tag)::type;
        return dispatch_index(config.index_type, [&](auto index_tag) {
          using Index = typename decltype(index_tag)::type;
          csc_mark<Out, In, Index>
              <<<grid_for(chunk.n_entries, 1, config.multiprocessors), BLOCK_THREADS, 0, stream>>>(
                  static_cast<const Index *>(chunk.indptr),
                  static_cast<const Index *>(chunk.indices), static_cast<const In *>(chunk.values),
                  chunk.n_entries, chunk.n_lines, chunk.first_line, chunk.entry_base,
                  static_cast<const Out *>(totals), max_fraction, excluded);
          NORMOT_CUDA_TRY_LAUNCH("csc_mark");
          return NORMOT_SUCCESS;
        });
      });
  return unsupported_types(context, status);
}

}  // namespace normot_cuda
