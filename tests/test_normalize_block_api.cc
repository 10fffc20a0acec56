// normalize_total in blocks (normot.h): a matrix processed a block of rows (CSR, dense) or of
// columns (CSC) at a time gives exactly the bytes of one normot_normalize_total call, for count
// and non-integer data, every target rule, exclusion and log1p; and the calls refuse what the
// whole-matrix call refuses.
#include <gtest/gtest.h>
#include <math.h>
#include <string.h>

#include <algorithm>
#include <random>
#include <vector>

#include "normot/normot.h"

namespace {

// A CSR matrix with some empty rows, some all-zero columns and a few dominant genes.
struct Csr {
  int64_t rows = 0, cols = 0;
  std::vector<int64_t> indptr{0}, indices;
  std::vector<float> values;
};

Csr MakeCsr(int64_t rows, int64_t cols, bool integers, unsigned seed) {
  Csr m;
  m.rows = rows;
  m.cols = cols;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      if (r % 7 == 3 || unit(rng) > 0.2) continue;
      double v = unit(rng) * (c % 11 == 0 ? 300.0 : 9.0);
      m.indices.push_back(c);
      m.values.push_back(integers ? static_cast<float>(floor(v) + 1.0) : static_cast<float>(v));
    }
    m.indptr.push_back(static_cast<int64_t>(m.indices.size()));
  }
  return m;
}

// The same matrix as CSC (rows ascending within each column).
void ToCsc(const Csr &m, std::vector<int64_t> *colptr, std::vector<int64_t> *rows,
           std::vector<float> *values) {
  colptr->assign(m.cols + 1, 0);
  for (int64_t c : m.indices) (*colptr)[c + 1]++;
  for (int64_t c = 0; c < m.cols; ++c) (*colptr)[c + 1] += (*colptr)[c];
  std::vector<int64_t> next(colptr->begin(), colptr->end() - 1);
  rows->resize(m.indices.size());
  values->resize(m.indices.size());
  for (int64_t r = 0; r < m.rows; ++r)
    for (int64_t j = m.indptr[r]; j < m.indptr[r + 1]; ++j) {
      int64_t at = next[m.indices[j]]++;
      (*rows)[at] = r;
      (*values)[at] = m.values[j];
    }
}

struct Whole {
  std::vector<float> values, size_factors;
  double target = 0;
};

Whole NormalizeWhole(normot_context *ctx, const Csr &m, const normot_normalize_params &params) {
  Whole w;
  w.values.resize(m.values.size());
  w.size_factors.resize(m.rows);
  normot_matrix X = normot_matrix_csr(m.rows, m.cols, static_cast<int64_t>(m.values.size()),
                                      m.indptr.data(), m.indices.data(), NORMOT_INDEX_INT64,
                                      const_cast<float *>(m.values.data()), NORMOT_FLOAT32);
  normot_normalize_output out;
  memset(&out, 0, sizeof out);
  out.values = w.values.data();
  out.value_type = NORMOT_FLOAT32;
  out.size_factors = w.size_factors.data();
  EXPECT_EQ(normot_normalize_total(ctx, &X, &params, &out), NORMOT_SUCCESS)
      << normot_context_last_error(ctx);
  w.target = out.target;
  return w;
}

// A view of rows [r0, r1) of m as its own CSR matrix (indptr rebased).
struct RowBlock {
  std::vector<int64_t> indptr;
  normot_matrix X;
};

RowBlock RowsOf(const Csr &m, int64_t r0, int64_t r1) {
  RowBlock b;
  for (int64_t r = r0; r <= r1; ++r) b.indptr.push_back(m.indptr[r] - m.indptr[r0]);
  int64_t first = m.indptr[r0];
  b.X = normot_matrix_csr(r1 - r0, m.cols, m.indptr[r1] - first, b.indptr.data(),
                          m.indices.data() + first, NORMOT_INDEX_INT64,
                          const_cast<float *>(m.values.data()) + first, NORMOT_FLOAT32);
  return b;
}

