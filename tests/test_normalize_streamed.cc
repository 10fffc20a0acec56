// Out-of-place CSR normalize_total into an output larger than 64 MiB: the AVX2 scaling writes
// it with non-temporal stores, after the values up to the output's first 32-byte boundary one by
// one (src/cpu/normalize_scale.c). Its bytes, totals and size factors must be those of the same
// call in place (ordinary stores), with the output aligned or not, for float32 and float64, both
// passes (median: two-pass; target_sum unchecked: fused), at 1 and 2 threads.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "normot/normot.h"

namespace {

// Rows of 0 to 40 values (many shorter than a vector, some empty) and a few long ones, cycling,
// until `target` values; counts 0..30 with some non-integer values.
struct Rows {
  std::vector<int64_t> indptr{0};
  std::vector<int64_t> indices;
  std::vector<double> values;
};

Rows MakeRows(int64_t target) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> length(0, 40), count(0, 30), pick(0, 999);
  Rows m;
  while ((int64_t)m.values.size() < target) {
    int n = pick(rng) < 5 ? 3000 : length(rng);
    for (int k = 0; k < n; ++k) {
      m.indices.push_back(k);
      m.values.push_back(pick(rng) < 3 ? count(rng) + 0.25 : (double)count(rng));
    }
    m.indptr.push_back((int64_t)m.values.size());
  }
  return m;
}

template <typename T>
void ExpectStreamedEqualsInPlace(normot_value_type type) {
  // Just past the 64 MiB at which the output is streamed.
  const Rows m = MakeRows((int64_t)(64 << 20) / (int64_t)sizeof(T) + 4096);
  const int64_t n_rows = (int64_t)m.indptr.size() - 1, nnz = (int64_t)m.values.size();
  std::vector<T> input(m.values.begin(), m.values.end());
  const std::vector<T> pristine = input;
  normot_context *context = nullptr;
  ASSERT_EQ(normot_context_create(&context, NORMOT_BACKEND_CPU, 0), NORMOT_SUCCESS);
  for (bool median : {true, false}) {
    normot_normalize_params params;
    normot_normalize_params_init(&params);
    if (!median) {
      params.has_target_sum = 1;
      params.target_sum = 1e4;
      params.check_values = 0;  // the fused pass
    }
    for (int threads : {1, 2}) {
      ASSERT_EQ(normot_context_set_threads(context, threads), NORMOT_SUCCESS);
      std::vector<T> in_place = input, want_totals((size_t)n_rows), want_factors((size_t)n_rows);
      normot_matrix X = normot_matrix_csr(n_rows, 20000, nnz, m.indptr.data(), m.indices.data(),
                                          NORMOT_INDEX_INT64, in_place.data(), type);
      normot_normalize_output want = {};
      want.value_type = type;
      want.totals = want_totals.data();
      want.size_factors = want_factors.data();
      ASSERT_EQ(normot_normalize_total(context, &X, &params, &want), NORMOT_SUCCESS)
          << normot_context_last_error(context);
      for (int offset : {0, 1, 3}) {  // elements past a 32-byte boundary of the output
        std::vector<T> buffer((size_t)nnz + 8), totals((size_t)n_rows), factors((size_t)n_rows);
        T *start = buffer.data();
        while ((uintptr_t)start % 32 != 0) ++start;
        start += offset;
        normot_matrix Y = normot_matrix_csr(n_rows, 20000, nnz, m.indptr.data(), m.indices.data(),
                                            NORMOT_INDEX_INT64, input.data(), type);
        normot_normalize_output got = {};
        got.value_type = type;
        got.values = start;
        got.totals = totals.data();
        got.size_factors = factors.data();
        ASSERT_EQ(normot_normalize_total(context, &Y, &params, &got), NORMOT_SUCCESS);
        EXPECT_EQ(std::memcmp(start, in_place.data(), (size_t)nnz * sizeof(T)), 0)
            << (median ? "median" : "target_sum") << ", " << threads << " threads, offset "
            << offset;
        EXPECT_EQ(totals, want_totals);
        EXPECT_EQ(factors, want_factors);
        EXPECT_EQ(got.target, want.target);
        EXPECT_EQ(input, pristine);  // out of place: the input is left as it was
      }
    }
  }
  normot_context_destroy(context);
}

TEST(NormalizeStreamed, Float32OutputGivesTheInPlaceBytes) {
  ExpectStreamedEqualsInPlace<float>(NORMOT_FLOAT32);
}

TEST(NormalizeStreamed, Float64OutputGivesTheInPlaceBytes) {
  ExpectStreamedEqualsInPlace<double>(NORMOT_FLOAT64);
}

}  // namespace
