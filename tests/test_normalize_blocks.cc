// The CPU's row-wise passes split a CSR matrix into blocks of about the same number of values,
// each block into cache-sized groups of rows, and scale a group's values several lanes at a time
// across row boundaries. These tests put row boundaries wherever a vector, a group or a block can
// end: rows of every length from 0 to 40, runs of empty rows, rows that straddle block
// boundaries, one row longer than a whole block among tiny ones. Every byte is compared with a
// plain row-by-row computation of the rules, for 1, 2, 3 and 7 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "normot/normot.h"

namespace {

struct RowMatrix {
  int64_t rows = 0, cols = 64;
  std::vector<int64_t> indptr{0}, indices;
  std::vector<double> values;  // exact in float32
};

// Short rows of lengths cycling through 0..40 with random jitter, a run of five empty rows every
// 97 rows, and (when huge_row >= 0) one row of huge_length values. Counts, or (real_values)
// counts times log-normal noise, so that float64 totals depend on the order of the additions.
RowMatrix ShortRows(uint64_t seed, int64_t rows, bool real_values, int64_t huge_row,
                    int64_t huge_length) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> jitter(0, 3), count(1, 60);
  std::lognormal_distribution<double> noise(0.0, 1.0);
  RowMatrix m;
  m.rows = rows;
  for (int64_t r = 0; r < rows; ++r) {
    int64_t length = r % 97 < 5 ? 0 : (r % 41 + jitter(rng)) % 41;
    if (r == huge_row) length = huge_length;
    for (int64_t k = 0; k < length; ++k) {
      double v = count(rng);
      if (real_values) v = (double)(float)(v * noise(rng));
      m.indices.push_back(k % m.cols);
      m.values.push_back(v);
    }
    m.indptr.push_back((int64_t)m.indices.size());
  }
  return m;
}

// The rules row by row in T: float64 totals in stored order rounded to T, the target (given or
// the median of the positive totals), size factors, and each value divided by its row's factor.
template <typename T>
struct Expected {
  std::vector<T> values, totals, size_factors;
};

template <typename T>
Expected<T> Reference(const RowMatrix &m, bool median, double target_sum) {
  Expected<T> e;
  std::vector<T> positive;
  for (int64_t r = 0; r < m.rows; ++r) {
    double sum = 0.0;
    for (int64_t k = m.indptr[r]; k < m.indptr[r + 1]; ++k) sum += (double)(T)m.values[k];
    e.totals.push_back((T)sum);
    if ((T)sum > 0) positive.push_back((T)sum);
  }
  T target = (T)target_sum;
  if (median) {
    std::sort(positive.begin(), positive.end());
    size_t n = positive.size();
    target = n % 2 ? positive[n / 2] : (T)((T)(positive[n / 2 - 1] + positive[n / 2]) / (T)2);
  }
  for (int64_t r = 0; r < m.rows; ++r) {
    T factor = e.totals[r] / target;
    e.size_factors.push_back(factor);
    if (factor == 0) factor = 1;
    for (int64_t k = m.indptr[r]; k < m.indptr[r + 1]; ++k)
      e.values.push_back((T)m.values[k] / factor);
  }
  return e;
}

