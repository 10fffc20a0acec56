// Every bad-input status that normot_normalize_total documents: the exact status, a message
// naming the problem, and every output (values, size factors, totals, the output struct's
// fields, and the input values when in place) left exactly as it was.
#include <cmath>
#include <limits>

#include "context.h"
#include "test_normalize_helpers.h"
#include "test_support.h"

using namespace normalize_test;

namespace {

const unsigned char kSentinel = 0x5A;
const double kInf = std::numeric_limits<double>::infinity();

// A valid 3 x 4 float32 CSR and its CSC and dense forms; tests break one thing at a time.
Csr SmallCsr(normot_value_type type = NORMOT_FLOAT32) {
  Csr csr;
  csr.rows = 3;
  csr.cols = 4;
  csr.indptr = {0, 2, 3, 5};
  csr.indices = {0, 2, 1, 0, 3};
  csr.type = type;
  csr.values.assign(5 * normot_value_size(type), 0);
  const double v[] = {1, 2, 3, 4, 5};
  for (size_t k = 0; k < 5; ++k) PutValue(csr.values, type, k, v[k]);
  return csr;
}

class NormalizeErrors : public BackendTest {
 protected:
  normot_normalize_params Defaults() {
    normot_normalize_params params;
    normot_normalize_params_init(&params);
    return params;
  }

