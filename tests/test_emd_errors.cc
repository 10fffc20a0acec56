// Every bad input of normot_emd: the exact status, a message that names the problem, and every
// output left exactly as it was.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>

#include "test_emd_support.h"
#include "test_support.h"

namespace {

class EmdErrorTest : public BackendTest {
 protected:
  static constexpr int64_t kK = 4, kN = 5, kM = 6, kDim = 2;
  void SetUp() override {
    BackendTest::SetUp();
    if (IsSkipped()) return;
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    a_.assign(kK * kN, 1.0 / kN);
    b_.assign(kK * kM, 1.0 / kM);
    cost_.resize(kK * kN * kM);
    for (double &x : cost_) x = unit(rng);
    x_.resize(kK * kN * kDim);
    y_.resize(kK * kM * kDim);
    for (double &t : x_) t = unit(rng);
    for (double &t : y_) t = unit(rng);
    problem_ = {};
    problem_.k = kK, problem_.n = kN, problem_.m = kM;
    problem_.value_type = NORMOT_FLOAT64;
    problem_.memory = NORMOT_MEMORY_HOST;
    problem_.a = a_.data(), problem_.b = b_.data(), problem_.cost = cost_.data();
    problem_.x = x_.data(), problem_.y = y_.data(), problem_.dim = kDim;
    normot_emd_params_init(&params_);
    out_ = AllocateOutcome(kK, kN, kM);
    result_ = ResultView(out_);
  }

  // Runs the call and checks status, message and untouched outputs.
  void ExpectFailure(normot_status expected, const char *message_part) {
    EmdOutcome before = out_;
    normot_status status = normot_emd(context_, &problem_, &params_, &result_);
    EXPECT_EQ(status, expected) << normot_status_string(status) << ": "
                                << normot_context_last_error(context_);
    EXPECT_NE(std::strstr(normot_context_last_error(context_), message_part), nullptr)
        << "message: " << normot_context_last_error(context_) << "; expected to contain "
        << message_part;
    EXPECT_EQ(std::memcmp(out_.cost.data(), before.cost.data(), kK * sizeof(double)), 0);
    EXPECT_EQ(out_.plan, before.plan);
    EXPECT_EQ(out_.u, before.u);
    EXPECT_EQ(out_.v, before.v);
    EXPECT_EQ(out_.sparse_value, before.sparse_value);
    EXPECT_EQ(out_.sparse_row, before.sparse_row);
    EXPECT_EQ(out_.sparse_col, before.sparse_col);
    EXPECT_EQ(out_.sparse_count, before.sparse_count);
    EXPECT_EQ(out_.status, before.status);
    EXPECT_EQ(out_.iterations, before.iterations);
    EXPECT_EQ(out_.flags, before.flags);
  }

