/* Cell totals on the device: float64 accumulation per row (CSR, dense) or per entry (CSC),
 * with the content checks (finite values, indices in range) fused into this first read, and the
 * marking of highly expressed genes.
 *
 * Rows are scheduled by length: a group of lanes (8, or a full warp) per row for ordinary rows,
 * a whole block per row for the long ones, so that one huge row does not hold up a warp while
 * the rest of the device idles. Within a row every lane adds its entries in a fixed order and
 * the lanes are combined by a fixed tree, so a total is the same on every run. On integer-valued
 * data every partial sum is an exact integer in float64, so totals equal the CPU backend's. */
#include <cooperative_groups.h>
#include <cooperative_groups/reduce.h>

#include <cub/block/block_reduce.cuh>

#include "cuda_check.cuh"
#include "normalize_lines.cuh"

namespace cg = cooperative_groups;

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

/* This lane's share of a row total: entries lane, lane + width, ... of [begin, end). */
template <class Out, class In, class Lines>
__device__ double partial_total(const Lines &lines, const In *values, int64_t global_line,
                                int64_t begin, int64_t end, int lane, int width,
                                const totals_args &args) {
  double part = 0.0;
  for (int64_t entry = begin + lane; entry < end; entry += width) {
    const In value = values[entry];
    if (args.check_indices || args.mask != nullptr) {
      const int64_t gene = lines.minor(entry, begin);
      if (args.check_indices && (gene < 0 || gene >= args.n_minor)) {
        record_first(&args.report->bad_index_position, lines.position(global_line, entry, begin));
        continue;
      }
      if (args.mask != nullptr && args.mask[gene] != 0) continue;
    }
    if (args.check_values && !is_finite_value(value))
      record_first(&args.report->nonfinite_position, lines.position(global_line, entry, begin));
    part += summand<Out>(value);
  }
  return part;
}

/* Marks the genes of this lane's entries that exceed max_fraction of the row's total. */
template <class Out, class In, class Lines>
__device__ void mark_highly_expressed(const Lines &lines, const In *values, int64_t begin,
                                      int64_t end, int lane, int width, Out total,
                                      const totals_args &args) {
  for (int64_t entry = begin + lane; entry < end; entry += width) {
    const int64_t gene = lines.minor(entry, begin);
    if (gene < 0 || gene >= args.n_minor) continue;  // recorded by partial_total
    if (is_highly_expressed<Out>(summand<Out>(values[entry]), total, args.max_fraction))
      args.excluded[gene] = 1;  // every writer stores the same 1: no atomic needed
  }
}

template <int LANES, class Out, class In, class Lines>
__global__ void __launch_bounds__(BLOCK_THREADS)
    totals_by_group(Lines lines, const In *values, int64_t n_lines, int64_t first_line,
                    int64_t long_threshold, totals_args args) {
  cg::thread_block_tile<LANES> group = cg::tiled_partition<LANES>(cg::this_thread_block());
  const int64_t groups = static_cast<int64_t>(gridDim.x) * (BLOCK_THREADS / LANES);
  const int64_t first =
      static_cast<int64_t>(blockIdx.x) * (BLOCK_THREADS / LANES) + threadIdx.x / LANES;
  const int lane = static_cast<int>(group.thread_rank());
  for (int64_t line = first; line < n_lines; line += groups) {
    const int64_t begin = lines.begin(line), end = lines.end(line);
    if (end - begin > long_threshold) continue;  // the block kernel's
    const int64_t global_line = first_line + line;
    const double part =
        partial_total<Out>(lines, values, global_line, begin, end, lane, LANES, args);
    const double sum = cg::reduce(group, part, cg::plus<double>());
    if (args.excluded != nullptr)
      mark_highly_expressed<Out>(lines, values, begin, end, lane, LANES, static_cast<Out>(sum),
                                 args);
    if (lane == 0) args.sums[global_line] = sum;
  }
}

/* One block per long line. `list` holds a count then the lines; NULL means every line. */
template <class Out, class In, class Lines>
__global__ void __launch_bounds__(BLOCK_THREADS)
    totals_by_block(Lines lines, const In *values, int64_t n_lines, int64_t first_line,
                    const unsigned long long *list, totals_args args) {
  using block_reduce = cub::BlockReduce<double, BLOCK_THREADS>;
  __shared__ typename block_reduce::TempStorage reduce_storage;
  __shared__ double line_sum;
  const unsigned long long count =
      list != nullptr ? list[0] : static_cast<unsigned long long>(n_lines);
  for (unsigned long long item = blockIdx.x; item < count; item += gridDim.x) {
    const int64_t line = static_cast<int64_t>(list != nullptr ? list[1 + item] : item);
    const int64_t begin = lines.begin(line), end = lines.end(line);
    const int64_t global_line = first_line + line;
    const double part = partial_total<Out>(lines, values, global_line, begin, end,
                                           static_cast<int>(threadIdx.x), BLOCK_THREADS, args);
    const double sum = block_reduce(reduce_storage).Sum(part);
    if (threadIdx.x == 0) line_sum = sum;
    __syncthreads();
    const double total = line_sum;
    if (args.excluded != nullptr)
      mark_highly_expressed<Out>(lines, values, begin, end, static_cast<int>(threadIdx.x),
                                 BLOCK_THREADS, static_cast<Out>(total), args);
    if (threadIdx.x == 0) args.sums[global_line] = total;
    __syncthreads();  // reduce_storage and line_sum are reused by the next line
  }
}

/* Appends every line longer than `threshold` to list (list[0] is the count, zeroed before). The
 * order of the list does not matter: each line's result is independent of it. */