// Steps 1-2 of the block recipe over row blocks of `step` rows.
std::vector<double> RowTotals(normot_context *ctx, const Csr &m,
                              const normot_normalize_params &params, const unsigned char *excluded,
                              int64_t step) {
  std::vector<double> sums(m.rows, 0.0);
  for (int64_t r0 = 0; r0 < m.rows; r0 += step) {
    RowBlock b = RowsOf(m, r0, std::min(m.rows, r0 + step));
    EXPECT_EQ(
        normot_normalize_block_sums(ctx, &b.X, &params, NORMOT_FLOAT32, excluded, sums.data() + r0),
        NORMOT_SUCCESS)
        << normot_context_last_error(ctx);
  }
  EXPECT_EQ(normot_normalize_block_totals(ctx, &params, NORMOT_FLOAT32, m.rows, sums.data()),
            NORMOT_SUCCESS);
  return sums;
}

Whole NormalizeRowBlocks(normot_context *ctx, const Csr &m, normot_normalize_params params,
                         int64_t step) {
  std::vector<double> totals = RowTotals(ctx, m, params, nullptr, step);
  std::vector<unsigned char> excluded(m.cols, 0);
  if (params.exclude_highly_expressed) {
    for (int64_t r0 = 0; r0 < m.rows; r0 += step) {
      RowBlock b = RowsOf(m, r0, std::min(m.rows, r0 + step));
      EXPECT_EQ(normot_normalize_block_exclusion(ctx, &b.X, &params, NORMOT_FLOAT32,
                                                 totals.data() + r0, excluded.data()),
                NORMOT_SUCCESS);
    }
    totals = RowTotals(ctx, m, params, excluded.data(), step);
  }
  Whole w;
  EXPECT_EQ(
      normot_normalize_block_target(ctx, &params, NORMOT_FLOAT32, m.rows, totals.data(), &w.target),
      NORMOT_SUCCESS);
  params.has_target_sum = 1;
  params.target_sum = w.target;
  w.values.resize(m.values.size());
  w.size_factors.resize(m.rows);
  for (int64_t r0 = 0; r0 < m.rows; r0 += step) {
    RowBlock b = RowsOf(m, r0, std::min(m.rows, r0 + step));
    normot_normalize_output out;
    memset(&out, 0, sizeof out);
    out.values = w.values.data() + m.indptr[r0];
    out.value_type = NORMOT_FLOAT32;
    out.size_factors = w.size_factors.data() + r0;
    EXPECT_EQ(normot_normalize_block_scale(ctx, &b.X, &params, totals.data() + r0, &out),
              NORMOT_SUCCESS)
        << normot_context_last_error(ctx);
  }
  return w;
}

void ExpectSameBytes(const Whole &a, const Whole &b) {
  EXPECT_EQ(a.target, b.target);
  ASSERT_EQ(a.values.size(), b.values.size());
  EXPECT_EQ(memcmp(a.values.data(), b.values.data(), a.values.size() * sizeof(float)), 0);
  EXPECT_EQ(
      memcmp(a.size_factors.data(), b.size_factors.data(), a.size_factors.size() * sizeof(float)),
      0);
}

// Step 4: the target of the totals, which must be the whole-matrix call's, set into params for
// the scaling of step 5.
void SetTargetOfTotals(normot_context *ctx, normot_normalize_params *params,
                       const std::vector<double> &totals, double whole_target) {
  double target = 0;
  ASSERT_EQ(
      normot_normalize_block_target(ctx, params, NORMOT_FLOAT32,
                                    static_cast<int64_t>(totals.size()), totals.data(), &target),
      NORMOT_SUCCESS);
  EXPECT_EQ(target, whole_target);
  params->has_target_sum = 1;
  params->target_sum = target;
}

class NormalizeBlocks : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    ASSERT_EQ(normot_context_create(&ctx_, NORMOT_BACKEND_CPU, 0), NORMOT_SUCCESS);
  }
  void TearDown() override { normot_context_destroy(ctx_); }
  normot_normalize_params Params() const {
    normot_normalize_params p;
    normot_normalize_params_init(&p);
    int variant = GetParam();
    p.exclude_highly_expressed = (variant & 1) != 0;
    p.max_fraction = 0.2;
    p.log1p = (variant & 2) != 0;
    if (variant & 4) {
      p.has_target_sum = 1;
      p.target_sum = 1e4;
    }
    return p;
  }
  normot_context *ctx_ = nullptr;
};

TEST_P(NormalizeBlocks, CsrRowBlocksGiveTheWholeMatrixBytes) {
  for (bool integers : {true, false}) {
    Csr m = MakeCsr(301, 53, integers, 7u + GetParam());
    Whole whole = NormalizeWhole(ctx_, m, Params());
    for (int64_t step : {1, 17, 300, 301}) {
      SCOPED_TRACE(step);
      ExpectSameBytes(whole, NormalizeRowBlocks(ctx_, m, Params(), step));
    }
  }
}

