// Batched exact EMD through the public API: the certificate on random problems of many shapes,
// every solver, brute force on tiny problems, batch and thread-count independence, input
// variants (shared arrays, float32, point clouds), the iteration limit.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "test_emd_support.h"
#include "test_support.h"

namespace {

class EmdTest : public BackendTest {
 protected:
  normot_emd_params Params(normot_emd_solver solver = NORMOT_EMD_SOLVER_AUTO) {
    normot_emd_params params;
    normot_emd_params_init(&params);
    params.solver = solver;
    return params;
  }
  // The CUDA backend's auction is exact on a 2^-40 grid; the CPU is exact in float64.
  double Tolerance() const { return GetParam() == NORMOT_BACKEND_CUDA ? 1e-7 : 1e-9; }
  // Where the CPU must reproduce a value bit for bit, and another backend to its tolerance.
  double Exactness() const { return GetParam() == NORMOT_BACKEND_CPU ? 0.0 : Tolerance(); }

  // Solves each case alone and checks its certificate; returns the outcomes.
  std::vector<EmdOutcome> SolveEach(const std::vector<EmdCase> &cases,
                                    const normot_emd_params &params) {
    std::vector<EmdOutcome> outcomes;
    for (const EmdCase &c : cases) {
      EmdOutcome out;
      EXPECT_EQ(SolveBatch(context_, {c}, params, &out), NORMOT_SUCCESS)
          << normot_context_last_error(context_);
      ExpectCertificate(c, out, 0, Tolerance());
      outcomes.push_back(out);
    }
    return outcomes;
  }
};

std::vector<EmdCase> ShapeZoo() {
  std::mt19937_64 rng(7);
  std::vector<EmdCase> zoo;
  const int64_t shapes[][2] = {{1, 1},  {1, 6},  {6, 1},   {2, 2},   {3, 5},   {5, 3},  {7, 7},
                               {10, 4}, {4, 10}, {16, 16}, {25, 31}, {40, 40}, {64, 37}};
  for (auto &s : shapes) {
    zoo.push_back(RandomCase(rng, s[0], s[1], false));
    zoo.push_back(RandomCase(rng, s[0], s[1], true));
    if (s[0] > 2 && s[1] > 2) zoo.push_back(RandomCase(rng, s[0], s[1], false, 2, 1));
  }
  // Ties: small integer costs, all-equal costs, uniform weights on a grid.
  for (int64_t n : {3, 8, 20, 50}) {
    EmdCase ties = RandomCase(rng, n, n + 3, false);
    for (double &x : ties.cost) x = std::floor(x * 3);
    zoo.push_back(ties);
    EmdCase flat = RandomCase(rng, n, n, true);
    std::fill(flat.cost.begin(), flat.cost.end(), 1.5);
    zoo.push_back(flat);
    EmdCase flat_general = RandomCase(rng, n + 2, n, false);
    std::fill(flat_general.cost.begin(), flat_general.cost.end(), -2.0);
    zoo.push_back(flat_general);
    EmdCase grid = RandomCase(rng, n, n, true);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) grid.cost[i * n + j] = (double)((i - j) * (i - j) % 5);
    zoo.push_back(grid);
  }
  // Magnitudes and signs.
  zoo.push_back(RandomCase(rng, 30, 20, false, 0, 0, 1e12));
  zoo.push_back(RandomCase(rng, 30, 30, true, 0, 0, 1e12));
  zoo.push_back(RandomCase(rng, 20, 30, false, 0, 0, 1e-12));
  zoo.push_back(RandomCase(rng, 25, 25, true, 0, 0, 1e-12));
  zoo.push_back(RandomCase(rng, 20, 20, false, 0, 0, 5.0, -3.0));
  zoo.push_back(RandomCase(rng, 20, 20, true, 0, 0, 5.0, -3.0));
  zoo.push_back(RandomCase(rng, 12, 12, false, 4, 5));
  zoo.push_back(PointCloudCase(rng, 100, 100, true));
  zoo.push_back(PointCloudCase(rng, 80, 120, false));
  // Degenerate weights: every partial sum of a meets one of b.
  EmdCase stairs;
  stairs.n = 6, stairs.m = 4;
  stairs.a = {0.125, 0.125, 0.25, 0.125, 0.125, 0.25};
  stairs.b = {0.25, 0.25, 0.25, 0.25};
  stairs.cost.resize(24);
  for (int64_t e = 0; e < 24; ++e) stairs.cost[e] = (double)(e % 7);
  zoo.push_back(stairs);
  return zoo;
}

