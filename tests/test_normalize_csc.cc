// CSC normalize_total in blocks of rows (src/cpu/normalize_csc.c): the index check records where
// each block of 32768 rows starts in each column, the totals and the scaling then run block by
// block, and rows get their block's value range until a block fails the results check. These
// tests compare every byte with a direct computation of the rules from the CSC arrays (totals
// in column order, stored order within a column) over several blocks, with sorted and unsorted
// columns, duplicate rows, empty columns, rows without values and all-zero rows, at 1-3 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "normot/normot.h"

namespace {

struct Csc {
  int64_t rows = 0, cols = 0;
  std::vector<int64_t> colptr{0}, rows_of;
  std::vector<double> values;  // exact in float32
};

// Density `percent` over n_rows x 40 columns; columns 7 and 23 empty; rows [40000, 40100) without
// values; rows [50000, 50010) holding only zeros; every column's rows sorted (duplicates in
// column 3 when `duplicates`).
Csc Generate(uint64_t seed, int64_t n_rows, bool duplicates, int percent = 4) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> pick(0, 99), count(1, 40);
  Csc m;
  m.rows = n_rows;
  m.cols = 40;
  for (int64_t c = 0; c < m.cols; ++c) {
    for (int64_t r = 0; r < n_rows && c != 7 && c != 23; ++r) {
      if (r >= 40000 && r < 40100) continue;
      bool zero_row = r >= 50000 && r < 50010;
      if (!zero_row && pick(rng) >= percent) continue;
      int copies = duplicates && c == 3 && r % 5 == 0 ? 2 : 1;
      for (int k = 0; k < copies; ++k) {
        m.rows_of.push_back(r);
        m.values.push_back(zero_row ? 0.0 : (double)count(rng));
      }
    }
    m.colptr.push_back((int64_t)m.rows_of.size());
  }
  return m;
}

template <typename T>
struct Want {
  std::vector<T> values, totals, factors;
};

// The rules computed from the CSC arrays as stored.
template <typename T>
Want<T> Rules(const Csc &m, bool median) {
  std::vector<double> sums((size_t)m.rows, 0.0);
  for (int64_t c = 0; c < m.cols; ++c)
    for (int64_t j = m.colptr[c]; j < m.colptr[c + 1]; ++j)
      sums[(size_t)m.rows_of[j]] += (double)(T)m.values[j];
  Want<T> w;
  std::vector<T> positive;
  for (double s : sums) {
    w.totals.push_back((T)s);
    if ((T)s > 0) positive.push_back((T)s);
  }
  T target = (T)1e4;
  if (median) {
    std::sort(positive.begin(), positive.end());
    size_t h = positive.size() / 2;
    target = positive.size() % 2 ? positive[h] : (T)((T)(positive[h - 1] + positive[h]) / (T)2);
  }
  for (T total : w.totals) w.factors.push_back(total / target);
  for (size_t j = 0; j < m.values.size(); ++j) {
    T f = w.factors[(size_t)m.rows_of[j]];
    w.values.push_back((T)m.values[j] / (f == 0 ? (T)1 : f));
  }
  return w;
}

