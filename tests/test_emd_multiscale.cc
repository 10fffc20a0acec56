// The candidate-set solver (NORMOT_EMD_SOLVER_MULTISCALE, CPU): every problem it solves is
// certified over all pairs, and its cost equals the dense network simplex's to 1e-9.
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "test_emd_support.h"
#include "test_support.h"

namespace {

class EmdMultiscaleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(normot_context_create(&context_, NORMOT_BACKEND_CPU, 0), NORMOT_SUCCESS);
  }
  void TearDown() override { normot_context_destroy(context_); }
  static normot_emd_params Params(normot_emd_solver solver) {
    normot_emd_params params;
    normot_emd_params_init(&params);
    params.solver = solver;
    return params;
  }
  // Solves c with the multiscale solver and with the dense simplex; certifies the first and
  // compares the costs.
  EmdOutcome SolveAndCompare(const EmdCase &c) {
    EmdOutcome multiscale, dense;
    EXPECT_EQ(SolveBatch(context_, {c}, Params(NORMOT_EMD_SOLVER_MULTISCALE), &multiscale),
              NORMOT_SUCCESS)
        << normot_context_last_error(context_);
    ExpectCertificate(c, multiscale, 0);
    EXPECT_EQ(SolveBatch(context_, {c}, Params(NORMOT_EMD_SOLVER_NETWORK_SIMPLEX), &dense),
              NORMOT_SUCCESS);
    double largest = 0;
    for (double x : c.cost) largest = std::max(largest, std::fabs(x));
    EXPECT_NEAR(multiscale.cost[0], dense.cost[0], 1e-9 * std::max(largest, 1e-300));
    return multiscale;
  }
  normot_context *context_ = nullptr;
};

TEST_F(EmdMultiscaleTest, CertifiedOnRandomCostsOfManyShapes) {
  std::mt19937_64 rng(15);
  const int64_t shapes[][2] = {{1, 1},   {1, 9},   {9, 1},   {2, 3},    {7, 7},
                               {30, 20}, {20, 30}, {64, 64}, {150, 90}, {200, 257}};
  for (auto &s : shapes) {
    SolveAndCompare(RandomCase(rng, s[0], s[1], false));
    SolveAndCompare(RandomCase(rng, s[0], s[1], true));
  }
}

TEST_F(EmdMultiscaleTest, CertifiedOnPointCloudCostsWhereCandidatesMissTheOptimum) {
  std::mt19937_64 rng(16);
  for (int64_t n : {50, 300, 700}) {
    SolveAndCompare(PointCloudCase(rng, n, n, true));
    // Shifted clouds: the cheapest partners of a point are rarely its optimal ones, so the
    // pricing over all pairs has to add arcs.
    EmdCase shifted = PointCloudCase(rng, n, n + 17, false);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n + 17; ++j) shifted.cost[i * (n + 17) + j] += 0.3 * (double)j / n;
    SolveAndCompare(shifted);
  }
}

TEST_F(EmdMultiscaleTest, CertifiedWithTiesZeroWeightsAndNegativeCosts) {
  std::mt19937_64 rng(17);
  for (int64_t n : {5, 40, 200}) {
    EmdCase ties = RandomCase(rng, n, n + 3, false);
    for (double &x : ties.cost) x = std::floor(x * 3);
    SolveAndCompare(ties);
    EmdCase flat = RandomCase(rng, n, n, true);
    std::fill(flat.cost.begin(), flat.cost.end(), -2.5);
    SolveAndCompare(flat);
    SolveAndCompare(RandomCase(rng, n + 4, n, false, 3, 2, 100.0, -50.0));
  }
}

