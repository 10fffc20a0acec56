/* Everything between the totals and the scaling: indptr checks for device-resident input, the
 * totals rounded to the output type, their median (an exact selection: the positive totals are
 * radix sorted with CUB), the size factors and the counts reported back. */
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_select.cuh>

#include "cuda_check.cuh"
#include "normalize_lines.cuh"

namespace normot_cuda {

namespace {

/* The per-cell kernels below loop over their arrays, so the device size only sets how many
 * blocks they start: an H100's multiprocessor count is a fine figure for any device. */
constexpr int GRID_MULTIPROCESSORS = 132;

/* The first line whose slice [indptr[m], indptr[m + 1]) is not within [0, nnz] in order (the
 * ends indptr[0] == 0 and indptr[n] == nnz are checked by the host first). */
template <class Index>
__global__ void check_indptr_steps(const Index *indptr, int64_t n_lines, int64_t nnz,
                                   device_report *report) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t m = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; m < n_lines;
       m += stride) {
    const int64_t start = static_cast<int64_t>(indptr[m]);
    const int64_t end = static_cast<int64_t>(indptr[m + 1]);
    if (!(0 <= start && start <= end && end <= nnz))
      record_first(&report->bad_step_major, static_cast<unsigned long long>(m));
  }
}

template <class Out>
__global__ void round_totals(const double *sums, int64_t n, Out *totals) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    totals[i] = static_cast<Out>(sums[i]);
}

template <class Out>
__global__ void size_factors(const Out *totals, int64_t n, Out target, Out *raw, Out *usable,
                             device_report *report) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const Out factor = raw_size_factor(totals[i], target);
    raw[i] = factor;
    usable[i] = usable_size_factor(factor);
    if (factor == static_cast<Out>(0)) atomicAdd(&report->zero_cells, 1ull);
  }
}

__global__ void count_flags(const int32_t *flags, int64_t n, device_report *report) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    if (flags[i] != 0) atomicAdd(&report->excluded_genes, 1ull);
}

template <class T>
struct is_positive {
  __host__ __device__ bool operator()(const T &value) const { return value > static_cast<T>(0); }
};

template <class Out>
normot_status median_typed(normot_context *context, workspace *space, const Out *totals, int64_t n,
                           cudaStream_t stream, double *median, int64_t *positive_count) {
  *positive_count = 0;
  if (n == 0) return NORMOT_SUCCESS;
  const size_t bytes = static_cast<size_t>(n) * sizeof(Out);
  NORMOT_TRY(ensure_device(context, &space->positives, bytes));
  NORMOT_TRY(ensure_device(context, &space->sorted, bytes));
  Out *positives = static_cast<Out *>(space->positives.ptr);
  Out *sorted = static_cast<Out *>(space->sorted.ptr);
  device_report *report = static_cast<device_report *>(space->report.ptr);
  long long *count = &report->positive_count;

  // Both CUB calls first say how much scratch they need; one buffer serves both.
  size_t select_bytes = 0, sort_bytes = 0;
  NORMOT_CUDA_TRY(cub::DeviceSelect::If(nullptr, select_bytes, totals, positives, count, n,
                                        is_positive<Out>(), stream));
  NORMOT_CUDA_TRY(cub::DeviceRadixSort::SortKeys(nullptr, sort_bytes, positives, sorted, n, 0,
                                                 static_cast<int>(sizeof(Out) * 8), stream));
  NORMOT_TRY(ensure_device(context, &space->cub_temp,
                           select_bytes > sort_bytes ? select_bytes : sort_bytes));
  size_t temp_bytes = space->cub_temp.bytes;
  NORMOT_CUDA_TRY(cub::DeviceSelect::If(space->cub_temp.ptr, temp_bytes, totals, positives, count,
                                        n, is_positive<Out>(), stream));
  long long host_count = 0;
  NORMOT_CUDA_TRY(
      cudaMemcpyAsync(&host_count, count, sizeof host_count, cudaMemcpyDeviceToHost, stream));
  NORMOT_CUDA_TRY(cudaStreamSynchronize(stream));
  *positive_count = host_count;
  if (host_count == 0) return NORMOT_SUCCESS;

  // Positive floats sort as their bit patterns: all keys share the sign bit 0.
  temp_bytes = space->cub_temp.bytes;
  NORMOT_CUDA_TRY(cub::DeviceRadixSort::SortKeys(space->cub_temp.ptr, temp_bytes, positives, sorted,
                                                 static_cast<int64_t>(host_count), 0,
                                                 static_cast<int>(sizeof(Out) * 8), stream));
  Out middle[2] = {0, 0};
  const int64_t upper = host_count / 2;
  const int64_t lower = host_count % 2 == 0 ? upper - 1 : upper;
  NORMOT_CUDA_TRY(
      cudaMemcpyAsync(&middle[0], sorted + lower, sizeof(Out), cudaMemcpyDeviceToHost, stream));
  NORMOT_CUDA_TRY(
      cudaMemcpyAsync(&middle[1], sorted + upper, sizeof(Out), cudaMemcpyDeviceToHost, stream));
  NORMOT_CUDA_TRY(cudaStreamSynchronize(stream));
  *median = static_cast<double>(lower == upper ? middle[1] : median_of_two(middle[0], middle[1]));
  return NORMOT_SUCCESS;
}

}  // namespace

