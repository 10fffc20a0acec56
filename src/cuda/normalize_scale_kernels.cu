/* The writing pass: every entry divided by its cell's size factor (then the optional log1p), in
 * the output type. Rows are scheduled by length as in the totals pass; CSC needs no schedule,
 * since each entry names its cell. */
#include "cuda_check.cuh"
#include "normalize_lines.cuh"

namespace normot_cuda {

namespace {

struct scale_args {
  int log1p;
  double log_of_base;
};

template <class Out, class In, class Lines>
__device__ void scale_line(const Lines &lines, const In *values, Out *out, int64_t line, Out factor,
                           int lane, int width, const scale_args &args) {
  const int64_t begin = lines.begin(line), end = lines.end(line);
#pragma unroll 4
  for (int64_t entry = begin + lane; entry < end; entry += width)
    out[entry] = normalized_entry<Out>(values[entry], factor, args.log1p, args.log_of_base);
}

template <int LANES, class Out, class In, class Lines>
__global__ void __launch_bounds__(BLOCK_THREADS)
    scale_by_group(Lines lines, const In *values, Out *out, int64_t n_lines, int64_t first_line,
                   const Out *factors, int64_t long_threshold, scale_args args) {
  const int64_t groups = static_cast<int64_t>(gridDim.x) * (BLOCK_THREADS / LANES);
  const int64_t first =
      static_cast<int64_t>(blockIdx.x) * (BLOCK_THREADS / LANES) + threadIdx.x / LANES;
  const int lane = static_cast<int>(threadIdx.x % LANES);
  for (int64_t line = first; line < n_lines; line += groups) {
    if (lines.end(line) - lines.begin(line) > long_threshold) continue;
    scale_line<Out>(lines, values, out, line, factors[first_line + line], lane, LANES, args);
  }
}

template <class Out, class In, class Lines>
__global__ void __launch_bounds__(BLOCK_THREADS)
    scale_by_block(Lines lines, const In *values, Out *out, int64_t n_lines, int64_t first_line,
                   const Out *factors, const unsigned long long *list, scale_args args) {
  const unsigned long long count =
      list != nullptr ? list[0] : static_cast<unsigned long long>(n_lines);
  for (unsigned long long item = blockIdx.x; item < count; item += gridDim.x) {
    const int64_t line = static_cast<int64_t>(list != nullptr ? list[1 + item] : item);
    scale_line<Out>(lines, values, out, line, factors[first_line + line],
                    static_cast<int>(threadIdx.x), BLOCK_THREADS, args);
  }
}

template <class Lines>
__global__ void collect_long_rows(Lines lines, int64_t n_lines, int64_t threshold,
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

template <class Out, class In, class Index>
__global__ void __launch_bounds__(BLOCK_THREADS)
    csc_scale(const Index *indices, const In *values, Out *out, int64_t n_entries,
              const Out *factors, scale_args args) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t entry = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       entry < n_entries; entry += stride) {
    const Out factor = factors[static_cast<int64_t>(indices[entry])];
    out[entry] = normalized_entry<Out>(values[entry], factor, args.log1p, args.log_of_base);
  }
}

template <class Out, class In, class Lines>
normot_status row_scale(normot_context *context, const kernel_config &config, Lines lines,
                        const chunk_view &chunk, const scale_request &request,
                        const scale_args &args, bool all_long, cudaStream_t stream) {
  const In *values = static_cast<const In *>(chunk.values);
  Out *out = static_cast<Out *>(chunk.out);
  const Out *factors = static_cast<const Out *>(request.factors);
  const int64_t threshold = long_line_threshold(config);
  const unsigned block_grid = grid_for(chunk.n_lines, BLOCK_THREADS, config.multiprocessors);
  if (all_long) {
    scale_by_block<Out, In><<<block_grid, BLOCK_THREADS, 0, stream>>>(
        lines, values, out, chunk.n_lines, chunk.first_line, factors, nullptr, args);
    NORMOT_CUDA_TRY_LAUNCH("scale_by_block");
    return NORMOT_SUCCESS;
  }
  NORMOT_CUDA_TRY(cudaMemsetAsync(request.long_lines, 0, sizeof(unsigned long long), stream));
  collect_long_rows<<<grid_for(chunk.n_lines, 1, config.multiprocessors), BLOCK_THREADS, 0,
                      stream>>>(lines, chunk.n_lines, threshold, request.long_lines);
  NORMOT_CUDA_TRY_LAUNCH("collect_long_rows");
  if (config.lanes_per_line == 8) {
    scale_by_group<8, Out, In>
        <<<grid_for(chunk.n_lines, 8, config.multiprocessors), BLOCK_THREADS, 0, stream>>>(
            lines, values, out, chunk.n_lines, chunk.first_line, factors, threshold, args);
  } else {
    scale_by_group<32, Out, In>
        <<<grid_for(chunk.n_lines, 32, config.multiprocessors), BLOCK_THREADS, 0, stream>>>(
            lines, values, out, chunk.n_lines, chunk.first_line, factors, threshold, args);
  }
  NORMOT_CUDA_TRY_LAUNCH("scale_by_group");
  scale_by_block<Out, In><<<block_grid, BLOCK_THREADS, 0, stream>>>(
      lines, values, out, chunk.n_lines, chunk.first_line, factors, request.long_lines, args);
  NORMOT_CUDA_TRY_LAUNCH("scale_by_block");
  return NORMOT_SUCCESS;
}

}  // namespace

int64_t long_line_threshold(const kernel_config &config) {
  return static_cast<int64_t>(config.lanes_per_line) * 128;
}

normot_status launch_scale(normot_context *context, const kernel_config &config,
                           const chunk_view &chunk, const scale_request &request,
                           cudaStream_t stream) {
  if (chunk.n_lines == 0) return NORMOT_SUCCESS;
  scale_args args{request.log1p, request.log_of_base};
  normot_status status =
      dispatch_values(config.in_type, config.out_type, [&](auto in_tag, auto out_tag) {
        using In = typename decltype(in_tag)::type;
        using Out = typename decltype(out_tag)::type;
        if (config.layout == NORMOT_LAYOUT_DENSE) {
          dense_lines lines{chunk.pitch, config.n_cols};
          return row_scale<Out, In>(context, config, lines, chunk, request, args,
                                    config.n_cols > long_line_threshold(config), stream);
        }
        return dispatch_index(config.index_type, [&](auto index_tag) {
          using Index = typename decltype(index_tag)::type;
          if (config.layout == NORMOT_LAYOUT_CSR) {
            sparse_lines<Index> lines{static_cast<const Index *>(chunk.indptr),
                                      static_cast<const Index *>(chunk.indices), chunk.entry_base};
            return row_scale<Out, In>(context, config, lines, chunk, request, args, false, stream);
          }
          if (chunk.n_entries == 0) return NORMOT_SUCCESS;
          csc_scale<Out, In, Index>
              <<<grid_for(chunk.n_entries, 1, config.multiprocessors), BLOCK_THREADS, 0, stream>>>(
                  static_cast<const Index *>(chunk.indices), static_cast<const In *>(chunk.values),
                  static_cast<Out *>(chunk.out), chunk.n_entries,
                  static_cast<const Out *>(request.factors), args);
          NORMOT_CUDA_TRY_LAUNCH("csc_scale");
          return NORMOT_SUCCESS;
        });
      });
  return unsupported_types(context, status);
}

}  // namespace normot_cuda
