// The context, versions, status strings and backend choice.
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "test_support.h"

TEST(Version, MacrosMatchRuntime) {
  EXPECT_EQ(normot_version_number(), (unsigned)NORMOT_VERSION_NUMBER);
  char expected[32];
  snprintf(expected, sizeof expected, "%d.%d.%d", NORMOT_VERSION_MAJOR, NORMOT_VERSION_MINOR,
           NORMOT_VERSION_PATCH);
  EXPECT_STREQ(normot_version_string(), expected);
}

TEST(Status, EveryStatusHasItsOwnString) {
  const normot_status all[] = {NORMOT_SUCCESS,
                               NORMOT_ERROR_NULL_POINTER,
                               NORMOT_ERROR_INVALID_SIZE,
                               NORMOT_ERROR_INVALID_INDPTR,
                               NORMOT_ERROR_INDEX_OUT_OF_RANGE,
                               NORMOT_ERROR_NONFINITE_VALUE,
                               NORMOT_ERROR_INVALID_MAX_FRACTION,
                               NORMOT_ERROR_INVALID_TARGET_SUM,
                               NORMOT_ERROR_INVALID_LOG_BASE,
                               NORMOT_ERROR_UNSUPPORTED_TYPE,
                               NORMOT_ERROR_BACKEND_UNAVAILABLE,
                               NORMOT_ERROR_NO_POSITIVE_TOTAL,
                               NORMOT_ERROR_OUT_OF_MEMORY,
                               NORMOT_ERROR_NOT_IMPLEMENTED,
                               NORMOT_ERROR_CUDA,
                               NORMOT_ERROR_INVALID_MEMORY,
                               NORMOT_ERROR_INVALID_ARGUMENT,
                               NORMOT_ERROR_NEGATIVE_WEIGHT,
                               NORMOT_ERROR_UNBALANCED,
                               NORMOT_ERROR_ZERO_MASS,
                               NORMOT_ERROR_OVERFLOW,
                               NORMOT_ERROR_INTERNAL};
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

TEST(Context, ThreadCountHasAnUpperBound) {
  normot_context *context = nullptr;
  ASSERT_EQ(normot_context_create(&context, NORMOT_BACKEND_CPU, 0), NORMOT_SUCCESS);
  ASSERT_EQ(normot_context_set_threads(context, 2), NORMOT_SUCCESS);
  EXPECT_EQ(normot_context_set_threads(context, NORMOT_MAX_THREADS + 1),
            NORMOT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(normot_context_last_error(context), "above NORMOT_MAX_THREADS = 1024"),
            nullptr)
      << normot_context_last_error(context);
  EXPECT_EQ(normot_context_set_threads(context, 100000), NORMOT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(normot_context_threads(context), 2);  // refused: the previous value is kept
  EXPECT_EQ(normot_context_set_threads(context, NORMOT_MAX_THREADS), NORMOT_SUCCESS);
  EXPECT_EQ(normot_context_threads(context), NORMOT_MAX_THREADS);
  normot_context_destroy(context);
}

// Run by DefaultThreadsFollowOpenMP in a child process whose environment it sets: checks that a
// context left at 0 threads reports NORMOT_TEST_EXPECTED_THREADS. Skipped when run directly.
TEST(Context, DefaultThreadsChild) {
  const char *expected = std::getenv("NORMOT_TEST_EXPECTED_THREADS");
  if (expected == nullptr) GTEST_SKIP() << "runs as a child of DefaultThreadsFollowOpenMP";
  normot_context *context = nullptr;
  ASSERT_EQ(normot_context_create(&context, NORMOT_BACKEND_CPU, 0), NORMOT_SUCCESS);
  EXPECT_EQ(normot_context_threads(context), std::atoi(expected));
  normot_context_destroy(context);
}

// Runs this test program again, under `environment` (a command prefix), on DefaultThreadsChild.
static int RunDefaultThreadsChild(const std::string &environment) {
  char self[4096];
  ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
  if (length <= 0) return -1;
  self[length] = '\0';
  std::string command =
      environment + " '" + self + "' --gtest_filter=Context.DefaultThreadsChild > /dev/null 2>&1";
  return std::system(command.c_str());
}

TEST(Context, DefaultThreadsFollowOpenMP) {
  // 0 means omp_get_max_threads(): OMP_NUM_THREADS is honoured, capped at NORMOT_MAX_THREADS.
  EXPECT_EQ(RunDefaultThreadsChild("OMP_NUM_THREADS=3 NORMOT_TEST_EXPECTED_THREADS=3"), 0);
  EXPECT_EQ(RunDefaultThreadsChild("OMP_NUM_THREADS=100000 NORMOT_TEST_EXPECTED_THREADS=1024"), 0);
  // And the affinity mask, when OMP_NUM_THREADS is not set.
  if (std::system("taskset -c 0 true > /dev/null 2>&1") == 0)
    EXPECT_EQ(RunDefaultThreadsChild("env -u OMP_NUM_THREADS NORMOT_TEST_EXPECTED_THREADS=1 "
                                     "taskset -c 0"),
              0);
  // The child really checks: a wrong expectation fails it.
  EXPECT_NE(RunDefaultThreadsChild("OMP_NUM_THREADS=3 NORMOT_TEST_EXPECTED_THREADS=4"), 0);
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
