/* normot_emd on the CUDA backend (its inputs already checked by the neutral dispatch, src/emd.c,
 * and its device made current). The batch goes through the device in chunks (emd_chunks.h):
 * host inputs are staged on the context's copy stream while the caller's stream runs the
 * kernels, a warp per problem: first the exact assignment solver on the uniform square problems
 * (emd_assignment_problem.cuh), then the auction core on those it left (emd_problem.cuh), each
 * certified on the original costs. Then the host solves what the device routed to it: with the
 * network simplex, flagged NORMOT_EMD_FLAG_CPU_FALLBACK, a problem whose certificate failed;
 * with the caller's parameters, a problem no device solver honours them for. Batches no device
 * solver takes (emd_plan_device) run on the host's exact solvers. Device memory comes from the
 * context's pool in the caller's stream order, and only the caller's stream is waited for. */
#include <cuda_runtime.h>
#include <stdint.h>
#include <string.h>

#include <vector>

#include "cuda_check.cuh"
#include "cuda_kernels.h"
#include "cuda_state.cuh"
#include "emd_chunks.h"
#include "emd_kernels.cuh"

namespace {

/* Device memory owned by one call, from the context's pool in the caller's stream order; it
 * goes back to the pool when the call returns, also on the error paths, once the copy stream's
 * work is ordered before the frees. */
class DeviceMemory {
 public:
  DeviceMemory(normot_context *context, cudaStream_t stream) : context_(context), stream_(stream) {}
  ~DeviceMemory() {
    normot_cuda_state *state = normot_cuda_state_of(context_);
    if (!pointers_.empty() && cudaEventRecord(state->copied, state->copy_stream) == cudaSuccess)
      (void)cudaStreamWaitEvent(stream_, state->copied, 0);
    for (void *pointer : pointers_) normot_cuda_free(pointer, stream_);
    (void)cudaGetLastError();
  }
  DeviceMemory(const DeviceMemory &) = delete;
  DeviceMemory &operator=(const DeviceMemory &) = delete;

  normot_status allocate(size_t bytes, void **out) {
    *out = NULL;
    if (bytes == 0) return NORMOT_SUCCESS;
    NORMOT_TRY(normot_cuda_allocate(context_, bytes, stream_, out));
    pointers_.push_back(*out);
    return NORMOT_SUCCESS;
  }

