// The backend-neutral dispatch of normot_emd against a recording backend table: the contents
// are checked once, before any backend runs (so that every backend reports a bad input with the
// same status and message, device-resident inputs included, through the table's copy_to_host),
// and every call of the backend runs between the table's enter and leave (CUDA: the context's
// device made current, the caller's restored).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "context.h"
#include "test_emd_support.h"

namespace {

struct Recorder {
  int emd_calls = 0, enters = 0, leaves = 0, copies = 0;
};
Recorder recorder;

normot_status RecordingEmd(normot_context *context, const normot_emd_problem *problem,
                           const normot_emd_params *params, normot_emd_result *result) {
  ++recorder.emd_calls;
  EXPECT_EQ(recorder.enters, recorder.leaves + 1) << "the backend ran outside enter/leave";
  normot_emd_problem host = *problem;
  host.memory = NORMOT_MEMORY_HOST;  // the fake "device" memory is host memory
  return normot_cpu_backend_ops()->emd(context, &host, params, result);
}

normot_status RecordingEnter(normot_context *, int *token) {
  ++recorder.enters;
  *token = 41;
  return NORMOT_SUCCESS;
}

void RecordingLeave(normot_context *, int token) {
  EXPECT_EQ(token, 41);
  ++recorder.leaves;
}

normot_status FakeCopyToHost(normot_context *, void *host, const void *source, size_t bytes) {
  ++recorder.copies;
  std::memcpy(host, source, bytes);
  return NORMOT_SUCCESS;
}

class BackendTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(normot_context_create(&context_, NORMOT_BACKEND_CPU, 0), NORMOT_SUCCESS);
    table_ = *normot_cpu_backend_ops();
    table_.emd = RecordingEmd;
    table_.enter = RecordingEnter;
    table_.leave = RecordingLeave;
    context_->ops = &table_;
    recorder = Recorder();
  }
  void TearDown() override {
    context_->ops = normot_cpu_backend_ops();
    normot_context_destroy(context_);
  }

  // Three 4 x 3 problems; `spoil` breaks one of them. Returns the status, message in last_.
  normot_status Solve(void (*spoil)(std::vector<double> &a, std::vector<double> &b,
                                    std::vector<double> &cost),
                      normot_memory memory) {
    std::vector<double> a(12, 0.25), b(9, 1.0 / 3), cost(36, 1.0);
    for (size_t e = 0; e < cost.size(); ++e) cost[e] = (double)(e % 5);
    if (spoil != nullptr) spoil(a, b, cost);
    normot_emd_problem problem = {};
    problem.k = 3, problem.n = 4, problem.m = 3;
    problem.value_type = NORMOT_FLOAT64;
    problem.memory = memory;
    problem.a = a.data(), problem.b = b.data(), problem.cost = cost.data();
    normot_emd_params params;
    normot_emd_params_init(&params);
    EmdOutcome out = AllocateOutcome(3, 4, 3);
    normot_emd_result result = ResultView(out);
    normot_status status = normot_emd(context_, &problem, &params, &result);
    last_ = normot_context_last_error(context_);
    if (status != NORMOT_SUCCESS) {
      EXPECT_EQ(out.cost, std::vector<double>(3, -7.0)) << "a failed call wrote its outputs";
    }
    return status;
  }

  normot_context *context_ = nullptr;
  normot_backend_ops table_;
  std::string last_;
};

void NanInA(std::vector<double> &a, std::vector<double> &, std::vector<double> &) {
  a[2 * 4 + 1] = NAN;
}
void NegativeB(std::vector<double> &, std::vector<double> &b, std::vector<double> &) {
  b[1 * 3 + 2] = -0.5;
}
void ZeroMassB(std::vector<double> &, std::vector<double> &b, std::vector<double> &) {
  for (int j = 0; j < 3; ++j) b[2 * 3 + j] = 0;
}
void Unbalanced(std::vector<double> &a, std::vector<double> &, std::vector<double> &) {
  a[0] = 0.75;
}
void InfiniteCost(std::vector<double> &, std::vector<double> &, std::vector<double> &cost) {
  cost[12 + 7] = INFINITY;
}