TEST_F(EmdMultiscaleTest, PointCloudModeNeedsNoDenseCostAndMatchesTheDenseInput) {
  std::mt19937_64 rng(18);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const int64_t n = 400, m = 350, dim = 3;
  std::vector<double> x(n * dim), y(m * dim), a(n), b(m);
  for (double &t : x) t = unit(rng);
  for (double &t : y) t = unit(rng) + 0.2;
  double sa = 0, sb = 0;
  for (double &w : a) sa += (w = unit(rng) + 0.1);
  for (double &w : b) sb += (w = unit(rng) + 0.1);
  for (double &w : a) w /= sa;
  for (double &w : b) w /= sb;
  for (normot_metric metric : {NORMOT_METRIC_SQEUCLIDEAN, NORMOT_METRIC_EUCLIDEAN}) {
    normot_emd_problem problem = {};
    problem.k = 1, problem.n = n, problem.m = m, problem.dim = dim;
    problem.value_type = NORMOT_FLOAT64;
    problem.memory = NORMOT_MEMORY_HOST;
    problem.a = a.data(), problem.b = b.data(), problem.x = x.data(), problem.y = y.data();
    problem.metric = metric;
    EmdOutcome clouds = AllocateOutcome(1, n, m);
    normot_emd_result result = ResultView(clouds);
    normot_emd_params params = Params(NORMOT_EMD_SOLVER_MULTISCALE);
    ASSERT_EQ(normot_emd(context_, &problem, &params, &result), NORMOT_SUCCESS)
        << normot_context_last_error(context_);
    EmdCase c;
    c.n = n, c.m = m, c.a = a, c.b = b, c.cost.resize(n * m);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < m; ++j) {
        double s = 0;
        for (int64_t d = 0; d < dim; ++d) {
          double diff = x[i * dim + d] - y[j * dim + d];
          s += diff * diff;
        }
        c.cost[i * m + j] = metric == NORMOT_METRIC_EUCLIDEAN ? std::sqrt(s) : s;
      }
    ExpectCertificate(c, clouds, 0);
    EmdOutcome dense = SolveAndCompare(c);
    // The costs are computed the same way in both modes, and the plan is the same basis.
    EXPECT_NEAR(clouds.cost[0], dense.cost[0], 1e-12);
  }
}

TEST_F(EmdMultiscaleTest, BatchesAndThreadCountsGiveTheSameBits) {
  std::mt19937_64 rng(19);
  std::vector<EmdCase> cases;
  for (int p = 0; p < 5; ++p) cases.push_back(PointCloudCase(rng, 120, 100, false));
  EmdOutcome batch;
  ASSERT_EQ(SolveBatch(context_, cases, Params(NORMOT_EMD_SOLVER_MULTISCALE), &batch),
            NORMOT_SUCCESS);
  for (int p = 0; p < 5; ++p) {
    ExpectCertificate(cases[p], batch, p);
    EmdOutcome alone = SolveAndCompare(cases[p]);
    EXPECT_EQ(std::memcmp(&alone.cost[0], &batch.cost[p], sizeof(double)), 0);
  }
  ASSERT_EQ(normot_context_set_threads(context_, 1), NORMOT_SUCCESS);
  EmdOutcome one_thread;
  ASSERT_EQ(SolveBatch(context_, {cases[0]}, Params(NORMOT_EMD_SOLVER_MULTISCALE), &one_thread),
            NORMOT_SUCCESS);
  EXPECT_EQ(std::memcmp(&one_thread.cost[0], &batch.cost[0], sizeof(double)), 0);
  EXPECT_EQ(one_thread.u, std::vector<double>(batch.u.begin(), batch.u.begin() + 120));
}

// Solves point clouds x (n, dim) and y (m, dim) in point-cloud mode with `solver`.
EmdOutcome SolveClouds(normot_context *context, const EmdCase &weights,
                       const std::vector<double> &x, const std::vector<double> &y, int64_t dim,
                       normot_emd_solver solver, bool want_plan) {
  const int64_t n = weights.n, m = weights.m;
  normot_emd_problem problem = {};
  problem.k = 1, problem.n = n, problem.m = m, problem.dim = dim;
  problem.value_type = NORMOT_FLOAT64;
  problem.memory = NORMOT_MEMORY_HOST;
  problem.a = weights.a.empty() ? nullptr : weights.a.data();
  problem.b = weights.b.empty() ? nullptr : weights.b.data();
  problem.x = x.data(), problem.y = y.data();
  EmdOutcome out = AllocateOutcome(1, n, m);
  normot_emd_result result = ResultView(out);
  if (!want_plan) result.plan = nullptr;
  normot_emd_params params;
  normot_emd_params_init(&params);
  params.solver = solver;
  EXPECT_EQ(normot_emd(context, &problem, &params, &result), NORMOT_SUCCESS)
      << normot_context_last_error(context);
  return out;
}

std::vector<double> SquaredDistances(const std::vector<double> &x, const std::vector<double> &y,
                                     int64_t dim) {
  const int64_t n = (int64_t)x.size() / dim, m = (int64_t)y.size() / dim;
  std::vector<double> cost(n * m);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) {
      double s = 0;
      for (int64_t d = 0; d < dim; ++d)
        s += (x[i * dim + d] - y[j * dim + d]) * (x[i * dim + d] - y[j * dim + d]);
      cost[i * m + j] = s;
    }
  return cost;
}

