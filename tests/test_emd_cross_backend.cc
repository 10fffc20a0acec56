// Every backend against the CPU backend on the same batches: where both run the same exact
// solver (the assignment solver on uniform square problems, which the CUDA backend runs on the
// device) every output is the CPU's, byte for byte; elsewhere the statuses agree and the costs
// to the backend's tolerance; rejected inputs give the same status and message.
#include <cstring>
#include <random>
#include <string>

#include "test_emd_support.h"
#include "test_support.h"

namespace {

class EmdCrossBackendTest : public BackendTest {
 protected:
  void SetUp() override {
    BackendTest::SetUp();
    if (IsSkipped()) return;
    ASSERT_EQ(normot_context_create(&cpu_, NORMOT_BACKEND_CPU, 0), NORMOT_SUCCESS);
  }
  void TearDown() override {
    normot_context_destroy(cpu_);
    BackendTest::TearDown();
  }
  static normot_emd_params Params(normot_emd_solver solver, int64_t max_iter) {
    normot_emd_params params;
    normot_emd_params_init(&params);
    params.solver = solver;
    params.max_iter = max_iter;
    return params;
  }
  // Solves the batch here and on the CPU backend.
  void SolveBoth(const std::vector<EmdCase> &cases, const normot_emd_params &params,
                 EmdOutcome *here, EmdOutcome *cpu) {
    ASSERT_EQ(SolveBatch(context_, cases, params, here), NORMOT_SUCCESS)
        << normot_context_last_error(context_);
    ASSERT_EQ(SolveBatch(cpu_, cases, params, cpu), NORMOT_SUCCESS)
        << normot_context_last_error(cpu_);
  }
  normot_context *cpu_ = nullptr;
};

// Uniform square batches: random costs, squared distances of 2-D clouds, many ties, negative
// costs, and equal positive weights with zero rows and columns.
std::vector<std::vector<EmdCase>> UniformSquareBatches(std::mt19937_64 &rng) {
  std::vector<std::vector<EmdCase>> batches;
  for (int64_t n : {1, 6, 33, 64}) {
    std::vector<EmdCase> batch;
    batch.push_back(RandomCase(rng, n, n, true));
    batch.push_back(PointCloudCase(rng, n, n, true));
    EmdCase ties = RandomCase(rng, n, n, true);
    for (double &x : ties.cost) x = std::floor(x * 4.0);
    batch.push_back(ties);
    batch.push_back(RandomCase(rng, n, n, true, 0, 0, 10.0, -5.0));
    batches.push_back(batch);
  }
  std::vector<EmdCase> zeros;
  for (int p = 0; p < 3; ++p) {
    EmdCase c = RandomCase(rng, 10, 10, true);
    c.a.assign(10, 0.125), c.b.assign(10, 0.125);
    c.a[p] = c.a[9] = 0, c.b[p + 1] = c.b[7] = 0;
    zeros.push_back(c);
  }
  batches.push_back(zeros);
  return batches;
}

TEST_P(EmdCrossBackendTest, UniformSquareProblemsGiveTheCpuBytes) {
  std::mt19937_64 rng(91);
  for (const std::vector<EmdCase> &batch : UniformSquareBatches(rng)) {
    const int64_t n = batch[0].n;
    SCOPED_TRACE(::testing::Message() << "n = " << n);
    // AUTO without a limit, AUTO with POT's default limit (at least n: the assignment solver
    // cannot reach it), and the assignment solver asked for.
    for (const normot_emd_params &params :
         {Params(NORMOT_EMD_SOLVER_AUTO, 0), Params(NORMOT_EMD_SOLVER_AUTO, 100000),
          Params(NORMOT_EMD_SOLVER_ASSIGNMENT, 0)}) {
      SCOPED_TRACE(::testing::Message()
                   << "solver " << params.solver << ", max_iter " << params.max_iter);
      EmdOutcome here, cpu;
      SolveBoth(batch, params, &here, &cpu);
      ExpectSameOutcomeBytes(here, cpu);
      for (size_t p = 0; p < batch.size(); ++p) ExpectCertificate(batch[p], here, (int64_t)p);
    }
  }
}

TEST_P(EmdCrossBackendTest, OtherProblemsAgreeOnStatusAndCost) {
  // Unequal weights (the CUDA backend: the auction for AUTO, the host's simplex for ASSIGNMENT
  // and for AUTO with a limit), and a limit below n.
  std::mt19937_64 rng(92);
  std::vector<EmdCase> batch;
  for (int p = 0; p < 3; ++p) batch.push_back(RandomCase(rng, 12, 9, false, 1, 2));
  for (const normot_emd_params &params :
       {Params(NORMOT_EMD_SOLVER_AUTO, 0), Params(NORMOT_EMD_SOLVER_AUTO, 100000),
        Params(NORMOT_EMD_SOLVER_ASSIGNMENT, 0), Params(NORMOT_EMD_SOLVER_AUTO, 3)}) {
    SCOPED_TRACE(::testing::Message()
                 << "solver " << params.solver << ", max_iter " << params.max_iter);
    EmdOutcome here, cpu;
    SolveBoth(batch, params, &here, &cpu);
    EXPECT_EQ(here.status, cpu.status);
    EXPECT_EQ(here.flags, std::vector<int32_t>(batch.size(), 0));
    for (size_t p = 0; p < batch.size(); ++p)
      EXPECT_NEAR(here.cost[p], cpu.cost[p], 1e-9 * std::fabs(cpu.cost[p]));
  }
}

TEST_P(EmdCrossBackendTest, RejectedInputsGiveTheCpuStatusAndMessage) {
  std::mt19937_64 rng(93);
  std::vector<EmdCase> batch = {RandomCase(rng, 5, 5, false), RandomCase(rng, 5, 5, false)};
  batch[1].a[3] = -batch[1].a[3];
  EmdOutcome here, cpu;
  const normot_emd_params params = Params(NORMOT_EMD_SOLVER_AUTO, 0);
  const normot_status status = SolveBatch(context_, batch, params, &here);
  EXPECT_NE(status, NORMOT_SUCCESS);
  EXPECT_EQ(status, SolveBatch(cpu_, batch, params, &cpu));
  EXPECT_EQ(std::string(normot_context_last_error(context_)),
            std::string(normot_context_last_error(cpu_)));
}

NORMOT_INSTANTIATE_FOR_EMD_BACKENDS(EmdCrossBackendTest);

}  // namespace