TEST_P(EmdTest, CertificateOnEveryShapeWithEverySolver) {
  const std::vector<EmdCase> zoo = ShapeZoo();
  for (normot_emd_solver solver : {NORMOT_EMD_SOLVER_AUTO, NORMOT_EMD_SOLVER_NETWORK_SIMPLEX,
                                   NORMOT_EMD_SOLVER_ASSIGNMENT, NORMOT_EMD_SOLVER_AUCTION}) {
    SCOPED_TRACE(::testing::Message() << "solver " << (int)solver);
    std::vector<EmdOutcome> outcomes = SolveEach(zoo, Params(solver));
    // Every solver finds the same optimal value.
    if (solver != NORMOT_EMD_SOLVER_AUTO) {
      static std::vector<double> reference;
      if (solver == NORMOT_EMD_SOLVER_NETWORK_SIMPLEX) {
        reference.clear();
        for (const EmdOutcome &o : outcomes) reference.push_back(o.cost[0]);
      } else {
        for (size_t c = 0; c < zoo.size(); ++c) {
          double scale = 0;
          for (double x : zoo[c].cost) scale = std::max(scale, std::fabs(x));
          EXPECT_NEAR(outcomes[c].cost[0], reference[c], 1e-9 * scale) << "case " << c;
        }
      }
    }
  }
}

// The dense simplex prices a row in vectors of 4 (SSE2: 2) columns and finishes the last few
// columns apart (with AVX2, one vector that overlaps columns already priced): every column count
// from 1 to 40, so that every remainder is met, and each solution's certificate over all pairs.
TEST_P(EmdTest, SimplexCertifiesEveryRowLength) {
  std::mt19937_64 rng(41);
  std::vector<EmdCase> cases;
  for (int64_t m = 1; m <= 40; ++m) cases.push_back(RandomCase(rng, 9, m, false));
  SolveEach(cases, Params(NORMOT_EMD_SOLVER_NETWORK_SIMPLEX));
}

// Every permutation of a uniform n x n problem, n <= 6.
TEST_P(EmdTest, BruteForceOverPermutations) {
  std::mt19937_64 rng(11);
  for (int64_t n = 1; n <= 6; ++n)
    for (int trial = 0; trial < 4; ++trial) {
      EmdCase c = RandomCase(rng, n, n, true);
      if (trial == 3)
        for (double &x : c.cost) x = std::floor(x * 2);  // ties
      std::vector<int> perm(n);
      std::iota(perm.begin(), perm.end(), 0);
      double best = INFINITY;
      do {
        double total = 0;
        for (int64_t i = 0; i < n; ++i) total += c.cost[i * n + perm[i]] / (double)n;
        best = std::min(best, total);
      } while (std::next_permutation(perm.begin(), perm.end()));
      for (normot_emd_solver solver : {NORMOT_EMD_SOLVER_AUTO, NORMOT_EMD_SOLVER_NETWORK_SIMPLEX}) {
        EmdOutcome out = SolveEach({c}, Params(solver))[0];
        EXPECT_NEAR(out.cost[0], best, 1e-12) << "n=" << n << " trial " << trial;
      }
    }
}

// The flows of the spanning tree `arcs` (n + m - 1 cells) of a transportation problem, by
// peeling leaves; false when the cells do not form a spanning tree.
bool TreeFlows(int64_t n, int64_t m, const std::vector<int64_t> &arcs, const std::vector<double> &a,
               const std::vector<double> &b, std::vector<double> *flows) {
  std::vector<double> left(n + m);
  for (int64_t i = 0; i < n; ++i) left[i] = a[i];
  for (int64_t j = 0; j < m; ++j) left[n + j] = b[j];
  std::vector<int> degree(n + m, 0), used(arcs.size(), 0);
  for (int64_t e : arcs) ++degree[e / m], ++degree[n + e % m];
  flows->assign(arcs.size(), 0.0);
  for (size_t round = 0; round < arcs.size(); ++round) {
    bool peeled = false;
    for (size_t k = 0; k < arcs.size() && !peeled; ++k) {
      if (used[k]) continue;
      int64_t i = arcs[k] / m, j = n + arcs[k] % m;
      int64_t leaf = degree[i] == 1 ? i : degree[j] == 1 ? j : -1;
      if (leaf < 0) continue;
      int64_t other = leaf == i ? j : i;
      (*flows)[k] = left[leaf];
      left[other] -= left[leaf];
      --degree[i], --degree[j];
      used[k] = 1;
      peeled = true;
    }
    if (!peeled) return false;  // a cycle
  }
  return true;
}

