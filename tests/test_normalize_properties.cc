// Properties of normalize_total on seeded random matrices: the same bytes for any thread count,
// the same bytes from CSR, CSC and dense, integer input equal to float input holding the same
// values, every value/index type combination, the fused pass equal to the two-pass path, in
// place equal to out of place, and agreement with a plain reference written from the spec.
#include <algorithm>
#include <cmath>
#include <random>

#include "test_normalize_helpers.h"
#include "test_support.h"

using namespace normalize_test;

namespace {

// Counts with log-normal library sizes; every 7th row empty, row 1 dense. With real_values
// the counts are multiplied by log-normal noise (so float64 sums depend on their order), and
// with shuffled each row keeps its entries in a random order.
Csr RandomMatrix(uint64_t seed, int64_t rows, int64_t cols, double density, normot_value_type type,
                 bool real_values, bool shuffled = false) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::lognormal_distribution<double> library(2.0, 0.7), noise(0.0, 1.2);
  Csr csr;
  csr.rows = rows;
  csr.cols = cols;
  csr.type = type;
  std::vector<double> values;
  for (int64_t r = 0; r < rows; ++r) {
    double scale = library(rng);
    std::vector<int64_t> row_cols;
    for (int64_t c = 0; c < cols; ++c) {
      bool stored = r % 7 != 3 && (r == 1 || unit(rng) < density);
      if (!stored) continue;
      std::poisson_distribution<int> count(scale * (1.0 + 3.0 * (double)(c % 5)));
      double v = (double)count(rng);
      if (real_values) v = (double)(float)(v * noise(rng));
      row_cols.push_back(c);
      values.push_back(v);
    }
    if (shuffled) {
      std::vector<size_t> order(row_cols.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), rng);
      std::vector<int64_t> c2;
      std::vector<double> v2;
      size_t base = values.size() - row_cols.size();
      for (size_t i : order) {
        c2.push_back(row_cols[i]);
        v2.push_back(values[base + i]);
      }
      row_cols = c2;
      std::copy(v2.begin(), v2.end(), values.begin() + (long)base);
    }
    csr.indices.insert(csr.indices.end(), row_cols.begin(), row_cols.end());
    csr.indptr.push_back((int64_t)csr.indices.size());
  }
  csr.values.assign(values.size() * normot_value_size(type), 0);
  for (size_t k = 0; k < values.size(); ++k) PutValue(csr.values, type, k, values[k]);
  return csr;
}

normot_normalize_params Params(bool median, bool exclude, bool log1p = false,
                               double log_base = 0.0) {
  normot_normalize_params params;
  normot_normalize_params_init(&params);
  params.has_target_sum = !median;
  params.target_sum = 1e4;
  params.exclude_highly_expressed = exclude;
  params.max_fraction = 0.1;
  params.log1p = log1p;
  params.log_base = log_base;
  return params;
}

// The spec, written as plainly as possible, for float input of type T in CSR stored order.
template <typename T>
struct Reference {
  std::vector<T> values, size_factors, totals;
  T target = 0;
  int64_t zero_cells = 0, excluded_genes = 0;
};