  // Runs the call out of place into sentinel-filled buffers (and, if asked, in place on a copy
  // of the input values) and checks the status, the message and that nothing was written.
  void ExpectRejected(normot_matrix X, const normot_normalize_params &params,
                      normot_value_type out_type, normot_status expected, const char *word,
                      bool also_in_place = true) {
    int64_t elements = 64;  // enough for every matrix used here
    std::vector<unsigned char> out((size_t)elements * 8, kSentinel);
    std::vector<unsigned char> factors(64 * 8, kSentinel), totals(64 * 8, kSentinel);
    normot_normalize_output output{};
    output.values = out.data();
    output.value_type = out_type;
    output.size_factors = factors.data();
    output.totals = totals.data();
    output.target = -123.0;
    output.n_zero_cells = -7;
    output.n_excluded_genes = -8;
    EXPECT_EQ(normot_normalize_total(context_, &X, &params, &output), expected);
    std::string message = normot_context_last_error(context_);
    EXPECT_NE(message.find(word), std::string::npos)
        << "message \"" << message << "\" does not name \"" << word << "\"";
    std::vector<unsigned char> untouched((size_t)elements * 8, kSentinel);
    EXPECT_TRUE(out == untouched) << "output values were written";
    EXPECT_TRUE(factors == std::vector<unsigned char>(64 * 8, kSentinel));
    EXPECT_TRUE(totals == std::vector<unsigned char>(64 * 8, kSentinel));
    EXPECT_EQ(output.target, -123.0);
    EXPECT_EQ(output.n_zero_cells, -7);
    EXPECT_EQ(output.n_excluded_genes, -8);

    if (!also_in_place || X.values == nullptr || !IsFloat(X.value_type)) return;
    int64_t n = X.layout == NORMOT_LAYOUT_DENSE ? X.n_rows * (X.ld ? X.ld : X.n_cols) : X.nnz;
    if (n < 0 || n > elements) return;
    std::vector<unsigned char> copy(
        (unsigned char *)X.values, (unsigned char *)X.values + n * normot_value_size(X.value_type));
    std::vector<unsigned char> before = copy;
    X.values = copy.data();
    output.values = nullptr;
    EXPECT_EQ(normot_normalize_total(context_, &X, &params, &output), expected) << "in place";
    EXPECT_TRUE(copy == before) << "in-place input values were written";
    EXPECT_TRUE(factors == std::vector<unsigned char>(64 * 8, kSentinel));
    EXPECT_EQ(output.target, -123.0);
  }
};

TEST_P(NormalizeErrors, NullPointers) {
  HostMatrix m = Build(SmallCsr(), NORMOT_LAYOUT_CSR, NORMOT_INDEX_INT64);
  normot_matrix X = m.View();
  normot_normalize_params params = Defaults();
  normot_normalize_output output{};
  output.value_type = NORMOT_FLOAT32;
  EXPECT_EQ(normot_normalize_total(nullptr, &X, &params, &output), NORMOT_ERROR_NULL_POINTER);
  EXPECT_EQ(normot_normalize_total(context_, nullptr, &params, &output), NORMOT_ERROR_NULL_POINTER);
  EXPECT_NE(std::string(normot_context_last_error(context_)).find("X"), std::string::npos);
  EXPECT_EQ(normot_normalize_total(context_, &X, nullptr, &output), NORMOT_ERROR_NULL_POINTER);
  EXPECT_NE(std::string(normot_context_last_error(context_)).find("params"), std::string::npos);
  EXPECT_EQ(normot_normalize_total(context_, &X, &params, nullptr), NORMOT_ERROR_NULL_POINTER);
  EXPECT_NE(std::string(normot_context_last_error(context_)).find("output"), std::string::npos);
  for (normot_layout layout : {NORMOT_LAYOUT_CSR, NORMOT_LAYOUT_CSC}) {
    SCOPED_TRACE(LayoutName(layout));
    HostMatrix s = Build(SmallCsr(), layout, NORMOT_INDEX_INT32);
    normot_matrix bad = s.View();
    bad.indptr = nullptr;
    ExpectRejected(bad, params, NORMOT_FLOAT32, NORMOT_ERROR_NULL_POINTER, "indptr");
    bad = s.View();
    bad.indices = nullptr;
    ExpectRejected(bad, params, NORMOT_FLOAT32, NORMOT_ERROR_NULL_POINTER, "indices");
    bad = s.View();
    bad.values = nullptr;
    ExpectRejected(bad, params, NORMOT_FLOAT32, NORMOT_ERROR_NULL_POINTER, "values");
  }
  HostMatrix d = Build(SmallCsr(), NORMOT_LAYOUT_DENSE, NORMOT_INDEX_INT64);
  normot_matrix bad = d.View();
  bad.values = nullptr;
  ExpectRejected(bad, params, NORMOT_FLOAT32, NORMOT_ERROR_NULL_POINTER, "values");
}

TEST_P(NormalizeErrors, InvalidSizes) {
  normot_normalize_params params = Defaults();
  for (normot_layout layout : {NORMOT_LAYOUT_CSR, NORMOT_LAYOUT_CSC, NORMOT_LAYOUT_DENSE}) {
    SCOPED_TRACE(LayoutName(layout));
    HostMatrix m = Build(SmallCsr(), layout, NORMOT_INDEX_INT64);
    normot_matrix X = m.View();
    X.n_rows = -1;
    ExpectRejected(X, params, NORMOT_FLOAT32, NORMOT_ERROR_INVALID_SIZE, "negative", false);
    X = m.View();
    X.n_cols = -3;
    ExpectRejected(X, params, NORMOT_FLOAT32, NORMOT_ERROR_INVALID_SIZE, "negative", false);
  }
  HostMatrix csr = Build(SmallCsr(), NORMOT_LAYOUT_CSR, NORMOT_INDEX_INT64);
  normot_matrix X = csr.View();
  X.nnz = -1;
  ExpectRejected(X, params, NORMOT_FLOAT32, NORMOT_ERROR_INVALID_SIZE, "nnz", false);
  X = csr.View();
  X.n_rows = std::numeric_limits<int64_t>::max();
  ExpectRejected(X, params, NORMOT_FLOAT32, NORMOT_ERROR_INVALID_SIZE, "overflow", false);

  HostMatrix dense = Build(SmallCsr(), NORMOT_LAYOUT_DENSE, NORMOT_INDEX_INT64);
  X = dense.View();
  X.ld = 3;  // < n_cols = 4
  ExpectRejected(X, params, NORMOT_FLOAT32, NORMOT_ERROR_INVALID_SIZE, "ld");
  X = dense.View();
  X.ld = -1;
  ExpectRejected(X, params, NORMOT_FLOAT32, NORMOT_ERROR_INVALID_SIZE, "ld", false);
  X = dense.View();
  X.n_rows = (int64_t)1 << 62;
  ExpectRejected(X, params, NORMOT_FLOAT32, NORMOT_ERROR_INVALID_SIZE, "overflow", false);
}

TEST_P(NormalizeErrors, InvalidIndptr) {
  for (normot_layout layout : {NORMOT_LAYOUT_CSR, NORMOT_LAYOUT_CSC}) {
    // Median (two passes) and target with check_values = 0 (the fused pass where it applies).
    for (bool fused : {false, true}) {
      normot_normalize_params params = Defaults();
      if (fused) {
        params.has_target_sum = 1;
        params.target_sum = 10.0;
        params.check_values = 0;
      }
      for (normot_index_type idx : {NORMOT_INDEX_INT32, NORMOT_INDEX_INT64}) {
        SCOPED_TRACE(std::string(LayoutName(layout)) + (fused ? " fused" : "") +
                     (idx ? " int64" : " int32"));
        HostMatrix base = Build(SmallCsr(), layout, idx);
        auto with_indptr = [&](size_t i, int64_t value) {
          HostMatrix m = base;
          m.indptr32[i] = (int32_t)value;
          m.indptr64[i] = value;
          return m;
        };
        size_t last = base.indptr64.size() - 1;
        HostMatrix m = with_indptr(0, 1);
        ExpectRejected(m.View(), params, NORMOT_FLOAT32, NORMOT_ERROR_INVALID_INDPTR, "indptr[0]");
        m = with_indptr(last, 4);
        ExpectRejected(m.View(), params, NORMOT_FLOAT32, NORMOT_ERROR_INVALID_INDPTR, "nnz");
        m = with_indptr(1, base.indptr64[2] + 1);  // decreasing after entry 1
        ExpectRejected(m.View(), params, NORMOT_FLOAT32, NORMOT_ERROR_INVALID_INDPTR, "indptr[2]");
        m = with_indptr(1, -2);
        ExpectRejected(m.View(), params, NORMOT_FLOAT32, NORMOT_ERROR_INVALID_INDPTR, "indptr");
      }
    }
  }
}

TEST_P(NormalizeErrors, IndicesOutOfRangeWhereRead) {
  normot_normalize_params params = Defaults();
  // CSC reads its row indices always.
  for (int64_t bad : {3, -1, 1000}) {
    HostMatrix m = Build(SmallCsr(), NORMOT_LAYOUT_CSC, NORMOT_INDEX_INT32);
    m.indices32[2] = (int32_t)bad;
    m.indices64[2] = bad;
    ExpectRejected(m.View(), params, NORMOT_FLOAT32, NORMOT_ERROR_INDEX_OUT_OF_RANGE,
                   "out of range");
    normot_normalize_params target = params;
    target.has_target_sum = 1;
    target.target_sum = 5;
    target.check_values = 0;
    ExpectRejected(m.View(), target, NORMOT_FLOAT32, NORMOT_ERROR_INDEX_OUT_OF_RANGE, "indices[2]");
  }
  // CSR reads its column indices when genes are excluded.
  normot_normalize_params exclude = params;
  exclude.exclude_highly_expressed = 1;
  for (int64_t bad : {4, -5}) {
    HostMatrix m = Build(SmallCsr(), NORMOT_LAYOUT_CSR, NORMOT_INDEX_INT64);
    m.indices32[4] = (int32_t)bad;
    m.indices64[4] = bad;
    ExpectRejected(m.View(), exclude, NORMOT_FLOAT32, NORMOT_ERROR_INDEX_OUT_OF_RANGE,
                   "indices[4]");
  }
}

TEST_P(NormalizeErrors, NonFiniteValues) {
  const double bad_values[] = {std::nan(""), kInf, -kInf};
  for (normot_value_type type : {NORMOT_FLOAT32, NORMOT_FLOAT64})
    for (normot_layout layout : {NORMOT_LAYOUT_CSR, NORMOT_LAYOUT_CSC, NORMOT_LAYOUT_DENSE})
      for (double bad : bad_values)
        for (int mode = 0; mode < 3; ++mode) {
          SCOPED_TRACE(std::string(TypeName(type)) + " " + LayoutName(layout) + " " +
                       std::to_string(bad) + " mode " + std::to_string(mode));
          Csr csr = SmallCsr(type);
          PutValue(csr.values, type, 3, bad);
          HostMatrix m = Build(csr, layout, NORMOT_INDEX_INT64);
          normot_normalize_params params = Defaults();
          params.has_target_sum = mode == 1;
          params.target_sum = 100;
          params.exclude_highly_expressed = mode == 2;
          ExpectRejected(m.View(), params, type, NORMOT_ERROR_NONFINITE_VALUE, "non-finite");
        }
}

TEST_P(NormalizeErrors, UncheckedValuesPassNaNThrough) {
  // check_values = 0 is a promise from the caller: no error, NaN only spoils its own cell.
  Csr csr = SmallCsr();
  PutValue(csr.values, NORMOT_FLOAT32, 3, std::nan(""));
  normot_normalize_params params = Defaults();
  params.has_target_sum = 1;
  params.target_sum = 10;
  params.check_values = 0;
  Result r = RunNormalize(context_, Build(csr, NORMOT_LAYOUT_CSR, NORMOT_INDEX_INT64), params,
                          NORMOT_FLOAT32);
  ASSERT_EQ(r.status, NORMOT_SUCCESS) << r.message;
  float first;
  std::memcpy(&first, r.values.data(), 4);
  volatile float three = 3.0f, ten = 10.0f;  // row 0 = {1, 2}: 1 / (3 / 10) in float32
  EXPECT_EQ(first, 1.0f / (three / ten));
  float spoiled;
  std::memcpy(&spoiled, &r.values[4 * 4], 4);
  EXPECT_TRUE(std::isnan(spoiled));
}

TEST_P(NormalizeErrors, ParametersOutOfRange) {
  HostMatrix m = Build(SmallCsr(), NORMOT_LAYOUT_CSR, NORMOT_INDEX_INT64);
  for (double fraction : {-0.01, 1.01, std::nan(""), kInf}) {
    normot_normalize_params params = Defaults();
    params.exclude_highly_expressed = 1;
    params.max_fraction = fraction;
    ExpectRejected(m.View(), params, NORMOT_FLOAT32, NORMOT_ERROR_INVALID_MAX_FRACTION,
                   "max_fraction");
  }
  for (double target :
       {0.0, -5.0, kInf, std::nan(""), 1e39 /* inf in float32 */, 1e-50 /* 0 in float32 */}) {
    normot_normalize_params params = Defaults();
    params.has_target_sum = 1;
    params.target_sum = target;
    ExpectRejected(m.View(), params, NORMOT_FLOAT32, NORMOT_ERROR_INVALID_TARGET_SUM, "target_sum");
  }
  for (double base : {1.0, -2.0, kInf, std::nan("")}) {
    normot_normalize_params params = Defaults();
    params.log1p = 1;
    params.log_base = base;
    ExpectRejected(m.View(), params, NORMOT_FLOAT32, NORMOT_ERROR_INVALID_LOG_BASE, "log_base");
  }
  // In float64, 1e39 is a fine target.
  normot_normalize_params params = Defaults();
  params.has_target_sum = 1;
  params.target_sum = 1e39;
  Result r =
      RunNormalize(context_, Build(SmallCsr(NORMOT_FLOAT64), NORMOT_LAYOUT_CSR, NORMOT_INDEX_INT64),
                   params, NORMOT_FLOAT64);
  EXPECT_EQ(r.status, NORMOT_SUCCESS) << r.message;
}

TEST_P(NormalizeErrors, UnsupportedTypes) {
  normot_normalize_params params = Defaults();
  HostMatrix f32 = Build(SmallCsr(), NORMOT_LAYOUT_CSR, NORMOT_INDEX_INT64);
  ExpectRejected(f32.View(), params, NORMOT_INT32, NORMOT_ERROR_UNSUPPORTED_TYPE,
                 "output value_type");
  ExpectRejected(f32.View(), params, NORMOT_FLOAT64, NORMOT_ERROR_UNSUPPORTED_TYPE, "must equal");
  HostMatrix f64 = Build(SmallCsr(NORMOT_FLOAT64), NORMOT_LAYOUT_CSR, NORMOT_INDEX_INT64);
  ExpectRejected(f64.View(), params, NORMOT_FLOAT32, NORMOT_ERROR_UNSUPPORTED_TYPE, "must equal");
  normot_matrix X = f32.View();
  X.layout = (normot_layout)7;
  ExpectRejected(X, params, NORMOT_FLOAT32, NORMOT_ERROR_UNSUPPORTED_TYPE, "layout", false);
  X = f32.View();
  X.value_type = (normot_value_type)9;
  ExpectRejected(X, params, NORMOT_FLOAT32, NORMOT_ERROR_UNSUPPORTED_TYPE, "value_type", false);
  X = f32.View();
  X.index_type = (normot_index_type)5;
  ExpectRejected(X, params, NORMOT_FLOAT32, NORMOT_ERROR_UNSUPPORTED_TYPE, "index_type", false);

  // In place needs float input: integer counts must go to an output buffer.
  HostMatrix counts = Build(SmallCsr(NORMOT_INT32), NORMOT_LAYOUT_CSR, NORMOT_INDEX_INT64);
  std::vector<unsigned char> before = counts.values;
  normot_matrix C = counts.View();
  normot_normalize_output output{};
  output.value_type = NORMOT_FLOAT32;  // values NULL: in place
  output.target = -1;
  EXPECT_EQ(normot_normalize_total(context_, &C, &params, &output), NORMOT_ERROR_UNSUPPORTED_TYPE);
  EXPECT_NE(std::string(normot_context_last_error(context_)).find("in-place"), std::string::npos);
  EXPECT_TRUE(counts.values == before);
  EXPECT_EQ(output.target, -1);
}

TEST_P(NormalizeErrors, NoPositiveTotalForTheMedian) {
  normot_normalize_params params = Defaults();
  for (normot_layout layout : {NORMOT_LAYOUT_CSR, NORMOT_LAYOUT_CSC, NORMOT_LAYOUT_DENSE}) {
    SCOPED_TRACE(LayoutName(layout));
    Csr zeros = SmallCsr();
    for (size_t k = 0; k < 5; ++k) PutValue(zeros.values, NORMOT_FLOAT32, k, 0.0);
    ExpectRejected(Build(zeros, layout, NORMOT_INDEX_INT64).View(), params, NORMOT_FLOAT32,
                   NORMOT_ERROR_NO_POSITIVE_TOTAL, "no cell");
    Csr negative = SmallCsr();
    for (size_t k = 0; k < 5; ++k) PutValue(negative.values, NORMOT_FLOAT32, k, -1.0);
    ExpectRejected(Build(negative, layout, NORMOT_INDEX_INT64).View(), params, NORMOT_FLOAT32,
                   NORMOT_ERROR_NO_POSITIVE_TOTAL, "no cell");
    Csr empty;
    empty.rows = 0;
    empty.cols = 4;
    ExpectRejected(Build(empty, layout, NORMOT_INDEX_INT64).View(), params, NORMOT_FLOAT32,
                   NORMOT_ERROR_NO_POSITIVE_TOTAL, "no cell");
    // Counts that exclusion removes entirely leave no positive total either.
    normot_normalize_params exclude = params;
    exclude.exclude_highly_expressed = 1;
    exclude.max_fraction = 0.0;
    ExpectRejected(Build(SmallCsr(), layout, NORMOT_INDEX_INT64).View(), exclude, NORMOT_FLOAT32,
                   NORMOT_ERROR_NO_POSITIVE_TOTAL, "no cell");
  }
}

TEST_P(NormalizeErrors, MemoryTags) {
  normot_normalize_params params = Defaults();
  HostMatrix m = Build(SmallCsr(), NORMOT_LAYOUT_CSR, NORMOT_INDEX_INT64);
  normot_matrix X = m.View();
  X.memory = (normot_memory)7;
  ExpectRejected(X, params, NORMOT_FLOAT32, NORMOT_ERROR_INVALID_MEMORY, "memory");
  if (GetParam() == NORMOT_BACKEND_CPU) {
    X = m.View();
    X.memory = NORMOT_MEMORY_CUDA;
    ExpectRejected(X, params, NORMOT_FLOAT32, NORMOT_ERROR_INVALID_MEMORY, "device memory");
  }
  // AUTO resolves host memory to host: accepted.
  X = m.View();
  X.memory = NORMOT_MEMORY_AUTO;
  std::vector<float> out(5);
  normot_normalize_output output{};
  output.values = out.data();
  output.value_type = NORMOT_FLOAT32;
  EXPECT_EQ(normot_normalize_total(context_, &X, &params, &output), NORMOT_SUCCESS)
      << normot_context_last_error(context_);
}

// Finite values whose results would not be finite: NORMOT_ERROR_OVERFLOW, nothing written
// (docs/normalize_semantics.md, "Results that would not be finite"). The CUDA backend does not
// apply these rules yet.
#define SKIP_RESULT_CHECKS_ON_CUDA() \
  if (GetParam() == NORMOT_BACKEND_CUDA) GTEST_SKIP() << "CUDA does not check results yet"

TEST_P(NormalizeErrors, TotalsBeyondTheOutputTypeAreRefused) {
  SKIP_RESULT_CHECKS_ON_CUDA();
  // Row 2 = {3e38, 3e38}: its float64 total rounds to Inf in float32 (the size factor was Inf
  // and the row came out as zeros). In float64, {1.5e308, 1.5e308} overflows the sum itself.
  const double big[] = {3e38, 1.5e308};
  const normot_value_type types[] = {NORMOT_FLOAT32, NORMOT_FLOAT64};
  for (int t = 0; t < 2; ++t)
    for (normot_layout layout : {NORMOT_LAYOUT_CSR, NORMOT_LAYOUT_CSC, NORMOT_LAYOUT_DENSE})
      for (bool given_target : {false, true}) {
        SCOPED_TRACE(std::string(TypeName(types[t])) + " " + LayoutName(layout) +
                     (given_target ? " target" : " median"));
        Csr csr = SmallCsr(types[t]);
        PutValue(csr.values, types[t], 3, big[t]);
        PutValue(csr.values, types[t], 4, big[t]);
        normot_normalize_params params = Defaults();
        params.has_target_sum = given_target;
        params.target_sum = 10;
        ExpectRejected(Build(csr, layout, NORMOT_INDEX_INT32).View(), params, types[t],
                       NORMOT_ERROR_OVERFLOW,
                       types[t] == NORMOT_FLOAT32 ? "row 2: the total of its values overflows "
                                                    "float32"
                                                  : "row 2: the total of its values overflows "
                                                    "float64");
      }
}

TEST_P(NormalizeErrors, MedianTargetsBeyondTheOutputTypeAreRefused) {
  SKIP_RESULT_CHECKS_ON_CUDA();
  // Two rows of one value each: both totals are finite, but the median of an even count is
  // (a + b) / 2 in the output type, and a + b overflows it. The target was Inf, every size factor
  // 0 and the call a success.
  const double big[] = {3e38, 1e308};
  const normot_value_type types[] = {NORMOT_FLOAT32, NORMOT_FLOAT64};
  for (int t = 0; t < 2; ++t)
    for (normot_layout layout : {NORMOT_LAYOUT_CSR, NORMOT_LAYOUT_CSC, NORMOT_LAYOUT_DENSE}) {
      SCOPED_TRACE(std::string(TypeName(types[t])) + " " + LayoutName(layout));
      Csr csr;
      csr.rows = 2;
      csr.cols = 2;
      csr.indptr = {0, 1, 2};
      csr.indices = {0, 1};
      csr.type = types[t];
      csr.values.assign(2 * normot_value_size(types[t]), 0);
      PutValue(csr.values, types[t], 0, big[t]);
      PutValue(csr.values, types[t], 1, big[t]);
      ExpectRejected(Build(csr, layout, NORMOT_INDEX_INT32).View(), Defaults(), types[t],
                     NORMOT_ERROR_OVERFLOW,
                     types[t] == NORMOT_FLOAT32 ? "the median target, the mean of the two "
                                                  "middle of 2 positive totals, overflows float32"
                                                : "the median target, the mean of the two "
                                                  "middle of 2 positive totals, overflows float64");
    }
}

TEST_P(NormalizeErrors, TargetsWhoseResultsOverflowAreRefused) {
  SKIP_RESULT_CHECKS_ON_CUDA();
  // float32, target FLT_MAX: row 1 = {3} gives 3 / (3 / FLT_MAX) = Inf. Integer input went
  // through the unchecked fused pass.
  for (normot_value_type type : {NORMOT_FLOAT32, NORMOT_INT32, NORMOT_UINT16})
    for (normot_layout layout : {NORMOT_LAYOUT_CSR, NORMOT_LAYOUT_CSC, NORMOT_LAYOUT_DENSE}) {
      SCOPED_TRACE(std::string(TypeName(type)) + " " + LayoutName(layout));
      HostMatrix m = Build(SmallCsr(type), layout, NORMOT_INDEX_INT64);
      normot_normalize_params params = Defaults();
      params.has_target_sum = 1;
      params.target_sum = std::numeric_limits<float>::max();
      ExpectRejected(m.View(), params, NORMOT_FLOAT32, NORMOT_ERROR_OVERFLOW,
                     "row 1: its values (from ");
      // 1e-45 rounds to the smallest float32: every size factor is Inf.
      params.target_sum = 1e-45;
      ExpectRejected(m.View(), params, NORMOT_FLOAT32, NORMOT_ERROR_OVERFLOW,
                     "row 0: its size factor, total 3 / target 1.4013e-45, overflows float32");
      // Just inside: 1e38 leaves every result finite.
      params.target_sum = 1e38;
      Result r = RunNormalize(context_, m, params, NORMOT_FLOAT32);
      ASSERT_EQ(r.status, NORMOT_SUCCESS) << r.message;
      for (size_t e = 0; e < r.values.size() / 4; ++e)
        EXPECT_TRUE(std::isfinite(GetValue(r.values.data(), NORMOT_FLOAT32, e)));
    }
}

TEST_P(NormalizeErrors, TheLargestValueIsFoundAtEveryPositionOfARow) {
  SKIP_RESULT_CHECKS_ON_CUDA();
  // Pass 1 finds each row's largest value in the same read as its total, eight or 32 lanes at a
  // time with a masked last vector: a row whose one nonzero value overflows at target FLT_MAX
  // (3 / (3 / FLT_MAX) = Inf) must be refused wherever that value sits, after a first row of 0,
  // 2, 3 or 5 ones (finite results) that shifts the vectors' alignment. A missed value would pass
  // as a success.
  for (normot_layout layout : {NORMOT_LAYOUT_CSR, NORMOT_LAYOUT_DENSE})
    for (int64_t before : {0, 2, 3, 5})
      for (int64_t length = 1; before + length <= 60; ++length)
        for (int64_t at = 0; at < length; ++at) {
          if (layout == NORMOT_LAYOUT_DENSE && before > 0) break; /* its rows start at length */
          SCOPED_TRACE(std::string(LayoutName(layout)) + ": a row of " + std::to_string(length) +
                       " values, 3 at " + std::to_string(at) + ", after " + std::to_string(before));
          Csr csr;
          csr.rows = 2;
          csr.cols = length;
          csr.indptr = {0, before, before + length};
          for (int64_t k = 0; k < before; ++k) csr.indices.push_back(k);
          for (int64_t k = 0; k < length; ++k) csr.indices.push_back(k);
          csr.values.assign((size_t)csr.nnz() * 4, 0);
          for (int64_t k = 0; k < before; ++k) PutValue(csr.values, NORMOT_FLOAT32, k, 1.0);
          PutValue(csr.values, NORMOT_FLOAT32, before + at, 3.0);
          normot_normalize_params params = Defaults();
          params.has_target_sum = 1;
          params.target_sum = std::numeric_limits<float>::max();
          ExpectRejected(
              Build(csr, layout, NORMOT_INDEX_INT32).View(), params, NORMOT_FLOAT32,
              NORMOT_ERROR_OVERFLOW,
              length == 1 ? "row 1: its values (from 3 to 3)" : "row 1: its values (from 0 to 3)");
          if (HasFatalFailure() || HasNonfatalFailure()) return;
        }
}

TEST_P(NormalizeErrors, Log1pOfResultsBelowMinusOneIsRefused) {
  SKIP_RESULT_CHECKS_ON_CUDA();
  // Row 0 = {-5, 2}: total -3, size factor -0.3, results 16.7 and -6.7, whose log1p is NaN.
  for (normot_value_type type : {NORMOT_FLOAT32, NORMOT_FLOAT64, NORMOT_INT32})
    for (normot_layout layout : {NORMOT_LAYOUT_CSR, NORMOT_LAYOUT_CSC, NORMOT_LAYOUT_DENSE}) {
      SCOPED_TRACE(std::string(TypeName(type)) + " " + LayoutName(layout));
      Csr csr = SmallCsr(type);
      PutValue(csr.values, type, 0, -5);
      normot_value_type out = type == NORMOT_INT32 ? NORMOT_FLOAT32 : type;
      normot_normalize_params params = Defaults();
      params.has_target_sum = 1;
      params.target_sum = 10;
      params.log1p = 1;
      ExpectRejected(Build(csr, layout, NORMOT_INDEX_INT32).View(), params, out,
                     NORMOT_ERROR_OVERFLOW,
                     "row 0: its values (from -5 to 2) divided by its "
                     "size factor -0.3 and log1p");
      // Without log1p the same results are finite.
      params.log1p = 0;
      Result r = RunNormalize(context_, Build(csr, layout, NORMOT_INDEX_INT32), params, out);
      ASSERT_EQ(r.status, NORMOT_SUCCESS) << r.message;
    }
}

TEST_P(NormalizeErrors, OutputsOverlappingInputsAreRefused) {
  Csr csr = SmallCsr(NORMOT_FLOAT64);
  HostMatrix m = Build(csr, NORMOT_LAYOUT_CSR, NORMOT_INDEX_INT64);
  // Room after the 5 values, so that the shifted outputs below overlap X->values and nothing
  // else whatever the heap layout.
  m.values.resize(64 * 8, 0);
  normot_matrix X = m.View();
  const std::vector<unsigned char> before = m.values;
  normot_normalize_params params = Defaults();
  std::vector<double> other(16, -1.0);
  auto expect_overlap = [&](normot_normalize_output output, const char *words) {
    output.value_type = NORMOT_FLOAT64;
    output.target = -123.0;
    EXPECT_EQ(normot_normalize_total(context_, &X, &params, &output),
              NORMOT_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(normot_context_last_error(context_)).find(words), std::string::npos)
        << normot_context_last_error(context_);
    EXPECT_TRUE(m.values == before) << "input values were written";
    EXPECT_EQ(other, std::vector<double>(16, -1.0));
    EXPECT_EQ(output.target, -123.0);
  };
  // Out of place, one element further on: each value used to be read after its neighbour's
  // result was written over it.
  normot_normalize_output output{};
  output.values = (double *)X.values + 1;
  expect_overlap(output, "output->values overlaps X->values");
  output = normot_normalize_output{};
  output.values = other.data();
  output.size_factors = (double *)X.values + 4;
  expect_overlap(output, "output->size_factors overlaps X->values");
  output.size_factors = other.data() + 4;  // other[0..4] are the values
  expect_overlap(output, "output->values overlaps output->size_factors");
  output.size_factors = nullptr;
  output.totals = (void *)X.indptr;
  expect_overlap(output, "output->totals overlaps X->indptr");
  output.totals = (void *)((const int64_t *)X.indices + 2);
  expect_overlap(output, "output->totals overlaps X->indices");
  // In place (NULL, or the values pointer itself with the same type) stays allowed.
  output = normot_normalize_output{};
  output.values = X.values;
  output.value_type = NORMOT_FLOAT64;
  output.size_factors = other.data();
  ASSERT_EQ(normot_normalize_total(context_, &X, &params, &output), NORMOT_SUCCESS)
      << normot_context_last_error(context_);
  std::vector<unsigned char> by_pointer = m.values;
  m.values = before;
  X = m.View();
  output.values = nullptr;
  ASSERT_EQ(normot_normalize_total(context_, &X, &params, &output), NORMOT_SUCCESS);
  EXPECT_TRUE(m.values == by_pointer);
  EXPECT_TRUE(m.values != before);
  // Integer input cannot be normalized over itself.
  HostMatrix counts = Build(SmallCsr(NORMOT_INT32), NORMOT_LAYOUT_CSR, NORMOT_INDEX_INT32);
  normot_matrix C = counts.View();
  output = normot_normalize_output{};
  output.values = C.values;
  output.value_type = NORMOT_FLOAT32;
  EXPECT_EQ(normot_normalize_total(context_, &C, &params, &output), NORMOT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(normot_context_last_error(context_)).find("output->values overlaps"),
            std::string::npos);
}

#if defined(__SANITIZE_ADDRESS__)
#define NORMOT_TEST_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NORMOT_TEST_UNDER_ASAN 1
#endif
#endif

TEST_P(NormalizeErrors, OutOfMemoryWritesNothing) {
#ifdef NORMOT_TEST_UNDER_ASAN
  GTEST_SKIP() << "AddressSanitizer aborts on an allocation this large instead of failing it";
#endif
  if (GetParam() != NORMOT_BACKEND_CPU) GTEST_SKIP() << "host scratch sizes: CPU only";
  // 2^44 one-column cells: the scratch for their totals (256 TiB) exceeds a 47-bit address
  // space, so no overcommit policy can grant it; no value is read before it is allocated.
  // In place: an output buffer would lie inside the 64 TiB the view claims, an overlap.
  std::vector<float> values(8, 7.0f);
  normot_matrix X = normot_matrix_dense((int64_t)1 << 44, 1, values.data(), NORMOT_FLOAT32);
  normot_normalize_params params = Defaults();
  normot_normalize_output output{};
  output.value_type = NORMOT_FLOAT32;
  output.target = -1;
  EXPECT_EQ(normot_normalize_total(context_, &X, &params, &output), NORMOT_ERROR_OUT_OF_MEMORY);
  EXPECT_NE(std::string(normot_context_last_error(context_)).find("out of memory"),
            std::string::npos);
  EXPECT_EQ(values, std::vector<float>(8, 7.0f));
  EXPECT_EQ(output.target, -1);
}

NORMOT_INSTANTIATE_FOR_BACKENDS(NormalizeErrors);

}  // namespace

