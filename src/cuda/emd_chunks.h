/* How the CUDA EMD moves a batch through the device: the chunk size, and the order in which the
 * host enqueues the chunks' copies and kernels on two streams (the caller's stream computes,
 * the context's copy stream stages inputs and returns results). Plain C++ with no CUDA
 * dependency, so that tests/test_emd_chunks.cc checks the plan and replays the schedule on the
 * host; src/cuda/emd.cu executes it.
 *
 * With host data and more than one chunk there are two sets of chunk buffers: while the kernels
 * of chunk c run on the compute stream, the copy stream returns chunk c - 1 and stages chunk
 * c + 1. The host enqueues chunk c + 1's kernels before chunk c's return, because a copy into
 * pageable host memory blocks the host until it is done. */
#ifndef NORMOT_SRC_CUDA_EMD_CHUNKS_H
#define NORMOT_SRC_CUDA_EMD_CHUNKS_H

#include <stddef.h>
#include <stdint.h>

/* What the plan is made from (bytes per problem). */
struct emd_chunk_request {
  int64_t k;              /* problems */
  size_t staging_bytes;   /* one problem's inputs and outputs in chunk buffers (0: the caller's
                             arrays are on the device, nothing is staged) */
  size_t workspace_bytes; /* one problem's global workspace */
  size_t fixed_bytes;     /* per call, whatever the chunk: shared inputs, the routes */
  size_t free_bytes;      /* free device memory */
  int64_t max_chunk;      /* the largest grid the kernels are launched with */
};

struct emd_chunk_plan {
  int64_t chunk;  /* problems per chunk (the last may have fewer) */
  int64_t chunks; /* how many */
  int sets;       /* sets of chunk buffers: 2 when copies overlap the kernels, else 1 */
};

/* The device may use a quarter of its free memory for one call; a chunk is at least one
 * problem (an allocation that then fails reports it). */
static inline emd_chunk_plan emd_plan_chunks(const emd_chunk_request *r) {
  emd_chunk_plan plan = {0, 0, 1};
  if (r->k <= 0) return plan;
  const size_t budget = r->free_bytes / 4 > r->fixed_bytes ? r->free_bytes / 4 - r->fixed_bytes : 0;
  size_t per_problem = r->staging_bytes + r->workspace_bytes;
  if (per_problem == 0) per_problem = 1;
  int64_t chunk = (int64_t)(budget / per_problem);
  if (r->staging_bytes > 0 && chunk < r->k) {
    /* Several chunks of host data: two buffer sets, so each chunk gets half as many problems. */
    plan.sets = 2;
    chunk = (int64_t)(budget / (2 * r->staging_bytes + r->workspace_bytes));
  }
  if (chunk < 1) chunk = 1;
  if (chunk > r->max_chunk) chunk = r->max_chunk;
  if (chunk > r->k) chunk = r->k;
  plan.chunk = chunk;
  plan.chunks = (r->k + chunk - 1) / chunk;
  if (plan.chunks == 1) plan.sets = 1;
  return plan;
}

enum emd_step_kind {
  EMD_STEP_STAGE = 0, /* copy stream: inputs of the chunk into its buffer set */
  EMD_STEP_SOLVE = 1, /* compute stream: after its stage, the chunk's kernels */
  EMD_STEP_RETURN = 2 /* copy stream: after its kernels, the chunk's outputs to the caller */
};

struct emd_step {
  int kind;
  int64_t chunk;
  int set; /* chunk % sets */
};

static inline void emd_add_step(emd_step *steps, int64_t *count, int kind, int64_t chunk,
                                int sets) {
  steps[*count].kind = kind;
  steps[*count].chunk = chunk;
  steps[*count].set = (int)(chunk % sets);
  ++*count;
}

/* The steps in the order the host enqueues them: 3 per chunk, written to `steps` (room for
 * 3 * plan.chunks); returns their number. The executor records an event after each stage
 * (the solve waits for it) and after each solve (the return waits for it); a set's next stage
 * follows its return on the copy stream. */
static inline int64_t emd_chunk_schedule(const emd_chunk_plan *plan, emd_step *steps) {
  int64_t count = 0;
  const int64_t chunks = plan->chunks;
  const int sets = plan->sets;
  if (sets == 1) {
    for (int64_t c = 0; c < chunks; ++c) {
      emd_add_step(steps, &count, EMD_STEP_STAGE, c, 1);
      emd_add_step(steps, &count, EMD_STEP_SOLVE, c, 1);
      emd_add_step(steps, &count, EMD_STEP_RETURN, c, 1);
    }
    return count;
  }
  for (int64_t c = 0; c < chunks && c < sets; ++c)
    emd_add_step(steps, &count, EMD_STEP_STAGE, c, sets);
  if (chunks > 0) emd_add_step(steps, &count, EMD_STEP_SOLVE, 0, sets);
  for (int64_t c = 0; c < chunks; ++c) {
    if (c + 1 < chunks) emd_add_step(steps, &count, EMD_STEP_SOLVE, c + 1, sets);
    emd_add_step(steps, &count, EMD_STEP_RETURN, c, sets);
    if (c + sets < chunks) emd_add_step(steps, &count, EMD_STEP_STAGE, c + sets, sets);
  }
  return count;
}

#endif