TEST_P(NormalizeBlocks, CscColumnBlocksGiveTheWholeMatrixBytes) {
  Csr m = MakeCsr(211, 47, false, 11u + GetParam());
  Whole whole = NormalizeWhole(ctx_, m, Params());
  std::vector<int64_t> colptr, rows;
  std::vector<float> values;
  ToCsc(m, &colptr, &rows, &values);
  normot_normalize_params params = Params();
  const int64_t step = 5;
  // One CSC view of columns [c0, c1) (colptr rebased).
  auto columns = [&](int64_t c0, int64_t c1, std::vector<int64_t> *ptr) {
    ptr->clear();
    for (int64_t c = c0; c <= c1; ++c) ptr->push_back(colptr[c] - colptr[c0]);
    return normot_matrix_csc(m.rows, c1 - c0, colptr[c1] - colptr[c0], ptr->data(),
                             rows.data() + colptr[c0], NORMOT_INDEX_INT64,
                             values.data() + colptr[c0], NORMOT_FLOAT32);
  };
  std::vector<unsigned char> excluded(m.cols, 0);
  auto totals_over = [&](const unsigned char *skip) {
    std::vector<double> sums(m.rows, 0.0);
    std::vector<int64_t> ptr;
    for (int64_t c0 = 0; c0 < m.cols; c0 += step) {
      int64_t c1 = std::min(m.cols, c0 + step);
      normot_matrix X = columns(c0, c1, &ptr);
      EXPECT_EQ(normot_normalize_block_sums(ctx_, &X, &params, NORMOT_FLOAT32,
                                            skip != nullptr ? skip + c0 : nullptr, sums.data()),
                NORMOT_SUCCESS);
    }
    EXPECT_EQ(normot_normalize_block_totals(ctx_, &params, NORMOT_FLOAT32, m.rows, sums.data()),
              NORMOT_SUCCESS);
    return sums;
  };
  std::vector<double> totals = totals_over(nullptr);
  std::vector<int64_t> ptr;
  if (params.exclude_highly_expressed) {
    for (int64_t c0 = 0; c0 < m.cols; c0 += step) {
      normot_matrix X = columns(c0, std::min(m.cols, c0 + step), &ptr);
      EXPECT_EQ(normot_normalize_block_exclusion(ctx_, &X, &params, NORMOT_FLOAT32, totals.data(),
                                                 excluded.data() + c0),
                NORMOT_SUCCESS);
    }
    totals = totals_over(excluded.data());
  }
  SetTargetOfTotals(ctx_, &params, totals, whole.target);
  std::vector<float> scaled(values.size());
  for (int64_t c0 = 0; c0 < m.cols; c0 += step) {
    normot_matrix X = columns(c0, std::min(m.cols, c0 + step), &ptr);
    normot_normalize_output out;
    memset(&out, 0, sizeof out);
    out.values = scaled.data() + colptr[c0];
    out.value_type = NORMOT_FLOAT32;
    ASSERT_EQ(normot_normalize_block_scale(ctx_, &X, &params, totals.data(), &out), NORMOT_SUCCESS)
        << normot_context_last_error(ctx_);
  }
  // Entry j of the CSC values is the whole-matrix result of its (row, column).
  std::vector<int64_t> next(m.indptr.begin(), m.indptr.end() - 1);
  for (int64_t c = 0; c < m.cols; ++c)
    for (int64_t j = colptr[c]; j < colptr[c + 1]; ++j)
      ASSERT_EQ(scaled[j], whole.values[next[rows[j]]++]) << "column " << c;
}

// Steps 1-2 over dense row blocks of `step` rows of `dense` (rows x cols).
std::vector<double> DenseTotals(normot_context *ctx, std::vector<float> &dense, int64_t rows,
                                int64_t cols, const normot_normalize_params &params,
                                const unsigned char *excluded, int64_t step) {
  std::vector<double> sums(rows, 0.0);
  for (int64_t r0 = 0; r0 < rows; r0 += step) {
    normot_matrix X = normot_matrix_dense(std::min(step, rows - r0), cols, dense.data() + r0 * cols,
                                          NORMOT_FLOAT32);
    EXPECT_EQ(
        normot_normalize_block_sums(ctx, &X, &params, NORMOT_FLOAT32, excluded, sums.data() + r0),
        NORMOT_SUCCESS);
  }
  EXPECT_EQ(normot_normalize_block_totals(ctx, &params, NORMOT_FLOAT32, rows, sums.data()),
            NORMOT_SUCCESS);
  return sums;
}

