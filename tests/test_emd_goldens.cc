// EMD against POT 0.9.7 (tests/gen_pot_goldens.py wrote tests/data/emd/): costs always, duals
// where the optimum is non-degenerate (unique once centred), zero weights, unbalanced inputs
// rescaled; and DOTmark 32x32 pairs from the shared data. Every problem also passes the
// certificate.
#include <fstream>
#include <sstream>
#include <string>

#include "test_emd_support.h"
#include "test_support.h"

namespace {

struct PotCase {
  std::string name;
  EmdCase problem;
  bool check_marginals = true, compare_duals = false;
  double cost = 0;
  std::vector<double> u, v;
};

std::vector<double> ReadValues(std::istream &line_stream) {
  std::vector<double> values;
  double x;
  while (line_stream >> x) values.push_back(x);
  return values;
}

std::vector<PotCase> ReadPotCases() {
  std::ifstream in(TestDataDir() + "/emd/pot_cases.txt");
  std::vector<PotCase> cases;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string tag;
    fields >> tag;
    if (tag == "case") {
      PotCase c;
      int check, compare;
      fields >> c.name >> c.problem.n >> c.problem.m >> check >> compare;
      c.check_marginals = check != 0, c.compare_duals = compare != 0;
      cases.push_back(c);
    } else if (!cases.empty()) {
      PotCase &c = cases.back();
      std::vector<double> values = ReadValues(fields);
      if (tag == "a") c.problem.a = values;
      if (tag == "b") c.problem.b = values;
      if (tag == "M") c.problem.cost = values;
      if (tag == "cost") c.cost = values.at(0);
      if (tag == "u") c.u = values;
      if (tag == "v") c.v = values;
    }
  }
  return cases;
}

class EmdGoldenTest : public BackendTest {};

TEST_P(EmdGoldenTest, MatchesPotOnSeededCases) {
  std::vector<PotCase> cases = ReadPotCases();
  ASSERT_GE(cases.size(), 10u) << "tests/data/emd/pot_cases.txt is missing or short";
  const double tol = GetParam() == NORMOT_BACKEND_CUDA ? 1e-7 : 1e-9;
  for (const PotCase &c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_EQ(c.problem.a.size(), (size_t)c.problem.n);
    ASSERT_EQ(c.problem.cost.size(), (size_t)(c.problem.n * c.problem.m));
    for (normot_emd_solver solver : {NORMOT_EMD_SOLVER_AUTO, NORMOT_EMD_SOLVER_NETWORK_SIMPLEX}) {
      normot_emd_params params;
      normot_emd_params_init(&params);
      params.solver = solver;
      params.check_marginals = c.check_marginals;
      EmdOutcome out;
      ASSERT_EQ(SolveBatch(context_, {c.problem}, params, &out), NORMOT_SUCCESS)
          << normot_context_last_error(context_);
      ExpectCertificate(c.problem, out, 0, tol);
      double scale = 0;
      for (double x : c.problem.cost) scale = std::max(scale, std::fabs(x));
      EXPECT_NEAR(out.cost[0], c.cost, tol * scale);
      if (!c.compare_duals) continue;
      // Rows and columns of zero weight: their duals are only required to be feasible (the
      // certificate checks that); POT's depend on its solver's internal offset.
      for (int64_t i = 0; i < c.problem.n; ++i)
        if (c.problem.a[i] > 0) EXPECT_NEAR(out.u[i], c.u[i], tol * scale) << i;
      for (int64_t j = 0; j < c.problem.m; ++j)
        if (c.problem.b[j] > 0) EXPECT_NEAR(out.v[j], c.v[j], tol * scale) << j;
    }
  }
}

// A DOTmark 32 x 32 image as a histogram of 1024 weights (row-major pixels).
std::vector<double> DotmarkHistogram(const std::string &path) {
  std::ifstream in(path);
  std::vector<double> values;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string cell;
    while (std::getline(fields, cell, ',')) values.push_back(std::stod(cell));
  }
  double total = 0;
  for (double x : values) total += x;
  for (double &x : values) x /= total;
  return values;
}

TEST_P(EmdGoldenTest, DotmarkPairsMatchPot) {
  const std::string shared = SharedDataDir();
  if (shared.empty()) GTEST_SKIP() << "no shared data (../shared/data): DOTmark pairs skipped";
  std::ifstream in(TestDataDir() + "/emd/dotmark_costs.txt");
  ASSERT_TRUE(in.good()) << "tests/data/emd/dotmark_costs.txt is missing";
  EmdCase problem;
  problem.n = problem.m = 1024;
  problem.cost.resize(1024 * 1024);
  for (int64_t p = 0; p < 1024; ++p)
    for (int64_t q = 0; q < 1024; ++q) {
      double dr = (double)(p / 32 - q / 32), dc = (double)(p % 32 - q % 32);
      problem.cost[p * 1024 + q] = dr * dr + dc * dc;
    }
  std::string cls;
  int first, second;
  double pot_cost;
  int pairs = 0;
  while (in >> cls >> first >> second >> pot_cost) {
    SCOPED_TRACE(cls);
    const std::string dir = shared + "/dotmark/" + cls + "/data32_";
    problem.a = DotmarkHistogram(dir + std::to_string(first) + ".csv");
    problem.b = DotmarkHistogram(dir + std::to_string(second) + ".csv");
    ASSERT_EQ(problem.a.size(), 1024u);
    ASSERT_EQ(problem.b.size(), 1024u);
    normot_emd_params params;
    normot_emd_params_init(&params);
    EmdOutcome out;
    ASSERT_EQ(SolveBatch(context_, {problem}, params, &out), NORMOT_SUCCESS)
        << normot_context_last_error(context_);
    ExpectCertificate(problem, out, 0, GetParam() == NORMOT_BACKEND_CUDA ? 1e-7 : 1e-9);
    EXPECT_NEAR(out.cost[0], pot_cost, 1e-9 * pot_cost);
    ++pairs;
  }
  EXPECT_GE(pairs, 1);
}

NORMOT_INSTANTIATE_FOR_EMD_BACKENDS(EmdGoldenTest);

}  // namespace
