// The CUDA backend's per-problem code (src/cuda/emd_problem.cuh: validation, zero-weight removal,
// the auction core, the basic plan, the device certificate, POT's dual conventions, the output
// layout), run on the host with one lane, so that its logic is tested without a GPU. Its
// results must pass SPEC section 4's certificate and match the CPU backend's costs.
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "cuda/emd_problem.cuh"
#include "test_emd_support.h"

namespace {

// Runs every problem of a batch of float64 host arrays through emd_problem.cuh.
struct DeviceLogicRun {
  EmdOutcome out;
  std::vector<int32_t> faults, needs_host;
};

DeviceLogicRun RunDeviceLogic(const std::vector<EmdCase> &cases, bool share_cost, bool solve = true,
                              bool fast_memory = false) {
  const int64_t k = (int64_t)cases.size(), n = cases[0].n, m = cases[0].m;
  std::vector<double> a, b, cost;
  for (const EmdCase &c : cases) {
    std::vector<double> ca = WeightsOf(c.a, n), cb = WeightsOf(c.b, m);
    a.insert(a.end(), ca.begin(), ca.end());
    b.insert(b.end(), cb.begin(), cb.end());
    if (!share_cost || cost.empty()) cost.insert(cost.end(), c.cost.begin(), c.cost.end());
  }
  emd_batch_view view = {};
  view.k = k, view.n = n, view.m = m, view.dim = 0;
  view.is_double = 1;
  view.a = a.data(), view.b = b.data(), view.cost = cost.data();
  view.cost_shared = share_cost;
  view.first = 0;

  DeviceLogicRun run;
  run.out = AllocateOutcome(k, n, m);
  run.faults.assign(k, -1);
  run.needs_host.assign(k, -1);
  std::vector<double> sums(2 * k);
  for (int64_t p = 0; p < k; ++p)
    emd_validate_problem(view, p, 1, 1e-6, run.faults.data(), sums.data(), 0, 1);

  emd_outputs outputs = {};
  outputs.cost = run.out.cost.data();
  outputs.plan = run.out.plan.data();
  outputs.u = run.out.u.data();
  outputs.v = run.out.v.data();
  outputs.sparse_value = run.out.sparse_value.data();
  outputs.sparse_row = run.out.sparse_row.data();
  outputs.sparse_col = run.out.sparse_col.data();
  outputs.sparse_count = run.out.sparse_count.data();
  outputs.iterations = run.out.iterations.data();
  outputs.status = run.out.status.data();
  outputs.flags = run.out.flags.data();
  outputs.needs_host = run.needs_host.data();
  outputs.sparse = 1;
  outputs.first = 0;
  if (!solve) return run;  // invalid inputs never reach the solve (the call fails first)
  emd_solve_options options = {0, 1, fast_memory};
  std::vector<int64_t> workspace(emd_problem_workspace_bytes(n, m) / 8 + 1);
  // Stands in for the block's shared memory (on the host it is ordinary memory).
  std::vector<int64_t> fast(emd_fast_memory_bytes(n, m) / 8);
  int64_t scratch[4];
  for (int64_t p = 0; p < k; ++p)
    emd_solve_problem(view, p, sums.data(), workspace.data(), options, outputs,
                      fast_memory ? fast.data() : nullptr, scratch, 0, 1);
  return run;
}

void ExpectLikeTheCpu(const std::vector<EmdCase> &cases, const DeviceLogicRun &run) {
  normot_context *context = nullptr;
  ASSERT_EQ(normot_context_create(&context, NORMOT_BACKEND_CPU, 0), NORMOT_SUCCESS);
  normot_emd_params params;
  normot_emd_params_init(&params);
  EmdOutcome cpu;
  ASSERT_EQ(SolveBatch(context, cases, params, &cpu), NORMOT_SUCCESS);
  normot_context_destroy(context);
  for (size_t p = 0; p < cases.size(); ++p) {
    SCOPED_TRACE(::testing::Message() << "problem " << p);
    EXPECT_EQ(run.faults[p], 0);
    ASSERT_EQ(run.needs_host[p], 0);
    ExpectCertificate(cases[p], run.out, (int64_t)p);
    double largest = 0;
    for (double c : cases[p].cost) largest = std::max(largest, std::fabs(c));
    EXPECT_NEAR(run.out.cost[p], cpu.cost[p],
                1e-9 * std::max(std::fabs(cpu.cost[p]), 1e-3 * largest) + 1e-300);
    // Centred duals (POT's center_ot_dual): <a, u> = <b, v>.
    const int64_t n = cases[p].n, m = cases[p].m;
    std::vector<double> a = WeightsOf(cases[p].a, n), b = WeightsOf(cases[p].b, m);
    double au = 0, bv = 0, scale = 0;
    for (int64_t i = 0; i < n; ++i) au += a[i] * run.out.u[p * n + i];
    for (int64_t j = 0; j < m; ++j) bv += b[j] * run.out.v[p * m + j];
    for (double c : cases[p].cost) scale = std::max(scale, std::fabs(c));
    EXPECT_NEAR(au, bv, 1e-9 * std::max(scale, 1e-300));
  }
}

TEST(AuctionDeviceLogic, MatchesTheCpuOnRandomProblems) {
  std::mt19937_64 rng(71);
  const int64_t shapes[][2] = {{1, 1}, {1, 5}, {5, 1}, {6, 9}, {16, 16}, {23, 11}};
  for (const auto &shape : shapes) {
    SCOPED_TRACE(::testing::Message() << shape[0] << "x" << shape[1]);
    for (bool uniform : {true, false}) {
      std::vector<EmdCase> cases;
      for (int p = 0; p < 3; ++p) cases.push_back(RandomCase(rng, shape[0], shape[1], uniform));
      ExpectLikeTheCpu(cases, RunDeviceLogic(cases, false));
    }
  }
}

TEST(AuctionDeviceLogic, FastMemoryLayoutGivesTheSameResults) {
  // The kernel keeps costs, prices and excesses in shared memory when they fit: same results.
  std::mt19937_64 rng(75);
  std::vector<EmdCase> cases;
  for (int p = 0; p < 3; ++p) cases.push_back(RandomCase(rng, 10, 13, false, 2, 1));
  DeviceLogicRun global = RunDeviceLogic(cases, false, true, false);
  DeviceLogicRun fast = RunDeviceLogic(cases, false, true, true);
  ExpectLikeTheCpu(cases, fast);
  EXPECT_EQ(fast.out.plan, global.out.plan);
  EXPECT_EQ(fast.out.u, global.out.u);
  EXPECT_EQ(fast.out.v, global.out.v);
  EXPECT_EQ(fast.out.iterations, global.out.iterations);
}

TEST(AuctionDeviceLogic, ZeroWeightsAreRemovedAndTheirDualsEstimated) {
  std::mt19937_64 rng(72);
  std::vector<EmdCase> cases;
  // Negative costs: a zero-weight row left at u_i = 0 would violate u_i + v_j <= M_ij.
  for (int p = 0; p < 3; ++p) cases.push_back(RandomCase(rng, 9, 8, false, 3, 2, 1.0, -3.0));
  DeviceLogicRun run = RunDeviceLogic(cases, false);
  ExpectLikeTheCpu(cases, run);
  // Zero-weight rows and columns carry no mass.
  for (int64_t p = 0; p < 3; ++p)
    for (int64_t i = 0; i < 9; ++i)
      if (cases[p].a[i] == 0)
        for (int64_t j = 0; j < 8; ++j) EXPECT_EQ(run.out.plan[(p * 9 + i) * 8 + j], 0.0);
}

TEST(AuctionDeviceLogic, SharedCostAndTies) {
  std::mt19937_64 rng(73);
  std::vector<EmdCase> cases;
  EmdCase first = RandomCase(rng, 12, 12, false);
  for (double &x : first.cost) x = std::floor(x * 3.0);
  for (int p = 0; p < 4; ++p) {
    EmdCase c = RandomCase(rng, 12, 12, false);
    c.cost = first.cost;  // one cost for the whole batch
    cases.push_back(c);
  }
  ExpectLikeTheCpu(cases, RunDeviceLogic(cases, true));
}

TEST(AuctionDeviceLogic, ValidationFindsEveryFault) {
  std::mt19937_64 rng(74);
  std::vector<EmdCase> cases;
  for (int p = 0; p < 5; ++p) cases.push_back(RandomCase(rng, 4, 3, false));
  cases[1].cost[5] = NAN;
  cases[2].a[0] = -cases[2].a[0];
  cases[3].b[1] += 0.5;  // unbalanced
  for (double &w : cases[4].a) w = 0;
  DeviceLogicRun run = RunDeviceLogic(cases, false, false);
  EXPECT_EQ(run.faults[0], EMD_INPUT_OK);
  EXPECT_EQ(run.faults[1], EMD_INPUT_NONFINITE_COST);
  EXPECT_EQ(run.faults[2], EMD_INPUT_NEGATIVE_WEIGHT);
  EXPECT_EQ(run.faults[3], EMD_INPUT_UNBALANCED);
  EXPECT_EQ(run.faults[4], EMD_INPUT_ZERO_MASS);
}

}  // namespace