// Dense row blocks on three threads, over more rows than one group of the loops: the bytes of
// one call on the whole dense matrix (the exclusion merges the threads' own flags).
TEST_P(NormalizeBlocks, DenseRowBlocksOnThreeThreadsGiveTheWholeMatrixBytes) {
  Csr m = MakeCsr(700, 53, GetParam() % 3 == 0, 13u + GetParam());
  std::vector<float> dense(m.rows * m.cols, 0.0f);
  for (int64_t r = 0; r < m.rows; ++r)
    for (int64_t j = m.indptr[r]; j < m.indptr[r + 1]; ++j)
      dense[r * m.cols + m.indices[j]] = m.values[j];
  ASSERT_EQ(normot_context_set_threads(ctx_, 3), NORMOT_SUCCESS);
  normot_normalize_params params = Params();
  std::vector<float> whole(dense.size()), blocks(dense.size());
  normot_matrix W = normot_matrix_dense(m.rows, m.cols, dense.data(), NORMOT_FLOAT32);
  normot_normalize_output out;
  memset(&out, 0, sizeof out);
  out.values = whole.data();
  out.value_type = NORMOT_FLOAT32;
  ASSERT_EQ(normot_normalize_total(ctx_, &W, &params, &out), NORMOT_SUCCESS);
  const int64_t step = 600;
  std::vector<double> totals = DenseTotals(ctx_, dense, m.rows, m.cols, params, nullptr, step);
  std::vector<unsigned char> excluded(m.cols, 0);
  if (params.exclude_highly_expressed) {
    for (int64_t r0 = 0; r0 < m.rows; r0 += step) {
      normot_matrix X = normot_matrix_dense(std::min(step, m.rows - r0), m.cols,
                                            dense.data() + r0 * m.cols, NORMOT_FLOAT32);
      ASSERT_EQ(normot_normalize_block_exclusion(ctx_, &X, &params, NORMOT_FLOAT32,
                                                 totals.data() + r0, excluded.data()),
                NORMOT_SUCCESS);
    }
    EXPECT_GT(std::count(excluded.begin(), excluded.end(), 1), 0);
    totals = DenseTotals(ctx_, dense, m.rows, m.cols, params, excluded.data(), step);
  }
  SetTargetOfTotals(ctx_, &params, totals, out.target);
  for (int64_t r0 = 0; r0 < m.rows; r0 += step) {
    normot_matrix X = normot_matrix_dense(std::min(step, m.rows - r0), m.cols,
                                          dense.data() + r0 * m.cols, NORMOT_FLOAT32);
    normot_normalize_output part;
    memset(&part, 0, sizeof part);
    part.values = blocks.data() + r0 * m.cols;
    part.value_type = NORMOT_FLOAT32;
    ASSERT_EQ(normot_normalize_block_scale(ctx_, &X, &params, totals.data() + r0, &part),
              NORMOT_SUCCESS);
  }
  EXPECT_EQ(memcmp(whole.data(), blocks.data(), whole.size() * sizeof(float)), 0);
}

INSTANTIATE_TEST_SUITE_P(Variants, NormalizeBlocks, ::testing::Range(0, 8));

