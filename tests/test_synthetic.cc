// The seeded synthetic data generator (io/synthetic.h) that `normot demo` and the benchmarks
// share: deterministic for any thread count, a valid CSR of positive integer counts near the
// asked density, the same numbers in every value/index type, and clean refusals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

extern "C" {
#include "synthetic.h"
}

namespace {

struct Generated {
  synth_csr matrix{};
  ~Generated() { synth_csr_free(&matrix); }
};

synth_counts_params SmallParams() {
  synth_counts_params params;
  synth_counts_params_init(&params);
  params.n_cells = 1500;
  params.n_genes = 800;
  return params;
}

int64_t IndexAt(const void *array, normot_index_type type, int64_t i) {
  return type == NORMOT_INDEX_INT64 ? static_cast<const int64_t *>(array)[i]
                                    : static_cast<const int32_t *>(array)[i];
}

double ValueAt(const void *values, normot_value_type type, int64_t i) {
  switch (type) {
    case NORMOT_FLOAT32: return static_cast<const float *>(values)[i];
    case NORMOT_FLOAT64: return static_cast<const double *>(values)[i];
    case NORMOT_INT32: return static_cast<const int32_t *>(values)[i];
    case NORMOT_INT64: return static_cast<double>(static_cast<const int64_t *>(values)[i]);
    case NORMOT_UINT16: return static_cast<const uint16_t *>(values)[i];
    case NORMOT_UINT32: return static_cast<const uint32_t *>(values)[i];
  }
  return NAN;
}

TEST(Synthetic, SameBytesForEveryThreadCount) {
  synth_counts_params params = SmallParams();
  char error[256];
  Generated reference;
  params.n_threads = 1;
  ASSERT_EQ(synth_counts_generate(&params, &reference.matrix, error, sizeof error), 0) << error;
  for (int threads : {2, 3, 7}) {
    params.n_threads = threads;
    Generated other;
    ASSERT_EQ(synth_counts_generate(&params, &other.matrix, error, sizeof error), 0) << error;
    ASSERT_EQ(other.matrix.nnz, reference.matrix.nnz) << threads << " threads";
    const int64_t nnz = reference.matrix.nnz, rows = reference.matrix.n_rows;
    EXPECT_EQ(std::memcmp(other.matrix.indptr, reference.matrix.indptr, (rows + 1) * 4), 0);
    EXPECT_EQ(std::memcmp(other.matrix.indices, reference.matrix.indices, nnz * 4), 0);
    EXPECT_EQ(std::memcmp(other.matrix.values, reference.matrix.values, nnz * 4), 0);
  }
}

TEST(Synthetic, ValidCsrOfPositiveIntegerCountsNearTheDensity) {
  synth_counts_params params = SmallParams();
  char error[256];
  Generated g;
  ASSERT_EQ(synth_counts_generate(&params, &g.matrix, error, sizeof error), 0) << error;
  const synth_csr &m = g.matrix;
  EXPECT_EQ(m.n_rows, params.n_cells);
  EXPECT_EQ(m.n_cols, params.n_genes);
  const double density = double(m.nnz) / double(m.n_rows * m.n_cols);
  EXPECT_NEAR(density, params.density, 0.1 * params.density);
  ASSERT_EQ(IndexAt(m.indptr, m.index_type, 0), 0);
  ASSERT_EQ(IndexAt(m.indptr, m.index_type, m.n_rows), m.nnz);
  std::vector<double> totals(m.n_rows, 0.0);
  for (int64_t r = 0; r < m.n_rows; ++r) {
    const int64_t start = IndexAt(m.indptr, m.index_type, r);
    const int64_t end = IndexAt(m.indptr, m.index_type, r + 1);
    ASSERT_LE(start, end);
    for (int64_t j = start; j < end; ++j) {
      const int64_t column = IndexAt(m.indices, m.index_type, j);
      ASSERT_GE(column, 0);
      ASSERT_LT(column, m.n_cols);
      if (j > start) {
        ASSERT_GT(column, IndexAt(m.indices, m.index_type, j - 1));
      }
      const double value = ValueAt(m.values, m.value_type, j);
      ASSERT_GE(value, 1.0);
      ASSERT_EQ(value, std::floor(value));
      totals[r] += value;
    }
  }
  // Library sizes spread out (log-normal), and gene 0 (the most popular) is detected far more
  // often than the last gene.
  std::vector<double> sorted = totals;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_GT(sorted[sorted.size() * 95 / 100], 2.0 * sorted[sorted.size() * 5 / 100]);
  int64_t first_gene = 0, last_gene = 0;
  for (int64_t j = 0; j < m.nnz; ++j) {
    first_gene += IndexAt(m.indices, m.index_type, j) == 0;
    last_gene += IndexAt(m.indices, m.index_type, j) == m.n_cols - 1;
  }
  EXPECT_GT(first_gene, 10 * (last_gene + 1));
}

TEST(Synthetic, EveryValueAndIndexTypeHoldsTheSameCounts) {
  synth_counts_params params = SmallParams();
  char error[256];
  Generated reference;
  ASSERT_EQ(synth_counts_generate(&params, &reference.matrix, error, sizeof error), 0) << error;
  for (normot_value_type type :
       {NORMOT_FLOAT64, NORMOT_INT32, NORMOT_INT64, NORMOT_UINT16, NORMOT_UINT32}) {
    params.value_type = type;
    params.index_type = type == NORMOT_INT64 ? NORMOT_INDEX_INT64 : NORMOT_INDEX_INT32;
    Generated other;
    ASSERT_EQ(synth_counts_generate(&params, &other.matrix, error, sizeof error), 0) << error;
    ASSERT_EQ(other.matrix.nnz, reference.matrix.nnz);
    ASSERT_EQ(other.matrix.value_type, type);
    for (int64_t j = 0; j < reference.matrix.nnz; ++j) {
      ASSERT_EQ(ValueAt(other.matrix.values, type, j),
                ValueAt(reference.matrix.values, NORMOT_FLOAT32, j));
      ASSERT_EQ(IndexAt(other.matrix.indices, other.matrix.index_type, j),
                IndexAt(reference.matrix.indices, NORMOT_INDEX_INT32, j));
    }
  }
}

TEST(Synthetic, SeedsGiveDifferentData) {
  synth_counts_params params = SmallParams();
  char error[256];
  Generated a, b;
  ASSERT_EQ(synth_counts_generate(&params, &a.matrix, error, sizeof error), 0);
  params.seed += 1;
  ASSERT_EQ(synth_counts_generate(&params, &b.matrix, error, sizeof error), 0);
  const int64_t n = std::min(a.matrix.nnz, b.matrix.nnz);
  EXPECT_TRUE(a.matrix.nnz != b.matrix.nnz ||
              std::memcmp(a.matrix.indices, b.matrix.indices, n * 4) != 0);
}

TEST(Synthetic, RefusesBadParametersAndLeavesTheOutputEmpty) {
  char error[256];
  synth_counts_params params = SmallParams();
  params.density = 1.5;
  synth_csr m;
  std::memset(&m, 0x5a, sizeof m);
  EXPECT_NE(synth_counts_generate(&params, &m, error, sizeof error), 0);
  EXPECT_NE(std::strlen(error), 0u);
  EXPECT_EQ(m.values, nullptr);
  EXPECT_EQ(m.nnz, 0);
  params = SmallParams();
  params.n_cells = -1;
  EXPECT_NE(synth_counts_generate(&params, &m, error, sizeof error), 0);
  params = SmallParams();
  params.value_type = static_cast<normot_value_type>(42);
  EXPECT_NE(synth_counts_generate(&params, &m, error, sizeof error), 0);
  EXPECT_NE(synth_counts_generate(nullptr, &m, error, sizeof error), 0);
}

TEST(Synthetic, EmdInputs) {
  const int64_t k = 3, n = 50;
  std::vector<double> h(k * n), x(k * n * 2), again(k * n * 2), cost(n * n);
  synth_histograms(7, 0, k, n, h.data());
  for (int64_t i = 0; i < k; ++i) {
    double sum = 0.0;
    for (int64_t j = 0; j < n; ++j) {
      EXPECT_GT(h[i * n + j], 0.0);
      sum += h[i * n + j];
    }
    EXPECT_NEAR(sum, 1.0, 1e-12);
  }
  synth_point_clouds(7, 100, k, n, 2, x.data());
  for (double v : x) {
    EXPECT_GE(v, 0.0);
    EXPECT_LT(v, 1.0);
  }
  // Cloud i uses stream 100 + i: the second cloud alone is the batch's second cloud.
  synth_point_clouds(7, 101, 1, n, 2, again.data());
  EXPECT_EQ(std::memcmp(again.data(), x.data() + n * 2, n * 2 * sizeof(double)), 0);
  synth_sqeuclidean_cost(x.data(), n, x.data() + n * 2, n, 2, cost.data());
  const double dx = x[0] - x[n * 2], dy = x[1] - x[n * 2 + 1];
  EXPECT_DOUBLE_EQ(cost[0], dx * dx + dy * dy);
}

}  // namespace