template <typename T>
bool Same(const std::vector<T> &a, const std::vector<T> &b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// Normalizes m out of place with int32 and int64 indices, 1-3 threads, median and target_sum,
// checked and not, and compares values, totals and size factors byte for byte.
template <typename T>
void ExpectRules(const Csc &m) {
  const normot_value_type type = sizeof(T) == 4 ? NORMOT_FLOAT32 : NORMOT_FLOAT64;
  normot_context *context = nullptr;
  ASSERT_EQ(normot_context_create(&context, NORMOT_BACKEND_CPU, 0), NORMOT_SUCCESS);
  std::vector<int32_t> colptr32(m.colptr.begin(), m.colptr.end());
  std::vector<int32_t> rows32(m.rows_of.begin(), m.rows_of.end());
  std::vector<T> in(m.values.begin(), m.values.end());
  const int64_t nnz = (int64_t)in.size();
  for (bool median : {false, true}) {
    Want<T> want = Rules<T>(m, median);
    for (int check : {0, 1})
      for (bool narrow : {true, false})
        for (int threads : {1, 2, 3}) {
          SCOPED_TRACE(std::string(median ? "median" : "target_sum") + ", check " +
                       std::to_string(check) + (narrow ? ", int32, " : ", int64, ") +
                       std::to_string(threads) + " threads");
          normot_matrix X = normot_matrix_csc(
              m.rows, m.cols, nnz, narrow ? (const void *)colptr32.data() : m.colptr.data(),
              narrow ? (const void *)rows32.data() : m.rows_of.data(),
              narrow ? NORMOT_INDEX_INT32 : NORMOT_INDEX_INT64, in.data(), type);
          std::vector<T> out((size_t)nnz), totals((size_t)m.rows), factors((size_t)m.rows);
          normot_normalize_params params;
          normot_normalize_params_init(&params);
          params.has_target_sum = !median;
          params.target_sum = 1e4;
          params.check_values = check;
          normot_normalize_output result = {};
          result.value_type = type;
          result.values = out.data();
          result.totals = totals.data();
          result.size_factors = factors.data();
          ASSERT_EQ(normot_context_set_threads(context, threads), NORMOT_SUCCESS);
          ASSERT_EQ(normot_normalize_total(context, &X, &params, &result), NORMOT_SUCCESS)
              << normot_context_last_error(context);
          EXPECT_TRUE(Same(out, want.values)) << "values differ";
          EXPECT_TRUE(Same(totals, want.totals)) << "totals differ";
          EXPECT_TRUE(Same(factors, want.factors)) << "size factors differ";
          EXPECT_EQ(result.n_zero_cells, std::count(want.factors.begin(), want.factors.end(), 0));
        }
  }
  normot_context_destroy(context);
}

TEST(NormalizeCsc, SortedColumnsInSeveralBlocks) {
  Csc m = Generate(1, 70001, false);  // blocks of 32768, 32768 and 4465 rows
  ExpectRules<float>(m);
  ExpectRules<double>(m);
}

TEST(NormalizeCsc, DuplicateRowsInAColumn) {
  Csc m = Generate(2, 70001, true);
  ExpectRules<float>(m);
  ExpectRules<double>(m);
}

TEST(NormalizeCsc, UnsortedColumnsTakeTheWholeColumnWalks) {
  for (bool all : {false, true}) {
    SCOPED_TRACE(all ? "every column shuffled" : "one column shuffled");
    Csc m = Generate(3, 70001, false);
    std::mt19937_64 rng(4);
    for (int64_t c = all ? 0 : 30; c < (all ? m.cols : 31); ++c) {
      std::vector<size_t> order((size_t)(m.colptr[c + 1] - m.colptr[c]));
      for (size_t k = 0; k < order.size(); ++k) order[k] = (size_t)m.colptr[c] + k;
      std::shuffle(order.begin(), order.end(), rng);
      std::vector<int64_t> rows;
      std::vector<double> values;
      for (size_t k : order) rows.push_back(m.rows_of[k]), values.push_back(m.values[k]);
      std::copy(rows.begin(), rows.end(), m.rows_of.begin() + m.colptr[c]);
      std::copy(values.begin(), values.end(), m.values.begin() + m.colptr[c]);
    }
    ExpectRules<float>(m);
    ExpectRules<double>(m);
  }
}

// Rows get their block's value range in the totals pass. Row 5 holds 3e38 (its result is the
// target), row 40 a single 1e-30, whose size factor is then ~1e-34: 3e38 over it overflows, but
// row 40's own value does not. The block's rows must get their own ranges before the
// results check decides; the call succeeds with the bytes of the rules.
TEST(NormalizeCsc, ABlockRangeThatFailsIsReplacedByTheRowsOwn) {
  Csc m;
  m.rows = 70000;
  m.cols = 2;
  m.rows_of = {5, 40, 0, 69999};
  m.values = {3e38, (double)1e-30f, 2.0, 7.0};
  m.colptr = {0, 2, 4};
  ExpectRules<float>(m);
}

// A row whose results really overflow (3e38, -3e38 and 1 in it: total 1) is reported as on
// CSR, with the row's own smallest and largest value, whatever its block's range was.
TEST(NormalizeCsc, ARealOverflowIsReportedAsOnCsr) {
  std::vector<int64_t> colptr = {0, 3, 6, 8};
  std::vector<int64_t> rows = {4, 33000, 33001, 0, 33000, 33001, 33000, 33001};
  std::vector<float> csc_values = {5.0f, 3e38f, 2.0f, 1e30f, -3e38f, 9.0f, 1.0f, 3.2e38f};
  // The same matrix in CSR: row 33000 holds (3e38, -3e38, 1) in columns (0, 1, 2), and row
  // 33001 the block's largest value, 3.2e38 (its results are finite).
  std::vector<int64_t> indptr(70001), indices = {1, 0, 0, 1, 2, 0, 1, 2};
  std::vector<float> csr_values = {1e30f, 5.0f, 3e38f, -3e38f, 1.0f, 2.0f, 9.0f, 3.2e38f};
  for (int64_t r = 0; r <= 70000; ++r)
    indptr[(size_t)r] = r < 1 ? 0 : r < 5 ? 1 : r < 33001 ? 2 : r < 33002 ? 5 : 8;
  normot_context *context = nullptr;
  ASSERT_EQ(normot_context_create(&context, NORMOT_BACKEND_CPU, 0), NORMOT_SUCCESS);
  normot_normalize_params params;
  normot_normalize_params_init(&params);
  params.has_target_sum = 1;
  params.target_sum = 1e4;
  std::vector<float> out(8);
  normot_normalize_output result = {};
  result.value_type = NORMOT_FLOAT32;
  result.values = out.data();
  normot_matrix csr = normot_matrix_csr(70000, 3, 8, indptr.data(), indices.data(),
                                        NORMOT_INDEX_INT64, csr_values.data(), NORMOT_FLOAT32);
  ASSERT_EQ(normot_normalize_total(context, &csr, &params, &result), NORMOT_ERROR_OVERFLOW);
  const std::string want = normot_context_last_error(context);
  EXPECT_NE(want.find("row 33000"), std::string::npos) << want;
  for (int threads : {1, 2, 3}) {
    ASSERT_EQ(normot_context_set_threads(context, threads), NORMOT_SUCCESS);
    normot_matrix csc = normot_matrix_csc(70000, 3, 8, colptr.data(), rows.data(),
                                          NORMOT_INDEX_INT64, csc_values.data(), NORMOT_FLOAT32);
    ASSERT_EQ(normot_normalize_total(context, &csc, &params, &result), NORMOT_ERROR_OVERFLOW);
    EXPECT_EQ(std::string(normot_context_last_error(context)), want) << threads << " threads";
  }
  normot_context_destroy(context);
}

// Rows but no columns (fuzz_normalize/csc_with_rows_and_no_columns): every total is 0, every
// size factor 0, nothing to write (and no median: NO_POSITIVE_TOTAL, nothing written). The block
// table had nothing to point into, and the totals pass offset its null pointer (UBSan).
TEST(NormalizeCsc, RowsWithoutColumns) {
  std::vector<int64_t> colptr = {0};
  normot_context *context = nullptr;
  ASSERT_EQ(normot_context_create(&context, NORMOT_BACKEND_CPU, 0), NORMOT_SUCCESS);
  for (bool median : {true, false}) {
    normot_normalize_params params;
    normot_normalize_params_init(&params);
    params.has_target_sum = median ? 0 : 1;
    params.target_sum = 1e4;
    std::vector<float> totals(70000, -1.0f), factors(70000, -1.0f);
    normot_normalize_output result = {};
    result.value_type = NORMOT_FLOAT32;
    result.totals = totals.data();
    result.size_factors = factors.data();
    normot_matrix csc = normot_matrix_csc(70000, 0, 0, colptr.data(), nullptr, NORMOT_INDEX_INT64,
                                          nullptr, NORMOT_FLOAT32);
    if (median) {  // no positive total: no median, and nothing written
      ASSERT_EQ(normot_normalize_total(context, &csc, &params, &result),
                NORMOT_ERROR_NO_POSITIVE_TOTAL);
      EXPECT_EQ(std::count(totals.begin(), totals.end(), -1.0f), 70000);
      EXPECT_EQ(std::count(factors.begin(), factors.end(), -1.0f), 70000);
      continue;
    }
    ASSERT_EQ(normot_normalize_total(context, &csc, &params, &result), NORMOT_SUCCESS)
        << normot_context_last_error(context);
    EXPECT_EQ(std::count(totals.begin(), totals.end(), 0.0f), 70000);
    EXPECT_EQ(std::count(factors.begin(), factors.end(), 0.0f), 70000);
  }
  normot_context_destroy(context);
}

}  // namespace