  std::vector<double> a_, b_, cost_, x_, y_;
  normot_emd_problem problem_;
  normot_emd_params params_;
  EmdOutcome out_;
  normot_emd_result result_;
};

TEST_P(EmdErrorTest, TheValidInputSucceeds) {
  ASSERT_EQ(normot_emd(context_, &problem_, &params_, &result_), NORMOT_SUCCESS)
      << normot_context_last_error(context_);
  for (int64_t p = 0; p < kK; ++p) {
    EmdCase c;
    c.n = kN, c.m = kM;
    c.cost.assign(cost_.begin() + p * kN * kM, cost_.begin() + (p + 1) * kN * kM);
    c.a.assign(a_.begin() + p * kN, a_.begin() + (p + 1) * kN);
    c.b.assign(b_.begin() + p * kM, b_.begin() + (p + 1) * kM);
    ExpectCertificate(c, out_, p, GetParam() == NORMOT_BACKEND_CUDA ? 1e-7 : 1e-9);
  }
}

TEST_P(EmdErrorTest, NullPointers) {
  EXPECT_EQ(normot_emd(nullptr, &problem_, &params_, &result_), NORMOT_ERROR_NULL_POINTER);
  EXPECT_EQ(normot_emd(context_, nullptr, &params_, &result_), NORMOT_ERROR_NULL_POINTER);
  EXPECT_EQ(normot_emd(context_, &problem_, nullptr, &result_), NORMOT_ERROR_NULL_POINTER);
  EXPECT_EQ(normot_emd(context_, &problem_, &params_, nullptr), NORMOT_ERROR_NULL_POINTER);
  result_.cost = nullptr;
  ExpectFailure(NORMOT_ERROR_NULL_POINTER, "result->cost");
  result_ = ResultView(out_);
  result_.sparse_col = nullptr;
  ExpectFailure(NORMOT_ERROR_NULL_POINTER, "sparse");
  result_ = ResultView(out_);
  problem_.cost = nullptr, problem_.x = nullptr;
  ExpectFailure(NORMOT_ERROR_NULL_POINTER, "x is");
  problem_.x = x_.data(), problem_.y = nullptr;
  ExpectFailure(NORMOT_ERROR_NULL_POINTER, "y is");
}

TEST_P(EmdErrorTest, Sizes) {
  problem_.k = -1;
  ExpectFailure(NORMOT_ERROR_INVALID_SIZE, "negative size");
  problem_.k = kK, problem_.m = -2;
  ExpectFailure(NORMOT_ERROR_INVALID_SIZE, "negative size");
  problem_.m = 0;
  ExpectFailure(NORMOT_ERROR_INVALID_SIZE, "empty problems");
  problem_.m = kM, problem_.n = 0;
  ExpectFailure(NORMOT_ERROR_INVALID_SIZE, "empty problems");
  problem_.n = (int64_t)1 << 40, problem_.m = (int64_t)1 << 40;
  ExpectFailure(NORMOT_ERROR_INVALID_SIZE, "overflow");
  problem_.n = kN, problem_.m = kM, problem_.cost = nullptr, problem_.dim = 0;
  ExpectFailure(NORMOT_ERROR_INVALID_SIZE, "dim");
  // k = 0 is an empty batch: success, nothing written.
  problem_.dim = kDim, problem_.k = 0;
  EmdOutcome before = out_;
  EXPECT_EQ(normot_emd(context_, &problem_, &params_, &result_), NORMOT_SUCCESS);
  EXPECT_EQ(out_.cost, before.cost);
}

TEST_P(EmdErrorTest, EnumsAndParameters) {
  problem_.value_type = NORMOT_INT32;
  ExpectFailure(NORMOT_ERROR_UNSUPPORTED_TYPE, "value_type");
  problem_.value_type = NORMOT_FLOAT64, problem_.cost = nullptr, problem_.metric = (normot_metric)7;
  ExpectFailure(NORMOT_ERROR_UNSUPPORTED_TYPE, "metric");
  problem_.metric = NORMOT_METRIC_SQEUCLIDEAN, problem_.cost = cost_.data();
  params_.solver = (normot_emd_solver)9;
  ExpectFailure(NORMOT_ERROR_UNSUPPORTED_TYPE, "solver");
  normot_emd_params_init(&params_);
  params_.max_iter = -1;
  ExpectFailure(NORMOT_ERROR_INVALID_ARGUMENT, "max_iter");
  normot_emd_params_init(&params_);
  params_.marginal_tol = -1e-3;
  ExpectFailure(NORMOT_ERROR_INVALID_ARGUMENT, "marginal_tol");
  params_.marginal_tol = std::nan("");
  ExpectFailure(NORMOT_ERROR_INVALID_ARGUMENT, "marginal_tol");
  normot_emd_params_init(&params_);
  problem_.memory = (normot_memory)99;
  ExpectFailure(NORMOT_ERROR_INVALID_MEMORY, "memory");
  if (GetParam() == NORMOT_BACKEND_CPU) {
    problem_.memory = NORMOT_MEMORY_CUDA;
    ExpectFailure(NORMOT_ERROR_INVALID_MEMORY, "device memory");
  }
}

TEST_P(EmdErrorTest, NonFiniteValuesNameTheProblem) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  a_[2 * kN + 1] = nan;
  ExpectFailure(NORMOT_ERROR_NONFINITE_VALUE, "problem 2: a[1]");
  a_[2 * kN + 1] = 1.0 / kN, b_[3 * kM + 5] = inf;
  ExpectFailure(NORMOT_ERROR_NONFINITE_VALUE, "problem 3: b[5]");
  b_[3 * kM + 5] = 1.0 / kM, cost_[1 * kN * kM + 7] = -inf;
  ExpectFailure(NORMOT_ERROR_NONFINITE_VALUE, "problem 1: cost element 7");
  // The lowest failing problem is reported.
  cost_[3 * kN * kM] = nan;
  ExpectFailure(NORMOT_ERROR_NONFINITE_VALUE, "problem 1:");
  cost_[1 * kN * kM + 7] = 0.5, cost_[3 * kN * kM] = 0.5;
  problem_.cost = nullptr;
  x_[2 * kN * kDim + 3] = nan;
  ExpectFailure(NORMOT_ERROR_NONFINITE_VALUE, "problem 2: x element 3");
  x_[2 * kN * kDim + 3] = 0.5, y_[0] = inf;
  ExpectFailure(NORMOT_ERROR_NONFINITE_VALUE, "problem 0: y element 0");
  // float32 inputs are checked too.
  std::vector<float> cost32(cost_.begin(), cost_.end()), a32(a_.begin(), a_.end()),
      b32(b_.begin(), b_.end());
  cost32[2 * kN * kM + 4] = std::numeric_limits<float>::quiet_NaN();
  problem_.value_type = NORMOT_FLOAT32;
  problem_.a = a32.data(), problem_.b = b32.data(), problem_.cost = cost32.data();
  ExpectFailure(NORMOT_ERROR_NONFINITE_VALUE, "problem 2: cost element 4");
}