TEST_F(BackendTableTest, ContentsAreCheckedBeforeAnyBackendRuns) {
  using Spoiler = void (*)(std::vector<double> &, std::vector<double> &, std::vector<double> &);
  const struct {
    Spoiler spoil;
    normot_status status;
  } cases[] = {{NanInA, NORMOT_ERROR_NONFINITE_VALUE},
               {NegativeB, NORMOT_ERROR_NEGATIVE_WEIGHT},
               {ZeroMassB, NORMOT_ERROR_ZERO_MASS},
               {Unbalanced, NORMOT_ERROR_UNBALANCED},
               {InfiniteCost, NORMOT_ERROR_NONFINITE_VALUE}};
  for (const auto &c : cases) {
    recorder = Recorder();
    EXPECT_EQ(Solve(c.spoil, NORMOT_MEMORY_HOST), c.status) << last_;
    EXPECT_EQ(recorder.emd_calls, 0) << "the backend saw a bad input: " << last_;
    EXPECT_EQ(recorder.enters, recorder.leaves);
  }
  EXPECT_EQ(Solve(NanInA, NORMOT_MEMORY_HOST), NORMOT_ERROR_NONFINITE_VALUE);
  EXPECT_EQ(last_, "problem 2: a[1] is not finite (nan)");
  recorder = Recorder();
  EXPECT_EQ(Solve(nullptr, NORMOT_MEMORY_HOST), NORMOT_SUCCESS) << last_;
  EXPECT_EQ(recorder.emd_calls, 1);
  EXPECT_EQ(recorder.enters, 1);
  EXPECT_EQ(recorder.leaves, 1);
}

TEST_F(BackendTableTest, DeviceInputsGetTheHostMessages) {
  // A backend that reads device memory hands the neutral layer a host copy to check: the
  // statuses and messages are the host's, word for word.
  table_.copy_to_host = FakeCopyToHost;
  using Spoiler = void (*)(std::vector<double> &, std::vector<double> &, std::vector<double> &);
  for (Spoiler spoil : {NanInA, NegativeB, ZeroMassB, Unbalanced, InfiniteCost}) {
    normot_status on_host = Solve(spoil, NORMOT_MEMORY_HOST);
    std::string host_message = last_;
    recorder = Recorder();
    EXPECT_EQ(Solve(spoil, NORMOT_MEMORY_CUDA), on_host);
    EXPECT_EQ(last_, host_message);
    EXPECT_EQ(recorder.copies, 3);  // a, b and the costs
    EXPECT_EQ(recorder.emd_calls, 0);
  }
  EXPECT_EQ(Solve(nullptr, NORMOT_MEMORY_CUDA), NORMOT_SUCCESS) << last_;
}

TEST_F(BackendTableTest, ABackendWithoutDeviceAccessRefusesDeviceMemory) {
  EXPECT_EQ(Solve(nullptr, NORMOT_MEMORY_CUDA), NORMOT_ERROR_INVALID_MEMORY);
  EXPECT_EQ(last_, "emd: the cpu backend cannot read device memory (NORMOT_MEMORY_CUDA)");
  EXPECT_EQ(recorder.emd_calls, 0);
  EXPECT_EQ(recorder.enters, recorder.leaves);
}

TEST(BackendTable, TheNeutralLayerKnowsBackendsOnlyThroughTheirTables) {
  const normot_backend_ops *cpu = normot_cpu_backend_ops();
  ASSERT_NE(cpu, nullptr);
  EXPECT_EQ(cpu->kind, NORMOT_BACKEND_CPU);
  EXPECT_EQ(cpu->device_count(), 0);
  const normot_backend_ops *cuda = normot_cuda_backend_ops();
  EXPECT_EQ(normot_cuda_device_count(), cuda == nullptr ? 0 : cuda->device_count());
  if (cuda != nullptr) {
    EXPECT_EQ(cuda->kind, NORMOT_BACKEND_CUDA);
    EXPECT_NE(cuda->enter, nullptr);
    EXPECT_NE(cuda->leave, nullptr);
    EXPECT_NE(cuda->copy_to_host, nullptr);
    EXPECT_NE(cuda->pointer_memory, nullptr);
  }
}

}  // namespace
