// The CUDA backend's per-problem EMD code (src/cuda/emd_problem.cuh: b rescaled and zero weights
// removed by the shared conventions, the auction core, its certificate on the original costs,
// the outputs and duals) compiled for the host and run on the suite's problems, with one lane
// and with an emulated warp: 32 lanes in lockstep (coroutines) whose barrier, shuffles and votes
// stand in for __syncwarp, __shfl_xor_sync and __ballot_sync. Every problem the device code hands
// to the host (needs_host: the CPU fallback) is counted, and a test fails on one it does not
// expect.
#define NORMOT_AUCTION_EMULATED_TEAM 1

#include <ucontext.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include "cuda/emd_assignment_problem.cuh"
#include "cuda/emd_problem.cuh"
#include "test_emd_support.h"
#include "test_support.h"

// ---- the emulated warp ----------------------------------------------------------------------
// The 32 lanes are coroutines on this thread (ucontext), switched round-robin at every barrier:
// a lane that reaches a barrier lets the next one run, and the last to arrive releases them all.
// Exchanges and votes write a slot, meet at a barrier, read, and meet again, as a shuffle does.
// A lane that ends while others wait at a barrier is a divergence the warp would hang on: the
// run stops and the test fails.

namespace {

const int kWarp = 32;
const size_t kLaneStack = 1 << 18;

struct EmulatedWarp {
  ucontext_t main_context, lanes[kWarp];
  std::vector<char> stacks[kWarp];
  int current = 0, arrived = 0, finished = 0;
  bool diverged = false;
  int64_t words[kWarp];
  double reals[kWarp];
  std::function<void(int, int)> body;
};

EmulatedWarp *current_warp = nullptr;

void SwitchToNextLane(EmulatedWarp *warp) {
  const int from = warp->current;
  warp->current = (from + 1) % kWarp;
  swapcontext(&warp->lanes[from], &warp->lanes[warp->current]);
}

void Barrier() {
  EmulatedWarp *warp = current_warp;
  if (++warp->arrived == kWarp) {
    warp->arrived = 0;  // the last lane releases the others, which resume in turn
    return;
  }
  SwitchToNextLane(warp);
}

void LaneEntry() {
  EmulatedWarp *warp = current_warp;
  const int lane = warp->current;
  warp->body(lane, kWarp);
  if (warp->arrived != 0) warp->diverged = true;
  if (++warp->finished == kWarp || warp->diverged) {
    setcontext(&warp->main_context);
  }
  // The others finish after this lane: pass on to the next one that still runs.
  int next = lane;
  do next = (next + 1) % kWarp;
  while (next == lane);
  warp->current = next;
  setcontext(&warp->lanes[next]);
}

}  // namespace

int normot_emulated_width(void) {
  return current_warp == nullptr ? 1 : kWarp;
}

void normot_emulated_sync(void) {
  if (current_warp != nullptr) Barrier();
}

int64_t normot_emulated_exchange(int64_t value, int offset) {
  EmulatedWarp *warp = current_warp;
  const int lane = warp->current;
  warp->words[lane] = value;
  Barrier();
  int64_t other = warp->words[lane ^ offset];
  Barrier();
  return other;
}

double normot_emulated_exchange_double(double value, int offset) {
  EmulatedWarp *warp = current_warp;
  const int lane = warp->current;
  warp->reals[lane] = value;
  Barrier();
  double other = warp->reals[lane ^ offset];
  Barrier();
  return other;
}

unsigned normot_emulated_vote(int flag) {
  if (current_warp == nullptr) return flag != 0 ? 1u : 0u;
  EmulatedWarp *warp = current_warp;
  warp->words[warp->current] = flag != 0;
  Barrier();
  unsigned mask = 0;
  for (int lane = 0; lane < kWarp; ++lane)
    if (warp->words[lane]) mask |= 1u << lane;
  Barrier();
  return mask;
}