// Solves clouds x, y (costs in c) with the multiscale solver in point-cloud mode; certifies the
// result on the full cost and compares its cost with the dense simplex's. AUTO takes the same
// solver for such clouds: the same bits.
EmdOutcome SolveCloudsAndCompare(normot_context *context, const EmdCase &c,
                                 const std::vector<double> &x, const std::vector<double> &y,
                                 int64_t dim) {
  EmdOutcome clouds = SolveClouds(context, c, x, y, dim, NORMOT_EMD_SOLVER_MULTISCALE, true);
  ExpectCertificate(c, clouds, 0);
  EmdOutcome dense;
  normot_emd_params params;
  normot_emd_params_init(&params);
  params.solver = NORMOT_EMD_SOLVER_NETWORK_SIMPLEX;
  EXPECT_EQ(SolveBatch(context, {c}, params, &dense), NORMOT_SUCCESS);
  EXPECT_NEAR(clouds.cost[0], dense.cost[0], 1e-9 * std::max(1.0, dense.cost[0]));
  EmdOutcome automatic = SolveClouds(context, c, x, y, dim, NORMOT_EMD_SOLVER_AUTO, false);
  EXPECT_EQ(std::memcmp(&automatic.cost[0], &clouds.cost[0], sizeof(double)), 0);
  return clouds;
}

TEST_F(EmdMultiscaleTest, CoarseToFineOnLargeCloudsInOneToThreeDimensions) {
  // Large enough (n + m > 2048) for the grid hierarchy; every result certified on the full
  // cost and equal to the dense simplex's.
  std::mt19937_64 rng(20);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (int64_t dim : {1, 2, 3}) {
    SCOPED_TRACE(dim);
    const int64_t n = 1300, m = 1100;
    EmdCase c = RandomCase(rng, n, m, dim == 3, dim == 2 ? 5 : 0, dim == 2 ? 3 : 0);
    std::vector<double> x(n * dim), y(m * dim);
    for (double &t : x) t = unit(rng);
    for (double &t : y) t = unit(rng) * unit(rng) + 0.1;  // a different, skewed distribution
    c.cost = SquaredDistances(x, y, dim);
    SolveCloudsAndCompare(context_, c, x, y, dim);
  }
}

// The points of a side x side grid, row by row, as (row, column) pairs.
std::vector<double> SquareGrid(int64_t side) {
  std::vector<double> grid(side * side * 2);
  for (int64_t p = 0; p < side * side; ++p)
    grid[2 * p] = (double)(p / side), grid[2 * p + 1] = (double)(p % side);
  return grid;
}

TEST_F(EmdMultiscaleTest, CoarseToFineWarmStartsOnDegenerateGrids) {
  // Each finer level starts from the coarser plan refined onto its candidates; on grids with
  // equal or few distinct weights that start is full of zero flows and cost ties (degenerate
  // pivots). The points are renumbered along a space-filling curve and the results mapped back.
  // Certified on the full cost (zero weights included) and equal to the dense simplex; a grid
  // against itself with the same weights costs exactly what the identity plan costs: 0.
  const int64_t side = 40, n = side * side;
  const std::vector<double> grid = SquareGrid(side);
  EmdCase c;
  c.n = c.m = n;
  c.cost = SquaredDistances(grid, grid, 2);
  for (int variant = 0; variant < 4; ++variant) {
    SCOPED_TRACE(variant);
    c.a.assign(n, 1.0 / n);
    c.b.assign(n, 1.0 / n);
    if (variant >= 1)  // two weight levels in stripes: many ties, a non-trivial plan
      for (int64_t p = 0; p < n; ++p) c.b[p] = (p / side) % 4 == 0 ? 2.5 / n : 0.5 / n;
    if (variant == 2)
      for (int64_t p = 0; p < n; ++p) c.a[p] = p % 2 == 0 ? 1.5 / n : 0.5 / n;
    if (variant == 3) {  // zero weights: the solver renumbers only the points with mass
      for (int64_t p = 0; p < n; ++p) c.a[p] = p % 5 == 0 ? 0.0 : 1.0 / 1280;
      for (int64_t p = 0; p < n; ++p) c.b[p] = p % 7 == 3 ? 0.0 : 1.0 / 1371;
    }
    EmdOutcome clouds = SolveClouds(context_, c, grid, grid, 2, NORMOT_EMD_SOLVER_MULTISCALE, true);
    ASSERT_EQ(clouds.status[0], NORMOT_EMD_OPTIMAL);
    ExpectCertificate(c, clouds, 0);
    EmdOutcome dense;
    ASSERT_EQ(SolveBatch(context_, {c}, Params(NORMOT_EMD_SOLVER_NETWORK_SIMPLEX), &dense),
              NORMOT_SUCCESS);
    EXPECT_NEAR(clouds.cost[0], dense.cost[0], 1e-9 * std::max(1.0, dense.cost[0]));
    if (variant == 0) EXPECT_EQ(clouds.cost[0], 0.0);
  }
}