TEST_P(EmdErrorTest, WeightsSignsMassAndBalance) {
  a_[1 * kN + 0] = -0.1, a_[1 * kN + 1] += 0.1;
  ExpectFailure(NORMOT_ERROR_NEGATIVE_WEIGHT, "problem 1: a[0]");
  a_[1 * kN + 0] = 0.2, a_[1 * kN + 1] = 0.2, b_[2 * kM + 3] = -1e-300;
  ExpectFailure(NORMOT_ERROR_NEGATIVE_WEIGHT, "problem 2: b[3]");
  b_[2 * kM + 3] = 1.0 / kM;
  for (int64_t j = 0; j < kM; ++j) b_[3 * kM + j] = 0.0;
  ExpectFailure(NORMOT_ERROR_ZERO_MASS, "problem 3: b sums to zero");
  for (int64_t j = 0; j < kM; ++j) b_[3 * kM + j] = 1.0 / kM;
  a_[0] += 1e-5;
  ExpectFailure(NORMOT_ERROR_UNBALANCED, "problem 0: unbalanced");
  // A tolerance that admits it, or no check at all (b is then rescaled).
  params_.marginal_tol = 1e-4;
  EXPECT_EQ(normot_emd(context_, &problem_, &params_, &result_), NORMOT_SUCCESS);
  normot_emd_params_init(&params_);
  a_[0] += 1.0;
  params_.check_marginals = 0;
  EXPECT_EQ(normot_emd(context_, &problem_, &params_, &result_), NORMOT_SUCCESS);
  for (int64_t p = 0; p < kK; ++p) EXPECT_EQ(out_.status[p], NORMOT_EMD_OPTIMAL);
  // Shared weights are checked once, with the same messages.
  out_ = AllocateOutcome(kK, kN, kM);
  result_ = ResultView(out_);
  normot_emd_params_init(&params_);
  std::vector<double> shared(kN, 0.25);
  shared[4] = -0.0001;
  problem_.a = shared.data(), problem_.a_shared = 1;
  ExpectFailure(NORMOT_ERROR_NEGATIVE_WEIGHT, "a[4]");
}

const normot_emd_solver kAllSolvers[] = {NORMOT_EMD_SOLVER_AUTO, NORMOT_EMD_SOLVER_NETWORK_SIMPLEX,
                                         NORMOT_EMD_SOLVER_ASSIGNMENT, NORMOT_EMD_SOLVER_AUCTION};

TEST_P(EmdErrorTest, PointCloudCostsThatOverflowAreRefused) {
  // Finite coordinates whose squared distances overflow: the release build used to answer
  // SUCCESS, OPTIMAL, cost -5e199 through the assignment solver.
  std::vector<double> x = {0.0, 1.0}, y = {1e200, -1e200};
  problem_ = {};
  problem_.k = 1, problem_.n = 2, problem_.m = 2, problem_.dim = 1;
  problem_.value_type = NORMOT_FLOAT64;
  problem_.memory = NORMOT_MEMORY_HOST;
  problem_.x = x.data(), problem_.y = y.data();
  for (normot_metric metric : {NORMOT_METRIC_SQEUCLIDEAN, NORMOT_METRIC_EUCLIDEAN})
    for (normot_emd_solver solver : kAllSolvers) {
      SCOPED_TRACE(::testing::Message() << "metric " << metric << " solver " << solver);
      problem_.metric = metric;
      params_.solver = solver;
      ExpectFailure(NORMOT_ERROR_OVERFLOW, "problem 0: the cost between x[0] and y[0] overflows");
    }
  // Coordinates whose distances stay finite pass, even where a bound of them would not.
  x = {1e200, 1e200}, y = {1e200, 1e200};
  params_.solver = NORMOT_EMD_SOLVER_AUTO;
  ASSERT_EQ(normot_emd(context_, &problem_, &params_, &result_), NORMOT_SUCCESS)
      << normot_context_last_error(context_);
  EXPECT_EQ(out_.cost[0], 0.0);
}