 private:
  normot_context *context_;
  cudaStream_t stream_;
  std::vector<void *> pointers_;
};

struct Call {
  normot_context *context;
  cudaStream_t stream; /* the caller's: kernels, allocations, the final wait */
  cudaStream_t copy;   /* the context's: staging and returning chunks */
  bool on_device;      /* the caller's pointers are device-accessible */
  bool device_only;    /* ... and the host cannot read them */
  DeviceMemory *memory;
};

/* Bytes per problem of each input array (0: absent or not staged) and of the workspace. */
struct Sizes {
  size_t value, a, b, cost, x, y;
  int64_t basis;
  size_t stride; /* one problem's global workspace, 256-byte aligned */
};

Sizes sizes_of(const normot_emd_problem *problem) {
  const int64_t n = problem->n, m = problem->m, dim = problem->dim;
  Sizes z;
  z.value = problem->value_type == NORMOT_FLOAT64 ? 8 : 4;
  const bool clouds = problem->cost == NULL;
  z.a = problem->a ? (size_t)n * z.value : 0;
  z.b = problem->b ? (size_t)m * z.value : 0;
  z.cost = clouds ? 0 : (size_t)(n * m) * z.value;
  z.x = clouds ? (size_t)(n * dim) * z.value : 0;
  z.y = clouds ? (size_t)(m * dim) * z.value : 0;
  z.basis = n + m - 1;
  z.stride = (emd_problem_workspace_bytes(n, m) + 255) & ~(size_t)255;
  return z;
}

/* One problem's inputs and outputs in chunk buffers (host data only). */
size_t staging_bytes(const normot_emd_problem *problem, const normot_emd_result *result,
                     const Sizes &z) {
  const int64_t n = problem->n, m = problem->m;
  size_t bytes = z.x + z.y + 8 * 4; /* cost, status, iterations, flags */
  if (!problem->a_shared) bytes += z.a;
  if (!problem->b_shared) bytes += z.b;
  if (!problem->cost_shared) bytes += z.cost;
  if (result->plan) bytes += (size_t)(n * m) * 8;
  if (result->u) bytes += (size_t)n * 8;
  if (result->v) bytes += (size_t)m * 8;
  return bytes + (size_t)z.basis * 8 * 3 + 8; /* sparse arrays, at most */
}

/* Everything one call of the device path works with. */
struct Pipeline {
  const normot_emd_problem *problem;
  normot_emd_result *result;
  Sizes z;
  emd_chunk_plan plan;
  emd_device_plan solvers;
  emd_batch_view view[NORMOT_CUDA_EMD_SETS]; /* inputs, per buffer set */
  emd_outputs out[NORMOT_CUDA_EMD_SETS];     /* outputs, per buffer set */
  char *workspace;
  emd_solve_options options;
  size_t assignment_shared, auction_shared;
};

/* A device buffer for `count` problems of a host array (one copy when shared), or the caller's
 * own array when it is on the device (or absent). */
normot_status input_buffer(const Call &call, const void *caller, size_t per_problem, bool shared,
                           int64_t count, const void **out) {
  *out = caller;
  if (caller == NULL || call.on_device) return NORMOT_SUCCESS;
  void *buffer = NULL;
  normot_status status = call.memory->allocate(shared ? per_problem : count * per_problem, &buffer);
  *out = buffer;
  return status;
}

/* The input views of both buffer sets; a shared array has one buffer for both. */
normot_status lay_out_inputs(const Call &call, Pipeline &pipe) {
  const normot_emd_problem *problem = pipe.problem;
  const int64_t chunk = pipe.plan.chunk;
  const Sizes &z = pipe.z;
  emd_batch_view view = {};
  view.k = problem->k, view.n = problem->n, view.m = problem->m, view.dim = problem->dim;
  view.is_double = problem->value_type == NORMOT_FLOAT64;
  view.a_shared = problem->a_shared != 0;
  view.b_shared = problem->b_shared != 0;
  view.cost_shared = problem->cost_shared != 0;
  view.metric = (int)problem->metric;
  for (int set = 0; set < pipe.plan.sets; ++set) {
    const bool again = set > 0; /* shared arrays: the first set's buffer */
    emd_batch_view &v = pipe.view[set];
    v = view;
    if (again && view.a_shared)
      v.a = pipe.view[0].a;
    else
      NORMOT_TRY(input_buffer(call, problem->a, z.a, view.a_shared, chunk, &v.a));
    if (again && view.b_shared)
      v.b = pipe.view[0].b;
    else
      NORMOT_TRY(input_buffer(call, problem->b, z.b, view.b_shared, chunk, &v.b));
    if (again && view.cost_shared)
      v.cost = pipe.view[0].cost;
    else
      NORMOT_TRY(input_buffer(call, problem->cost, z.cost, view.cost_shared, chunk, &v.cost));
    NORMOT_TRY(input_buffer(call, problem->cost ? NULL : problem->x, z.x, false, chunk, &v.x));
    NORMOT_TRY(input_buffer(call, problem->cost ? NULL : problem->y, z.y, false, chunk, &v.y));
  }
  return NORMOT_SUCCESS;
}

/* Where the kernels write an output: the caller's array when on the device, else a buffer for
 * one chunk. */
template <typename T>
normot_status output_buffer(const Call &call, T *caller, size_t count, T **out) {
  *out = caller;
  if (caller == NULL || call.on_device) return NORMOT_SUCCESS;
  void *buffer = NULL;
  normot_status status = call.memory->allocate(count * sizeof(T), &buffer);
  *out = (T *)buffer;
  return status;
}

normot_status lay_out_outputs(const Call &call, Pipeline &pipe, int set, int32_t *routes) {
  const normot_emd_result *result = pipe.result;
  const size_t chunk = (size_t)pipe.plan.chunk, n = (size_t)pipe.problem->n;
  const size_t m = (size_t)pipe.problem->m, basis = (size_t)pipe.z.basis;
  emd_outputs &out = pipe.out[set];
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
  out.needs_host = routes;
  return NORMOT_SUCCESS;
}

/* One input array: the caller's, its device buffer, bytes per problem, one copy for all. */
struct Input {
  const void *caller;
  const void *buffer;
  size_t per_problem;
  bool shared;
};

/* Copies problems [first, first + count) of a host array into its buffer (a shared array
 * whole, with the first chunk). */
normot_status stage(const Call &call, const Input &in, int64_t first, int64_t count) {
  if (in.caller == NULL || call.on_device || (in.shared && first > 0)) return NORMOT_SUCCESS;
  const char *source = (const char *)in.caller + (in.shared ? 0 : (size_t)first * in.per_problem);
  size_t bytes = in.shared ? in.per_problem : (size_t)count * in.per_problem;
  return normot_cuda_check(
      call.context,
      cudaMemcpyAsync((void *)in.buffer, source, bytes, cudaMemcpyHostToDevice, call.copy),
      "cudaMemcpyAsync (EMD input to device)");
}

/* Copies the chunk's results (`per_problem` elements each) back into the caller's array. */
template <typename T>
normot_status copy_back(const Call &call, T *caller, const T *buffer, size_t per_problem,
                        int64_t first, int64_t count) {
  if (caller == NULL || call.on_device || per_problem == 0) return NORMOT_SUCCESS;
  return normot_cuda_check(
      call.context,
      cudaMemcpyAsync(caller + (size_t)first * per_problem, buffer,
                      (size_t)count * per_problem * sizeof(T), cudaMemcpyDeviceToHost, call.copy),
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
  normot_context *context = call.context;
  NORMOT_CUDA_TRY(cudaMemcpyAsync(destination, source, bytes, cudaMemcpyDefault, call.stream));
  NORMOT_CUDA_TRY(cudaStreamSynchronize(call.stream));
  return NORMOT_SUCCESS;
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

/* The batches the device code does not take (emd_plan_device): the host's exact solvers,
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

int64_t chunk_count(const Pipeline &pipe, int64_t chunk) {
  const int64_t first = chunk * pipe.plan.chunk, left = pipe.problem->k - first;
  return left < pipe.plan.chunk ? left : pipe.plan.chunk;
}

/* Copy stream: the chunk's inputs into its set, then `staged` for the kernels to wait on. */
normot_status run_stage(const Call &call, const Pipeline &pipe, const emd_step &step) {
  normot_context *context = call.context;
  const normot_emd_problem *problem = pipe.problem;
  const emd_batch_view &v = pipe.view[step.set];
  const Sizes &z = pipe.z;
  const int64_t first = step.chunk * pipe.plan.chunk, count = chunk_count(pipe, step.chunk);
  const bool clouds = problem->cost == NULL;
  const Input inputs[] = {{problem->a, v.a, z.a, v.a_shared != 0},
                          {problem->b, v.b, z.b, v.b_shared != 0},
                          {problem->cost, v.cost, z.cost, v.cost_shared != 0},
                          {clouds ? problem->x : NULL, v.x, z.x, false},
                          {clouds ? problem->y : NULL, v.y, z.y, false}};
  for (const Input &in : inputs) NORMOT_TRY(stage(call, in, first, count));
  NORMOT_CUDA_TRY(cudaEventRecord(normot_cuda_state_of(context)->staged[step.set], call.copy));
  return NORMOT_SUCCESS;
}

/* Caller's stream: after the chunk's stage, the assignment kernel, then the auction kernel on
 * what it left; then `solved` for the return to wait on. */
normot_status run_solve(const Call &call, const Pipeline &pipe, const emd_step &step) {
  normot_context *context = call.context;
  normot_cuda_state *state = normot_cuda_state_of(context);
  const int64_t first = step.chunk * pipe.plan.chunk, count = chunk_count(pipe, step.chunk);
  emd_batch_view view = pipe.view[step.set];
  emd_outputs out = pipe.out[step.set];
  view.first = call.on_device ? 0 : first;
  out.first = view.first;
  emd_launch launch = {first, pipe.workspace, pipe.z.stride, pipe.options};
  NORMOT_CUDA_TRY(cudaStreamWaitEvent(call.stream, state->staged[step.set], 0));
  if (pipe.solvers.assignment) {
    emd_assignment_kernel<<<(unsigned)count, EMD_TEAM, pipe.assignment_shared, call.stream>>>(
        view, launch, out);
    NORMOT_CUDA_TRY_LAUNCH("emd_assignment_kernel");
  }
  if (pipe.solvers.auction) {
    launch.options.after_assignment = pipe.solvers.assignment;
    emd_solve_kernel<<<(unsigned)count, EMD_TEAM, pipe.auction_shared, call.stream>>>(view, launch,
                                                                                      out);
    NORMOT_CUDA_TRY_LAUNCH("emd_solve_kernel");
  }
  NORMOT_CUDA_TRY(cudaEventRecord(state->solved[step.set], call.stream));
  return NORMOT_SUCCESS;
}

/* Copy stream: after the chunk's kernels, its results into the caller's arrays. */
normot_status run_return(const Call &call, const Pipeline &pipe, const emd_step &step) {
  normot_context *context = call.context;
  NORMOT_CUDA_TRY(
      cudaStreamWaitEvent(call.copy, normot_cuda_state_of(context)->solved[step.set], 0));
  const normot_emd_result *r = pipe.result;
  const emd_outputs &out = pipe.out[step.set];
  const int64_t first = step.chunk * pipe.plan.chunk, count = chunk_count(pipe, step.chunk);
  const size_t n = (size_t)pipe.problem->n, m = (size_t)pipe.problem->m;
  const size_t basis = (size_t)pipe.z.basis;
  NORMOT_TRY(copy_back(call, r->cost, out.cost, 1, first, count));
  NORMOT_TRY(copy_back(call, r->plan, out.plan, n * m, first, count));
  NORMOT_TRY(copy_back(call, r->u, out.u, n, first, count));
  NORMOT_TRY(copy_back(call, r->v, out.v, m, first, count));
  NORMOT_TRY(copy_back(call, r->sparse_row, out.sparse_row, basis, first, count));
  NORMOT_TRY(copy_back(call, r->sparse_col, out.sparse_col, basis, first, count));
  NORMOT_TRY(copy_back(call, r->sparse_value, out.sparse_value, basis, first, count));
  NORMOT_TRY(copy_back(call, r->sparse_count, out.sparse_count, 1, first, count));
  NORMOT_TRY(copy_back(call, r->status, out.status, 1, first, count));
  NORMOT_TRY(copy_back(call, r->iterations, out.iterations, 1, first, count));
  NORMOT_TRY(copy_back(call, r->flags, out.flags, 1, first, count));
  return NORMOT_SUCCESS;
}

/* The largest dynamic shared memory the auction kernel may ask for to keep its grid costs,
 * prices and excesses there; above it they stay in global memory. */
const size_t kSharedCostLimit = 96 * 1024;

/* The kernels' options and shared memory. The assignment kernel needs its labels in shared
 * memory; a problem too large for the device's per-block limit is not given to it. */
normot_status configure_kernels(const Call &call, const normot_emd_params *params, Pipeline &pipe) {
  normot_context *context = call.context;
  const int64_t n = pipe.problem->n, m = pipe.problem->m;
  int optin = 0;
  NORMOT_CUDA_TRY(
      cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, context->device_id));
  pipe.options = emd_solve_options();
  pipe.options.max_iter = params->max_iter;
  pipe.options.center_duals = params->center_duals;
  pipe.options.misfit_route = pipe.solvers.auction ? EMD_ROUTE_AUCTION : EMD_ROUTE_HOST;
  pipe.options.assignment_max_n = pipe.solvers.auto_limit ? EMD_ASSIGNMENT_AUTO_MAX_N : n;
  pipe.assignment_shared = emd_assignment_fast_bytes(n);
  if (pipe.assignment_shared + 64 > (size_t)optin) pipe.solvers.assignment = 0;
  if (pipe.solvers.assignment)
    NORMOT_CUDA_TRY(cudaFuncSetAttribute(emd_assignment_kernel,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         (int)pipe.assignment_shared));
  const size_t shared_bytes = emd_fast_memory_bytes(n, m);
  pipe.options.costs_in_shared = shared_bytes <= kSharedCostLimit;
  pipe.auction_shared = pipe.options.costs_in_shared ? shared_bytes : 0;
  if (pipe.solvers.auction && pipe.options.costs_in_shared)
    NORMOT_CUDA_TRY(cudaFuncSetAttribute(
        emd_solve_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)shared_bytes));
  return NORMOT_SUCCESS;
}

/* The chunk plan from the free device memory and the call's sizes. */
normot_status plan_chunks(const Call &call, Pipeline &pipe) {
  normot_context *context = call.context;
  const normot_emd_problem *problem = pipe.problem;
  size_t free_bytes = 0, total_bytes = 0;
  NORMOT_CUDA_TRY(cudaMemGetInfo(&free_bytes, &total_bytes));
  emd_chunk_request request;
  request.k = problem->k;
  request.staging_bytes = call.on_device ? 0 : staging_bytes(problem, pipe.result, pipe.z);
  request.workspace_bytes = pipe.z.stride;
  request.fixed_bytes = (size_t)problem->k * sizeof(int32_t) + pipe.z.a + pipe.z.b + pipe.z.cost;
  request.free_bytes = free_bytes;
  request.max_chunk = 65535;
  pipe.plan = emd_plan_chunks(&request);
  return NORMOT_SUCCESS;
}

/* Allocates the call's buffers, then runs the schedule: the copy stream starts after the
 * caller's earlier work and these allocations. */
normot_status run_pipeline(const Call &call, Pipeline &pipe, int32_t *routes) {
  normot_context *context = call.context;
  normot_cuda_state *state = normot_cuda_state_of(context);
  NORMOT_TRY(lay_out_inputs(call, pipe));
  for (int set = 0; set < pipe.plan.sets; ++set)
    NORMOT_TRY(lay_out_outputs(call, pipe, set, routes));
  NORMOT_TRY(
      call.memory->allocate((size_t)pipe.plan.chunk * pipe.z.stride, (void **)&pipe.workspace));
  NORMOT_CUDA_TRY(cudaEventRecord(state->ready, call.stream));
  NORMOT_CUDA_TRY(cudaStreamWaitEvent(call.copy, state->ready, 0));
  std::vector<emd_step> steps((size_t)(3 * pipe.plan.chunks));
  const int64_t count = emd_chunk_schedule(&pipe.plan, steps.data());
  for (int64_t s = 0; s < count; ++s) {
    const emd_step &step = steps[(size_t)s];
    if (step.kind == EMD_STEP_STAGE) NORMOT_TRY(run_stage(call, pipe, step));
    if (step.kind == EMD_STEP_SOLVE) NORMOT_TRY(run_solve(call, pipe, step));
    if (step.kind == EMD_STEP_RETURN) NORMOT_TRY(run_return(call, pipe, step));
  }
  /* The caller's stream goes on after the last copy: the one stream the call waits for. */
  NORMOT_CUDA_TRY(cudaEventRecord(state->copied, call.copy));
  NORMOT_CUDA_TRY(cudaStreamWaitEvent(call.stream, state->copied, 0));
  return NORMOT_SUCCESS;
}

}  // namespace

