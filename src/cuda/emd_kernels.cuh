/* The CUDA EMD kernels: a warp (one thread block of 32 threads) per problem. The assignment
 * kernel runs the shortest augmenting paths of emd_assignment_problem.cuh on the uniform square
 * problems (costs read from global memory, only O(n) labels in shared memory); the auction
 * kernel runs the host-and-device per-problem code of emd_problem.cuh (the auction core of
 * src/auction/, certified on the original costs) on the problems the first one left to it. */
#ifndef NORMOT_SRC_CUDA_EMD_KERNELS_CUH
#define NORMOT_SRC_CUDA_EMD_KERNELS_CUH

#include <cuda_runtime.h>
#include <stdint.h>

#include "emd_assignment_problem.cuh"
#include "emd_problem.cuh"

/* One warp solves one problem: the block is exactly one warp, so that the warp reductions and
 * __syncwarp() are the whole team. */
#define EMD_TEAM 32

/* What both kernels get besides the batch: problems first + blockIdx.x, each with its slice of
 * the global workspace. */
struct emd_launch {
  int64_t first;
  char *workspace;
  size_t workspace_stride;
  emd_solve_options options;
};

/* The team of this block: its problem's workspace slice, its shared memory. */
__device__ inline emd_team_call emd_block_call(const emd_batch_view &view, const emd_outputs &out,
                                               const emd_launch &launch, void *fast,
                                               int64_t *scratch) {
  emd_team_call call;
  call.view = &view;
  call.out = &out;
  call.options = launch.options;
  call.workspace = (int64_t *)(launch.workspace + (size_t)blockIdx.x * launch.workspace_stride);
  call.fast = fast;
  call.scratch = scratch;
  call.lane = (int)threadIdx.x;
  call.lanes = EMD_TEAM;
  return call;
}

/* Dynamic shared memory: emd_assignment_fast_bytes(n). */
__global__ void emd_assignment_kernel(emd_batch_view view, emd_launch launch, emd_outputs out) {
  extern __shared__ double assignment_labels[];
  __shared__ int64_t scratch[4];
  emd_assign_problem(emd_block_call(view, out, launch, assignment_labels, scratch),
                     launch.first + blockIdx.x);
}

/* Dynamic shared memory: emd_fast_memory_bytes(n, m) when options.costs_in_shared. */
__global__ void emd_solve_kernel(emd_batch_view view, emd_launch launch, emd_outputs out) {
  extern __shared__ int64_t shared_costs[];
  __shared__ int64_t scratch[4];
  const int64_t p = launch.first + blockIdx.x;
  /* The whole block leaves together: the assignment kernel solved or routed this one. */
  if (launch.options.after_assignment && out.needs_host[p] != EMD_ROUTE_AUCTION) return;
  emd_solve_problem(emd_block_call(view, out, launch, shared_costs, scratch), p);
}

#endif
