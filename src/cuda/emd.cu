/* normot_emd on the CUDA backend (its inputs already checked by the neutral dispatch, src/emd.c,
 * and its device made current): stage the inputs on the device (host inputs are copied in),
 * solve the batch in chunks with one warp per problem (the auction core, exact on its
 * fixed-point grids), certify each result on the original costs, and re-solve on the host, with
 * the exact network simplex, every problem whose certificate failed (its flags say
 * NORMOT_EMD_FLAG_CPU_FALLBACK). Batches for the other solvers (and AUTO with an iteration
 * limit, see emd_runs_on_device) run on the host's exact solvers. */
#include <cuda_runtime.h>
#include <stdint.h>
#include <string.h>

#include <vector>

#include "cuda_check.cuh"
#include "cuda_kernels.h"
#include "emd_kernels.cuh"

namespace {

/* Device memory owned by one call: everything is freed when the call returns, also on the
 * error paths. */
class DeviceMemory {
 public:
  explicit DeviceMemory(normot_context *context) : context_(context) {}
  ~DeviceMemory() {
    for (void *pointer : pointers_) (void)cudaFree(pointer);
  }
  DeviceMemory(const DeviceMemory &) = delete;
  DeviceMemory &operator=(const DeviceMemory &) = delete;

  normot_status allocate(size_t bytes, void **out) {
    *out = NULL;
    if (bytes == 0) return NORMOT_SUCCESS;
    void *pointer = NULL;
    normot_status status = normot_cuda_check(context_, cudaMalloc(&pointer, bytes), "cudaMalloc");
    if (status != NORMOT_SUCCESS) return status;
    pointers_.push_back(pointer);
    *out = pointer;
    return NORMOT_SUCCESS;
  }