TEST_P(EmdErrorTest, PointCloudOverflowNamesTheFirstProblem) {
  problem_.cost = nullptr;
  x_[2 * kN * kDim + 1] = 3e153;  // squared: 9e306 on its own, plus 8 (n + m) is past DBL_MAX
  ExpectFailure(NORMOT_ERROR_OVERFLOW, "problem 2: costs up to");
  x_[3 * kN * kDim + 1] = -2e154;  // squared: inf
  ExpectFailure(NORMOT_ERROR_OVERFLOW, "problem 2:");
  x_[2 * kN * kDim + 1] = 0.5;
  ExpectFailure(NORMOT_ERROR_OVERFLOW, "problem 3: the cost between x[0] and y[0] overflows");
}

TEST_P(EmdErrorTest, CostsNearTheLargestDoubleAreRefused) {
  // Potentials and reduced costs of such costs overflow: the solvers used to disagree while
  // each said OPTIMAL, with NaN or Inf duals.
  for (int64_t e = 0; e < kN * kM; ++e)
    cost_[1 * kN * kM + e] = (e % 3 == 0 ? -1.0 : 1.0) * 1e308 * (1.0 - 1e-3 * (double)e);
  for (normot_emd_solver solver : kAllSolvers) {
    SCOPED_TRACE(::testing::Message() << "solver " << solver);
    params_.solver = solver;
    ExpectFailure(NORMOT_ERROR_OVERFLOW, "problem 1: costs up to 1e+308 are too large");
  }
  // float32 costs can never reach the limit; a shared cost is checked once, as problem 0.
  std::vector<double> shared(cost_.begin() + kN * kM, cost_.begin() + 2 * kN * kM);
  problem_.cost = shared.data(), problem_.cost_shared = 1;
  ExpectFailure(NORMOT_ERROR_OVERFLOW, "problem 0: costs up to");
}

TEST_P(EmdErrorTest, EveryCostPositionIsCheckedForNonFiniteAndLargeValues) {
  // The check reads four positions at a time, then the rest one by one: a NaN, an Inf or a cost
  // over the limit at any position (each of the four, and the tail of 30 = 7 * 4 + 2) is found.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  for (int64_t e = 0; e < kN * kM; ++e) {
    SCOPED_TRACE(::testing::Message() << "position " << e);
    double &entry = cost_[1 * kN * kM + e];
    const double kept = entry;
    const std::string where = "problem 1: cost element " + std::to_string(e) + " ";
    for (double bad : {nan, inf, -inf}) {
      entry = bad;
      ExpectFailure(NORMOT_ERROR_NONFINITE_VALUE, where.c_str());
    }
    entry = e % 2 == 0 ? 1e308 : -1e308;
    ExpectFailure(NORMOT_ERROR_OVERFLOW, "problem 1: costs up to 1e+308 are too large");
    entry = kept;
  }
}

TEST_P(EmdErrorTest, LargeCostsWithinTheLimitAreSolvedExactly) {
  // The limit is DBL_MAX / (8 (n + m) max(1, mass)): 2.04e306 for 5 x 6 problems of mass 1.
  const double limit = std::numeric_limits<double>::max() / (8.0 * (kN + kM));
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  for (double &c : cost_) c = unit(rng) * limit;
  std::vector<double> costs[4];
  for (int s = 0; s < 4; ++s) {
    params_.solver = kAllSolvers[s];
    out_ = AllocateOutcome(kK, kN, kM);
    result_ = ResultView(out_);
    ASSERT_EQ(normot_emd(context_, &problem_, &params_, &result_), NORMOT_SUCCESS)
        << normot_context_last_error(context_);
    for (int64_t p = 0; p < kK; ++p) {
      EmdCase c;
      c.n = kN, c.m = kM;
      c.cost.assign(cost_.begin() + p * kN * kM, cost_.begin() + (p + 1) * kN * kM);
      c.a.assign(a_.begin() + p * kN, a_.begin() + (p + 1) * kN);
      c.b.assign(b_.begin() + p * kM, b_.begin() + (p + 1) * kM);
      ExpectCertificate(c, out_, p);
      EXPECT_TRUE(std::isfinite(out_.cost[p]));
    }
    costs[s] = out_.cost;
  }
  for (int s = 1; s < 4; ++s)
    for (int64_t p = 0; p < kK; ++p)
      EXPECT_NEAR(costs[s][p], costs[0][p], 1e-9 * limit) << "solver " << s << " problem " << p;
  // Just past the limit is refused.
  cost_[3 * kN * kM + 2] = -limit * 1.01;
  ExpectFailure(NORMOT_ERROR_OVERFLOW, "problem 3: costs up to");
}

