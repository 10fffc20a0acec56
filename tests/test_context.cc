// The context, versions, status strings and backend choice.
#include <cstring>

#include "test_support.h"

TEST(Version, MacrosMatchRuntime) {
  EXPECT_EQ(normot_version_number(), (unsigned)NORMOT_VERSION_NUMBER);
  char expected[32];
  snprintf(expected, sizeof expected, "%d.%d.%d", NORMOT_VERSION_MAJOR, NORMOT_VERSION_MINOR,
           NORMOT_VERSION_PATCH);
  EXPECT_STREQ(normot_version_string(), expected);
}

TEST(Status, EveryStatusHasItsOwnString) {
  const normot_status all[] = {
      NORMOT_SUCCESS, NORMOT_ERROR_NULL_POINTER, NORMOT_ERROR_INVALID_SIZE,
      NORMOT_ERROR_INVALID_INDPTR, NORMOT_ERROR_INDEX_OUT_OF_RANGE, NORMOT_ERROR_NONFINITE_VALUE,
      NORMOT_ERROR_INVALID_MAX_FRACTION, NORMOT_ERROR_INVALID_TARGET_SUM,
      NORMOT_ERROR_INVALID_LOG_BASE, NORMOT_ERROR_UNSUPPORTED_TYPE,
      NORMOT_ERROR_BACKEND_UNAVAILABLE, NORMOT_ERROR_NO_POSITIVE_TOTAL,
      NORMOT_ERROR_OUT_OF_MEMORY, NORMOT_ERROR_NOT_IMPLEMENTED, NORMOT_ERROR_CUDA,
      NORMOT_ERROR_INVALID_MEMORY, NORMOT_ERROR_INVALID_ARGUMENT, NORMOT_ERROR_NEGATIVE_WEIGHT,
      NORMOT_ERROR_UNBALANCED, NORMOT_ERROR_ZERO_MASS, NORMOT_ERROR_INTERNAL};
  for (normot_status a : all)
    for (normot_status b : all)
      if (a != b) EXPECT_STRNE(normot_status_string(a), normot_status_string(b));
  EXPECT_STREQ(normot_status_string((normot_status)12345), "unknown status");
  EXPECT_EQ(NORMOT_SUCCESS, 0);
}

TEST(Context, CreateDestroyAndThreads) {
  normot_context *context = nullptr;
  ASSERT_EQ(normot_context_create(&context, NORMOT_BACKEND_CPU, 0), NORMOT_SUCCESS);
  ASSERT_NE(context, nullptr);
  EXPECT_EQ(normot_context_backend(context), NORMOT_BACKEND_CPU);
  EXPECT_STREQ(normot_context_last_error(context), "");
  EXPECT_GE(normot_context_threads(context), 1);
  EXPECT_EQ(normot_context_set_threads(context, 3), NORMOT_SUCCESS);
  EXPECT_EQ(normot_context_threads(context), 3);
  EXPECT_EQ(normot_context_set_threads(context, -1), NORMOT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(normot_context_last_error(context), "negative"), nullptr);
  EXPECT_EQ(normot_context_threads(context), 3);
  int stream_token = 0;
  EXPECT_EQ(normot_context_set_stream(context, &stream_token), NORMOT_SUCCESS);
  EXPECT_EQ(normot_context_stream(context), &stream_token);
  normot_context_destroy(context);
  normot_context_destroy(nullptr);  // accepted, does nothing
}

TEST(Context, BadArguments) {
  EXPECT_EQ(normot_context_create(nullptr, NORMOT_BACKEND_CPU, 0), NORMOT_ERROR_NULL_POINTER);
  normot_context *context = reinterpret_cast<normot_context *>(0x1);
  EXPECT_EQ(normot_context_create(&context, (normot_backend)7, 0), NORMOT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(context, nullptr);
  EXPECT_EQ(normot_context_create(&context, NORMOT_BACKEND_CPU, -1), NORMOT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(normot_context_set_threads(nullptr, 1), NORMOT_ERROR_NULL_POINTER);
}

TEST(Context, AutoResolvesToAnAvailableBackend) {
  normot_context *context = nullptr;
  ASSERT_EQ(normot_context_create(&context, NORMOT_BACKEND_AUTO, 0), NORMOT_SUCCESS);
  normot_backend chosen = normot_context_backend(context);
  EXPECT_NE(chosen, NORMOT_BACKEND_AUTO);
  EXPECT_EQ(chosen == NORMOT_BACKEND_CUDA, normot_cuda_device_count() > 0);
  normot_context_destroy(context);
}

TEST(Context, CudaWithoutDeviceIsAClearStatus) {
  if (normot_cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  normot_context *context = nullptr;
  EXPECT_EQ(normot_context_create(&context, NORMOT_BACKEND_CUDA, 0),
            NORMOT_ERROR_BACKEND_UNAVAILABLE);
  EXPECT_EQ(context, nullptr);
  EXPECT_EQ(normot_backend_available(NORMOT_BACKEND_CUDA), 0);
}