namespace {

class NormalizeErrorReports : public BackendTest {};

TEST_P(NormalizeErrorReports, TheFirstProblemIsReportedForAnyThreadCount) {
  // NaNs in rows 700 and 1500 of a matrix spread over many chunks: the same one is named for
  // every thread count, the first in the layout's order.
  Csr csr;
  csr.rows = 2000;
  csr.cols = 3;
  csr.type = NORMOT_FLOAT32;
  for (int64_t r = 0; r < csr.rows; ++r) {
    csr.indices.push_back(r % 3);
    csr.indptr.push_back(r + 1);
  }
  csr.values.assign((size_t)csr.rows * 4, 0);
  for (size_t k = 0; k < (size_t)csr.rows; ++k) PutValue(csr.values, NORMOT_FLOAT32, k, 1.0);
  PutValue(csr.values, NORMOT_FLOAT32, 1500, std::nan(""));
  PutValue(csr.values, NORMOT_FLOAT32, 700, std::nan(""));
  normot_normalize_params params;
  normot_normalize_params_init(&params);
  for (normot_layout layout : {NORMOT_LAYOUT_CSR, NORMOT_LAYOUT_CSC, NORMOT_LAYOUT_DENSE})
    for (int threads : {1, 2, 3, 4}) {
      SCOPED_TRACE(std::string(LayoutName(layout)) + " threads " + std::to_string(threads));
      ASSERT_EQ(normot_context_set_threads(context_, threads), NORMOT_SUCCESS);
      Result r =
          RunNormalize(context_, Build(csr, layout, NORMOT_INDEX_INT32), params, NORMOT_FLOAT32);
      EXPECT_EQ(r.status, NORMOT_ERROR_NONFINITE_VALUE);
      // CSR and dense go row by row: row 700 first. CSC goes column by column: row 1500's NaN
      // sits in column 0 (1500 % 3), before row 700's in column 1.
      const char *where = layout == NORMOT_LAYOUT_CSC ? "column 0" : "row 700";
      EXPECT_NE(r.message.find(where), std::string::npos) << r.message;
    }
}

TEST_P(NormalizeErrorReports, ScratchIsKeptInTheContextBetweenCalls) {
  if (GetParam() != NORMOT_BACKEND_CPU) GTEST_SKIP() << "checks the CPU backend's cache slot";
  Csr csr = SmallCsr();
  normot_normalize_params params;
  normot_normalize_params_init(&params);
  HostMatrix m = Build(csr, NORMOT_LAYOUT_CSR, NORMOT_INDEX_INT64);
  ASSERT_EQ(RunNormalize(context_, m, params, NORMOT_FLOAT32).status, NORMOT_SUCCESS);
  void *slot = context_->cache[NORMOT_CACHE_NORMALIZE].ptr;
  ASSERT_NE(slot, nullptr);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(RunNormalize(context_, m, params, NORMOT_FLOAT32).status, NORMOT_SUCCESS);
  EXPECT_EQ(context_->cache[NORMOT_CACHE_NORMALIZE].ptr, slot);
}

NORMOT_INSTANTIATE_FOR_BACKENDS(NormalizeErrorReports);

}  // namespace
