// Shared by every test file: one suite, instantiated for every backend.
#ifndef NORMOT_TEST_SUPPORT_H
#define NORMOT_TEST_SUPPORT_H

#include <gtest/gtest.h>

#include <string>

#include "normot/normot.h"

// A test fixture parameterized by backend: SetUp creates a context on it, or skips the test
// with a visible reason when that backend cannot run here (CUDA without a device).
class BackendTest : public ::testing::TestWithParam<normot_backend> {
 protected:
  void SetUp() override {
    if (!normot_backend_available(GetParam()))
      GTEST_SKIP() << "backend " << normot_backend_name(GetParam())
                   << " is not available here (not compiled in, or no CUDA device)";
    ASSERT_EQ(normot_context_create(&context_, GetParam(), 0), NORMOT_SUCCESS);
  }
  void TearDown() override { normot_context_destroy(context_); }
  normot_context *context_ = nullptr;
};

inline std::string BackendName(const ::testing::TestParamInfo<normot_backend> &info) {
  return normot_backend_name(info.param);
}

// Instantiate a BackendTest-derived suite for the CPU and CUDA backends.
#define NORMOT_INSTANTIATE_FOR_BACKENDS(Suite)                                        \
  INSTANTIATE_TEST_SUITE_P(AllBackends, Suite,                                        \
                           ::testing::Values(NORMOT_BACKEND_CPU, NORMOT_BACKEND_CUDA), \
                           BackendName)

// Where the shared data (../shared/data) is, or "" when it is absent: tests that need it skip.
std::string SharedDataDir();
// Where the committed small golden files live (tests/data).
std::string TestDataDir();

#endif