template <typename T>
Reference<T> NaiveNormalize(const Csr &csr, const normot_normalize_params &p) {
  Reference<T> ref;
  std::vector<T> x(csr.indices.size());
  for (size_t k = 0; k < x.size(); ++k) x[k] = (T)GetValue(csr.values.data(), csr.type, k);
  auto row_sums = [&](const std::vector<bool> &skip) {
    std::vector<T> totals((size_t)csr.rows);
    for (int64_t r = 0; r < csr.rows; ++r) {
      double sum = 0;
      for (int64_t k = csr.indptr[(size_t)r]; k < csr.indptr[(size_t)r + 1]; ++k)
        if (!skip[(size_t)csr.indices[(size_t)k]]) sum += (double)x[(size_t)k];
      totals[(size_t)r] = (T)sum;
    }
    return totals;
  };
  std::vector<bool> excluded((size_t)csr.cols, false);
  ref.totals = row_sums(excluded);
  if (p.exclude_highly_expressed) {
    for (int64_t r = 0; r < csr.rows; ++r)
      for (int64_t k = csr.indptr[(size_t)r]; k < csr.indptr[(size_t)r + 1]; ++k)
        if ((double)x[(size_t)k] > p.max_fraction * (double)ref.totals[(size_t)r])
          excluded[(size_t)csr.indices[(size_t)k]] = true;
    ref.excluded_genes = std::count(excluded.begin(), excluded.end(), true);
    ref.totals = row_sums(excluded);
  }
  if (p.has_target_sum) {
    ref.target = (T)p.target_sum;
  } else {
    std::vector<T> positive;
    for (T t : ref.totals)
      if (t > 0) positive.push_back(t);
    std::sort(positive.begin(), positive.end());
    size_t n = positive.size();
    ref.target = n % 2 ? positive[n / 2] : (T)((T)(positive[n / 2 - 1] + positive[n / 2]) / (T)2);
  }
  for (int64_t r = 0; r < csr.rows; ++r) {
    T factor = ref.totals[(size_t)r] / ref.target;
    ref.size_factors.push_back(factor);
    if (factor == 0) {
      factor = 1;
      ++ref.zero_cells;
    }
    for (int64_t k = csr.indptr[(size_t)r]; k < csr.indptr[(size_t)r + 1]; ++k) {
      T y = x[(size_t)k] / factor;
      if (p.log1p) {
        y = std::log1p(y);
        if (p.log_base != 0) y = (T)((double)y / std::log(p.log_base));
      }
      ref.values.push_back(y);
    }
  }
  return ref;
}