namespace {

// Runs body(lane, lanes) as one lane, or as an emulated warp of 32 lanes.
void RunTeam(bool warp, const std::function<void(int, int)> &body) {
  if (!warp) {
    body(0, 1);
    return;
  }
  auto team = std::make_unique<EmulatedWarp>();
  team->body = body;
  for (int lane = 0; lane < kWarp; ++lane) {
    team->stacks[lane].resize(kLaneStack);
    getcontext(&team->lanes[lane]);
    team->lanes[lane].uc_stack.ss_sp = team->stacks[lane].data();
    team->lanes[lane].uc_stack.ss_size = kLaneStack;
    team->lanes[lane].uc_link = nullptr;
    makecontext(&team->lanes[lane], LaneEntry, 0);
  }
  current_warp = team.get();
  swapcontext(&team->main_context, &team->lanes[0]);
  current_warp = nullptr;
  ASSERT_FALSE(team->diverged) << "the lanes of the emulated warp diverged at a barrier";
}

// ---- one batch through the device code --------------------------------------------------------

struct EmulatedRun {
  EmdOutcome out;
  std::vector<int32_t> needs_host;
  int64_t fallbacks = 0;  // problems the device code handed to the host
};

struct EmulationOptions {
  bool warp = false;
  bool fast_memory = false;
  bool share_cost = false;
  int64_t max_iter = 0;
  int center_duals = 1;
  bool assignment = false;  // the assignment kernel's code instead of the auction's
  int misfit_route = EMD_ROUTE_AUCTION;
  int64_t assignment_max_n = EMD_ASSIGNMENT_AUTO_MAX_N;
};

emd_solve_options SolveOptions(const EmulationOptions &options) {
  emd_solve_options solve = {};
  solve.max_iter = options.max_iter;
  solve.center_duals = options.center_duals;
  solve.misfit_route = options.misfit_route;
  solve.assignment_max_n = options.assignment_max_n;
  solve.costs_in_shared = options.fast_memory;
  return solve;
}

// One problem through the assignment kernel's code: `fast` stands in for its shared memory.
void RunAssignmentProblem(const emd_batch_view &view, const emd_outputs &outputs,
                          const emd_solve_options &solve, int64_t p, bool warp) {
  std::vector<int64_t> workspace(emd_problem_workspace_bytes(view.n, view.m) / 8 + 1,
                                 0x5a5a5a5a5a5a5a5a);
  std::vector<int64_t> fast(emd_assignment_fast_bytes(view.n) / 8 + 1, 0x3c3c3c3c3c3c3c3c);
  int64_t scratch[4] = {-9, -9, -9, -9};
  RunTeam(warp, [&](int lane, int lanes) {
    emd_team_call call = {&view,       &outputs, solve, workspace.data(),
                          fast.data(), scratch,  lane,  lanes};
    emd_assign_problem(call, p);
  });
}

EmulatedRun RunDeviceCode(const std::vector<EmdCase> &cases, const EmulationOptions &options) {
  const int64_t k = (int64_t)cases.size(), n = cases[0].n, m = cases[0].m;
  std::vector<double> a, b, cost;
  for (const EmdCase &c : cases) {
    std::vector<double> ca = WeightsOf(c.a, n), cb = WeightsOf(c.b, m);
    a.insert(a.end(), ca.begin(), ca.end());
    b.insert(b.end(), cb.begin(), cb.end());
    if (!options.share_cost || cost.empty()) cost.insert(cost.end(), c.cost.begin(), c.cost.end());
  }
  emd_batch_view view = {};
  view.k = k, view.n = n, view.m = m, view.dim = 0;
  view.is_double = 1;
  view.a = a.data(), view.b = b.data(), view.cost = cost.data();
  view.cost_shared = options.share_cost;

  EmulatedRun run;
  run.out = AllocateOutcome(k, n, m);
  run.needs_host.assign(k, -1);
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
  const emd_solve_options solve = SolveOptions(options);
  for (int64_t p = 0; p < k; ++p) {
    if (options.assignment) {
      RunAssignmentProblem(view, outputs, solve, p, options.warp);
      run.fallbacks += run.needs_host[p] == EMD_ROUTE_FALLBACK;
      continue;
    }
    // A workspace full of garbage, as device memory is: the code must not read it unwritten.
    std::vector<int64_t> workspace(emd_problem_workspace_bytes(n, m) / 8 + 1, 0x5a5a5a5a5a5a5a5a);
    std::vector<int64_t> fast(emd_fast_memory_bytes(n, m) / 8 + 1,
                              -3);  // the block's shared memory
    int64_t scratch[4] = {-9, -9, -9, -9};
    RunTeam(options.warp, [&](int lane, int lanes) {
      emd_team_call call = {&view,       &outputs, solve, workspace.data(),
                            fast.data(), scratch,  lane,  lanes};
      emd_solve_problem(call, p);
    });
    run.fallbacks += run.needs_host[p] != 0;
  }
  return run;
}

normot_emd_params Params(normot_emd_solver solver = NORMOT_EMD_SOLVER_AUTO, int center = 1) {
  normot_emd_params params;
  normot_emd_params_init(&params);
  params.solver = solver;
  params.center_duals = center;
  return params;
}

EmdOutcome SolveOnCpu(const std::vector<EmdCase> &cases, const normot_emd_params &params) {
  normot_context *context = nullptr;
  EXPECT_EQ(normot_context_create(&context, NORMOT_BACKEND_CPU, 0), NORMOT_SUCCESS);
  EmdOutcome out;
  EXPECT_EQ(SolveBatch(context, cases, params, &out), NORMOT_SUCCESS)
      << normot_context_last_error(context);
  normot_context_destroy(context);
  return out;
}

double LargestCost(const EmdCase &c) {
  double largest = 0;
  for (double x : c.cost) largest = std::max(largest, std::fabs(x));
  return largest;
}

// The device code against the CPU backend running the same core (solver AUCTION): the same
// statuses and iterations and bitwise the same duals (one rule for the zero-weight duals and the
// centring); costs and plans as the certificate allows; no fallback.
void ExpectLikeTheCpuAuction(const std::vector<EmdCase> &cases, const EmulatedRun &run,
                             int center = 1) {
  EmdOutcome cpu = SolveOnCpu(cases, Params(NORMOT_EMD_SOLVER_AUCTION, center));
  EXPECT_EQ(run.fallbacks, 0) << "the device code handed problems to the host";
  for (size_t p = 0; p < cases.size(); ++p) {
    SCOPED_TRACE(::testing::Message() << "problem " << p);
    const int64_t n = cases[p].n, m = cases[p].m;
    ASSERT_EQ(run.needs_host[p], 0);
    EXPECT_EQ(cpu.flags[p], 0);
    if (center) ExpectCertificate(cases[p], run.out, (int64_t)p);
    EXPECT_EQ(run.out.status[p], cpu.status[p]);
    EXPECT_EQ(run.out.iterations[p], cpu.iterations[p]);
    EXPECT_EQ(std::memcmp(&run.out.u[p * n], &cpu.u[p * n], n * 8), 0);
    EXPECT_EQ(std::memcmp(&run.out.v[p * m], &cpu.v[p * m], m * 8), 0);
    const double largest = LargestCost(cases[p]);
    EXPECT_NEAR(run.out.cost[p], cpu.cost[p], 1e-12 * std::max(largest, 1e-300));
    for (int64_t e = 0; e < n * m; ++e)
      EXPECT_NEAR(run.out.plan[p * n * m + e], cpu.plan[p * n * m + e], 1e-15);
  }
}

void ExpectSameBytes(const EmulatedRun &x, const EmulatedRun &y) {
  EXPECT_EQ(x.needs_host, y.needs_host);
  ExpectSameOutcomeBytes(x.out, y.out);
}

// ---- tests ------------------------------------------------------------------------------------

TEST(AuctionCudaEmulation, OneLaneMatchesTheCpuBackendOnRandomProblems) {
  std::mt19937_64 rng(71);
  const int64_t shapes[][2] = {{1, 1}, {1, 5}, {5, 1}, {6, 9}, {16, 16}, {23, 11}, {30, 30}};
  for (const auto &shape : shapes) {
    SCOPED_TRACE(::testing::Message() << shape[0] << "x" << shape[1]);
    for (bool uniform : {true, false}) {
      std::vector<EmdCase> cases;
      for (int p = 0; p < 3; ++p) cases.push_back(RandomCase(rng, shape[0], shape[1], uniform));
      ExpectLikeTheCpuAuction(cases, RunDeviceCode(cases, {}));
    }
  }
}

TEST(AuctionCudaEmulation, AWarpGivesTheBytesOfOneLane) {
  // The warp's split scans, butterfly reductions and ballots against one lane: the same bytes.
  std::mt19937_64 rng(76);
  const int64_t shapes[][2] = {{1, 4}, {7, 5}, {12, 12}, {33, 20}};
  for (const auto &shape : shapes) {
    SCOPED_TRACE(::testing::Message() << shape[0] << "x" << shape[1]);
    std::vector<EmdCase> cases;
    cases.push_back(RandomCase(rng, shape[0], shape[1], true));
    EmdCase ties = RandomCase(rng, shape[0], shape[1], true);
    for (double &x : ties.cost) x = std::floor(x * 3.0);
    cases.push_back(ties);
    EmulationOptions one, warp;
    warp.warp = true;
    warp.fast_memory = true;
    EmulatedRun single = RunDeviceCode(cases, one), team = RunDeviceCode(cases, warp);
    ExpectSameBytes(single, team);
    ExpectLikeTheCpuAuction(cases, team);
  }
  std::vector<EmdCase> weighted;
  for (int p = 0; p < 2; ++p) weighted.push_back(RandomCase(rng, 9, 14, false, 2, 3, 1.0, -0.5));
  EmulationOptions warp;
  warp.warp = true;
  ExpectSameBytes(RunDeviceCode(weighted, {}), RunDeviceCode(weighted, warp));
}

TEST(AuctionCudaEmulation, FastMemoryLayoutGivesTheSameResults) {
  // The kernel keeps costs, prices and excesses in shared memory when they fit: same results.
  std::mt19937_64 rng(75);
  std::vector<EmdCase> cases;
  for (int p = 0; p < 3; ++p) cases.push_back(RandomCase(rng, 10, 13, false, 2, 1));
  EmulationOptions fast;
  fast.fast_memory = true;
  EmulatedRun global = RunDeviceCode(cases, {}), shared = RunDeviceCode(cases, fast);
  ExpectLikeTheCpuAuction(cases, shared);
  ExpectSameBytes(global, shared);
}

TEST(AuctionCudaEmulation, ZeroWeightDualsFollowTheCpuRule) {
  // Negative costs: a zero-weight row left at u_i = 0 would violate u_i + v_j <= M_ij. The
  // zero-weight duals are the CPU backend's, bitwise, and with the simplex's (another solver)
  // they agree to rounding: they do not depend on the auction's price offset.
  std::mt19937_64 rng(72);
  std::vector<EmdCase> cases;
  for (int p = 0; p < 3; ++p) cases.push_back(RandomCase(rng, 9, 8, false, 3, 2, 1.0, -3.0));
  EmulatedRun run = RunDeviceCode(cases, {});
  ExpectLikeTheCpuAuction(cases, run);
  EmdOutcome simplex = SolveOnCpu(cases, Params(NORMOT_EMD_SOLVER_NETWORK_SIMPLEX));
  for (size_t p = 0; p < cases.size(); ++p)
    for (int64_t i = 0; i < 9; ++i) {
      EXPECT_NEAR(run.out.u[p * 9 + i], simplex.u[p * 9 + i], 1e-9) << p << " " << i;
      if (cases[p].a[i] == 0)
        for (int64_t j = 0; j < 8; ++j) EXPECT_EQ(run.out.plan[(p * 9 + i) * 8 + j], 0.0);
    }
  for (size_t p = 0; p < cases.size(); ++p)
    for (int64_t j = 0; j < 8; ++j)
      EXPECT_NEAR(run.out.v[p * 8 + j], simplex.v[p * 8 + j], 1e-9) << p << " " << j;
}

TEST(AuctionCudaEmulation, UncentredDualsAreNotCentredOnEitherBackend) {
  // center_duals = 0: the solver's own potentials, and a zero-weight row gets
  // min(0, min_j (M_ij - v_j)) (lowered from 0 by its largest violation) with no shift after.
  std::mt19937_64 rng(77);
  std::vector<EmdCase> cases;
  for (int p = 0; p < 2; ++p) cases.push_back(RandomCase(rng, 8, 7, false, 2, 1, 1.0, -2.0));
  EmulationOptions raw;
  raw.center_duals = 0;
  EmulatedRun run = RunDeviceCode(cases, raw);
  ExpectLikeTheCpuAuction(cases, run, 0);
  for (normot_emd_solver solver : {NORMOT_EMD_SOLVER_AUCTION, NORMOT_EMD_SOLVER_NETWORK_SIMPLEX}) {
    EmdOutcome cpu = SolveOnCpu(cases, Params(solver, 0));
    for (size_t p = 0; p < cases.size(); ++p)
      for (int64_t i = 0; i < 8; ++i) {
        if (cases[p].a[i] != 0) continue;
        // Against the columns' duals before their own estimates (a zero-weight column: 0).
        double expected = 0;
        for (int64_t j = 0; j < 7; ++j)
          expected = std::min(
              expected, cases[p].cost[i * 7 + j] - (cases[p].b[j] == 0 ? 0.0 : cpu.v[p * 7 + j]));
        EXPECT_EQ(cpu.u[p * 8 + i], expected) << "solver " << solver << " problem " << p;
      }
  }
}

TEST(AuctionCudaEmulation, SharedCostAndTies) {
  std::mt19937_64 rng(73);
  std::vector<EmdCase> cases;
  EmdCase first = RandomCase(rng, 12, 12, false);
  for (double &x : first.cost) x = std::floor(x * 3.0) + 1.0;
  for (int p = 0; p < 4; ++p) {
    EmdCase c = RandomCase(rng, 12, 12, false);
    c.cost = first.cost;  // one cost for the whole batch
    cases.push_back(c);
  }
  EmulationOptions shared;
  shared.share_cost = true;
  ExpectLikeTheCpuAuction(cases, RunDeviceCode(cases, shared));
}

TEST(AuctionCudaEmulation, PushLimitIsExact) {
  std::mt19937_64 rng(78);
  std::vector<EmdCase> cases;
  for (int p = 0; p < 2; ++p) cases.push_back(RandomCase(rng, 20, 20, false));
  EmulatedRun free_run = RunDeviceCode(cases, {});
  for (int64_t limit : {1, 7, 25}) {
    EmulationOptions limited;
    limited.max_iter = limit;
    limited.warp = limit == 7;
    EmulatedRun run = RunDeviceCode(cases, limited);
    EXPECT_EQ(run.fallbacks, 0);
    for (size_t p = 0; p < cases.size(); ++p) {
      ASSERT_GT(free_run.out.iterations[p], limit);
      EXPECT_EQ(run.out.status[p], NORMOT_EMD_MAX_ITER_REACHED);
      EXPECT_EQ(run.out.iterations[p], limit);
    }
  }
}

TEST(AuctionCudaEmulation, FewHugeCostsAreHandedToTheHost) {
  // Costs of order 1 with a few entries of 1e9 .. 1e300: the 2^40 grid over max|M| rounds the
  // small ones away. The device code must not report OPTIMAL for what it cannot prove: it hands
  // the problem to the host (expected here, and counted).
  std::mt19937_64 rng(79);
  for (double huge : {1e9, 1e30, 1e300}) {
    std::vector<EmdCase> cases;
    for (int p = 0; p < 2; ++p) {
      EmdCase c = RandomCase(rng, 10, 10, true);
      c.cost[3] = huge, c.cost[57] = huge;
      cases.push_back(c);
    }
    EmulatedRun run = RunDeviceCode(cases, {});
    EXPECT_EQ(run.fallbacks, 2) << huge;
  }
}

// ---- the assignment kernel's code --------------------------------------------------------------

// The assignment kernel's code against the CPU backend's AUTO, which runs the CPU's assignment
// solver on these problems: the same bytes (cost, plans, u, v), statuses and path counts.
void ExpectLikeTheCpuAssignment(const std::vector<EmdCase> &cases, const EmulatedRun &run,
                                int center = 1) {
  EmdOutcome cpu = SolveOnCpu(cases, Params(NORMOT_EMD_SOLVER_AUTO, center));
  EXPECT_EQ(run.fallbacks, 0) << "the device code handed problems to the host";
  for (size_t p = 0; p < cases.size(); ++p) {
    SCOPED_TRACE(::testing::Message() << "problem " << p);
    const int64_t n = cases[p].n, m = cases[p].m;
    ASSERT_EQ(run.needs_host[p], EMD_ROUTE_DONE);
    if (center) ExpectCertificate(cases[p], run.out, (int64_t)p);
    EXPECT_EQ(run.out.status[p], cpu.status[p]);
    EXPECT_EQ(run.out.iterations[p], cpu.iterations[p]);
    EXPECT_EQ(run.out.flags[p], 0);
    EXPECT_EQ(std::memcmp(&run.out.cost[p], &cpu.cost[p], 8), 0);
    EXPECT_EQ(std::memcmp(&run.out.u[p * n], &cpu.u[p * n], n * 8), 0);
    EXPECT_EQ(std::memcmp(&run.out.v[p * m], &cpu.v[p * m], m * 8), 0);
    EXPECT_EQ(std::memcmp(&run.out.plan[p * n * m], &cpu.plan[p * n * m], n * m * 8), 0);
    const int64_t basis = n + m - 1;
    EXPECT_EQ(run.out.sparse_count[p], cpu.sparse_count[p]);
    for (int64_t e = 0; e < cpu.sparse_count[p]; ++e) {
      EXPECT_EQ(run.out.sparse_row[p * basis + e], cpu.sparse_row[p * basis + e]);
      EXPECT_EQ(run.out.sparse_col[p * basis + e], cpu.sparse_col[p * basis + e]);
      EXPECT_EQ(run.out.sparse_value[p * basis + e], cpu.sparse_value[p * basis + e]);
    }
  }
}

EmulationOptions AssignmentOn(bool warp) {
  EmulationOptions options;
  options.assignment = true;
  options.warp = warp;
  return options;
}

TEST(AssignmentCudaEmulation, AWarpGivesTheCpuAssignmentBitForBit) {
  std::mt19937_64 rng(81);
  for (int64_t n : {1, 2, 3, 17, 32, 45}) {
    SCOPED_TRACE(::testing::Message() << "n = " << n);
    std::vector<EmdCase> cases;
    cases.push_back(RandomCase(rng, n, n, true));
    cases.push_back(PointCloudCase(rng, n, n, true));
    EmdCase ties = RandomCase(rng, n, n, true);
    for (double &x : ties.cost) x = std::floor(x * 3.0);  // many equal costs: ties everywhere
    cases.push_back(ties);
    cases.push_back(RandomCase(rng, n, n, true, 0, 0, 4.0, -2.0));  // negative costs
    EmulatedRun single = RunDeviceCode(cases, AssignmentOn(false));
    EmulatedRun team = RunDeviceCode(cases, AssignmentOn(true));
    ExpectSameBytes(single, team);
    ExpectLikeTheCpuAssignment(cases, team);
  }
}

TEST(AssignmentCudaEmulation, TheSeedShapeOnOneLane) {
  // k problems of n = 100 (the seed case's shape; one lane, the warp is covered above).
  std::mt19937_64 rng(82);
  std::vector<EmdCase> cases;
  for (int p = 0; p < 3; ++p) cases.push_back(PointCloudCase(rng, 100, 100, true));
  ExpectLikeTheCpuAssignment(cases, RunDeviceCode(cases, AssignmentOn(false)));
}

TEST(AssignmentCudaEmulation, ZeroWeightsAndUncentredDuals) {
  // Equal positive weights with zero rows and columns: the positive part is square and uniform,
  // so both backends run the assignment solver on it and restore the other duals alike.
  std::mt19937_64 rng(83);
  std::vector<EmdCase> cases;
  for (int p = 0; p < 3; ++p) {
    EmdCase c = RandomCase(rng, 9, 9, true, 0, 0, 1.0, -0.5);
    c.a.assign(9, 1.0 / 7), c.b.assign(9, 1.0 / 7);
    c.a[p] = c.a[5] = 0, c.b[2 * p] = c.b[8] = 0;
    cases.push_back(c);
  }
  for (int center : {1, 0}) {
    EmulationOptions options = AssignmentOn(true);
    options.center_duals = center;
    ExpectLikeTheCpuAssignment(cases, RunDeviceCode(cases, options), center);
  }
  EmulationOptions shared = AssignmentOn(false);
  shared.share_cost = true;
  std::vector<EmdCase> same_cost = cases;
  for (EmdCase &c : same_cost) c.cost = cases[0].cost;
  ExpectLikeTheCpuAssignment(same_cost, RunDeviceCode(same_cost, shared));
}

TEST(AssignmentCudaEmulation, ProblemsItDoesNotTakeAreRouted) {
  // Unequal weights, a rectangular positive part, or a part above the size limit: nothing is
  // written but the route, which the options choose (the auction kernel, or the host).
  std::mt19937_64 rng(84);
  std::vector<EmdCase> cases;
  cases.push_back(RandomCase(rng, 6, 6, false));
  EmdCase rectangular = RandomCase(rng, 6, 6, true);
  rectangular.a.assign(6, 1.0 / 6), rectangular.b.assign(6, 1.0 / 5), rectangular.b[4] = 0;
  cases.push_back(rectangular);
  for (int route : {EMD_ROUTE_AUCTION, EMD_ROUTE_HOST}) {
    EmulationOptions options = AssignmentOn(true);
    options.misfit_route = route;
    EmulatedRun run = RunDeviceCode(cases, options);
    EXPECT_EQ(run.needs_host, std::vector<int32_t>(2, route));
  }
  std::vector<EmdCase> large = {RandomCase(rng, 6, 6, true)};
  EmulationOptions limited = AssignmentOn(false);
  limited.assignment_max_n = 5;
  EXPECT_EQ(RunDeviceCode(large, limited).needs_host, std::vector<int32_t>(1, EMD_ROUTE_AUCTION));
  limited.assignment_max_n = 6;
  ExpectLikeTheCpuAssignment(large, RunDeviceCode(large, limited));
}

TEST(AuctionCudaEmulation, WhichSolverTheDeviceRuns) {
  // max_iter counts the pivots of the simplex, the augmenting paths of the assignment solver
  // and the auction's pushes: the device takes a batch only where a device solver honours the
  // parameters as the CPU backend would.
  normot_emd_params params = Params();
  emd_device_plan plan = emd_plan_device(&params, 100);
  EXPECT_TRUE(plan.assignment && plan.auto_limit && plan.auction);
  params.max_iter = 100;  // AUTO: the assignment solver needs at most n paths; no auction
  plan = emd_plan_device(&params, 100);
  EXPECT_TRUE(plan.assignment && plan.auto_limit && !plan.auction);
  params.max_iter = 99;  // fewer than n: the CPU would run the simplex with that limit
  EXPECT_FALSE(emd_runs_on_device(emd_plan_device(&params, 100)));
  params.solver = NORMOT_EMD_SOLVER_AUCTION;
  plan = emd_plan_device(&params, 100);
  EXPECT_TRUE(!plan.assignment && plan.auction);
  params.solver = NORMOT_EMD_SOLVER_ASSIGNMENT;
  plan = emd_plan_device(&params, 100);
  EXPECT_TRUE(plan.assignment && !plan.auto_limit && !plan.auction);
  params.solver = NORMOT_EMD_SOLVER_NETWORK_SIMPLEX;
  params.max_iter = 0;
  EXPECT_FALSE(emd_runs_on_device(emd_plan_device(&params, 100)));
  params.solver = NORMOT_EMD_SOLVER_MULTISCALE;
  EXPECT_FALSE(emd_runs_on_device(emd_plan_device(&params, 100)));
}

}  // namespace

