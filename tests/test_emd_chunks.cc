// The CUDA EMD's chunk plan and schedule (src/cuda/emd_chunks.h), checked on the host: the plan
// stays within its memory budget, and a replay of the schedule on a model of two CUDA streams
// (each runs its operations in order; a wait on an event waits for the operation that last
// recorded it when the wait was enqueued) shows that no buffer set is overwritten while another
// chunk still uses it, and that copies overlap the kernels.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cuda/emd_chunks.h"

namespace {

emd_chunk_request Request(int64_t k, size_t staging, size_t workspace, size_t free_bytes) {
  emd_chunk_request r;
  r.k = k;
  r.staging_bytes = staging;
  r.workspace_bytes = workspace;
  r.fixed_bytes = 0;
  r.free_bytes = free_bytes;
  r.max_chunk = 65535;
  return r;
}

void ExpectPlan(const emd_chunk_request &r, int64_t chunk, int64_t chunks, int sets) {
  const emd_chunk_plan plan = emd_plan_chunks(&r);
  EXPECT_EQ(plan.chunk, chunk);
  EXPECT_EQ(plan.chunks, chunks);
  EXPECT_EQ(plan.sets, sets);
  EXPECT_LE((size_t)plan.chunk * (plan.sets * r.staging_bytes + r.workspace_bytes),
            r.free_bytes / 4);
}

TEST(EmdChunkPlan, OneChunkWhenTheBatchFits) {
  ExpectPlan(Request(1000, 100, 300, 4 * 400 * 1000), 1000, 1, 1);
}

TEST(EmdChunkPlan, HostDataInSeveralChunksGetsTwoBufferSets) {
  // A quarter of the free memory holds 10 problems with one set; with two sets each chunk has
  // the room of two stagings and one workspace per problem: 4000 / (2 * 100 + 300) = 8.
  ExpectPlan(Request(1000, 100, 300, 4 * 400 * 10), 8, 125, 2);
}

TEST(EmdChunkPlan, DeviceDataIsNotStaged) {
  ExpectPlan(Request(1000, 0, 300, 4 * 300 * 10), 10, 100, 1);
}

TEST(EmdChunkPlan, BoundsOnTheChunk) {
  emd_chunk_request r = Request(7, 100, 300, 0);  // nothing fits: one problem at a time
  EXPECT_EQ(emd_plan_chunks(&r).chunk, 1);
  EXPECT_EQ(emd_plan_chunks(&r).chunks, 7);
  r = Request(200000, 0, 1, 1 << 30);  // the grid limit
  r.max_chunk = 65535;
  EXPECT_EQ(emd_plan_chunks(&r).chunk, 65535);
  EXPECT_EQ(emd_plan_chunks(&r).chunks, 4);
  r = Request(5, 100, 300, 1 << 30);
  r.fixed_bytes = (size_t)1 << 29;  // the shared inputs take the whole budget
  EXPECT_EQ(emd_plan_chunks(&r).chunk, 1);
  r = Request(0, 100, 300, 1 << 30);
  EXPECT_EQ(emd_plan_chunks(&r).chunks, 0);
}

// ---- the schedule on a model of two streams ----------------------------------------------------

struct Interval {
  int64_t chunk;
  int kind;
  int set;
  double start, end;
};

// Stages and returns take one unit on the copy stream, solves two on the compute stream.
std::vector<Interval> Replay(const emd_chunk_plan &plan, const std::vector<emd_step> &steps) {
  double copy_free = 0, compute_free = 0, staged[2] = {0, 0}, solved[2] = {0, 0};
  std::vector<Interval> timeline;
  for (const emd_step &step : steps) {
    Interval t = {step.chunk, step.kind, step.set, 0, 0};
    if (step.kind == EMD_STEP_STAGE) {
      t.start = copy_free, t.end = copy_free = t.start + 1;
      staged[step.set] = t.end;
    } else if (step.kind == EMD_STEP_SOLVE) {
      t.start = std::max(compute_free, staged[step.set]);
      t.end = compute_free = t.start + 2;
      solved[step.set] = t.end;
    } else {
      t.start = std::max(copy_free, solved[step.set]);
      t.end = copy_free = t.start + 1;
    }
    timeline.push_back(t);
  }
  (void)plan;
  return timeline;
}

const Interval &Find(const std::vector<Interval> &timeline, int64_t chunk, int kind) {
  for (const Interval &t : timeline)
    if (t.chunk == chunk && t.kind == kind) return t;
  ADD_FAILURE() << "chunk " << chunk << " has no step of kind " << kind;
  return timeline.front();
}

void ExpectSafeSchedule(const emd_chunk_plan &plan) {
  SCOPED_TRACE(::testing::Message() << plan.chunks << " chunks, " << plan.sets << " sets");
  std::vector<emd_step> steps((size_t)(3 * plan.chunks));
  ASSERT_EQ(emd_chunk_schedule(&plan, steps.data()), 3 * plan.chunks);
  const std::vector<Interval> timeline = Replay(plan, steps);
  for (int64_t c = 0; c < plan.chunks; ++c) {
    const Interval &stage = Find(timeline, c, EMD_STEP_STAGE);
    const Interval &solve = Find(timeline, c, EMD_STEP_SOLVE);
    const Interval &back = Find(timeline, c, EMD_STEP_RETURN);
    EXPECT_EQ(stage.set, c % plan.sets);
    EXPECT_EQ(solve.set, stage.set);
    EXPECT_EQ(back.set, stage.set);
    EXPECT_LE(stage.end, solve.start) << "chunk " << c << " solved before it was staged";
    EXPECT_LE(solve.end, back.start) << "chunk " << c << " returned before it was solved";
    if (c + plan.sets < plan.chunks) {
      // The next chunk of the same set overwrites the inputs and then the outputs.
      EXPECT_LE(solve.end, Find(timeline, c + plan.sets, EMD_STEP_STAGE).start) << c;
      EXPECT_LE(back.end, Find(timeline, c + plan.sets, EMD_STEP_SOLVE).start) << c;
    }
  }
  if (plan.sets == 2 && plan.chunks >= 3) {
    // The point of two sets: the copy stream works while the kernels run.
    bool overlap = false;
    for (const Interval &solve : timeline)
      for (const Interval &copy : timeline)
        overlap |= solve.kind == EMD_STEP_SOLVE && copy.kind != EMD_STEP_SOLVE &&
                   copy.start < solve.end && solve.start < copy.end;
    EXPECT_TRUE(overlap);
  }
}

TEST(EmdChunkSchedule, NoBufferSetIsReusedTooEarly) {
  for (int sets : {1, 2})
    for (int64_t chunks : {1, 2, 3, 4, 7}) {
      if (sets == 2 && chunks == 1) continue;
      emd_chunk_plan plan = {5, chunks, sets};
      ExpectSafeSchedule(plan);
    }
}

TEST(EmdChunkSchedule, TwoSetsSolveTheNextChunkBeforeReturningThisOne) {
  // A copy into pageable host memory blocks the host until it is done: the next chunk's kernels
  // must already be queued by then.
  emd_chunk_plan plan = {5, 4, 2};
  std::vector<emd_step> steps(12);
  emd_chunk_schedule(&plan, steps.data());
  for (int64_t c = 0; c + 1 < plan.chunks; ++c) {
    size_t solve_next = 0, return_this = 0;
    for (size_t s = 0; s < steps.size(); ++s) {
      if (steps[s].kind == EMD_STEP_SOLVE && steps[s].chunk == c + 1) solve_next = s;
      if (steps[s].kind == EMD_STEP_RETURN && steps[s].chunk == c) return_this = s;
    }
    EXPECT_LT(solve_next, return_this) << c;
  }
}

}  // namespace