template <typename T>
std::vector<unsigned char> Bytes(const std::vector<T> &v) {
  std::vector<unsigned char> out(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
  return out;
}

// A result in CSR entry order whatever the layout.
std::vector<unsigned char> Entries(const HostMatrix &m, const Result &r, normot_value_type out) {
  if (m.layout != NORMOT_LAYOUT_DENSE) return r.values;
  bool zeros_ok = false;
  std::vector<unsigned char> entries = DenseEntries(m, r, out, &zeros_ok);
  EXPECT_TRUE(zeros_ok) << "an implicit zero of the dense matrix did not stay +0";
  return entries;
}

void ExpectSameResult(const Result &a, const Result &b) {
  EXPECT_EQ(a.status, b.status);
  EXPECT_TRUE(a.values == b.values) << "values differ";
  EXPECT_TRUE(a.size_factors == b.size_factors) << "size factors differ";
  EXPECT_TRUE(a.totals == b.totals) << "totals differ";
  EXPECT_EQ(a.target, b.target);
  EXPECT_EQ(a.n_zero_cells, b.n_zero_cells);
  EXPECT_EQ(a.n_excluded_genes, b.n_excluded_genes);
}

const normot_layout kLayouts[] = {NORMOT_LAYOUT_CSR, NORMOT_LAYOUT_CSC, NORMOT_LAYOUT_DENSE};

class NormalizeProperties : public BackendTest {};

TEST_P(NormalizeProperties, SameBytesForAnyThreadCount) {
  // Enough rows for many chunks per thread; real values so that summation order shows.
  Csr csr = RandomMatrix(11, 1900, 230, 0.06, NORMOT_FLOAT32, true);
  for (normot_layout layout : kLayouts)
    for (int mode = 0; mode < 4; ++mode) {
      normot_normalize_params params = Params(mode != 1, mode == 2, mode == 3, 0.0);
      if (mode == 1) params.check_values = 0;  // the fused pass
      SCOPED_TRACE(std::string(LayoutName(layout)) + " mode " + std::to_string(mode));
      HostMatrix m = Build(csr, layout, NORMOT_INDEX_INT32);
      ASSERT_EQ(normot_context_set_threads(context_, 1), NORMOT_SUCCESS);
      Result one = RunNormalize(context_, m, params, NORMOT_FLOAT32);
      ASSERT_EQ(one.status, NORMOT_SUCCESS) << one.message;
      for (int threads : {2, 3, 4}) {
        ASSERT_EQ(normot_context_set_threads(context_, threads), NORMOT_SUCCESS);
        ExpectSameResult(RunNormalize(context_, m, params, NORMOT_FLOAT32), one);
      }
    }
}

TEST_P(NormalizeProperties, CsrCscAndDenseGiveTheSameBytes) {
  for (normot_value_type type : {NORMOT_FLOAT32, NORMOT_FLOAT64}) {
    Csr csr = RandomMatrix(12, 300, 90, 0.1, type, true);
    for (int mode = 0; mode < 4; ++mode) {
      normot_normalize_params params = Params(mode != 1, mode == 2, mode == 3, 10.0);
      SCOPED_TRACE(std::string(TypeName(type)) + " mode " + std::to_string(mode));
      HostMatrix csr_m = Build(csr, NORMOT_LAYOUT_CSR, NORMOT_INDEX_INT64);
      Result expected = RunNormalize(context_, csr_m, params, type);
      ASSERT_EQ(expected.status, NORMOT_SUCCESS) << expected.message;
      for (normot_layout layout : {NORMOT_LAYOUT_CSC, NORMOT_LAYOUT_DENSE}) {
        HostMatrix m = Build(csr, layout, NORMOT_INDEX_INT32, 2, 5.0);
        Result r = RunNormalize(context_, m, params, type);
        r.values = Entries(m, r, type);
        ExpectSameResult(r, expected);
      }
    }
  }
}

TEST_P(NormalizeProperties, CscRowOrderWithinColumnsDoesNotMatter) {
  // A column holds each row at most once, so the order of its entries cannot change any row's
  // sum: shuffled columns (the path that reads every index) give the sorted columns' bytes (the
  // path that binary-searches), for any thread count.
  Csr csr = RandomMatrix(18, 600, 70, 0.15, NORMOT_FLOAT32, true);
  HostMatrix sorted = Build(csr, NORMOT_LAYOUT_CSC, NORMOT_INDEX_INT32);
  HostMatrix shuffled = sorted;
  std::mt19937_64 rng(99);
  for (int64_t c = 0; c < shuffled.cols; ++c) {
    int64_t start = shuffled.indptr64[(size_t)c], end = shuffled.indptr64[(size_t)c + 1];
    for (int64_t j = end - 1; j > start; --j) {
      int64_t k = start + (int64_t)(rng() % (uint64_t)(j - start + 1));
      std::swap(shuffled.indices32[(size_t)j], shuffled.indices32[(size_t)k]);
      std::swap(shuffled.indices64[(size_t)j], shuffled.indices64[(size_t)k]);
      for (size_t b = 0; b < 4; ++b)
        std::swap(shuffled.values[(size_t)j * 4 + b], shuffled.values[(size_t)k * 4 + b]);
      for (int64_t &p : shuffled.entry_position)  // keep the CSR-entry map right
        if (p == j)
          p = k;
        else if (p == k)
          p = j;
    }
  }
  for (int mode = 0; mode < 3; ++mode) {
    normot_normalize_params params = Params(mode != 1, mode == 2);
    ASSERT_EQ(normot_context_set_threads(context_, 1), NORMOT_SUCCESS);
    Result expected = RunNormalize(context_, sorted, params, NORMOT_FLOAT32);
    ASSERT_EQ(expected.status, NORMOT_SUCCESS) << expected.message;
    for (int threads : {1, 2, 3, 4}) {
      SCOPED_TRACE("mode " + std::to_string(mode) + " threads " + std::to_string(threads));
      ASSERT_EQ(normot_context_set_threads(context_, threads), NORMOT_SUCCESS);
      ExpectSameResult(RunNormalize(context_, shuffled, params, NORMOT_FLOAT32), expected);
      ExpectSameResult(RunNormalize(context_, sorted, params, NORMOT_FLOAT32), expected);
    }
  }
}

TEST_P(NormalizeProperties, MatchesAPlainReferenceOfTheSpec) {
  for (bool shuffled : {false, true})
    for (int mode = 0; mode < 4; ++mode) {
      normot_normalize_params params = Params(mode != 1, mode >= 2, mode == 3, 2.0);
      SCOPED_TRACE("mode " + std::to_string(mode) + (shuffled ? " shuffled rows" : ""));
      Csr f32 = RandomMatrix(13 + mode, 257, 61, 0.15, NORMOT_FLOAT32, true, shuffled);
      Reference<float> ref32 = NaiveNormalize<float>(f32, params);
      Result r32 = RunNormalize(context_, Build(f32, NORMOT_LAYOUT_CSR, NORMOT_INDEX_INT32), params,
                                NORMOT_FLOAT32);
      ASSERT_EQ(r32.status, NORMOT_SUCCESS) << r32.message;
      if (params.log1p) {
        // log1pf of two C libraries may differ by an ulp, two after dividing by log(base); the
        // scaling before it may not (checked by the mode without log1p).
        ASSERT_EQ(r32.values.size(), Bytes(ref32.values).size());
        for (size_t k = 0; k < ref32.values.size(); ++k) {
          int32_t got, want;
          std::memcpy(&got, &r32.values[k * 4], 4);
          std::memcpy(&want, &ref32.values[k], 4);
          EXPECT_LE(std::abs(got - want), 2) << "entry " << k;
        }
      } else {
        EXPECT_TRUE(r32.values == Bytes(ref32.values));
      }
      EXPECT_TRUE(r32.size_factors == Bytes(ref32.size_factors));
      EXPECT_TRUE(r32.totals == Bytes(ref32.totals));
      EXPECT_EQ(r32.target, ref32.target);
      EXPECT_EQ(r32.n_zero_cells, ref32.zero_cells);
      EXPECT_EQ(r32.n_excluded_genes, ref32.excluded_genes);

      Csr f64 = WithType(f32, NORMOT_FLOAT64);
      Reference<double> ref64 = NaiveNormalize<double>(f64, params);
      Result r64 = RunNormalize(context_, Build(f64, NORMOT_LAYOUT_CSR, NORMOT_INDEX_INT64), params,
                                NORMOT_FLOAT64);
      ASSERT_EQ(r64.status, NORMOT_SUCCESS) << r64.message;
      if (!params.log1p) EXPECT_TRUE(r64.values == Bytes(ref64.values));
      EXPECT_TRUE(r64.size_factors == Bytes(ref64.size_factors));
      EXPECT_TRUE(r64.totals == Bytes(ref64.totals));
      EXPECT_EQ(r64.target, ref64.target);
    }
}

TEST_P(NormalizeProperties, EveryTypeCombinationEqualsFloatInputOfTheSameValues) {
  Csr counts = RandomMatrix(14, 120, 50, 0.2, NORMOT_INT64, false);
  const normot_value_type int_types[] = {NORMOT_INT32, NORMOT_INT64, NORMOT_UINT16, NORMOT_UINT32};
  for (normot_value_type out : {NORMOT_FLOAT32, NORMOT_FLOAT64})
    for (int mode = 0; mode < 3; ++mode) {
      normot_normalize_params params = Params(mode != 1, mode == 2);
      Result expected = RunNormalize(
          context_, Build(WithType(counts, out), NORMOT_LAYOUT_CSR, NORMOT_INDEX_INT64), params,
          out);
      ASSERT_EQ(expected.status, NORMOT_SUCCESS) << expected.message;
      for (normot_value_type in : int_types)
        for (normot_layout layout : kLayouts)
          for (normot_index_type idx : {NORMOT_INDEX_INT32, NORMOT_INDEX_INT64}) {
            SCOPED_TRACE(std::string(TypeName(in)) + " -> " + TypeName(out) + " " +
                         LayoutName(layout) + (idx ? " int64" : " int32") + " mode " +
                         std::to_string(mode));
            HostMatrix m = Build(WithType(counts, in), layout, idx);
            Result r = RunNormalize(context_, m, params, out);
            ASSERT_EQ(r.status, NORMOT_SUCCESS) << r.message;
            r.values = Entries(m, r, out);
            ExpectSameResult(r, expected);
          }
    }
}

TEST_P(NormalizeProperties, Int64CountsConvertToFloat32BeforeSumming) {
  // 2^24 + 1 is not a float32: Scanpy's astype(float32) makes it 2^24 before any sum.
  Csr csr;
  csr.rows = 2;
  csr.cols = 2;
  csr.indptr = {0, 2, 3};
  csr.indices = {0, 1, 1};
  csr.type = NORMOT_INT64;
  csr.values.assign(3 * 8, 0);
  PutValue(csr.values, NORMOT_INT64, 0, (double)((1 << 24) + 1));
  PutValue(csr.values, NORMOT_INT64, 1, 1.0);
  PutValue(csr.values, NORMOT_INT64, 2, 4.0);
  normot_normalize_params params = Params(false, false);
  Result r = RunNormalize(context_, Build(csr, NORMOT_LAYOUT_CSR, NORMOT_INDEX_INT32), params,
                          NORMOT_FLOAT32);
  ASSERT_EQ(r.status, NORMOT_SUCCESS) << r.message;
  float total0;
  std::memcpy(&total0, r.totals.data(), 4);
  // float32(2^24 + 1) = 2^24; 2^24 + 1 = 16777217 in float64, rounded to float32: 2^24.
  // Summing the integers first would give 16777218.
  EXPECT_EQ(total0, 16777216.0f);
  Result r64 = RunNormalize(context_, Build(csr, NORMOT_LAYOUT_CSR, NORMOT_INDEX_INT32), params,
                            NORMOT_FLOAT64);
  double total64;
  std::memcpy(&total64, r64.totals.data(), 8);
  EXPECT_EQ(total64, 16777218.0);
}

TEST_P(NormalizeProperties, TotalsKeepTheStoredOrderWhereTheOrderMatters) {
  // Row 0 holds integers too large for any order to give the same double: added one by one,
  // 2^60 swallows the seven 1s that follow it, -2^60 brings the sum back to 0, and the last ten
  // 1s make 10. Summed in eight lanes the two 2^60 would cancel within one lane and the total
  // would be 17. Row 1 is plain counts (the exact fast path); row 2 mixes in a non-integer.
  const double big = std::ldexp(1.0, 60);
  std::vector<double> row0 = {big, 1, 1, 1, 1, 1, 1, 1, -big, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  std::vector<double> row1(19, 3.0);
  std::vector<double> row2 = row0;
  row2[18] = 0.5;
  Csr csr;
  csr.rows = 3;
  csr.cols = 19;
  csr.indptr = {0, 19, 38, 57};
  for (int r = 0; r < 3; ++r)
    for (int64_t c = 0; c < 19; ++c) csr.indices.push_back(c);
  std::vector<double> all = row0;
  all.insert(all.end(), row1.begin(), row1.end());
  all.insert(all.end(), row2.begin(), row2.end());
  const double expected[3] = {10.0, 57.0, 9.5};
  for (normot_value_type in : {NORMOT_FLOAT32, NORMOT_FLOAT64, NORMOT_INT64})
    for (normot_value_type out : {NORMOT_FLOAT32, NORMOT_FLOAT64})
      for (normot_layout layout : kLayouts)
        for (bool fused : {false, true}) {
          if (in == NORMOT_FLOAT32 && out == NORMOT_FLOAT64) continue;
          if (in == NORMOT_FLOAT64 && out == NORMOT_FLOAT32) continue;
          SCOPED_TRACE(std::string(TypeName(in)) + " -> " + TypeName(out) + " " +
                       LayoutName(layout) + (fused ? " fused" : " two passes"));
          Csr typed = csr;
          typed.type = in;
          typed.values.assign(all.size() * normot_value_size(in), 0);
          for (size_t k = 0; k < all.size(); ++k)
            PutValue(typed.values, in, k, in == NORMOT_INT64 ? std::floor(all[k]) : all[k]);
          normot_normalize_params params = Params(false, false);
          params.check_values = fused ? 0 : 1;
          Result r = RunNormalize(context_, Build(typed, layout, NORMOT_INDEX_INT32), params, out);
          ASSERT_EQ(r.status, NORMOT_SUCCESS) << r.message;
          for (int row = 0; row < 3; ++row) {
            double want = expected[row];
            if (in == NORMOT_INT64 && row == 2) want = 9.0;  // 0.5 stored as the integer 0
            EXPECT_EQ(GetValue(r.totals.data(), out, (size_t)row), want) << "row " << row;
          }
        }
}

TEST_P(NormalizeProperties, Float32CountTotalsFallBackWhereFloat32LanesWouldRound) {
  // Float32 rows of non-negative integers are added in float32 lanes, trusted only when every
  // lane ends below 2^24 with no sign bit seen. One lane takes the values 0, 32, 64, ... of a
  // row. Row 0 puts 2^24 - 1 and then twenty 1s in it: float32 lanes stop at 2^24 (each 2^24 + 1
  // rounds back to even), the exact total 2^24 + 19 rounds to the float32 2^24 + 20. Row 1 puts
  // ten 1s and then -12 after 2^24 - 1: the lane ends at 2^24 - 12, below 2^24, but the exact
  // total is 2^24 - 3; only the sign bit tells. Row 2 is counts whose lanes stay below 2^24.
  const int64_t n = 32 * 21;
  std::vector<double> row0((size_t)n, 0.0), row1((size_t)n, 0.0), row2((size_t)n, 0.0);
  row0[0] = row1[0] = 16777215.0;
  for (int64_t k = 32; k < n; k += 32) row0[(size_t)k] = 1.0;
  for (int64_t k = 32; k <= 320; k += 32) row1[(size_t)k] = 1.0;
  row1[352] = -12.0;
  for (int64_t k = 0; k < n; ++k) row2[(size_t)k] = (double)(k % 7) * 1000.0 + 1.0;
  const float expected[3] = {16777236.0f, 16777213.0f, (float)(n + 1000.0 * 21 * 96)};
  Csr csr;
  csr.rows = 3;
  csr.cols = n;
  csr.indptr = {0, n, 2 * n, 3 * n};
  for (int r = 0; r < 3; ++r)
    for (int64_t c = 0; c < n; ++c) csr.indices.push_back(c);
  std::vector<double> all = row0;
  all.insert(all.end(), row1.begin(), row1.end());
  all.insert(all.end(), row2.begin(), row2.end());
  csr.type = NORMOT_FLOAT32;
  csr.values.assign(all.size() * 4, 0);
  for (size_t k = 0; k < all.size(); ++k) PutValue(csr.values, NORMOT_FLOAT32, k, all[k]);
  for (normot_layout layout : kLayouts)
    for (bool fused : {false, true}) {
      SCOPED_TRACE(std::string(LayoutName(layout)) + (fused ? " fused" : " two passes"));
      normot_normalize_params params = Params(false, false);
      params.check_values = fused ? 0 : 1;
      Result r =
          RunNormalize(context_, Build(csr, layout, NORMOT_INDEX_INT32), params, NORMOT_FLOAT32);
      ASSERT_EQ(r.status, NORMOT_SUCCESS) << r.message;
      for (int row = 0; row < 3; ++row)
        EXPECT_EQ(GetValue(r.totals.data(), NORMOT_FLOAT32, (size_t)row), (double)expected[row])
            << "row " << row;
    }
}

TEST_P(NormalizeProperties, FusedPassEqualsTwoPassPathAndInPlaceEqualsOutOfPlace) {
  for (normot_value_type type : {NORMOT_FLOAT32, NORMOT_FLOAT64}) {
    Csr csr = RandomMatrix(15, 700, 80, 0.1, type, true, true);
    for (normot_layout layout : kLayouts)
      for (bool log1p : {false, true}) {
        SCOPED_TRACE(std::string(TypeName(type)) + " " + LayoutName(layout) +
                     (log1p ? " log1p" : ""));
        normot_normalize_params checked = Params(false, false, log1p);
        normot_normalize_params unchecked = checked;
        unchecked.check_values = 0;
        HostMatrix m = Build(csr, layout, NORMOT_INDEX_INT64, 1, 9.0);
        auto run = [&](const normot_normalize_params &params, bool in_place) {
          Result r = RunNormalize(context_, m, params, type, in_place);
          r.values = Entries(m, r, type);  // dense padding differs between the two buffers
          return r;
        };
        Result two_pass = run(checked, false);
        ASSERT_EQ(two_pass.status, NORMOT_SUCCESS) << two_pass.message;
        ExpectSameResult(run(unchecked, false), two_pass);
        ExpectSameResult(run(checked, true), two_pass);
        ExpectSameResult(run(unchecked, true), two_pass);
      }
  }
}

TEST_P(NormalizeProperties, DensePaddingIsNeverTouched) {
  Csr csr = RandomMatrix(16, 40, 12, 0.3, NORMOT_FLOAT32, false);
  for (bool in_place : {false, true})
    for (normot_normalize_params params : {Params(true, false), Params(false, false)}) {
      params.check_values = in_place ? 0 : 1;
      HostMatrix m = Build(csr, NORMOT_LAYOUT_DENSE, NORMOT_INDEX_INT64, 3, 123.0);
      normot_matrix X = m.View();
      std::vector<float> out((size_t)(m.rows * m.ld), -5.0f);
      normot_normalize_output output{};
      output.values = in_place ? nullptr : out.data();
      output.value_type = NORMOT_FLOAT32;
      ASSERT_EQ(normot_normalize_total(context_, &X, &params, &output), NORMOT_SUCCESS);
      const float *written = in_place ? (const float *)m.values.data() : out.data();
      for (int64_t r = 0; r < m.rows; ++r)
        for (int64_t c = m.cols; c < m.ld; ++c)
          EXPECT_EQ(written[r * m.ld + c], in_place ? 123.0f : -5.0f);
    }
}

TEST_P(NormalizeProperties, EmptyShapesWithATarget) {
  normot_normalize_params params = Params(false, true);
  for (normot_layout layout : kLayouts)
    for (auto shape : {std::pair<int64_t, int64_t>{0, 5}, {4, 0}, {3, 6}}) {
      SCOPED_TRACE(std::string(LayoutName(layout)) + " " + std::to_string(shape.first) + " x " +
                   std::to_string(shape.second));
      Csr csr;  // no stored entry at all
      csr.rows = shape.first;
      csr.cols = shape.second;
      csr.indptr.assign((size_t)shape.first + 1, 0);
      Result r =
          RunNormalize(context_, Build(csr, layout, NORMOT_INDEX_INT32), params, NORMOT_FLOAT32);
      ASSERT_EQ(r.status, NORMOT_SUCCESS) << r.message;
      EXPECT_EQ(r.n_zero_cells, shape.first);
      EXPECT_EQ(r.n_excluded_genes, 0);
      EXPECT_EQ(r.target, 1e4);
    }
}

TEST_P(NormalizeProperties, RepeatedCallsOfChangingSizesAgreeWithAFreshContext) {
  normot_normalize_params params = Params(true, true);
  for (int64_t rows : {500, 20, 900, 1}) {
    Csr csr = RandomMatrix(17 + (uint64_t)rows, rows, 40 + rows / 10, 0.2, NORMOT_FLOAT32, true);
    HostMatrix m = Build(csr, NORMOT_LAYOUT_CSR, NORMOT_INDEX_INT32);
    Result reused = RunNormalize(context_, m, params, NORMOT_FLOAT32);
    normot_context *fresh = nullptr;
    ASSERT_EQ(normot_context_create(&fresh, GetParam(), 0), NORMOT_SUCCESS);
    Result first = RunNormalize(fresh, m, params, NORMOT_FLOAT32);
    normot_context_destroy(fresh);
    ExpectSameResult(reused, first);
  }
}

TEST_P(NormalizeProperties, ExclusionMemoryDoesNotGrowWithTheGeneCount) {
  if (GetParam() != NORMOT_BACKEND_CPU) GTEST_SKIP() << "host scratch sizes: CPU only";
  // Genes flagged per stored entry when n_cols > nnz (2^40 columns used to ask 1 TiB of flags):
  // the same bytes as flags per gene, for any thread count.
  normot_normalize_params params = Params(true, true);
  params.max_fraction = 0.3;
  Csr csr = RandomMatrix(19, 400, 60, 0.3, NORMOT_FLOAT32, true, true);
  HostMatrix m = Build(csr, NORMOT_LAYOUT_CSR, NORMOT_INDEX_INT64);
  ASSERT_GT(m.nnz, m.cols);
  ASSERT_EQ(normot_context_set_threads(context_, 1), NORMOT_SUCCESS);
  Result per_gene = RunNormalize(context_, m, params, NORMOT_FLOAT32);
  ASSERT_EQ(per_gene.status, NORMOT_SUCCESS) << per_gene.message;
  ASSERT_GT(per_gene.n_excluded_genes, 0);
  for (int64_t cols : {m.nnz + 1, (int64_t)1 << 40})
    for (int threads : {1, 2, 3}) {
      SCOPED_TRACE(std::to_string(cols) + " columns, " + std::to_string(threads) + " threads");
      ASSERT_EQ(normot_context_set_threads(context_, threads), NORMOT_SUCCESS);
      HostMatrix wide = m;
      wide.cols = cols;
      Result per_entry = RunNormalize(context_, wide, params, NORMOT_FLOAT32);
      ASSERT_EQ(per_entry.status, NORMOT_SUCCESS) << per_entry.message;
      ExpectSameResult(per_gene, per_entry);
    }
  // No rows: nothing to exclude, whatever the width.
  HostMatrix empty = Build(Csr{}, NORMOT_LAYOUT_DENSE, NORMOT_INDEX_INT32);
  empty.cols = (int64_t)1 << 40;
  params = Params(false, true);
  Result r = RunNormalize(context_, empty, params, NORMOT_FLOAT32);
  ASSERT_EQ(r.status, NORMOT_SUCCESS) << r.message;
  EXPECT_EQ(r.n_excluded_genes, 0);
}

NORMOT_INSTANTIATE_FOR_BACKENDS(NormalizeProperties);

}  // namespace