namespace {

// Exclusion of highly expressed genes runs its flags and recomputed totals block by block too:
// the same genes, totals and bytes as the same matrix in CSR (whose passes are row-wise).
TEST(NormalizeCsc, ExclusionGivesTheBytesOfCsr) {
  Csc m = Generate(5, 70001, false, 60);
  for (int64_t c : {2, 11, 30})  // peaks in three genes
    for (int64_t j = m.colptr[c]; j < m.colptr[c + 1]; j += 50) m.values[j] *= 1000.0;
  const int64_t nnz = (int64_t)m.values.size();
  std::vector<int64_t> indptr((size_t)m.rows + 1, 0), cols((size_t)nnz), where((size_t)nnz);
  for (int64_t r : m.rows_of) ++indptr[(size_t)r + 1];
  for (int64_t r = 0; r < m.rows; ++r) indptr[(size_t)r + 1] += indptr[(size_t)r];
  std::vector<int64_t> next(indptr.begin(), indptr.end() - 1);
  for (int64_t c = 0; c < m.cols; ++c)
    for (int64_t j = m.colptr[c]; j < m.colptr[c + 1]; ++j) {
      where[(size_t)j] = next[(size_t)m.rows_of[j]]++;
      cols[(size_t)where[(size_t)j]] = c;
    }
  std::vector<float> csc_in(m.values.begin(), m.values.end()), csr_in((size_t)nnz);
  for (int64_t j = 0; j < nnz; ++j) csr_in[(size_t)where[(size_t)j]] = csc_in[(size_t)j];
  normot_context *context = nullptr;
  ASSERT_EQ(normot_context_create(&context, NORMOT_BACKEND_CPU, 0), NORMOT_SUCCESS);
  normot_normalize_params params;
  normot_normalize_params_init(&params);
  params.exclude_highly_expressed = 1;
  params.max_fraction = 0.5;
  std::vector<float> csr_out((size_t)nnz), csc_out((size_t)nnz), in_csr_order((size_t)nnz);
  normot_normalize_output want = {};
  want.value_type = NORMOT_FLOAT32;
  want.values = csr_out.data();
  normot_matrix csr = normot_matrix_csr(m.rows, m.cols, nnz, indptr.data(), cols.data(),
                                        NORMOT_INDEX_INT64, csr_in.data(), NORMOT_FLOAT32);
  ASSERT_EQ(normot_normalize_total(context, &csr, &params, &want), NORMOT_SUCCESS)
      << normot_context_last_error(context);
  EXPECT_GT(want.n_excluded_genes, 0);
  EXPECT_LT(want.n_excluded_genes, m.cols);
  for (int threads : {1, 2, 3}) {
    ASSERT_EQ(normot_context_set_threads(context, threads), NORMOT_SUCCESS);
    normot_normalize_output got = {};
    got.value_type = NORMOT_FLOAT32;
    got.values = csc_out.data();
    normot_matrix csc = normot_matrix_csc(m.rows, m.cols, nnz, m.colptr.data(), m.rows_of.data(),
                                          NORMOT_INDEX_INT64, csc_in.data(), NORMOT_FLOAT32);
    ASSERT_EQ(normot_normalize_total(context, &csc, &params, &got), NORMOT_SUCCESS)
        << normot_context_last_error(context);
    EXPECT_EQ(got.n_excluded_genes, want.n_excluded_genes) << threads << " threads";
    EXPECT_EQ(got.target, want.target) << threads << " threads";
    for (int64_t j = 0; j < nnz; ++j) in_csr_order[(size_t)where[(size_t)j]] = csc_out[(size_t)j];
    EXPECT_TRUE(Same(in_csr_order, csr_out)) << threads << " threads";
  }
  normot_context_destroy(context);
}

}  // namespace