extern "C" normot_status normot_cuda_emd(normot_context *context, const normot_emd_problem *problem,
                                         const normot_emd_params *params,
                                         normot_emd_result *result) {
  const void *any_input = problem->cost != NULL ? problem->cost : problem->x;
  const normot_memory memory = normot_resolve_memory(problem->memory, any_input);
  cudaStream_t stream = (cudaStream_t)context->stream;
  DeviceMemory device_memory(context, stream);
  Call call = {context,
               stream,
               normot_cuda_state_of(context)->copy_stream,
               memory == NORMOT_MEMORY_CUDA || memory == NORMOT_MEMORY_CUDA_MANAGED,
               memory == NORMOT_MEMORY_CUDA,
               &device_memory};
  Pipeline pipe = {};
  pipe.problem = problem;
  pipe.result = result;
  pipe.solvers = emd_plan_device(params, problem->n);
  if (!emd_runs_on_device(pipe.solvers)) return solve_batch_on_host(call, problem, params, result);
  pipe.z = sizes_of(problem);
  NORMOT_TRY(configure_kernels(call, params, pipe));
  if (!emd_runs_on_device(pipe.solvers)) return solve_batch_on_host(call, problem, params, result);
  NORMOT_TRY(plan_chunks(call, pipe));

  const int64_t k = problem->k;
  int32_t *routes = NULL;
  NORMOT_TRY(device_memory.allocate((size_t)k * sizeof(int32_t), (void **)&routes));
  NORMOT_TRY(run_pipeline(call, pipe, routes));
  std::vector<int32_t> route(k);
  NORMOT_CUDA_TRY(
      cudaMemcpyAsync(route.data(), routes, k * sizeof(int32_t), cudaMemcpyDeviceToHost, stream));
  NORMOT_CUDA_TRY(cudaStreamSynchronize(stream));
  /* What the device routed to the host: a failed certificate to the simplex (flagged), a
   * problem no device solver honours the parameters for to the host's exact solvers. */
  for (int64_t p = 0; p < k; ++p) {
    if (route[p] == EMD_ROUTE_DONE) continue;
    NORMOT_TRY(solve_on_host(call, problem, params, result, p, route[p] == EMD_ROUTE_FALLBACK));
  }
  return NORMOT_SUCCESS;
}