// Clouds where many points coincide or crowd into a tiny region: each point of x and y in
// `place` (with probability `share`) is put on one of `spots` fixed points (coincident copies)
// or, with `spread` > 0, near one of them (a dense cluster).
struct CrowdedClouds {
  double share, spread;
  int spots;
};

std::vector<double> CrowdedCloud(std::mt19937_64 &rng, int64_t count, int64_t dim,
                                 const CrowdedClouds &how) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> points(count * dim);
  for (int64_t k = 0; k < count; ++k) {
    const bool crowded = unit(rng) < how.share;
    const int spot = (int)(unit(rng) * how.spots);
    for (int64_t d = 0; d < dim; ++d)
      points[k * dim + d] = !crowded ? unit(rng)
                                     : 0.25 + 0.5 * (double)spot / how.spots + 0.1 * (double)d +
                                           how.spread * normal(rng);
  }
  return points;
}

TEST_F(EmdMultiscaleTest, CoincidentAndCrowdedPointsAreSolvedExactly) {
  // Coincident points are merged, the smaller problem solved and its plan split back among the
  // copies; crowded grid cells are split until no cell holds many points. Either way the plan
  // must be certified on the full cost, keep at most n + m - 1 positive entries (a basic
  // solution), and cost what the dense simplex finds.
  std::mt19937_64 rng(33);
  const CrowdedClouds kinds[] = {
      {0.6, 0.0, 1},   // most points on one spot on each side: a small distinct problem
      {0.2, 0.0, 7},   // copies on 7 spots: the distinct problem is still large enough to coarsen
      {0.3, 1e-9, 2},  // two clusters far below a grid cell: crowded cells split many times
      {0.3, 1e-4, 3},  // clusters of a few cells
      {1.0, 0.0, 1}};  // every point of both clouds in one place: one distinct point a side
  for (int64_t dim : {1, 2, 3})
    for (const CrowdedClouds &kind : kinds) {
      SCOPED_TRACE(testing::Message() << "dim " << dim << " share " << kind.share << " spread "
                                      << kind.spread << " spots " << kind.spots);
      const int64_t n = 1500, m = 1300;
      EmdCase c = RandomCase(rng, n, m, false, dim == 2 ? 40 : 0, dim == 2 ? 30 : 0);
      const std::vector<double> x = CrowdedCloud(rng, n, dim, kind);
      const std::vector<double> y = CrowdedCloud(rng, m, dim, kind);
      c.cost = SquaredDistances(x, y, dim);
      const EmdOutcome clouds = SolveCloudsAndCompare(context_, c, x, y, dim);
      int64_t positive = 0;
      for (double g : clouds.plan) positive += g > 0.0;
      EXPECT_LE(positive, n + m - 1);
    }
}

std::vector<double> Dotmark64(const std::string &path) {
  std::ifstream in(path);
  std::vector<double> values;
  std::string line, cell;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    while (std::getline(fields, cell, ',')) values.push_back(std::stod(cell));
  }
  double total = 0;
  for (double v : values) total += v;
  for (double &v : values) v /= total;
  return values;
}

TEST_F(EmdMultiscaleTest, DotmarkSixtyFourMatchesPotAndIsCertified) {
  const std::string shared = SharedDataDir();
  if (shared.empty()) GTEST_SKIP() << "no shared data (../shared/data): DOTmark 64x64 skipped";
  std::ifstream goldens(TestDataDir() + "/emd/dotmark64_costs.txt");
  ASSERT_TRUE(goldens.good()) << "tests/data/emd/dotmark64_costs.txt is missing";
  const int64_t side = 64, n = side * side;
  const std::vector<double> grid = SquareGrid(side);
  EmdCase c;
  c.n = c.m = n;
  c.cost = SquaredDistances(grid, grid, 2);
  std::string cls;
  int first, second, pairs = 0;
  double pot_cost;
  while (goldens >> cls >> first >> second >> pot_cost) {
    SCOPED_TRACE(cls);
    const std::string dir = shared + "/dotmark/" + cls + "/data64_";
    c.a = Dotmark64(dir + std::to_string(first) + ".csv");
    c.b = Dotmark64(dir + std::to_string(second) + ".csv");
    ASSERT_EQ(c.a.size(), (size_t)n);
    EmdOutcome out = SolveClouds(context_, c, grid, grid, 2, NORMOT_EMD_SOLVER_MULTISCALE, true);
    ExpectCertificate(c, out, 0);
    EXPECT_NEAR(out.cost[0], pot_cost, 1e-9 * pot_cost);
    ++pairs;
  }
  EXPECT_GE(pairs, 1);
}

}  // namespace