template <class Lines>
__global__ void collect_long_lines(Lines lines, int64_t n_lines, int64_t threshold,
                                   unsigned long long *list) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t line = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; line < n_lines;
       line += stride) {
    if (lines.end(line) - lines.begin(line) > threshold) {
      const unsigned long long slot = atomicAdd(&list[0], 1ull);
      list[1 + slot] = static_cast<unsigned long long>(line);
    }
  }
}

/* CSC: one thread per entry adds it to its cell's float64 total. Atomic float64 additions are
 * exact, hence order-free, on integer-valued data; on other data the last bit of a total may
 * depend on the order (see docs/cuda_normalize.md). */
template <class Out, class In, class Index>
__global__ void __launch_bounds__(BLOCK_THREADS)
    csc_totals(const Index *indptr, const Index *indices, const In *values, int64_t n_entries,
               int64_t n_lines, int64_t first_line, int64_t base, totals_args args) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t entry = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       entry < n_entries; entry += stride) {
    const int64_t cell = static_cast<int64_t>(indices[entry]);
    if (args.check_indices && (cell < 0 || cell >= args.n_minor)) {
      record_first(&args.report->bad_index_position, static_cast<unsigned long long>(base + entry));
      continue;
    }
    if (args.mask != nullptr &&
        args.mask[first_line + line_of_entry(indptr, n_lines, base, entry)] != 0)
      continue;
    const In value = values[entry];
    if (args.check_values && !is_finite_value(value))
      record_first(&args.report->nonfinite_position, static_cast<unsigned long long>(base + entry));
    atomicAdd(&args.sums[cell], summand<Out>(value));
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

/* Row-wise totals for one line layout: the long lines first get their list, then both kernels
 * run; each skips the other's lines. */
template <class Out, class In, class Lines>
normot_status row_totals(normot_context *context, const kernel_config &config, Lines lines,
                         const chunk_view &chunk, const totals_request &request,
                         const totals_args &args, bool all_long, cudaStream_t stream) {
  const In *values = static_cast<const In *>(chunk.values);
  const int64_t threshold = long_line_threshold(config);
  const unsigned block_grid = grid_for(chunk.n_lines, BLOCK_THREADS, config.multiprocessors);
  if (all_long) {
    totals_by_block<Out, In><<<block_grid, BLOCK_THREADS, 0, stream>>>(
        lines, values, chunk.n_lines, chunk.first_line, nullptr, args);
    NORMOT_CUDA_TRY_LAUNCH("totals_by_block");
    return NORMOT_SUCCESS;
  }
  NORMOT_CUDA_TRY(cudaMemsetAsync(request.long_lines, 0, sizeof(unsigned long long), stream));
  collect_long_lines<<<grid_for(chunk.n_lines, 1, config.multiprocessors), BLOCK_THREADS, 0,
                       stream>>>(lines, chunk.n_lines, threshold, request.long_lines);
  NORMOT_CUDA_TRY_LAUNCH("collect_long_lines");
  if (config.lanes_per_line == 8) {
    totals_by_group<8, Out, In>
        <<<grid_for(chunk.n_lines, 8, config.multiprocessors), BLOCK_THREADS, 0, stream>>>(
            lines, values, chunk.n_lines, chunk.first_line, threshold, args);
  } else {
    totals_by_group<32, Out, In>
        <<<grid_for(chunk.n_lines, 32, config.multiprocessors), BLOCK_THREADS, 0, stream>>>(
            lines, values, chunk.n_lines, chunk.first_line, threshold, args);
  }
  NORMOT_CUDA_TRY_LAUNCH("totals_by_group");
  // Long lines are rare: a few blocks per multiprocessor cover them, whatever their count.
  totals_by_block<Out, In>
      <<<grid_for(chunk.n_lines, BLOCK_THREADS, config.multiprocessors), BLOCK_THREADS, 0,
         stream>>>(lines, values, chunk.n_lines, chunk.first_line, request.long_lines, args);
  NORMOT_CUDA_TRY_LAUNCH("totals_by_block");
  return NORMOT_SUCCESS;
}

}  // namespace

int64_t long_line_threshold(const kernel_config &config) {
  return static_cast<int64_t>(config.lanes_per_line) * 128;
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
        if (config.layout == NORMOT_LAYOUT_DENSE) {
          dense_lines lines{chunk.pitch, config.n_cols};
          return row_totals<Out, In>(context, config, lines, chunk, request, args,
                                     config.n_cols > long_line_threshold(config), stream);
        }
        return dispatch_index(config.index_type, [&](auto index_tag) {
          using Index = typename decltype(index_tag)::type;
          const Index *indptr = static_cast<const Index *>(chunk.indptr);
          const Index *indices = static_cast<const Index *>(chunk.indices);
          if (config.layout == NORMOT_LAYOUT_CSR) {
            sparse_lines<Index> lines{indptr, indices, chunk.entry_base};
            return row_totals<Out, In>(context, config, lines, chunk, request, args, false, stream);
          }
          if (chunk.n_entries == 0) return NORMOT_SUCCESS;
          csc_totals<Out, In, Index>
              <<<grid_for(chunk.n_entries, 1, config.multiprocessors), BLOCK_THREADS, 0, stream>>>(
                  indptr, indices, static_cast<const In *>(chunk.values), chunk.n_entries,
                  chunk.n_lines, chunk.first_line, chunk.entry_base, args);
          NORMOT_CUDA_TRY_LAUNCH("csc_totals");
          return NORMOT_SUCCESS;
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