 private:
  normot_context *context_;
  std::vector<void *> pointers_;
};

struct Call {
  normot_context *context;
  cudaStream_t stream;
  bool on_device;   /* the caller's pointers are device-accessible */
  bool device_only; /* ... and the host cannot read them */
  DeviceMemory *memory;
};

/* A device buffer of `bytes` for a host array, or the caller's own array when it is on the
 * device (or absent). */
normot_status input_buffer(const Call &call, const void *caller, size_t bytes, const void **out) {
  *out = caller;
  if (caller == NULL || call.on_device) return NORMOT_SUCCESS;
  void *buffer = NULL;
  normot_status status = call.memory->allocate(bytes, &buffer);
  *out = buffer;
  return status;
}

/* Copies problems [first, first + count) of a host array (`per_problem` bytes each; a shared
 * array whole, once, when first == 0) into its device buffer. */
normot_status stage(const Call &call, const void *caller, const void *buffer, size_t per_problem,
                    bool shared, int64_t first, int64_t count) {
  if (caller == NULL || call.on_device || (shared && first > 0)) return NORMOT_SUCCESS;
  const char *source = (const char *)caller + (shared ? 0 : (size_t)first * per_problem);
  size_t bytes = shared ? per_problem : (size_t)count * per_problem;
  return normot_cuda_check(
      call.context,
      cudaMemcpyAsync((void *)buffer, source, bytes, cudaMemcpyHostToDevice, call.stream),
      "cudaMemcpyAsync (EMD input to device)");
}

/* Where the kernel writes an output: the caller's array when on the device, else a device
 * buffer for one chunk, copied back after it. */
template <typename T>
normot_status output_buffer(const Call &call, T *caller, size_t count, T **out) {
  *out = caller;
  if (caller == NULL || call.on_device) return NORMOT_SUCCESS;
  void *buffer = NULL;
  normot_status status = call.memory->allocate(count * sizeof(T), &buffer);
  *out = (T *)buffer;
  return status;
}

/* Copies the chunk's results (`per_problem` elements each) back into the caller's array. */
template <typename T>
normot_status copy_back(const Call &call, T *caller, const T *buffer, size_t per_problem,
                        int64_t first, int64_t count) {
  if (caller == NULL || call.on_device || per_problem == 0) return NORMOT_SUCCESS;
  return normot_cuda_check(
      call.context,
      cudaMemcpyAsync(caller + (size_t)first * per_problem, buffer,
                      (size_t)count * per_problem * sizeof(T), cudaMemcpyDeviceToHost, call.stream),
      "cudaMemcpyAsync (EMD result to host)");
}

/* Copies `count` elements between the caller's memory and the host (either direction). */
normot_status caller_copy(const Call &call, void *destination, const void *source, size_t bytes,
                          cudaMemcpyKind kind) {
  if (bytes == 0) return NORMOT_SUCCESS;
  if (!call.on_device) {
    memcpy(destination, source, bytes);
    return NORMOT_SUCCESS;
  }
  (void)kind; /* cudaMemcpyDefault: device or managed memory, as the pointers say */
  return normot_cuda_check(call.context, cudaMemcpy(destination, source, bytes, cudaMemcpyDefault),
                           "cudaMemcpy (EMD host fallback)");
}

/* Solves problem p on the host with the exact host solvers and writes its results where the
 * caller asked for them. fallback: the device's answer was not certified: the network simplex
 * re-solves it and the problem is flagged NORMOT_EMD_FLAG_CPU_FALLBACK. */
normot_status solve_on_host(const Call &call, const normot_emd_problem *problem,
                            const normot_emd_params *params, normot_emd_result *result, int64_t p,
                            bool fallback) {
  const int64_t n = problem->n, m = problem->m, dim = problem->dim;
  const size_t value = problem->value_type == NORMOT_FLOAT64 ? 8 : 4;
  const char *a = (const char *)problem->a, *b = (const char *)problem->b;
  const char *cost = (const char *)problem->cost;
  const char *x = (const char *)problem->x, *y = (const char *)problem->y;
  std::vector<char> ha, hb, hcost, hx, hy;
  auto fetch = [&](const char *base, int64_t offset, int64_t count, std::vector<char> &into,
                   const void **out) -> normot_status {
    *out = NULL;
    if (base == NULL) return NORMOT_SUCCESS;
    into.resize((size_t)count * value);
    *out = into.data();
    return caller_copy(call, into.data(), base + (size_t)offset * value, into.size(),
                       cudaMemcpyDeviceToHost);
  };
  normot_emd_problem one = *problem;
  one.k = 1;
  one.memory = NORMOT_MEMORY_HOST;
  one.a_shared = one.b_shared = one.cost_shared = 0;
  NORMOT_TRY(fetch(a, problem->a_shared ? 0 : p * n, n, ha, &one.a));
  NORMOT_TRY(fetch(b, problem->b_shared ? 0 : p * m, m, hb, &one.b));
  NORMOT_TRY(fetch(cost, problem->cost_shared ? 0 : p * n * m, n * m, hcost, &one.cost));
  NORMOT_TRY(fetch(problem->cost == NULL ? x : NULL, p * n * dim, n * dim, hx, &one.x));
  NORMOT_TRY(fetch(problem->cost == NULL ? y : NULL, p * m * dim, m * dim, hy, &one.y));

  const int64_t basis = n + m - 1;
  std::vector<double> plan(result->plan ? n * m : 0), u(result->u ? n : 0), v(result->v ? m : 0),
      sparse_value(result->sparse_value ? basis : 0);
  std::vector<int64_t> sparse_row(result->sparse_row ? basis : 0),
      sparse_col(result->sparse_col ? basis : 0);
  double cost_value = 0;
  int64_t sparse_count = 0, iterations = 0;
  int32_t status = 0, flags = 0;
  normot_emd_result host = {&cost_value,
                            result->plan ? plan.data() : NULL,
                            result->sparse_row ? sparse_row.data() : NULL,
                            result->sparse_col ? sparse_col.data() : NULL,
                            result->sparse_value ? sparse_value.data() : NULL,
                            result->sparse_count ? &sparse_count : NULL,
                            result->u ? u.data() : NULL,
                            result->v ? v.data() : NULL,
                            &status,
                            &iterations,
                            &flags};
  normot_emd_params host_params = *params;
  if (fallback) host_params.solver = NORMOT_EMD_SOLVER_NETWORK_SIMPLEX;
  NORMOT_TRY(normot_emd_host_exact(call.context, &one, &host_params, &host));
  if (fallback) flags |= NORMOT_EMD_FLAG_CPU_FALLBACK;

  const cudaMemcpyKind up = cudaMemcpyHostToDevice;
  NORMOT_TRY(caller_copy(call, result->cost + p, &cost_value, sizeof(double), up));
  if (result->plan)
    NORMOT_TRY(caller_copy(call, result->plan + p * n * m, plan.data(), plan.size() * 8, up));
  if (result->u) NORMOT_TRY(caller_copy(call, result->u + p * n, u.data(), n * 8, up));
  if (result->v) NORMOT_TRY(caller_copy(call, result->v + p * m, v.data(), m * 8, up));
  if (result->sparse_row)
    NORMOT_TRY(caller_copy(call, result->sparse_row + p * basis, sparse_row.data(), basis * 8, up));
  if (result->sparse_col)
    NORMOT_TRY(caller_copy(call, result->sparse_col + p * basis, sparse_col.data(), basis * 8, up));
  if (result->sparse_value)
    NORMOT_TRY(
        caller_copy(call, result->sparse_value + p * basis, sparse_value.data(), basis * 8, up));
  if (result->sparse_count)
    NORMOT_TRY(caller_copy(call, result->sparse_count + p, &sparse_count, 8, up));
  if (result->status) NORMOT_TRY(caller_copy(call, result->status + p, &status, 4, up));
  if (result->iterations) NORMOT_TRY(caller_copy(call, result->iterations + p, &iterations, 8, up));
  if (result->flags) NORMOT_TRY(caller_copy(call, result->flags + p, &flags, 4, up));
  return NORMOT_SUCCESS;
}

/* The largest dynamic shared memory a block may ask for to keep its grid costs, prices and
 * excesses there; above it they stay in global memory. Two such blocks fit on one Hopper SM. */
const size_t kSharedCostLimit = 96 * 1024;

/* The batches the device code does not take (emd_runs_on_device): the host's exact solvers,
 * on the caller's arrays when the host can read them, else problem by problem through copies. */
normot_status solve_batch_on_host(const Call &call, const normot_emd_problem *problem,
                                  const normot_emd_params *params, normot_emd_result *result) {
  if (!call.device_only) {
    normot_emd_problem host = *problem;
    host.memory = NORMOT_MEMORY_HOST;
    return normot_emd_host_exact(call.context, &host, params, result);
  }
  for (int64_t p = 0; p < problem->k; ++p)
    NORMOT_TRY(solve_on_host(call, problem, params, result, p, false));
  return NORMOT_SUCCESS;
}

}  // namespace