// ---- the emulated CUDA backend: the shared EMD suites' third parameterisation -----------------
// A backend table whose emd runs what normot_cuda_emd runs, with host memory standing in for the
// device's: for the batches the device takes (emd_plan_device), the assignment kernel's code on
// an emulated warp of 32 lanes, then the auction kernel's code (one lane; its warp is covered
// above) on the problems routed to it; then the host: a problem whose certificate failed is
// re-solved by the network simplex and flagged NORMOT_EMD_FLAG_CPU_FALLBACK (which the shared
// certificate check reports as a failure), one routed to the host's exact solvers is solved with
// the caller's parameters, as normot_cuda_emd does.

#include "context.h"

namespace {

const void *ProblemSlice(const void *base, bool shared, int64_t p, int64_t per_problem,
                         size_t value) {
  if (base == nullptr || shared) return base;
  return static_cast<const char *>(base) + (size_t)(p * per_problem) * value;
}

normot_status SolveOneOnHost(normot_context *context, const normot_emd_problem *problem,
                             const normot_emd_params *params, normot_emd_result *result, int64_t p,
                             bool fallback) {
  const int64_t n = problem->n, m = problem->m, basis = n + m - 1;
  const size_t value = normot_value_size(problem->value_type);
  normot_emd_problem one = *problem;
  one.k = 1;
  one.a = ProblemSlice(problem->a, problem->a_shared, p, n, value);
  one.b = ProblemSlice(problem->b, problem->b_shared, p, m, value);
  one.cost = ProblemSlice(problem->cost, problem->cost_shared, p, n * m, value);
  one.x = ProblemSlice(problem->x, false, p, n * problem->dim, value);
  one.y = ProblemSlice(problem->y, false, p, m * problem->dim, value);
  auto at = [p](auto *array, int64_t per_problem) {
    return array ? array + p * per_problem : array;
  };
  normot_emd_result slice = {at(result->cost, 1),
                             at(result->plan, n * m),
                             at(result->sparse_row, basis),
                             at(result->sparse_col, basis),
                             at(result->sparse_value, basis),
                             at(result->sparse_count, 1),
                             at(result->u, n),
                             at(result->v, m),
                             at(result->status, 1),
                             at(result->iterations, 1),
                             at(result->flags, 1)};
  normot_emd_params host = *params;
  if (fallback) host.solver = NORMOT_EMD_SOLVER_NETWORK_SIMPLEX;
  normot_status status = normot_emd_host_exact(context, &one, &host, &slice);
  if (status == NORMOT_SUCCESS && fallback && result->flags != nullptr)
    result->flags[p] |= NORMOT_EMD_FLAG_CPU_FALLBACK;
  return status;
}

emd_batch_view ViewOf(const normot_emd_problem *problem) {
  emd_batch_view view = {};
  view.k = problem->k, view.n = problem->n, view.m = problem->m, view.dim = problem->dim;
  view.is_double = problem->value_type == NORMOT_FLOAT64;
  view.a = problem->a, view.b = problem->b, view.cost = problem->cost;
  view.x = problem->x, view.y = problem->y;
  view.a_shared = problem->a_shared, view.b_shared = problem->b_shared;
  view.cost_shared = problem->cost_shared;
  view.metric = (int)problem->metric;
  return view;
}

emd_outputs OutputsOf(const normot_emd_result *result, int32_t *routes) {
  emd_outputs out = {};
  out.cost = result->cost, out.plan = result->plan, out.u = result->u, out.v = result->v;
  out.sparse_value = result->sparse_value, out.sparse_row = result->sparse_row;
  out.sparse_col = result->sparse_col, out.sparse_count = result->sparse_count;
  out.iterations = result->iterations, out.status = result->status, out.flags = result->flags;
  out.needs_host = routes;
  out.sparse = result->sparse_row != nullptr || result->sparse_col != nullptr ||
               result->sparse_value != nullptr || result->sparse_count != nullptr;
  return out;
}

normot_status EmulatedCudaEmd(normot_context *context, const normot_emd_problem *problem,
                              const normot_emd_params *params, normot_emd_result *result) {
  const emd_device_plan plan = emd_plan_device(params, problem->n);
  if (!emd_runs_on_device(plan)) return normot_emd_host_exact(context, problem, params, result);
  const int64_t k = problem->k;
  const emd_batch_view view = ViewOf(problem);
  std::vector<int32_t> routes(k, EMD_ROUTE_AUCTION);
  const emd_outputs out = OutputsOf(result, routes.data());
  emd_solve_options options = {};
  options.max_iter = params->max_iter;
  options.center_duals = params->center_duals;
  options.misfit_route = plan.auction ? EMD_ROUTE_AUCTION : EMD_ROUTE_HOST;
  options.assignment_max_n = plan.auto_limit ? EMD_ASSIGNMENT_AUTO_MAX_N : problem->n;
  for (int64_t p = 0; plan.assignment && p < k; ++p)
    RunAssignmentProblem(view, out, options, p, true);
  std::vector<int64_t> workspace(emd_problem_workspace_bytes(view.n, view.m) / 8 + 1,
                                 0x5a5a5a5a5a5a5a5a);
  int64_t scratch[4];
  const emd_team_call one_lane = {&view, &out, options, workspace.data(), nullptr, scratch, 0, 1};
  for (int64_t p = 0; plan.auction && p < k; ++p)
    if (routes[p] == EMD_ROUTE_AUCTION) emd_solve_problem(one_lane, p);
  for (int64_t p = 0; p < k; ++p) {
    if (routes[p] == EMD_ROUTE_DONE) continue;
    normot_status status =
        SolveOneOnHost(context, problem, params, result, p, routes[p] == EMD_ROUTE_FALLBACK);
    if (status != NORMOT_SUCCESS) return status;
  }
  return NORMOT_SUCCESS;
}

normot_status CopyHostToHost(normot_context *, void *host, const void *source, size_t bytes) {
  std::memcpy(host, source, bytes);
  return NORMOT_SUCCESS;
}

const normot_backend_ops *EmulatedCudaOps() {
  static normot_backend_ops table = [] {
    normot_backend_ops ops = *normot_cpu_backend_ops();
    ops.emd = EmulatedCudaEmd;
    ops.copy_to_host = CopyHostToHost;
    return ops;
  }();
  return &table;
}

}  // namespace

normot_status CreateEmulatedCudaContext(normot_context **context) {
  normot_status status = normot_context_create(context, NORMOT_BACKEND_CPU, 0);
  if (status == NORMOT_SUCCESS) (*context)->ops = EmulatedCudaOps();
  return status;
}
