// fuzz_emd, regressions/fuzz_emd/multiscale_nan_duals_for_dbl_max_weights: masses near DBL_MAX
// with costs far below the cost limit. The sums of a and b both rounded to DBL_MAX, so nothing
// was rescaled and the rescaling rule had nothing to refuse; but the centring of the duals adds
// sum a + sum b (Inf past DBL_MAX / 2) and weighs the duals by the mass, and the sparse simplex
// (MULTISCALE, normot_emd_sparse) prices all-zero costs with artificial potentials of about
// n + m. MULTISCALE and normot_emd_sparse returned NaN or Inf duals, the dense solvers silently
// uncentred ones (the shift came out 0 / Inf), every one with SUCCESS.
#include <cfloat>
#include <cmath>
#include <cstring>
#include <vector>

#include "test_emd_support.h"
#include "test_support.h"

namespace {

const normot_emd_solver kSolvers[] = {NORMOT_EMD_SOLVER_AUTO, NORMOT_EMD_SOLVER_NETWORK_SIMPLEX,
                                      NORMOT_EMD_SOLVER_ASSIGNMENT, NORMOT_EMD_SOLVER_AUCTION,
                                      NORMOT_EMD_SOLVER_MULTISCALE};

// k identical problems: shared weights, and a shared cost or point clouds of one dimension.
struct MassCase {
  int64_t k = 1;
  std::vector<double> a, b, cost, x, y;
};

struct Answer {
  normot_status status = NORMOT_SUCCESS;
  std::string message;
  std::vector<double> cost, u, v;
  int32_t status_of_problem = -7;  // problem 0's normot_emd_status
};

Answer Solve(normot_context *context, const MassCase &c, normot_emd_solver solver) {
  const int64_t n = (int64_t)c.a.size(), m = (int64_t)c.b.size();
  normot_emd_problem problem = {};
  problem.k = c.k, problem.n = n, problem.m = m;
  problem.value_type = NORMOT_FLOAT64;
  problem.memory = NORMOT_MEMORY_HOST;
  problem.a = c.a.data(), problem.a_shared = 1;
  problem.b = c.b.data(), problem.b_shared = 1;
  if (c.cost.empty()) {
    problem.x = c.x.data(), problem.y = c.y.data(), problem.dim = 1;
    problem.metric = NORMOT_METRIC_SQEUCLIDEAN;
  } else {
    problem.cost = c.cost.data(), problem.cost_shared = 1;
  }
  normot_emd_params params;
  normot_emd_params_init(&params);
  params.check_marginals = 0;
  params.solver = solver;
  Answer answer;
  answer.cost.assign(c.k, -7.0), answer.u.assign(c.k * n, -7.0), answer.v.assign(c.k * m, -7.0);
  normot_emd_result result = {};
  result.cost = answer.cost.data(), result.u = answer.u.data(), result.v = answer.v.data();
  std::vector<int32_t> statuses(c.k, -7);
  result.status = statuses.data();
  answer.status = normot_emd(context, &problem, &params, &result);
  answer.status_of_problem = statuses[0];
  answer.message = normot_context_last_error(context);
  return answer;
}

// The one-problem case through normot_emd_sparse, every pair an edge.
Answer SolveSparse(normot_context *context, const MassCase &c) {
  const int64_t n = (int64_t)c.a.size(), m = (int64_t)c.b.size();
  std::vector<int64_t> indptr(n + 1), indices(n * m);
  for (int64_t i = 0; i <= n; ++i) indptr[i] = i * m;
  for (int64_t e = 0; e < n * m; ++e) indices[e] = e % m;
  normot_emd_sparse_problem problem = {};
  problem.n = n, problem.m = m, problem.nnz = n * m;
  problem.value_type = NORMOT_FLOAT64;
  problem.a = c.a.data(), problem.b = c.b.data();
  problem.indptr = indptr.data(), problem.indices = indices.data();
  problem.index_type = NORMOT_INDEX_INT64;
  problem.values = c.cost.data();
  problem.memory = NORMOT_MEMORY_HOST;
  normot_emd_params params;
  normot_emd_params_init(&params);
  params.check_marginals = 0;
  Answer answer;
  answer.cost.assign(1, -7.0), answer.u.assign(n, -7.0), answer.v.assign(m, -7.0);
  normot_emd_result result = {};
  result.cost = answer.cost.data(), result.u = answer.u.data(), result.v = answer.v.data();
  result.status = &answer.status_of_problem;
  answer.status = normot_emd_sparse(context, &problem, &params, &result);
  answer.message = normot_context_last_error(context);
  return answer;
}

// Every way in: each solver on the given costs, each solver on point clouds at one point (all
// costs 0), and normot_emd_sparse.
std::vector<Answer> SolveEveryWay(normot_context *context, const MassCase &given) {
  MassCase clouds = given;
  clouds.cost.clear();
  clouds.x.assign(given.k * given.a.size(), 0.0);  // (k, n, 1): clouds are never shared
  clouds.y.assign(given.k * given.b.size(), 0.0);
  std::vector<Answer> answers;
  for (normot_emd_solver solver : kSolvers) {
    answers.push_back(Solve(context, given, solver));
    answers.push_back(Solve(context, clouds, solver));
  }
  MassCase single = given;
  single.k = 1;
  answers.push_back(SolveSparse(context, single));
  return answers;
}

class FuzzRegressionMassTest : public BackendTest {};

TEST_P(FuzzRegressionMassTest, DblMaxMassWithZeroCostsIsRefused) {
  // The fuzz input: 3 problems of 1 x 8, shared a = {DBL_MAX}, shared b = {DBL_MAX, 47, 127,
  // 0, ...} (its sum rounds to DBL_MAX too), zero costs, check_marginals = 0.
  MassCase c;
  c.k = 3;
  c.a = {DBL_MAX};
  c.b = {DBL_MAX, 47, 127, 0, 0, 0, 0, 0};
  c.cost.assign(8, 0.0);
  int way = 0;
  for (const Answer &answer : SolveEveryWay(context_, c)) {
    SCOPED_TRACE(::testing::Message() << "way " << way++);
    EXPECT_EQ(answer.status, NORMOT_ERROR_OVERFLOW) << answer.message;
    EXPECT_NE(answer.message.find("problem 0: the mass of a (1.79769e+308) is too large"),
              std::string::npos)
        << answer.message;
    for (double value : answer.u) EXPECT_EQ(value, -7.0);  // nothing written
  }
}

TEST_P(FuzzRegressionMassTest, MassesPastTheLimitAreRefused) {
  // Balanced 2 x 2 problems of mass 0.75 DBL_MAX with costs of 1/64 (within the cost limit):
  // the centring's sum a + sum b overflowed, so the dense solvers' duals were not centred.
  // Then the first mass past DBL_MAX / (8 (n + m)).
  const double limit = DBL_MAX / (8.0 * 4.0);
  for (double mass : {0.75 * DBL_MAX, std::nextafter(limit, DBL_MAX)}) {
    MassCase c;
    c.a = {mass / 2, mass / 2};
    c.b = c.a;
    c.cost = {0.0, 1.0 / 64, 1.0 / 64, 0.0};
    int way = 0;
    for (const Answer &answer : SolveEveryWay(context_, c)) {
      SCOPED_TRACE(::testing::Message() << "mass " << mass << " way " << way++);
      EXPECT_EQ(answer.status, NORMOT_ERROR_OVERFLOW) << answer.message;
      EXPECT_NE(answer.message.find("the solvers need sum a <= DBL_MAX / (8 (n + m))"),
                std::string::npos)
          << answer.message;
    }
  }
}

TEST_P(FuzzRegressionMassTest, MassesAtTheLimitGiveFiniteCentredDuals) {
  // The largest mass the limit lets through, with zero costs (where the sparse simplex's
  // potentials do not scale with the costs) and with costs at the cost limit (1 / 2 here).
  const double mass = DBL_MAX / (8.0 * 9.0);
  MassCase zero;
  zero.a = {mass};
  zero.b = {mass / 4, 0, mass / 4, mass / 2, 0, 0, 0, 0};
  zero.cost.assign(8, 0.0);
  MassCase costly;
  costly.a = {mass / 4, mass / 4, mass / 2};
  costly.b = {mass / 2, 0, mass / 4, mass / 4, 0, 0};
  costly.cost = {0.5, 0.25, 0.0, 0.5, 0.125, 0.5, 0.0,   0.5, 0.25,
                 0.5, 0.5,  0.0, 0.5, 0.25,  0.0, 0.125, 0.5, 0.5};
  for (const MassCase &c : {zero, costly}) {
    int way = 0;
    for (const Answer &answer : SolveEveryWay(context_, c)) {
      SCOPED_TRACE(::testing::Message() << "n " << c.a.size() << " way " << way++);
      if (answer.status == NORMOT_ERROR_NOT_IMPLEMENTED) continue;  // MULTISCALE on CUDA
      ASSERT_EQ(answer.status, NORMOT_SUCCESS) << answer.message;
      // sum a u = sum b v (POT's centring), in long double so that the check cannot overflow.
      long double au = 0, bv = 0, scale = 0;
      for (size_t i = 0; i < c.a.size(); ++i) {
        ASSERT_TRUE(std::isfinite(answer.u[i]));
        au += (long double)c.a[i] * answer.u[i];
        scale += std::fabs((long double)c.a[i] * answer.u[i]);
      }
      for (size_t j = 0; j < c.b.size(); ++j) {
        ASSERT_TRUE(std::isfinite(answer.v[j]));
        bv += (long double)c.b[j] * answer.v[j];
        scale += std::fabs((long double)c.b[j] * answer.v[j]);
      }
      EXPECT_LE(std::fabs((double)(au - bv)), 1e-9 * (double)scale);
      EXPECT_TRUE(std::isfinite(answer.cost[0]));
    }
  }
}

// fuzz_emd, regressions/fuzz_emd/multiscale_subnormal_mass_said_infeasible: a = {4.25e-314, 0,
// 0} (a subnormal mass), b uniform over 7 columns rescaled to it, zero costs. b rescaled sums
// to the mass only to a few steps of 2^-1074, which the sparse simplex leaves on its artificial
// arcs; it allowed 1e-12 of the mass there, which underflows to 0, so MULTISCALE and
// normot_emd_sparse said INFEASIBLE.
TEST_P(FuzzRegressionMassTest, SubnormalMassIsSolvedByTheSparseSimplex) {
  MassCase c;
  c.a = {4.2535516336018177e-314, 0, 0};
  c.b.assign(7, 1.0 / 7);
  c.cost.assign(21, 0.0);
  int way = 0;
  for (const Answer &answer : SolveEveryWay(context_, c)) {
    SCOPED_TRACE(::testing::Message() << "way " << way++);
    if (answer.status == NORMOT_ERROR_NOT_IMPLEMENTED) continue;  // MULTISCALE on CUDA
    ASSERT_EQ(answer.status, NORMOT_SUCCESS) << answer.message;
    EXPECT_EQ(answer.status_of_problem, NORMOT_EMD_OPTIMAL);
    EXPECT_EQ(answer.cost[0], 0.0);
  }
}

NORMOT_INSTANTIATE_FOR_EMD_BACKENDS(FuzzRegressionMassTest);

}  // namespace
