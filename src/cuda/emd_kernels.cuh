/* The CUDA EMD kernel: a warp (one thread block of 32 threads) per problem, running the
 * host-and-device per-problem code of emd_problem.cuh, which runs the auction core of
 * src/auction/ and certifies its result on the original costs. */
#ifndef NORMOT_SRC_CUDA_EMD_KERNELS_CUH
#define NORMOT_SRC_CUDA_EMD_KERNELS_CUH

#include <cuda_runtime.h>
#include <stdint.h>

#include "emd_problem.cuh"

/* One warp solves one problem: the block is exactly one warp, so that the core's warp
 * reductions and __syncwarp() are the whole team. */
#define EMD_TEAM 32

/* Problems first + blockIdx.x, each with its slice of the workspace. */
__global__ void emd_solve_kernel(emd_batch_view view, int64_t first, char *workspace,
                                 size_t workspace_stride, emd_solve_options options,
                                 emd_outputs out) {
  extern __shared__ int64_t shared_costs[];
  __shared__ int64_t scratch[4];
  int64_t *slice = (int64_t *)(workspace + (size_t)blockIdx.x * workspace_stride);
  emd_solve_problem(view, first + blockIdx.x, slice, options, out, shared_costs, scratch,
                    threadIdx.x, EMD_TEAM);
}

#endif
