// The auction core (src/auction/), called directly: the same code the CUDA backend runs per
// warp, here with one lane. Every solution is checked with the optimality certificate
// (docs/emd_semantics.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "auction/auction.h"

namespace {

struct Solved {
  std::vector<double> plan, u, v;
  double cost = 0;
  int64_t iterations = 0;
  int status = -1;
  bool certified = false;
  bool certified_by_solver = false;
};

Solved Solve(int64_t n, int64_t m, const std::vector<double> &a, const std::vector<double> &b,
             const std::vector<double> &cost, int64_t max_iter = 0) {
  Solved s;
  s.plan.assign(n * m, -1.0);
  s.u.assign(n, 0.0);
  s.v.assign(m, 0.0);
  normot_auction_problem problem = {n, m, a.data(), b.data(), cost.data(), max_iter};
  std::vector<uint64_t> workspace(normot_auction_workspace_bytes(n, m) / 8 + 1);
  normot_auction_output out = {s.plan.data(), s.u.data(), s.v.data(), 0, 0, -1};
  s.status = normot_auction_solve(&problem, workspace.data(), &out);
  EXPECT_EQ(s.status, out.status);
  s.cost = out.cost;
  s.iterations = out.iterations;
  s.certified_by_solver = out.certified == 1;
  s.certified = normot_auction_certify(&problem, &out) == 1;
  // An optimal plan comes back basic: its support is a forest, at most n + m - 1 entries.
  if (s.status == 1) {
    int64_t positive = 0;
    for (double x : s.plan) positive += x > 0;
    EXPECT_LE(positive, n + m - 1) << n << "x" << m;
  }
  return s;
}

std::vector<double> Uniform(int64_t count) {
  return std::vector<double>(count, 1.0 / count);
}

std::vector<double> RandomWeights(std::mt19937_64 &rng, int64_t count) {
  std::uniform_real_distribution<double> draw(0.05, 1.0);
  std::vector<double> w(count);
  for (double &x : w) x = draw(rng);
  double total = std::accumulate(w.begin(), w.end(), 0.0);
  for (double &x : w) x /= total;
  return w;
}

std::vector<double> RandomCosts(std::mt19937_64 &rng, int64_t count, double low, double high) {
  std::uniform_real_distribution<double> draw(low, high);
  std::vector<double> c(count);
  for (double &x : c) x = draw(rng);
  return c;
}

double PlanCost(const std::vector<double> &plan, const std::vector<double> &cost) {
  double total = 0;
  for (size_t e = 0; e < plan.size(); ++e) total += plan[e] * cost[e];
  return total;
}

// The minimum over all permutations of sum_i cost[i][p(i)], for n <= 6.
double BruteForceAssignment(int64_t n, const std::vector<double> &cost) {
  std::vector<int64_t> p(n);
  std::iota(p.begin(), p.end(), 0);
  double best = INFINITY;
  do {
    double total = 0;
    for (int64_t i = 0; i < n; ++i) total += cost[i * n + p[i]];
    best = std::min(best, total);
  } while (std::next_permutation(p.begin(), p.end()));
  return best;
}

TEST(AuctionCore, MatchesBruteForceOnSmallAssignments) {
  std::mt19937_64 rng(6);
  for (int64_t n = 1; n <= 6; ++n) {
    for (int trial = 0; trial < 12; ++trial) {
      // Integer costs in a small range give many ties; real costs give none.
      std::vector<double> cost = RandomCosts(rng, n * n, -3.0, 10.0);
      if (trial % 2 == 0)
        for (double &c : cost) c = std::round(c);
      Solved s = Solve(n, n, Uniform(n), Uniform(n), cost);
      ASSERT_EQ(s.status, 1) << "n=" << n << " trial=" << trial;
      EXPECT_TRUE(s.certified) << "n=" << n << " trial=" << trial;
      double expected = BruteForceAssignment(n, cost) / n;
      EXPECT_NEAR(s.cost, expected, 1e-12 * 10.0) << "n=" << n << " trial=" << trial;
      EXPECT_NEAR(s.cost, PlanCost(s.plan, cost), 1e-15);
    }
  }
}

TEST(AuctionCore, CertifiesRandomTransportProblemsOfManyShapes) {
  std::mt19937_64 rng(7);
  const int64_t shapes[][2] = {{1, 1},  {1, 7},  {7, 1},   {2, 9},   {9, 2},  {5, 5},
                               {13, 8}, {8, 13}, {30, 30}, {40, 17}, {64, 64}};
  for (const auto &shape : shapes) {
    int64_t n = shape[0], m = shape[1];
    for (int trial = 0; trial < 3; ++trial) {
      std::vector<double> a = RandomWeights(rng, n), b = RandomWeights(rng, m);
      std::vector<double> cost = RandomCosts(rng, n * m, 0.0, 1.0);
      Solved s = Solve(n, m, a, b, cost);
      ASSERT_EQ(s.status, 1) << n << "x" << m;
      EXPECT_TRUE(s.certified) << n << "x" << m;
      EXPECT_TRUE(s.certified_by_solver) << n << "x" << m;  // no needless re-solve
      // Strong duality: <a, u> + <b, v> equals the cost up to the certificate's tolerance.
      double dual = std::inner_product(a.begin(), a.end(), s.u.begin(), 0.0) +
                    std::inner_product(b.begin(), b.end(), s.v.begin(), 0.0);
      EXPECT_NEAR(dual, s.cost, 1e-9) << n << "x" << m;
      // A basic optimal plan need not come back, but every entry is a real mass.
      for (double x : s.plan) EXPECT_GE(x, 0.0);
    }
  }
}

TEST(AuctionCore, TiesGiveBasicCertifiedPlans) {
  // Integer costs in {0, 1} and weights with common sub-sums: many optimal plans, most of them
  // with cycles in their support; the one returned is basic and certified.
  std::mt19937_64 rng(13);
  for (int trial = 0; trial < 20; ++trial) {
    const int64_t n = 3 + trial % 9, m = 2 + trial % 7;
    std::vector<double> cost = RandomCosts(rng, n * m, 0.0, 2.0);
    for (double &c : cost) c = std::floor(c);
    std::vector<double> a(n), b(m);
    for (int64_t i = 0; i < n; ++i) a[i] = (double)(1 + i % 3);
    for (int64_t j = 0; j < m; ++j) b[j] = (double)(1 + j % 2);
    double ta = std::accumulate(a.begin(), a.end(), 0.0);
    double tb = std::accumulate(b.begin(), b.end(), 0.0);
    for (double &w : a) w /= ta;
    for (double &w : b) w /= tb;
    Solved s = Solve(n, m, a, b, cost);
    ASSERT_EQ(s.status, 1) << trial;
    EXPECT_TRUE(s.certified) << trial;
  }
}

TEST(AuctionCore, AllEqualCostsGiveAnyFeasiblePlanAtThatCost) {
  const int64_t n = 6, m = 4;
  std::mt19937_64 rng(8);
  std::vector<double> a = RandomWeights(rng, n), b = RandomWeights(rng, m);
  for (double value : {0.0, 3.5, -2.0}) {
    std::vector<double> cost(n * m, value);
    Solved s = Solve(n, m, a, b, cost);
    ASSERT_EQ(s.status, 1);
    EXPECT_TRUE(s.certified);
    EXPECT_NEAR(s.cost, value, 1e-14 + 1e-14 * std::fabs(value));
  }
}

TEST(AuctionCore, OneSourceOrOneSinkHasItsOnlyPlan) {
  std::mt19937_64 rng(9);
  std::vector<double> b = RandomWeights(rng, 5);
  std::vector<double> cost = RandomCosts(rng, 5, -1.0, 1.0);
  Solved s = Solve(1, 5, {1.0}, b, cost);
  ASSERT_EQ(s.status, 1);
  EXPECT_TRUE(s.certified);
  for (int j = 0; j < 5; ++j) EXPECT_NEAR(s.plan[j], b[j], 1e-15);
  Solved t = Solve(5, 1, b, {1.0}, cost);
  ASSERT_EQ(t.status, 1);
  EXPECT_TRUE(t.certified);
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(t.plan[i], b[i], 1e-15);
}

TEST(AuctionCore, ScaleFreeOverHugeAndTinyMagnitudes) {
  std::mt19937_64 rng(10);
  const int64_t n = 7, m = 9;
  std::vector<double> a = RandomWeights(rng, n), b = RandomWeights(rng, m);
  std::vector<double> cost = RandomCosts(rng, n * m, 0.0, 1.0);
  Solved reference = Solve(n, m, a, b, cost);
  ASSERT_TRUE(reference.certified);
  const double factors[][2] = {{1e-300, 1.0}, {1e300, 1.0},    {1.0, 1e-200}, {1.0, 1e200},
                               {1e-12, 1e12}, {1e100, 1e-100}, {1e-7, 1e-7}};
  for (const auto &factor : factors) {
    {
      const double cost_factor = factor[0], mass_factor = factor[1];
      std::vector<double> c2(cost), a2(a), b2(b);
      for (double &x : c2) x *= cost_factor;
      for (double &x : a2) x *= mass_factor;
      for (double &x : b2) x *= mass_factor;
      Solved s = Solve(n, m, a2, b2, c2);
      ASSERT_EQ(s.status, 1) << cost_factor << " " << mass_factor;
      EXPECT_TRUE(s.certified) << cost_factor << " " << mass_factor;
      // The grid is relative to max|M| and the masses to their total: the same plan.
      for (size_t e = 0; e < s.plan.size(); ++e)
        EXPECT_NEAR(s.plan[e] / mass_factor, reference.plan[e], 1e-15);
      EXPECT_NEAR(s.cost / (cost_factor * mass_factor), reference.cost, 1e-12);
    }
  }
}

TEST(AuctionCore, MixedMagnitudeWeightsMeetTheirMarginals) {
  // Weights spanning 12 orders of magnitude: each row and column still gets its mass.
  const int64_t n = 6, m = 5;
  std::vector<double> a = {1e-12, 0.5, 1e-6, 0.25, 0.25 - 1e-6 - 2e-12, 1e-12};
  std::vector<double> b = {0.2, 0.2, 0.2, 0.2, 0.2};
  std::mt19937_64 rng(11);
  std::vector<double> cost = RandomCosts(rng, n * m, 0.0, 5.0);
  Solved s = Solve(n, m, a, b, cost);
  ASSERT_EQ(s.status, 1);
  EXPECT_TRUE(s.certified);
  for (int64_t i = 0; i < n; ++i) {
    double row = 0;
    for (int64_t j = 0; j < m; ++j) row += s.plan[i * m + j];
    EXPECT_NEAR(row, a[i], 1e-15) << i;
  }
}

TEST(AuctionCore, SlightlyUnbalancedMassesRescaleB) {
  const int64_t n = 4, m = 3;
  std::vector<double> a = {0.25, 0.25, 0.25, 0.25};
  std::vector<double> b = {0.3, 0.3, 0.4 + 1e-8};
  std::vector<double> cost = {1, 2, 3, 2, 1, 3, 3, 2, 1, 0, 5, 5};
  Solved s = Solve(n, m, a, b, cost);
  ASSERT_EQ(s.status, 1);
  EXPECT_TRUE(s.certified);
  double total_b = 1.0 + 1e-8;
  for (int64_t j = 0; j < m; ++j) {
    double column = 0;
    for (int64_t i = 0; i < n; ++i) column += s.plan[i * m + j];
    EXPECT_NEAR(column, b[j] / total_b, 1e-15);
  }
}

TEST(AuctionCore, IterationLimitStillReturnsAFeasiblePlan) {
  std::mt19937_64 rng(12);
  const int64_t n = 20, m = 20;
  std::vector<double> a = RandomWeights(rng, n), b = RandomWeights(rng, m);
  std::vector<double> cost = RandomCosts(rng, n * m, 0.0, 1.0);
  Solved full = Solve(n, m, a, b, cost);
  ASSERT_EQ(full.status, 1);
  ASSERT_GT(full.iterations, 10);
  Solved s = Solve(n, m, a, b, cost, 10);
  EXPECT_EQ(s.status, 3);  // MAX_ITER_REACHED
  EXPECT_EQ(s.iterations, 10);
  for (int64_t i = 0; i < n; ++i) {
    double row = 0;
    for (int64_t j = 0; j < m; ++j) row += s.plan[i * m + j];
    EXPECT_NEAR(row, a[i], 1e-15);
  }
  for (int64_t j = 0; j < m; ++j) {
    double column = 0;
    for (int64_t i = 0; i < n; ++i) column += s.plan[i * m + j];
    EXPECT_NEAR(column, b[j], 1e-15);
  }
  EXPECT_GE(s.cost, full.cost - 1e-12);
}

// max_iter bounds the pushes exactly, sink pushes included (they once overshot the limit).
TEST(AuctionCore, PushLimitIsExact) {
  std::mt19937_64 rng(16);
  for (int trial = 0; trial < 20; ++trial) {
    const int64_t n = 20, m = 20;
    std::vector<double> a = RandomWeights(rng, n), b = RandomWeights(rng, m);
    std::vector<double> cost = RandomCosts(rng, n * m, 0.0, 1.0);
    for (int64_t limit : {1, 7, 25, 60}) {
      Solved s = Solve(n, m, a, b, cost, limit);
      EXPECT_LE(s.iterations, limit) << "trial " << trial;
      if (s.status == 3) EXPECT_EQ(s.iterations, limit) << "trial " << trial;
    }
  }
}

TEST(AuctionCore, CertificateRejectsAWrongPlan) {
  // The certificate is the oracle of every test here: it must be able to say no.
  const int64_t n = 3;
  std::vector<double> cost = {0, 1, 1, 1, 0, 1, 1, 1, 0};
  std::vector<double> w = Uniform(n);
  Solved s = Solve(n, n, w, w, cost);
  ASSERT_TRUE(s.certified);
  normot_auction_problem problem = {n, n, w.data(), w.data(), cost.data(), 0};
  // A feasible but non-optimal plan (a cyclic shift) with the optimal duals.
  std::vector<double> shifted(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i) shifted[i * n + (i + 1) % n] = 1.0 / n;
  normot_auction_output wrong = {shifted.data(), s.u.data(), s.v.data(), 0, 0, 1};
  EXPECT_EQ(normot_auction_certify(&problem, &wrong), 0);
  // An infeasible plan.
  std::vector<double> half(s.plan);
  for (double &x : half) x *= 0.5;
  normot_auction_output thin = {half.data(), s.u.data(), s.v.data(), 0, 0, 1};
  EXPECT_EQ(normot_auction_certify(&problem, &thin), 0);
  // Duals that violate u_i + v_j <= M_ij.
  std::vector<double> u(s.u);
  u[0] += 0.5;
  normot_auction_output greedy = {s.plan.data(), u.data(), s.v.data(), 0, 0, 1};
  EXPECT_EQ(normot_auction_certify(&problem, &greedy), 0);
}

// The solve reads nothing of its workspace that it has not written first: whatever an earlier
// problem (or another thread's history, through the CPU backend's cached workspaces) left there,
// the results are the same bytes. Uniform square problems have supports that do not connect
// every node, which is where the optimality proof walks only part of the graph.
TEST(AuctionCore, ResultsDoNotDependOnWhatTheWorkspaceHeld) {
  std::mt19937_64 rng(14);
  for (int trial = 0; trial < 24; ++trial) {
    const int64_t n = 6 + trial % 13, m = trial % 3 == 0 ? n : 5 + trial % 11;
    const bool uniform = trial % 2 == 0;
    std::vector<double> a = uniform ? Uniform(n) : RandomWeights(rng, n);
    std::vector<double> b = uniform ? Uniform(m) : RandomWeights(rng, m);
    std::vector<double> cost = RandomCosts(rng, n * m, 0.0, 1.0);
    if (trial % 4 == 1)
      for (double &c : cost) c = std::floor(c * 4.0);
    normot_auction_problem problem = {n, m, a.data(), b.data(), cost.data(), 0};
    const size_t words = normot_auction_workspace_bytes(n, m) / 8 + 1;
    std::vector<std::vector<double>> plans, us, vs;
    std::vector<int64_t> iterations;
    for (unsigned char poison : {0x00, 0x7f, 0x80, 0x3c, 0xff}) {
      std::vector<uint64_t> workspace(words);
      std::memset(workspace.data(), poison, words * 8);
      std::vector<double> plan(n * m), u(n), v(m);
      normot_auction_output out = {plan.data(), u.data(), v.data(), 0, 0, -1};
      ASSERT_EQ(normot_auction_solve(&problem, workspace.data(), &out), 1) << trial;
      plans.push_back(plan), us.push_back(u), vs.push_back(v);
      iterations.push_back(out.iterations);
    }
    for (size_t k = 1; k < plans.size(); ++k) {
      SCOPED_TRACE(::testing::Message() << "trial " << trial << " poison " << k);
      EXPECT_EQ(std::memcmp(plans[k].data(), plans[0].data(), n * m * 8), 0);
      EXPECT_EQ(std::memcmp(us[k].data(), us[0].data(), n * 8), 0);
      EXPECT_EQ(std::memcmp(vs[k].data(), vs[0].data(), m * 8), 0);
      EXPECT_EQ(iterations[k], iterations[0]);
    }
  }
}

// A few huge costs among costs of order 1: the core solves the rounded problem exactly, but the
// rounding bound on the original costs is far above the tolerance, so the answer is not
// certified (the callers then re-solve it with the network simplex).
TEST(AuctionCore, FewHugeCostsAreNotCertified) {
  std::mt19937_64 rng(15);
  const int64_t n = 10;
  for (double huge : {1e9, 1e100, 1e300}) {
    std::vector<double> cost = RandomCosts(rng, n * n, 0.0, 1.0);
    cost[5] = cost[42] = cost[77] = huge;
    normot_auction_problem problem = {n, n, nullptr, nullptr, cost.data(), 0};
    std::vector<double> w = Uniform(n), plan(n * n), u(n), v(n);
    problem.a = w.data(), problem.b = w.data();
    std::vector<uint64_t> workspace(normot_auction_workspace_bytes(n, n) / 8 + 1);
    normot_auction_output out = {plan.data(), u.data(), v.data(), 0, 0, -1, -1};
    EXPECT_EQ(normot_auction_solve(&problem, workspace.data(), &out), 1);
    EXPECT_EQ(out.certified, 0) << huge;
  }
  // The same costs without the huge entries are certified.
  std::vector<double> cost = RandomCosts(rng, n * n, 0.0, 1.0);
  Solved s = Solve(n, n, Uniform(n), Uniform(n), cost);
  EXPECT_EQ(s.certified_by_solver, true);
}

TEST(AuctionCore, RejectsSizesOutsideItsRange) {
  std::vector<double> one = {1.0};
  std::vector<double> plan(1, 7.0);
  normot_auction_problem problem = {0, 1, one.data(), one.data(), one.data(), 0};
  normot_auction_output out = {plan.data(), nullptr, nullptr, 0, 0, -1};
  EXPECT_EQ(normot_auction_workspace_bytes(0, 1), 0u);
  EXPECT_EQ(normot_auction_solve(&problem, nullptr, &out), 0);  // INFEASIBLE: re-solve elsewhere
}

}  // namespace