normot_status launch_check_indptr_steps(normot_context *context, normot_index_type index_type,
                                        const void *indptr, int64_t n_lines, int64_t nnz,
                                        int multiprocessors, device_report *report,
                                        cudaStream_t stream) {
  if (n_lines == 0) return NORMOT_SUCCESS;
  normot_status status = dispatch_index(index_type, [&](auto index_tag) {
    using Index = typename decltype(index_tag)::type;
    check_indptr_steps<Index><<<grid_for(n_lines, 1, multiprocessors), BLOCK_THREADS, 0, stream>>>(
        static_cast<const Index *>(indptr), n_lines, nnz, report);
    NORMOT_CUDA_TRY_LAUNCH("check_indptr_steps");
    return NORMOT_SUCCESS;
  });
  return unsupported_types(context, status);
}

normot_status launch_round_totals(normot_context *context, normot_value_type out_type,
                                  const double *sums, int64_t n, void *totals,
                                  cudaStream_t stream) {
  if (n == 0) return NORMOT_SUCCESS;
  normot_status status = dispatch_output(out_type, [&](auto out_tag) {
    using Out = typename decltype(out_tag)::type;
    round_totals<Out><<<grid_for(n, 1, GRID_MULTIPROCESSORS), BLOCK_THREADS, 0, stream>>>(
        sums, n, static_cast<Out *>(totals));
    NORMOT_CUDA_TRY_LAUNCH("round_totals");
    return NORMOT_SUCCESS;
  });
  return unsupported_types(context, status);
}

normot_status launch_size_factors(normot_context *context, normot_value_type out_type,
                                  const void *totals, int64_t n, double target, void *raw,
                                  void *usable, device_report *report, cudaStream_t stream) {
  if (n == 0) return NORMOT_SUCCESS;
  normot_status status = dispatch_output(out_type, [&](auto out_tag) {
    using Out = typename decltype(out_tag)::type;
    size_factors<Out><<<grid_for(n, 1, GRID_MULTIPROCESSORS), BLOCK_THREADS, 0, stream>>>(
        static_cast<const Out *>(totals), n, static_cast<Out>(target), static_cast<Out *>(raw),
        static_cast<Out *>(usable), report);
    NORMOT_CUDA_TRY_LAUNCH("size_factors");
    return NORMOT_SUCCESS;
  });
  return unsupported_types(context, status);
}

normot_status launch_count_flags(normot_context *context, const int32_t *flags, int64_t n,
                                 device_report *report, cudaStream_t stream) {
  if (n == 0) return NORMOT_SUCCESS;
  count_flags<<<grid_for(n, 1, GRID_MULTIPROCESSORS), BLOCK_THREADS, 0, stream>>>(flags, n, report);
  NORMOT_CUDA_TRY_LAUNCH("count_flags");
  return NORMOT_SUCCESS;
}

normot_status median_of_positive_totals(normot_context *context, workspace *space,
                                        normot_value_type out_type, const void *totals, int64_t n,
                                        cudaStream_t stream, double *median,
                                        int64_t *positive_count) {
  normot_status status = dispatch_output(out_type, [&](auto out_tag) {
    using Out = typename decltype(out_tag)::type;
    return median_typed<Out>(context, space, static_cast<const Out *>(totals), n, stream, median,
                             positive_count);
  });
  return unsupported_types(context, status);
}

}  // namespace normot_cuda