template <typename T>
bool SameBytes(const std::vector<T> &a, const std::vector<T> &b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

struct Mode {
  const char *name;
  bool median;
  int check_values;  // 0 with a target_sum: the fused pass
};

// Normalizes X in place with `threads` threads and compares the totals and size factors with
// `want`; the values are compared by the caller (their order depends on the layout).
template <typename T>
void NormalizeAndCompareFactors(normot_context *context, normot_matrix *X, Mode mode, int threads,
                                const Expected<T> &want) {
  std::vector<T> totals((size_t)X->n_rows), size_factors((size_t)X->n_rows);
  normot_normalize_params params;
  normot_normalize_params_init(&params);
  params.has_target_sum = !mode.median;
  params.target_sum = 1e4;
  params.check_values = mode.check_values;
  normot_normalize_output out = {};
  out.value_type = X->value_type;
  out.totals = totals.data();
  out.size_factors = size_factors.data();
  ASSERT_EQ(normot_context_set_threads(context, threads), NORMOT_SUCCESS);
  ASSERT_EQ(normot_normalize_total(context, X, &params, &out), NORMOT_SUCCESS)
      << normot_context_last_error(context);
  EXPECT_TRUE(SameBytes(totals, want.totals)) << "totals differ";
  EXPECT_TRUE(SameBytes(size_factors, want.size_factors)) << "size factors differ";
}

// Runs every mode at 1, 2, 3 and 7 threads with int32 and int64 indices, in type T, and
// compares values, totals and size factors with the reference byte for byte.
template <typename T>
void ExpectReferenceBytes(const RowMatrix &m) {
  const normot_value_type type = sizeof(T) == 4 ? NORMOT_FLOAT32 : NORMOT_FLOAT64;
  normot_context *context = nullptr;
  ASSERT_EQ(normot_context_create(&context, NORMOT_BACKEND_CPU, 0), NORMOT_SUCCESS);
  std::vector<int32_t> indptr32(m.indptr.begin(), m.indptr.end());
  std::vector<int32_t> indices32(m.indices.begin(), m.indices.end());
  for (Mode mode : {Mode{"fused target_sum", false, 0}, Mode{"checked target_sum", false, 1},
                    Mode{"median", true, 1}})
    for (normot_index_type index : {NORMOT_INDEX_INT32, NORMOT_INDEX_INT64})
      for (int threads : {1, 2, 3, 7}) {
        SCOPED_TRACE(std::string(mode.name) + ", " + std::to_string(threads) + " threads" +
                     (index == NORMOT_INDEX_INT32 ? ", int32" : ", int64"));
        Expected<T> want = Reference<T>(m, mode.median, 1e4);
        std::vector<T> values(m.values.begin(), m.values.end());
        const bool narrow = index == NORMOT_INDEX_INT32;
        normot_matrix X = normot_matrix_csr(
            m.rows, m.cols, (int64_t)values.size(),
            narrow ? (const void *)indptr32.data() : (const void *)m.indptr.data(),
            narrow ? (const void *)indices32.data() : (const void *)m.indices.data(), index,
            values.data(), type);
        NormalizeAndCompareFactors<T>(context, &X, mode, threads, want);
        EXPECT_TRUE(SameBytes(values, want.values)) << "values differ";
      }
  normot_context_destroy(context);
}

TEST(NormalizeBlocks, ShortAndEmptyRowsAcrossVectorsGroupsAndBlocks) {
  // About 20 values per row: 300k values, several blocks, thousands of groups.
  RowMatrix counts = ShortRows(1, 15000, false, -1, 0);
  ExpectReferenceBytes<float>(counts);
  ExpectReferenceBytes<double>(counts);
  RowMatrix real = ShortRows(2, 15000, true, -1, 0);
  ExpectReferenceBytes<float>(real);
  ExpectReferenceBytes<double>(real);
}

TEST(NormalizeBlocks, OneRowLongerThanABlockAmongTinyRows) {
  for (int64_t at : {0, 4321, 11999}) {
    SCOPED_TRACE("huge row at " + std::to_string(at));
    RowMatrix counts = ShortRows(3 + at, 12000, false, at, 70001);
    ExpectReferenceBytes<float>(counts);
    ExpectReferenceBytes<double>(counts);
    RowMatrix real = ShortRows(4 + at, 12000, true, at, 70001);
    ExpectReferenceBytes<float>(real);
  }
}

TEST(NormalizeBlocks, OnlyEmptyRowsAfterTheLastBlockBoundary) {
  // nnz a multiple of the block size, then empty rows that start at nnz: the last block holds
  // rows but no values.
  RowMatrix m;
  m.rows = 3000;
  for (int64_t r = 0; r < m.rows; ++r) {
    int64_t length = r < 2048 ? 32 : 0;
    for (int64_t k = 0; k < length; ++k) {
      m.indices.push_back(k);
      m.values.push_back((double)(1 + (r + k) % 9));
    }
    m.indptr.push_back((int64_t)m.indices.size());
  }
  ExpectReferenceBytes<float>(m);
  ExpectReferenceBytes<double>(m);
}

// The fused pass groups whole rows up to a number of values (a few thousand) and prefetches one
// group ahead: rows whose lengths sit just below, at and above the sizes a group has had (2048
// and 8192 values), between short ones, so a group ends exactly at, one before and one after a
// row boundary, and a row alone overflows a group. Real values too, whose totals depend on the
// order of the additions.
TEST(NormalizeBlocks, RowsAroundTheGroupSize) {
  for (bool real_values : {false, true}) {
    SCOPED_TRACE(real_values ? "real values" : "counts");
    std::mt19937_64 rng(11);
    std::uniform_int_distribution<int> count(1, 60);
    std::lognormal_distribution<double> noise(0.0, 1.0);
    RowMatrix m;
    m.cols = 9000;
    const int64_t lengths[] = {2047, 1, 2048, 0, 2049, 3, 1023, 1025, 4095, 8191, 8192, 8193, 7};
    for (int repeat = 0; repeat < 3; ++repeat)
      for (int64_t length : lengths) {
        for (int64_t k = 0; k < length; ++k) {
          double v = count(rng);
          if (real_values) v = (double)(float)(v * noise(rng));
          m.indices.push_back(k);
          m.values.push_back(v);
        }
        m.indptr.push_back((int64_t)m.indices.size());
        ++m.rows;
      }
    ExpectReferenceBytes<float>(m);
    ExpectReferenceBytes<double>(m);
  }
}

// CSC sums each row over the columns in blocks of rows (several per thread when the columns
// are sorted): the same bytes as the CSR reference (counts, so the column order cannot change a
// total) at any thread count, with more than a block's rows.
TEST(NormalizeBlocks, CscRowBlocksGiveTheReferenceBytes) {
  RowMatrix m = ShortRows(5, 30000, false, 777, 70001);
  for (int64_t r = 0; r < m.rows; ++r)  // distinct, increasing columns in each row
    for (int64_t k = m.indptr[r]; k < m.indptr[r + 1]; ++k) m.indices[k] = k - m.indptr[r];
  m.cols = 70001;
  const int64_t nnz = (int64_t)m.values.size();
  std::vector<int64_t> colptr((size_t)m.cols + 1, 0), rows((size_t)nnz), where((size_t)nnz);
  for (int64_t c : m.indices) ++colptr[(size_t)c + 1];
  for (int64_t c = 0; c < m.cols; ++c) colptr[(size_t)c + 1] += colptr[(size_t)c];
  std::vector<int64_t> next(colptr.begin(), colptr.end() - 1);
  for (int64_t r = 0; r < m.rows; ++r)
    for (int64_t k = m.indptr[r]; k < m.indptr[r + 1]; ++k) {
      where[(size_t)k] = next[(size_t)m.indices[k]]++;
      rows[(size_t)where[(size_t)k]] = r;
    }
  normot_context *context = nullptr;
  ASSERT_EQ(normot_context_create(&context, NORMOT_BACKEND_CPU, 0), NORMOT_SUCCESS);
  for (bool median : {false, true}) {
    Expected<float> want = Reference<float>(m, median, 1e4);
    for (int threads : {1, 2, 3, 7}) {
      SCOPED_TRACE(std::string(median ? "median, " : "target_sum, ") + std::to_string(threads));
      std::vector<float> values((size_t)nnz);
      for (int64_t k = 0; k < nnz; ++k) values[(size_t)where[(size_t)k]] = (float)m.values[k];
      normot_matrix X = normot_matrix_csc(m.rows, m.cols, nnz, colptr.data(), rows.data(),
                                          NORMOT_INDEX_INT64, values.data(), NORMOT_FLOAT32);
      NormalizeAndCompareFactors<float>(context, &X, Mode{"", median, 1}, threads, want);
      std::vector<float> in_csr_order((size_t)nnz);
      for (int64_t k = 0; k < nnz; ++k) in_csr_order[(size_t)k] = values[(size_t)where[(size_t)k]];
      EXPECT_TRUE(SameBytes(in_csr_order, want.values)) << "values differ";
    }
  }
  normot_context_destroy(context);
}

// The median target is selected among the totals that share the middle rank's top 16 bits; the
// lower middle of an even count may lie in a lower bin, or in the same one.
TEST(NormalizeBlocks, MedianTargetAcrossMagnitudes) {
  normot_context *context = nullptr;
  ASSERT_EQ(normot_context_create(&context, NORMOT_BACKEND_CPU, 0), NORMOT_SUCCESS);
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> exponent(-20.0, 40.0);
  for (int64_t n : {1, 2, 3, 4, 1001, 1002, 50000, 50001}) {
    std::vector<double> totals((size_t)n);
    for (double &t : totals) t = (double)(float)std::exp2(exponent(rng));
    if (n == 2) totals = {1.0, 1000.0};               // the lower middle in a lower bin
    if (n == 4) totals = {3.0, 1000.0, 1001.0, 5e9};  // both middles in one bin
    std::vector<double> sorted = totals;
    std::sort(sorted.begin(), sorted.end());
    size_t h = (size_t)n / 2;
    double want = n % 2 ? sorted[h] : (sorted[h - 1] + sorted[h]) / 2.0;
    std::vector<int64_t> indptr((size_t)n + 1), indices((size_t)n, 0);
    for (int64_t r = 0; r <= n; ++r) indptr[(size_t)r] = r;
    normot_matrix X = normot_matrix_csr(n, 1, n, indptr.data(), indices.data(), NORMOT_INDEX_INT64,
                                        totals.data(), NORMOT_FLOAT64);
    normot_normalize_params params;
    normot_normalize_params_init(&params);
    normot_normalize_output out = {};
    out.value_type = NORMOT_FLOAT64;
    ASSERT_EQ(normot_normalize_total(context, &X, &params, &out), NORMOT_SUCCESS)
        << normot_context_last_error(context);
    EXPECT_EQ(out.target, want) << n << " totals";
  }
  normot_context_destroy(context);
}

}  // namespace