extern "C" normot_status normot_cuda_emd(normot_context *context, const normot_emd_problem *problem,
                                         const normot_emd_params *params,
                                         normot_emd_result *result) {
  const int64_t k = problem->k, n = problem->n, m = problem->m, dim = problem->dim;
  const void *any_input = problem->cost != NULL ? problem->cost : problem->x;
  const normot_memory memory = normot_resolve_memory(problem->memory, any_input);
  DeviceMemory device_memory(context);
  Call call = {context, (cudaStream_t)context->stream,
               memory == NORMOT_MEMORY_CUDA || memory == NORMOT_MEMORY_CUDA_MANAGED,
               memory == NORMOT_MEMORY_CUDA, &device_memory};
  if (!emd_runs_on_device(params)) return solve_batch_on_host(call, problem, params, result);

  /* Bytes per problem of each input and output array; host data moves in chunks of problems
   * whose buffers and workspaces fit in a quarter of the free device memory, so that a batch
   * larger than the device works. */
  const size_t value = problem->value_type == NORMOT_FLOAT64 ? 8 : 4;
  const bool point_clouds = problem->cost == NULL;
  const size_t a_bytes = (size_t)n * value, b_bytes = (size_t)m * value;
  const size_t cost_bytes = point_clouds ? 0 : (size_t)(n * m) * value;
  const size_t x_bytes = point_clouds ? (size_t)(n * dim) * value : 0;
  const size_t y_bytes = point_clouds ? (size_t)(m * dim) * value : 0;
  const int64_t basis = n + m - 1;
  const size_t stride = (emd_problem_workspace_bytes(n, m) + 255) & ~(size_t)255;
  size_t per_problem = stride;
  if (!call.on_device) {
    if (problem->a && !problem->a_shared) per_problem += a_bytes;
    if (problem->b && !problem->b_shared) per_problem += b_bytes;
    if (!problem->cost_shared) per_problem += cost_bytes;
    per_problem += x_bytes + y_bytes + 8 * 4; /* cost, status, iterations, flags */
    if (result->plan) per_problem += (size_t)(n * m) * 8;
    if (result->u) per_problem += (size_t)n * 8;
    if (result->v) per_problem += (size_t)m * 8;
    per_problem += (size_t)basis * 8 * 3 + 8; /* sparse arrays, at most */
  }
  size_t free_bytes = 0, total_bytes = 0;
  NORMOT_CUDA_TRY(cudaMemGetInfo(&free_bytes, &total_bytes));
  int64_t chunk = (int64_t)(free_bytes / 4 / per_problem);
  if (chunk < 1) chunk = 1;
  if (chunk > k) chunk = k;
  if (chunk > 65535) chunk = 65535;
  const bool one_chunk = chunk == k;

  emd_batch_view view;
  view.k = k;
  view.n = n;
  view.m = m;
  view.dim = dim;
  view.is_double = problem->value_type == NORMOT_FLOAT64;
  view.a_shared = problem->a_shared != 0;
  view.b_shared = problem->b_shared != 0;
  view.cost_shared = problem->cost_shared != 0;
  view.metric = (int)problem->metric;
  view.first = 0;
  NORMOT_TRY(input_buffer(call, problem->a, view.a_shared ? a_bytes : chunk * a_bytes, &view.a));
  NORMOT_TRY(input_buffer(call, problem->b, view.b_shared ? b_bytes : chunk * b_bytes, &view.b));
  NORMOT_TRY(input_buffer(call, problem->cost, view.cost_shared ? cost_bytes : chunk * cost_bytes,
                          &view.cost));
  view.x = view.y = NULL;
  if (point_clouds) {
    NORMOT_TRY(input_buffer(call, problem->x, chunk * x_bytes, &view.x));
    NORMOT_TRY(input_buffer(call, problem->y, chunk * y_bytes, &view.y));
  }
  auto stage_chunk = [&](int64_t first, int64_t count) -> normot_status {
    NORMOT_TRY(stage(call, problem->a, view.a, a_bytes, view.a_shared, first, count));
    NORMOT_TRY(stage(call, problem->b, view.b, b_bytes, view.b_shared, first, count));
    NORMOT_TRY(stage(call, problem->cost, view.cost, cost_bytes, view.cost_shared, first, count));
    NORMOT_TRY(stage(call, point_clouds ? problem->x : NULL, view.x, x_bytes, false, first, count));
    NORMOT_TRY(stage(call, point_clouds ? problem->y : NULL, view.y, y_bytes, false, first, count));
    view.first = call.on_device ? 0 : first;
    return NORMOT_SUCCESS;
  };

  /* The inputs of a single chunk are staged once, here; several chunks are staged in turn. */
  if (one_chunk) NORMOT_TRY(stage_chunk(0, k));

  /* Outputs: the caller's device arrays, or chunk buffers. */
  emd_outputs out;
  NORMOT_TRY(output_buffer(call, result->cost, chunk, &out.cost));
  NORMOT_TRY(output_buffer(call, result->plan, chunk * n * m, &out.plan));
  NORMOT_TRY(output_buffer(call, result->u, chunk * n, &out.u));
  NORMOT_TRY(output_buffer(call, result->v, chunk * m, &out.v));
  NORMOT_TRY(output_buffer(call, result->sparse_row, chunk * basis, &out.sparse_row));
  NORMOT_TRY(output_buffer(call, result->sparse_col, chunk * basis, &out.sparse_col));
  NORMOT_TRY(output_buffer(call, result->sparse_value, chunk * basis, &out.sparse_value));
  NORMOT_TRY(output_buffer(call, result->sparse_count, chunk, &out.sparse_count));
  NORMOT_TRY(output_buffer(call, result->status, chunk, &out.status));
  NORMOT_TRY(output_buffer(call, result->iterations, chunk, &out.iterations));
  NORMOT_TRY(output_buffer(call, result->flags, chunk, &out.flags));
  out.sparse = result->sparse_row != NULL || result->sparse_col != NULL ||
               result->sparse_value != NULL || result->sparse_count != NULL;
  NORMOT_TRY(device_memory.allocate(k * sizeof(int32_t), (void **)&out.needs_host));

  emd_solve_options options;
  options.max_iter = params->max_iter;
  options.center_duals = params->center_duals;
  const size_t shared_bytes = emd_fast_memory_bytes(n, m);
  options.costs_in_shared = shared_bytes <= kSharedCostLimit;
  if (options.costs_in_shared)
    NORMOT_CUDA_TRY(cudaFuncSetAttribute(
        emd_solve_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)shared_bytes));
  char *workspace = NULL;
  NORMOT_TRY(device_memory.allocate((size_t)chunk * stride, (void **)&workspace));

  /* Solve chunk by chunk. */
  for (int64_t first = 0; first < k; first += chunk) {
    const int64_t count = k - first < chunk ? k - first : chunk;
    if (!one_chunk) NORMOT_TRY(stage_chunk(first, count));
    out.first = call.on_device ? 0 : first;
    emd_solve_kernel<<<(unsigned)count, EMD_TEAM, options.costs_in_shared ? shared_bytes : 0,
                       call.stream>>>(view, first, workspace, stride, options, out);
    NORMOT_CUDA_TRY_LAUNCH("emd_solve_kernel");
    NORMOT_TRY(copy_back(call, result->cost, out.cost, 1, first, count));
    NORMOT_TRY(copy_back(call, result->plan, out.plan, n * m, first, count));
    NORMOT_TRY(copy_back(call, result->u, out.u, n, first, count));
    NORMOT_TRY(copy_back(call, result->v, out.v, m, first, count));
    NORMOT_TRY(copy_back(call, result->sparse_row, out.sparse_row, basis, first, count));
    NORMOT_TRY(copy_back(call, result->sparse_col, out.sparse_col, basis, first, count));
    NORMOT_TRY(copy_back(call, result->sparse_value, out.sparse_value, basis, first, count));
    NORMOT_TRY(copy_back(call, result->sparse_count, out.sparse_count, 1, first, count));
    NORMOT_TRY(copy_back(call, result->status, out.status, 1, first, count));
    NORMOT_TRY(copy_back(call, result->iterations, out.iterations, 1, first, count));
    NORMOT_TRY(copy_back(call, result->flags, out.flags, 1, first, count));
    /* The next chunk reuses the buffers: wait until these copies are done. */
    if (!call.on_device && first + chunk < k) NORMOT_CUDA_TRY(cudaStreamSynchronize(call.stream));
  }

  /* The problems the device could not certify are re-solved on the host. */
  std::vector<int32_t> needs_host(k);
  NORMOT_CUDA_TRY(cudaMemcpyAsync(needs_host.data(), out.needs_host, k * sizeof(int32_t),
                                  cudaMemcpyDeviceToHost, call.stream));
  NORMOT_CUDA_TRY(cudaStreamSynchronize(call.stream));
  for (int64_t p = 0; p < k; ++p)
    if (needs_host[p]) NORMOT_TRY(solve_on_host(call, problem, params, result, p, true));
  return NORMOT_SUCCESS;
}
