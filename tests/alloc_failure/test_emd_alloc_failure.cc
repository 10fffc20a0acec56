// Running out of memory at any allocation of an EMD call leaves every output untouched: the
// library's allocations are failed one at a time (the N-th allocation made by libnormot returns
// NULL, for N = 0, 1, 2, ... until the call succeeds), and each failed call must return
// NORMOT_ERROR_OUT_OF_MEMORY with every output as it was. The batches hold several problems, so
// that failures after the first problem was solved are met (the multiscale solver allocates as
// it goes).
//
// This executable replaces malloc, calloc, realloc and aligned_alloc (forwarding to glibc's), so
// it is built apart from the other tests and not under the sanitizers, which replace them too.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <malloc.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "../test_emd_support.h"

extern "C" {
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t count, size_t size);
void *__libc_realloc(void *pointer, size_t size);
void *__libc_memalign(size_t alignment, size_t size);
}

namespace {

std::atomic<bool> armed{false};
std::atomic<int64_t> countdown{0};  // allocations by libnormot left before the one that fails
std::atomic<int64_t> failed{0};
void *library_base = nullptr;

// True when the allocation called from `caller` must fail.
bool FailHere(void *caller) {
  if (!armed.load(std::memory_order_relaxed)) return false;
  Dl_info info;
  if (dladdr(caller, &info) == 0 || info.dli_fbase != library_base) return false;
  if (countdown.fetch_sub(1) != 0) return false;
  failed.fetch_add(1);
  return true;
}

}  // namespace

extern "C" {
void *malloc(size_t size) {
  if (FailHere(__builtin_return_address(0))) return nullptr;
  return __libc_malloc(size);
}
void *calloc(size_t count, size_t size) {
  if (FailHere(__builtin_return_address(0))) return nullptr;
  return __libc_calloc(count, size);
}
void *realloc(void *pointer, size_t size) {
  if (FailHere(__builtin_return_address(0))) return nullptr;
  return __libc_realloc(pointer, size);
}
void *aligned_alloc(size_t alignment, size_t size) {
  if (FailHere(__builtin_return_address(0))) return nullptr;
  return __libc_memalign(alignment, size);
}
}

