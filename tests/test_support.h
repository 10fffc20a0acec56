// Shared by every test file: one suite, instantiated for every backend.
#ifndef NORMOT_TEST_SUPPORT_H
#define NORMOT_TEST_SUPPORT_H

#include <gtest/gtest.h>

#include <string>

#include "normot/normot.h"

// A test fixture parameterized by backend: SetUp creates a context on it, or skips the test
// with a visible reason when that backend cannot run here (CUDA without a device).
// The CUDA backend's EMD code compiled for the host, behind a backend table of its own
// (tests/test_auction_cuda_emulation.cc): the EMD suites run their shared instances on it too.
// 3: the next value after CUDA, still inside the enum's range of values (one past it would be
// undefined behaviour in C++).
const normot_backend kEmulatedCuda = (normot_backend)3;
normot_status CreateEmulatedCudaContext(normot_context **context);

class BackendTest : public ::testing::TestWithParam<normot_backend> {
 protected:
  void SetUp() override {
    if (GetParam() == kEmulatedCuda) {
      ASSERT_EQ(CreateEmulatedCudaContext(&context_), NORMOT_SUCCESS);
      return;
    }
    if (!normot_backend_available(GetParam()))
      GTEST_SKIP() << "backend " << normot_backend_name(GetParam())
                   << " is not available here (not compiled in, or no CUDA device)";
    ASSERT_EQ(normot_context_create(&context_, GetParam(), 0), NORMOT_SUCCESS);
  }
  void TearDown() override { normot_context_destroy(context_); }
  normot_context *context_ = nullptr;
};

inline std::string BackendName(const ::testing::TestParamInfo<normot_backend> &info) {
  return info.param == kEmulatedCuda ? "cuda_emulated" : normot_backend_name(info.param);
}

// Instantiate a BackendTest-derived suite for the CPU and CUDA backends.
#define NORMOT_INSTANTIATE_FOR_BACKENDS(Suite) \
  INSTANTIATE_TEST_SUITE_P(                    \
      AllBackends, Suite, ::testing::Values(NORMOT_BACKEND_CPU, NORMOT_BACKEND_CUDA), BackendName)

// The EMD suites: also on the emulated CUDA backend.
#define NORMOT_INSTANTIATE_FOR_EMD_BACKENDS(Suite) \
  INSTANTIATE_TEST_SUITE_P(                        \
      AllBackends, Suite,                          \
      ::testing::Values(NORMOT_BACKEND_CPU, NORMOT_BACKEND_CUDA, kEmulatedCuda), BackendName)

// Where the shared data (../shared/data) is, or "" when it is absent: tests that need it skip.
std::string SharedDataDir();
// Where the committed small golden files live (tests/data).
std::string TestDataDir();

#endif