// Every basic solution (spanning tree of n + m - 1 cells) of small general problems.
TEST_P(EmdTest, BruteForceOverVertices) {
  std::mt19937_64 rng(13);
  const int64_t shapes[][2] = {{2, 3}, {3, 3}, {3, 4}, {4, 3}, {2, 5}, {4, 4}};
  for (auto &s : shapes)
    for (int trial = 0; trial < 3; ++trial) {
      const int64_t n = s[0], m = s[1], cells = n * m, basis = n + m - 1;
      EmdCase c = RandomCase(rng, n, m, false);
      if (trial == 2)
        for (double &x : c.cost) x = std::floor(x * 3) - 1;
      double best = INFINITY;
      std::vector<int> choose(cells, 0);
      std::fill(choose.end() - basis, choose.end(), 1);
      do {
        std::vector<int64_t> arcs;
        for (int64_t e = 0; e < cells; ++e)
          if (choose[e]) arcs.push_back(e);
        std::vector<double> flows;
        if (!TreeFlows(n, m, arcs, c.a, c.b, &flows)) continue;
        bool feasible = true;
        double total = 0;
        for (size_t k = 0; k < arcs.size(); ++k) {
          feasible &= flows[k] >= -1e-14;
          total += flows[k] * c.cost[arcs[k]];
        }
        if (feasible) best = std::min(best, total);
      } while (std::next_permutation(choose.begin(), choose.end()));
      ASSERT_LT(best, INFINITY);
      EmdOutcome out = SolveEach({c}, Params())[0];
      EXPECT_NEAR(out.cost[0], best, 1e-12) << n << "x" << m << " trial " << trial;
    }
}

// A batch gives what one-at-a-time calls give, bit for bit, for every thread count.
TEST_P(EmdTest, BatchEqualsOneAtATimeForEveryThreadCount) {
  std::mt19937_64 rng(17);
  for (bool uniform : {true, false}) {
    std::vector<EmdCase> cases;
    for (int p = 0; p < 24; ++p) cases.push_back(PointCloudCase(rng, 30, 30, uniform));
    std::vector<EmdOutcome> single = SolveEach(cases, Params());
    for (int threads : {1, 2, 3, 8}) {
      ASSERT_EQ(normot_context_set_threads(context_, threads), NORMOT_SUCCESS);
      EmdOutcome batch;
      ASSERT_EQ(SolveBatch(context_, cases, Params(), &batch), NORMOT_SUCCESS);
      for (size_t p = 0; p < cases.size(); ++p) {
        ExpectCertificate(cases[p], batch, (int64_t)p, Tolerance());
        if (GetParam() == NORMOT_BACKEND_CPU) EXPECT_EQ(batch.flags[p], 0);
        EXPECT_EQ(std::memcmp(&batch.cost[p], &single[p].cost[0], sizeof(double)), 0);
        EXPECT_EQ(std::memcmp(&batch.plan[p * 900], single[p].plan.data(), 900 * sizeof(double)),
                  0);
        EXPECT_EQ(std::memcmp(&batch.u[p * 30], single[p].u.data(), 30 * sizeof(double)), 0);
        EXPECT_EQ(std::memcmp(&batch.v[p * 30], single[p].v.data(), 30 * sizeof(double)), 0);
        EXPECT_EQ(batch.iterations[p], single[p].iterations[0]);
      }
    }
  }
}