namespace {

bool SameOutputs(const EmdOutcome &x, const EmdOutcome &y) {
  return x.cost == y.cost && x.plan == y.plan && x.u == y.u && x.v == y.v &&
         x.sparse_value == y.sparse_value && x.sparse_row == y.sparse_row &&
         x.sparse_col == y.sparse_col && x.sparse_count == y.sparse_count &&
         x.iterations == y.iterations && x.status == y.status && x.flags == y.flags;
}

// A call of normot_emd or normot_emd_sparse on outputs filled by AllocateOutcome.
using Call = std::function<normot_status(normot_context *, EmdOutcome *)>;

// Fails the library's allocations one at a time until `call` succeeds; returns how many
// allocations were failed. Each call runs on a fresh context, so that the workspaces the
// context caches are allocated (and failed) inside the call too.
int64_t SweepAllocationFailures(int threads, int64_t k, int64_t n, int64_t m, const Call &call) {
  Dl_info info;
  EXPECT_NE(dladdr(reinterpret_cast<void *>(&normot_emd), &info), 0);
  library_base = info.dli_fbase;
  for (int64_t fail_at = 0;; ++fail_at) {
    SCOPED_TRACE(::testing::Message() << "allocation " << fail_at << " fails");
    normot_context *context = nullptr;
    EXPECT_EQ(normot_context_create(&context, NORMOT_BACKEND_CPU, 0), NORMOT_SUCCESS);
    EXPECT_EQ(normot_context_set_threads(context, threads), NORMOT_SUCCESS);
    EmdOutcome out = AllocateOutcome(k, n, m);
    failed = 0;
    countdown = fail_at;
    armed = true;
    normot_status status = call(context, &out);
    armed = false;
    const std::string message = normot_context_last_error(context);
    normot_context_destroy(context);
    if (status == NORMOT_SUCCESS) {
      // Solved: either no allocation was failed (the sweep is over), or the solver went
      // without what it could not get (the cloud hierarchy prices every pair without its
      // cell boxes) and still solved every problem.
      for (int64_t p = 0; p < k; ++p) EXPECT_EQ(out.status[p], NORMOT_EMD_OPTIMAL);
      if (failed.load() == 0) return fail_at;
      continue;
    }
    EXPECT_EQ(status, NORMOT_ERROR_OUT_OF_MEMORY) << message;
    EXPECT_TRUE(SameOutputs(out, AllocateOutcome(k, n, m)));
    if (status != NORMOT_ERROR_OUT_OF_MEMORY || fail_at > 100000) return fail_at;
  }
}

normot_emd_params Params(normot_emd_solver solver) {
  normot_emd_params params;
  normot_emd_params_init(&params);
  params.solver = solver;
  return params;
}

std::vector<EmdCase> Batch(uint64_t seed, int64_t k, int64_t n, int64_t m) {
  std::mt19937_64 rng(seed);
  std::vector<EmdCase> cases;
  for (int64_t p = 0; p < k; ++p) cases.push_back(PointCloudCase(rng, n, m, false));
  return cases;
}

TEST(EmdAllocationFailure, MultiscaleBatchWritesNothingUnlessEveryProblemIsSolved) {
  const std::vector<EmdCase> cases = Batch(1, 4, 60, 70);
  for (int threads : {1, 2}) {
    SCOPED_TRACE(::testing::Message() << threads << " threads");
    int64_t failures =
        SweepAllocationFailures(threads, 4, 60, 70, [&](normot_context *c, EmdOutcome *out) {
          return SolveBatch(c, cases, Params(NORMOT_EMD_SOLVER_MULTISCALE), out);
        });
    // Each of the four problems allocates its own candidate arcs and simplex: the last
    // failures come after three problems were solved.
    EXPECT_GE(failures, 40);
  }
}

TEST(EmdAllocationFailure, MultiscalePointCloudBatchWritesNothingUnlessEveryProblemIsSolved) {
  // Clouds large enough for the coarse-to-fine hierarchy (n + m > 2048), two problems.
  const int64_t k = 2, n = 1030, m = 1020;
  std::mt19937_64 rng(2);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<double> x(k * n * 2), y(k * m * 2), a(k * n), b(k * m);
  for (double &t : x) t = unit(rng);
  for (double &t : y) t = unit(rng) * unit(rng);
  for (double &t : a) t = unit(rng) + 0.1;
  for (double &t : b) t = unit(rng) + 0.1;
  for (int64_t p = 0; p < k; ++p) {  // each problem balanced
    double sa = 0, sb = 0;
    for (int64_t i = 0; i < n; ++i) sa += a[p * n + i];
    for (int64_t j = 0; j < m; ++j) sb += b[p * m + j];
    for (int64_t j = 0; j < m; ++j) b[p * m + j] *= sa / sb;
  }
  normot_emd_problem problem = {};
  problem.k = k, problem.n = n, problem.m = m, problem.dim = 2;
  problem.value_type = NORMOT_FLOAT64;
  problem.memory = NORMOT_MEMORY_HOST;
  problem.a = a.data(), problem.b = b.data(), problem.x = x.data(), problem.y = y.data();
  const normot_emd_params params = Params(NORMOT_EMD_SOLVER_MULTISCALE);
  int64_t failures = SweepAllocationFailures(1, k, n, m, [&](normot_context *c, EmdOutcome *out) {
    normot_emd_result result = ResultView(*out);
    result.plan = nullptr;  // 1.1 million entries per problem: the sparse plan is enough
    return normot_emd(c, &problem, &params, &result);
  });
  EXPECT_GE(failures, 40);
}

TEST(EmdAllocationFailure, DenseBatchWritesNothingOnFailure) {
  const std::vector<EmdCase> cases = Batch(3, 3, 40, 30);
  for (normot_emd_solver solver :
       {NORMOT_EMD_SOLVER_NETWORK_SIMPLEX, NORMOT_EMD_SOLVER_AUTO, NORMOT_EMD_SOLVER_AUCTION}) {
    SCOPED_TRACE(::testing::Message() << "solver " << solver);
    int64_t failures =
        SweepAllocationFailures(2, 3, 40, 30, [&](normot_context *c, EmdOutcome *out) {
          return SolveBatch(c, cases, Params(solver), out);
        });
    EXPECT_GE(failures, 1);
  }
}

TEST(EmdAllocationFailure, SparseCostWritesNothingOnFailure) {
  // Every third pair is missing; the rest carry the marginals.
  const EmdCase c = Batch(4, 1, 50, 45)[0];
  std::vector<int64_t> indptr{0}, indices;
  std::vector<double> values;
  for (int64_t i = 0; i < c.n; ++i) {
    for (int64_t j = 0; j < c.m; ++j)
      if ((i + j) % 3 != 0) indices.push_back(j), values.push_back(c.cost[i * c.m + j]);
    indptr.push_back((int64_t)indices.size());
  }
  const std::vector<double> a = WeightsOf(c.a, c.n), b = WeightsOf(c.b, c.m);
  normot_emd_sparse_problem problem = {};
  problem.n = c.n, problem.m = c.m, problem.nnz = (int64_t)values.size();
  problem.value_type = NORMOT_FLOAT64;
  problem.a = a.data(), problem.b = b.data();
  problem.indptr = indptr.data(), problem.indices = indices.data();
  problem.index_type = NORMOT_INDEX_INT64;
  problem.values = values.data();
  problem.memory = NORMOT_MEMORY_HOST;
  const normot_emd_params params = Params(NORMOT_EMD_SOLVER_AUTO);
  int64_t failures =
      SweepAllocationFailures(1, 1, c.n, c.m, [&](normot_context *context, EmdOutcome *out) {
        normot_emd_result result = ResultView(*out);
        return normot_emd_sparse(context, &problem, &params, &result);
      });
  EXPECT_GE(failures, 5);
}

}  // namespace