TEST_P(EmdErrorTest, LargeMassesAreRescaledOrRefused) {
  // Rescaling b as POT does, b * sum a / sum b, overflowed in b * sum a: an infinite cost was
  // reported OPTIMAL. b * (sum a / sum b) is used where that product overflows.
  params_.check_marginals = 0;
  for (int64_t i = 0; i < kN; ++i) a_[2 * kN + i] = 1e300;
  b_[2 * kM + 4] = 1e10;
  for (normot_emd_solver solver : kAllSolvers) {
    params_.solver = solver;
    ASSERT_EQ(normot_emd(context_, &problem_, &params_, &result_), NORMOT_SUCCESS)
        << normot_context_last_error(context_);
    EXPECT_EQ(out_.status[2], NORMOT_EMD_OPTIMAL);
    // Nearly all of b's mass sits in column 4: the cost is about 5e300 * mean(cost column 4).
    double column = 0.0;
    for (int64_t i = 0; i < kN; ++i) column += cost_[2 * kN * kM + i * kM + 4];
    EXPECT_NEAR(out_.cost[2], 1e300 * column, 1e-6 * 1e300 * column) << "solver " << solver;
    for (int64_t i = 0; i < kN; ++i) EXPECT_TRUE(std::isfinite(out_.u[2 * kN + i]));
  }
  params_.solver = NORMOT_EMD_SOLVER_AUTO;
  // A mass of 5e300 limits the costs to DBL_MAX / (8 * 11 * 5e300) = 4.1e5.
  b_[2 * kM + 4] = 1.0 / kM;
  for (int64_t j = 0; j < kM; ++j) b_[2 * kM + j] = 5e300 / kM;
  for (int64_t e = 0; e < kN * kM; ++e) cost_[2 * kN * kM + e] = 1e6;
  ExpectFailure(NORMOT_ERROR_OVERFLOW, "mass 5e+300");
  // The same mass with costs below the limit is solved, with a finite cost.
  for (int64_t e = 0; e < kN * kM; ++e) cost_[2 * kN * kM + e] = 1e5;
  ASSERT_EQ(normot_emd(context_, &problem_, &params_, &result_), NORMOT_SUCCESS)
      << normot_context_last_error(context_);
  EXPECT_NEAR(out_.cost[2], 5e305, 1e294);
}

TEST_P(EmdErrorTest, SubnormalMassesAreRescaledWithoutLoss) {
  // Problem 1: b = {3.1e-319, 0, ...} (a subnormal) against a mass of 195.9375. The product
  // b_0 * sum a is subnormal too and lost bits: b rescaled came out 2.6e-8 (relative) short of
  // the mass, so no plan had both marginals and a row of the plan summed short of a.
  params_.check_marginals = 0;
  const uint64_t bits = 0xf3fb;
  double tiny;
  std::memcpy(&tiny, &bits, sizeof tiny);
  std::fill(b_.begin() + kM, b_.begin() + 2 * kM, 0.0);
  b_[kM] = tiny;
  // With a scaled by 1e-43 (still normal) the product underflowed to 0: b rescaled was 0.
  for (double scale : {1.0, 1e-43}) {
    const double a[kN] = {37 * scale, 122 * scale, 13 * scale, 21 * scale, 2.9375 * scale};
    std::copy(a, a + kN, a_.begin() + kN);
    for (normot_emd_solver solver : kAllSolvers) {
      params_.solver = solver;
      ASSERT_EQ(normot_emd(context_, &problem_, &params_, &result_), NORMOT_SUCCESS)
          << normot_context_last_error(context_);
      // All of a's mass goes to column 0: plan column 0 is a, to the certificate's 1e-9 of the
      // mass (it was 5e-6 short in one row).
      double cost = 0.0;
      for (int64_t i = 0; i < kN; ++i) {
        EXPECT_NEAR(out_.plan[(kN + i) * kM], a[i], 1e-9 * 195.9375 * scale)
            << "solver " << solver << " scale " << scale << " row " << i;
        cost += a[i] * cost_[kN * kM + i * kM];
      }
      EXPECT_NEAR(out_.cost[1], cost, 1e-12 * cost) << "solver " << solver << " scale " << scale;
    }
  }
}