// Uniform square problems, which AUTO hands to the shortest augmenting paths up to n = 512: the
// same optimal value as the simplex and the certificate, at sizes where the vector passes run
// (n not a multiple of the vector width included), on continuous costs and on heavily tied
// ones, and with zero weights that leave a uniform square active part.
TEST_P(EmdTest, AssignmentPathAgreesWithTheSimplexOnUniformSquareProblems) {
  std::mt19937_64 rng(43);
  std::vector<EmdCase> cases;
  for (int64_t n : {97, 100, 203}) {
    cases.push_back(PointCloudCase(rng, n, n, true));
    EmdCase ties = PointCloudCase(rng, n, n, true);
    for (double &x : ties.cost) x = std::floor(x * 8);  // 16 distinct values
    cases.push_back(ties);
  }
  EmdCase holes = PointCloudCase(rng, 60, 61, false);
  std::fill(holes.a.begin(), holes.a.end(), 1.0 / 58);
  std::fill(holes.b.begin(), holes.b.end(), 1.0 / 58);
  holes.a[3] = holes.a[40] = 0.0;
  holes.b[0] = holes.b[17] = holes.b[60] = 0.0;
  cases.push_back(holes);
  for (const EmdCase &c : cases) {
    SCOPED_TRACE(::testing::Message() << c.n << "x" << c.m);
    EmdOutcome automatic = SolveEach({c}, Params())[0];
    EmdOutcome assignment = SolveEach({c}, Params(NORMOT_EMD_SOLVER_ASSIGNMENT))[0];
    EmdOutcome simplex = SolveEach({c}, Params(NORMOT_EMD_SOLVER_NETWORK_SIMPLEX))[0];
    double scale = 0;
    for (double x : c.cost) scale = std::max(scale, std::fabs(x));
    EXPECT_NEAR(automatic.cost[0], simplex.cost[0], 1e-12 * scale);
    EXPECT_NEAR(assignment.cost[0], simplex.cost[0], 1e-12 * scale);
  }
  // An iteration limit that cannot stop the assignment solver (>= n: at most n augmenting
  // paths; POT's default numItermax) still lets AUTO take it: the same iterations and duals as
  // asking for it. A smaller limit keeps the simplex, which stops after that many pivots.
  const EmdCase &square = cases[1];
  EmdOutcome assignment = SolveEach({square}, Params(NORMOT_EMD_SOLVER_ASSIGNMENT))[0];
  for (int64_t limit : {square.n, (int64_t)100000}) {
    normot_emd_params params = Params();
    params.max_iter = limit;
    EmdOutcome limited = SolveEach({square}, params)[0];
    EXPECT_EQ(limited.status[0], NORMOT_EMD_OPTIMAL);
    EXPECT_EQ(limited.iterations[0], assignment.iterations[0]) << "limit " << limit;
    EXPECT_EQ(limited.u, assignment.u) << "limit " << limit;
  }
  normot_emd_params small_limit = Params();
  small_limit.max_iter = 5;
  EmdOutcome stopped;
  ASSERT_EQ(SolveBatch(context_, {square}, small_limit, &stopped), NORMOT_SUCCESS);
  EXPECT_EQ(stopped.status[0], NORMOT_EMD_MAX_ITER_REACHED);
  EXPECT_EQ(stopped.iterations[0], 5);
}