TEST(NormalizeBlocksErrors, RefuseWhatTheWholeCallRefuses) {
  normot_context *ctx = nullptr;
  ASSERT_EQ(normot_context_create(&ctx, NORMOT_BACKEND_CPU, 0), NORMOT_SUCCESS);
  normot_normalize_params params;
  normot_normalize_params_init(&params);
  int64_t indptr[3] = {0, 2, 3}, indices[3] = {0, 1, 5};
  float values[3] = {1.0f, NAN, 2.0f};
  normot_matrix X =
      normot_matrix_csr(2, 6, 3, indptr, indices, NORMOT_INDEX_INT64, values, NORMOT_FLOAT32);
  double sums[2] = {0.0, 0.0};
  EXPECT_EQ(normot_normalize_block_sums(ctx, &X, &params, NORMOT_FLOAT32, nullptr, sums),
            NORMOT_ERROR_NONFINITE_VALUE);
  EXPECT_EQ(sums[0], 0.0);  // a failed call writes nothing
  values[1] = 1.0f;
  X.n_cols = 5;  // indices[2] = 5 is now out of range, read only with exclusion
  unsigned char excluded[5] = {0};
  EXPECT_EQ(normot_normalize_block_sums(ctx, &X, &params, NORMOT_FLOAT32, excluded, sums),
            NORMOT_ERROR_INDEX_OUT_OF_RANGE);
  EXPECT_EQ(normot_normalize_block_sums(ctx, &X, &params, NORMOT_FLOAT32, nullptr, sums),
            NORMOT_SUCCESS);
  double zero[2] = {0.0, 0.0}, target = 0.0;
  EXPECT_EQ(normot_normalize_block_target(ctx, &params, NORMOT_FLOAT32, 2, zero, &target),
            NORMOT_ERROR_NO_POSITIVE_TOTAL);
  double huge[1] = {1e300};
  EXPECT_EQ(normot_normalize_block_totals(ctx, &params, NORMOT_FLOAT32, 1, huge),
            NORMOT_ERROR_OVERFLOW);
  normot_normalize_output out;
  memset(&out, 0, sizeof out);
  out.value_type = NORMOT_FLOAT32;
  EXPECT_EQ(normot_normalize_block_scale(ctx, &X, &params, sums, &out),
            NORMOT_ERROR_INVALID_TARGET_SUM);  // the target must be given
  params.has_target_sum = 1;
  params.target_sum = 1e-30;
  double huge_totals[2] = {1e30, 1.0};  // row 0's size factor overflows float32
  EXPECT_EQ(normot_normalize_block_scale(ctx, &X, &params, huge_totals, &out),
            NORMOT_ERROR_OVERFLOW);
  EXPECT_EQ(values[0], 1.0f);  // nothing scaled in place
  normot_context_destroy(ctx);
}

}  // namespace

// The sums are checked for NaN/Inf values only after a sum that is not finite: the refusal must be
// the one a check before the sums gives (same status and message, nothing added), and finite
// values whose float64 sum overflows must still be added, for block_totals to refuse.
TEST(NormalizeBlocksErrors, SumsThatAreNotFiniteFindTheValue) {
  normot_context *ctx = nullptr;
  ASSERT_EQ(normot_context_create(&ctx, NORMOT_BACKEND_CPU, 0), NORMOT_SUCCESS);
  normot_normalize_params params;
  normot_normalize_params_init(&params);
  double dense[6] = {1.0, 2.0, 3.0, INFINITY, -INFINITY, 4.0};  // row 1 sums to NaN
  normot_matrix X = normot_matrix_dense(2, 3, dense, NORMOT_FLOAT64);
  double sums[2] = {5.0, 7.0};
  EXPECT_EQ(normot_normalize_block_sums(ctx, &X, &params, NORMOT_FLOAT64, nullptr, sums),
            NORMOT_ERROR_NONFINITE_VALUE);
  EXPECT_NE(strstr(normot_context_last_error(ctx), "row 1"), nullptr)
      << normot_context_last_error(ctx);
  EXPECT_EQ(sums[0], 5.0);
  EXPECT_EQ(sums[1], 7.0);
  // Unchecked, the same block is summed as it is.
  params.check_values = 0;
  EXPECT_EQ(normot_normalize_block_sums(ctx, &X, &params, NORMOT_FLOAT64, nullptr, sums),
            NORMOT_SUCCESS);
  EXPECT_EQ(sums[0], 11.0);
  EXPECT_TRUE(isnan(sums[1]));
  params.check_values = 1;
  double big[3] = {1.5e308, 1.5e308, 1.0};  // finite values, a sum that overflows
  normot_matrix Y = normot_matrix_dense(1, 3, big, NORMOT_FLOAT64);
  double sum[1] = {0.0};
  EXPECT_EQ(normot_normalize_block_sums(ctx, &Y, &params, NORMOT_FLOAT64, nullptr, sum),
            NORMOT_SUCCESS);
  EXPECT_TRUE(isinf(sum[0]));
  EXPECT_EQ(normot_normalize_block_totals(ctx, &params, NORMOT_FLOAT64, 1, sum),
            NORMOT_ERROR_OVERFLOW);
  normot_context_destroy(ctx);
}