TEST_P(EmdErrorTest, MassesWithinRoundingOfDblMaxAreNotRescaled) {
  // Problem 1: a of mass DBL_MAX (zero costs, within the cost limit). b rescaled to it has
  // finite weights whose sum rounds past DBL_MAX: the auction solver quantised b against that
  // Inf and put the mass of a into column 0, and the problem said OPTIMAL.
  params_.check_marginals = 0;
  params_.solver = NORMOT_EMD_SOLVER_AUCTION;
  const double a[kN] = {47, 127, std::numeric_limits<double>::max(), 71, 1};
  const double b[kM] = {1, 0, 37, 0, 1, 3};
  std::copy(a, a + kN, a_.begin() + kN);
  std::copy(b, b + kM, b_.begin() + kM);
  std::fill(cost_.begin() + kN * kM, cost_.begin() + 2 * kN * kM, 0.0);
  ExpectFailure(NORMOT_ERROR_OVERFLOW, "problem 1: rescaling b to the mass of a overflows");
}

TEST_P(EmdErrorTest, ResultsOverlappingInputsAreRefused) {
  // A plan written over a shared cost used to change the costs the later problems read.
  std::vector<double> shared(cost_.begin(), cost_.begin() + kN * kM);
  std::vector<double> plan_and_cost(kK * kN * kM);
  std::copy(shared.begin(), shared.end(), plan_and_cost.begin());
  problem_.cost = plan_and_cost.data(), problem_.cost_shared = 1;
  const std::vector<double> cost_before = plan_and_cost;
  result_.plan = plan_and_cost.data();
  ExpectFailure(NORMOT_ERROR_INVALID_ARGUMENT, "result->plan overlaps problem->cost");
  EXPECT_EQ(plan_and_cost, cost_before);
  // Inputs with room behind them, so that a shifted result overlaps that input and nothing
  // else whatever the heap layout.
  std::vector<double> a_padded(2 * a_.size()), y_padded(2 * y_.size());
  std::copy(a_.begin(), a_.end(), a_padded.begin());
  std::copy(y_.begin(), y_.end(), y_padded.begin());
  problem_.a = a_padded.data();
  result_ = ResultView(out_);
  result_.u = a_padded.data() + 3;
  ExpectFailure(NORMOT_ERROR_INVALID_ARGUMENT, "result->u overlaps problem->a");
  result_ = ResultView(out_);
  problem_.cost = nullptr, problem_.y = y_padded.data();
  result_.v = y_padded.data() + y_.size() - 1;
  ExpectFailure(NORMOT_ERROR_INVALID_ARGUMENT, "result->v overlaps problem->y");
  problem_.a = a_.data(), problem_.y = y_.data();
  // Two results on one array.
  result_ = ResultView(out_);
  result_.cost = out_.plan.data() + 2;
  ExpectFailure(NORMOT_ERROR_INVALID_ARGUMENT, "result->cost overlaps result->plan");
  result_ = ResultView(out_);
  result_.flags = reinterpret_cast<int32_t *>(out_.iterations.data());
  ExpectFailure(NORMOT_ERROR_INVALID_ARGUMENT, "result->iterations overlaps result->flags");
  // Adjacent arrays do not overlap: results right after the inputs are fine.
  std::vector<double> block(kK * kN + kK);
  std::copy(a_.begin(), a_.end(), block.begin());
  problem_.a = block.data();
  result_ = ResultView(out_);
  result_.cost = block.data() + kK * kN;
  EXPECT_EQ(normot_emd(context_, &problem_, &params_, &result_), NORMOT_SUCCESS)
      << normot_context_last_error(context_);
}

NORMOT_INSTANTIATE_FOR_EMD_BACKENDS(EmdErrorTest);

}  // namespace