// Shared a, b and cost; uniform (NULL) weights; float32 inputs; point clouds.
TEST_P(EmdTest, InputVariantsGiveTheSameProblems) {
  std::mt19937_64 rng(19);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const int64_t k = 5, n = 9, m = 7, dim = 3;
  std::vector<double> x(k * n * dim), y(k * m * dim), a(n), b(k * m);
  for (double &t : x) t = unit(rng);
  for (double &t : y) t = unit(rng);
  double sa = 0;
  for (double &t : a) sa += (t = unit(rng) + 0.1);
  for (double &t : a) t /= sa;
  for (int64_t p = 0; p < k; ++p) {
    double sb = 0;
    for (int64_t j = 0; j < m; ++j) sb += (b[p * m + j] = unit(rng) + 0.1);
    for (int64_t j = 0; j < m; ++j) b[p * m + j] /= sb;
  }
  for (normot_metric metric : {NORMOT_METRIC_SQEUCLIDEAN, NORMOT_METRIC_EUCLIDEAN}) {
    // The reference: explicit per-problem cases.
    std::vector<EmdCase> cases;
    std::vector<double> cost(k * n * m);
    for (int64_t p = 0; p < k; ++p) {
      EmdCase c;
      c.n = n, c.m = m, c.a = a;
      c.b.assign(b.begin() + p * m, b.begin() + (p + 1) * m);
      c.cost.resize(n * m);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < m; ++j) {
          double s = 0;
          for (int64_t d = 0; d < dim; ++d) {
            double diff = x[(p * n + i) * dim + d] - y[(p * m + j) * dim + d];
            s += diff * diff;
          }
          c.cost[i * m + j] = metric == NORMOT_METRIC_EUCLIDEAN ? std::sqrt(s) : s;
        }
      std::copy(c.cost.begin(), c.cost.end(), cost.begin() + p * n * m);
      cases.push_back(c);
    }
    EmdOutcome reference;
    ASSERT_EQ(SolveBatch(context_, cases, Params(), &reference), NORMOT_SUCCESS);

    normot_emd_params params = Params();
    normot_emd_problem problem = {};
    problem.k = k, problem.n = n, problem.m = m;
    problem.value_type = NORMOT_FLOAT64;
    problem.memory = NORMOT_MEMORY_HOST;
    problem.a = a.data(), problem.a_shared = 1;
    problem.b = b.data();
    problem.x = x.data(), problem.y = y.data(), problem.dim = dim, problem.metric = metric;
    EmdOutcome clouds = AllocateOutcome(k, n, m);
    normot_emd_result result = ResultView(clouds);
    ASSERT_EQ(normot_emd(context_, &problem, &params, &result), NORMOT_SUCCESS)
        << normot_context_last_error(context_);
    for (int64_t p = 0; p < k; ++p) {
      ExpectCertificate(cases[p], clouds, p, Tolerance());
      // The CPU computes the same float64 costs as this test; a GPU may round differently.
      EXPECT_NEAR(clouds.cost[p], reference.cost[p], Exactness() * reference.cost[p]);
    }

    // float32 copies of the same data: the solver sees the rounded values.
    std::vector<float> x32(x.begin(), x.end()), y32(y.begin(), y.end()), a32(a.begin(), a.end()),
        b32(b.begin(), b.end()), cost32(cost.begin(), cost.end());
    problem.value_type = NORMOT_FLOAT32;
    problem.a = a32.data(), problem.b = b32.data(), problem.x = x32.data(), problem.y = y32.data();
    EmdOutcome clouds32 = AllocateOutcome(k, n, m);
    result = ResultView(clouds32);
    ASSERT_EQ(normot_emd(context_, &problem, &params, &result), NORMOT_SUCCESS);
    problem.x = problem.y = nullptr, problem.cost = cost32.data();
    EmdOutcome dense32 = AllocateOutcome(k, n, m);
    result = ResultView(dense32);
    ASSERT_EQ(normot_emd(context_, &problem, &params, &result), NORMOT_SUCCESS);
    for (int64_t p = 0; p < k; ++p) {
      EmdCase rounded;
      rounded.n = n, rounded.m = m;
      rounded.a.assign(a32.begin(), a32.end());
      rounded.b.assign(b32.begin() + p * m, b32.begin() + (p + 1) * m);
      rounded.cost.assign(cost32.begin() + p * n * m, cost32.begin() + (p + 1) * n * m);
      ExpectCertificate(rounded, dense32, p, Tolerance());
      EXPECT_NEAR(clouds32.cost[p], reference.cost[p], 1e-5);
    }
  }

  // One shared cost for every problem, uniform a.
  std::vector<EmdCase> cases;
  EmdCase base = RandomCase(rng, n, m, false);
  for (int64_t p = 0; p < k; ++p) {
    EmdCase c = base;
    c.a.clear();
    c.b.assign(b.begin() + p * m, b.begin() + (p + 1) * m);
    cases.push_back(c);
  }
  EmdOutcome reference;
  ASSERT_EQ(SolveBatch(context_, cases, Params(), &reference), NORMOT_SUCCESS);
  normot_emd_params params = Params();
  normot_emd_problem problem = {};
  problem.k = k, problem.n = n, problem.m = m;
  problem.value_type = NORMOT_FLOAT64;
  problem.memory = NORMOT_MEMORY_AUTO;
  problem.b = b.data();
  problem.cost = base.cost.data(), problem.cost_shared = 1;
  EmdOutcome shared = AllocateOutcome(k, n, m);
  normot_emd_result result = ResultView(shared);
  ASSERT_EQ(normot_emd(context_, &problem, &params, &result), NORMOT_SUCCESS);
  for (int64_t p = 0; p < k; ++p) {
    ExpectCertificate(cases[p], shared, p, Tolerance());
    EXPECT_NEAR(shared.cost[p], reference.cost[p], Exactness() * std::fabs(reference.cost[p]));
  }
}

// Only the outputs asked for are written; cost alone is enough.
TEST_P(EmdTest, OptionalOutputsAreOptional) {
  std::mt19937_64 rng(23);
  EmdCase c = RandomCase(rng, 12, 15, false, 1, 2);
  EmdOutcome full;
  ASSERT_EQ(SolveBatch(context_, {c}, Params(), &full), NORMOT_SUCCESS);
  ExpectCertificate(c, full, 0, Tolerance());
  normot_emd_problem problem = {};
  problem.k = 1, problem.n = c.n, problem.m = c.m;
  problem.value_type = NORMOT_FLOAT64;
  problem.a = c.a.data(), problem.b = c.b.data(), problem.cost = c.cost.data();
  double cost = -1;
  std::vector<double> u(c.n, -1.0);
  normot_emd_result result = {};
  result.cost = &cost;
  result.u = u.data();
  normot_emd_params params = Params();
  ASSERT_EQ(normot_emd(context_, &problem, &params, &result), NORMOT_SUCCESS);
  EXPECT_EQ(cost, full.cost[0]);
  EXPECT_EQ(u, std::vector<double>(full.u.begin(), full.u.end()));
}

// Not centred: still a certificate, and the centred duals are a shift of them.
TEST_P(EmdTest, UncentredDualsDifferByAShift) {
  std::mt19937_64 rng(29);
  EmdCase c = RandomCase(rng, 20, 14, false);
  normot_emd_params params = Params();
  EmdOutcome centred, raw;
  ASSERT_EQ(SolveBatch(context_, {c}, params, &centred), NORMOT_SUCCESS);
  params.center_duals = 0;
  ASSERT_EQ(SolveBatch(context_, {c}, params, &raw), NORMOT_SUCCESS);
  ExpectCertificate(c, centred, 0, Tolerance());
  ExpectCertificate(c, raw, 0, Tolerance());
  double shift = centred.u[0] - raw.u[0];
  for (int64_t i = 0; i < c.n; ++i) EXPECT_NEAR(centred.u[i] - raw.u[i], shift, 1e-12);
  for (int64_t j = 0; j < c.m; ++j) EXPECT_NEAR(centred.v[j] - raw.v[j], -shift, 1e-12);
  double au = 0, bv = 0;
  for (int64_t i = 0; i < c.n; ++i) au += c.a[i] * centred.u[i];
  for (int64_t j = 0; j < c.m; ++j) bv += c.b[j] * centred.v[j];
  EXPECT_NEAR(au, bv, 1e-12);
}

// check_marginals = 0 rescales b to the mass of a, as POT does.
TEST_P(EmdTest, UncheckedMarginalsRescaleB) {
  std::mt19937_64 rng(31);
  EmdCase c = RandomCase(rng, 10, 12, false);
  EmdCase doubled = c;
  for (double &w : doubled.b) w *= 2.0;
  normot_emd_params params = Params();
  params.check_marginals = 0;
  EmdOutcome plain, rescaled;
  ASSERT_EQ(SolveBatch(context_, {c}, params, &plain), NORMOT_SUCCESS);
  ASSERT_EQ(SolveBatch(context_, {doubled}, params, &rescaled), NORMOT_SUCCESS);
  ExpectCertificate(doubled, rescaled, 0, Tolerance());
  EXPECT_NEAR(rescaled.cost[0], plain.cost[0], 1e-12);
}

// An iteration limit stops the simplex early with a feasible plan.
TEST_P(EmdTest, IterationLimitReturnsAFeasiblePlan) {
  if (GetParam() != NORMOT_BACKEND_CPU) GTEST_SKIP() << "pivot counts are the CPU simplex's";
  std::mt19937_64 rng(37);
  EmdCase c = RandomCase(rng, 40, 50, false);
  normot_emd_params params = Params(NORMOT_EMD_SOLVER_NETWORK_SIMPLEX);
  EmdOutcome free_run;
  ASSERT_EQ(SolveBatch(context_, {c}, params, &free_run), NORMOT_SUCCESS);
  ExpectCertificate(c, free_run, 0);
  ASSERT_GT(free_run.iterations[0], 3);
  params.max_iter = 3;
  EmdOutcome limited;
  ASSERT_EQ(SolveBatch(context_, {c}, params, &limited), NORMOT_SUCCESS);
  EXPECT_EQ(limited.status[0], NORMOT_EMD_MAX_ITER_REACHED);
  EXPECT_EQ(limited.iterations[0], 3);
  EXPECT_GT(limited.cost[0], free_run.cost[0]);
  for (int64_t i = 0; i < c.n; ++i) {
    double row = 0;
    for (int64_t j = 0; j < c.m; ++j) row += limited.plan[i * c.m + j];
    EXPECT_NEAR(row, c.a[i], 1e-12);
  }
}

// The workspace cache grows for larger problems and is reused for smaller ones.
TEST_P(EmdTest, RepeatedCallsOfChangingSizes) {
  std::mt19937_64 rng(41);
  for (int64_t n : {5, 60, 3, 60, 17}) {
    EmdCase c = RandomCase(rng, n, n + 1, false, 1, 0);
    SolveEach({c}, Params());
  }
}

NORMOT_INSTANTIATE_FOR_EMD_BACKENDS(EmdTest);

}  // namespace
