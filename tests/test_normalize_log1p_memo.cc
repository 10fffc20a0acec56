// The log1p of normalize_total goes through a memo keyed by the bits of each scaled value
// (src/cpu/normalize_internal.h) and, with AVX-512, a per-row table of the small integer counts
// (src/cpu/normalize_log1p_table.h). These tests hold it to what a memo must be: invisible. Every
// result equals, bit for bit, libm's log1pf / log1p (and the division by log(base)) applied to
// the same call's scaled value without log1p, for data whose values repeat heavily, for data
// with no repeats, for values chosen to fall into the same memo set, and for values at and
// around the table's edges; on every layout, both float types, the fused and the two-pass
// paths, in place and not, the block API, and 1, 2 and 3 threads. CTest runs them three times:
// with the kernels the CPU allows, with NORMOT_CPU_KERNELS=avx2 and with =baseline.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "test_normalize_helpers.h"
#include "test_support.h"

using namespace normalize_test;

namespace {

// A rows x cols float32 CSR matrix: each element stored with probability `density`, its value
// drawn by draw(rng).
template <typename Draw>
Csr RandomCsr(uint64_t seed, int64_t rows, int64_t cols, double density, Draw draw) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  Csr csr;
  csr.rows = rows;
  csr.cols = cols;
  std::vector<double> values;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      if (unit(rng) >= density) continue;
      csr.indices.push_back(c);
      values.push_back(draw(rng));
    }
    csr.indptr.push_back((int64_t)csr.indices.size());
  }
  csr.values.assign(values.size() * 4, 0);
  for (size_t k = 0; k < values.size(); ++k) PutValue(csr.values, NORMOT_FLOAT32, k, values[k]);
  return csr;
}

// Counts 1..10 (most of them 1..3): each row repeats a handful of distinct values.
Csr RepeatedCounts(uint64_t seed, int64_t rows, int64_t cols) {
  std::geometric_distribution<int> count(0.45);
  return RandomCsr(seed, rows, cols, 0.4,
                   [&](std::mt19937_64 &rng) { return 1.0 + (double)(count(rng) % 10); });
}

// Random float32 values in (0, 1000): practically no value, and no scaled value, repeats.
Csr DistinctReals(uint64_t seed, int64_t rows, int64_t cols) {
  std::uniform_real_distribution<double> value(1e-3, 1e3);
  return RandomCsr(seed, rows, cols, 0.5,
                   [&](std::mt19937_64 &rng) { return (double)(float)value(rng); });
}

// The memo's set of a key (the hash of normalize_internal.h, copied here only to choose inputs
// that collide; were it changed, these inputs would merely stop colliding).
unsigned MemoSet(uint64_t key) {
  return (unsigned)((key * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - 8));
}

uint64_t KeyOf(double integer, normot_value_type type) {
  if (type == NORMOT_FLOAT32) {
    float f = (float)integer;
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    return bits;
  }
  uint64_t bits;
  std::memcpy(&bits, &integer, 8);
  return bits;
}

// Every row holds the same integers, five per memo set for three sets (more than the two
// entries a set keeps), in a different order per row, and one -0.0; each row's total is the
// same integer, so with that total as target_sum every size factor is 1 and the scaled values
// are the integers themselves: the keys collide as chosen.
Csr CollidingIntegers(normot_value_type type, uint64_t seed, double *row_total) {
  std::vector<double> chosen;
  for (unsigned wanted : {7u, 100u, 201u}) {
    int found = 0;
    for (double v = 1.0; found < 5; v += 1.0)
      if (MemoSet(KeyOf(v, type)) == wanted) chosen.push_back(v), ++found;
  }
  *row_total = 0.0;
  for (double v : chosen) *row_total += v;
  chosen.push_back(-0.0);
  std::mt19937_64 rng(seed);
  Csr csr;
  csr.rows = 400;  // 6400 values: several groups
  csr.cols = (int64_t)chosen.size();
  csr.type = type;
  std::vector<double> values;
  for (int64_t r = 0; r < csr.rows; ++r) {
    std::vector<int64_t> cols(chosen.size());
    for (size_t c = 0; c < cols.size(); ++c) cols[c] = (int64_t)c;
    std::shuffle(cols.begin(), cols.end(), rng);
    for (int64_t c : cols) csr.indices.push_back(c), values.push_back(chosen[(size_t)c]);
    csr.indptr.push_back((int64_t)csr.indices.size());
  }
  csr.values.assign(values.size() * normot_value_size(type), 0);
  for (size_t k = 0; k < values.size(); ++k) PutValue(csr.values, type, k, values[k]);
  return csr;
}

// Values that probe the per-row table of the AVX-512 kernels (src/cpu/normalize_log1p_table.h:
// 32 entries for float32, 16 for float64): every integer 0..40 (both table boundaries), values
// just off an integer, -0.0, integers beyond int32 and huge values; rows of every length 0..40
// (each vector tail) and a few long ones, stored zeros, and an all -0.0 row (a zero cell).
Csr TableEdges(normot_value_type type, uint64_t seed) {
  const double odd[] = {-0.0,          0.5,          1.5,          15.5, 31.5,
                        1.0 + 0x1p-20, 2147483648.0, 4294967301.0, 1e30};
  std::mt19937_64 rng(seed);
  Csr csr;
  csr.type = type;
  csr.cols = 600;
  std::vector<double> values;
  auto add_row = [&](const std::vector<double> &row) {
    std::vector<int64_t> cols((size_t)csr.cols);
    for (size_t c = 0; c < cols.size(); ++c) cols[c] = (int64_t)c;
    std::shuffle(cols.begin(), cols.end(), rng);
    for (size_t k = 0; k < row.size(); ++k)
      csr.indices.push_back(cols[k]), values.push_back(row[k]);
    csr.indptr.push_back((int64_t)csr.indices.size());
    ++csr.rows;
  };
  std::vector<double> every;
  for (int v = 0; v <= 40; ++v) every.push_back(v);
  add_row(every);
  add_row({-0.0, -0.0, -0.0});
  for (int length = 0; length <= 40; ++length)
    for (int variant = 0; variant < 4; ++variant) {
      std::vector<double> row;
      for (int k = 0; k < length; ++k) {
        const uint64_t draw = rng() % 100;
        // Mostly 1 and small counts; variant 3 also draws the odd values and numbers near 2^31.
        if (variant == 3 && draw < 10)
          row.push_back(odd[draw % (sizeof odd / sizeof odd[0])]);
        else if (draw < 60)
          row.push_back(1.0);
        else
          row.push_back((double)(rng() % (variant == 0 ? 16 : 42)));
      }
      add_row(row);
    }
  for (int r = 0; r < 8; ++r) {  // long rows: many vectors share one table
    std::vector<double> row;
    for (int k = 0; k < 500; ++k) row.push_back((double)(rng() % 3 == 0 ? rng() % 40 : 1));
    add_row(row);
  }
  csr.values.assign(values.size() * normot_value_size(type), 0);
  for (size_t k = 0; k < values.size(); ++k) PutValue(csr.values, type, k, values[k]);
  return csr;
}

// Rows that share their totals, hence their size factors and their row tables (kept by factor
// for the rest of the call, src/cpu/normalize_log1p_table.h), with different counts: a later row
// of a total needs table entries an earlier one did not. 700 distinct totals, each met three
// times in shuffled order: hashed into the tables' slots, dozens of them share a slot with
// another, which takes it between the visits of one.
Csr SharedTotals(normot_value_type type, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> totals;
  for (int repeat = 0; repeat < 3; ++repeat)
    for (int64_t total = 40; total < 740; ++total) totals.push_back(total);
  std::shuffle(totals.begin(), totals.end(), rng);
  Csr csr;
  csr.type = type;
  csr.cols = 760;
  std::vector<double> values;
  for (int64_t total : totals) {
    // Counts below a bound drawn per row (some rows only 1s and 2s, others up to 40: past both
    // tables' ends), the last one what remains.
    const int64_t bound = 2 + (int64_t)(rng() % 39);
    int64_t left = total, col = (int64_t)(rng() % 8);
    while (left > 0) {
      int64_t count = 1 + (int64_t)(rng() % (uint64_t)bound);
      if (count > left) count = left;
      csr.indices.push_back(col++);
      values.push_back((double)count);
      left -= count;
    }
    csr.indptr.push_back((int64_t)csr.indices.size());
    ++csr.rows;
  }
  csr.values.assign(values.size() * normot_value_size(type), 0);
  for (size_t k = 0; k < values.size(); ++k) PutValue(csr.values, type, k, values[k]);
  return csr;
}

// Rows whose totals vector lanes cannot add in float32: a value of 2^24 and ones 32 places
// apart, which land in the same lane of every vector loop here (16 or 8 lanes, 2 or 4
// accumulators), where 2^24 + 1 rounds back to 2^24; and the same with -2^24 after them, where
// the lane ends at 0 and the true total is small. The rows' totals, hence their factors, differ
// from the stored order's unless the loop sees that its float32 lanes were not exact.
Csr LaneRoundingTotals(normot_value_type type) {
  Csr csr;
  csr.type = type;
  csr.cols = 200;
  std::vector<double> values;
  for (int variant = 0; variant < 4; ++variant) {
    const int64_t length = 128 + variant * 17;  // vector tails of several lengths
    for (int64_t k = 0; k < length; ++k) {
      double v = 1.0;
      if (k == 0) v = 0x1p24;
      if (k == 96 && variant % 2 == 1) v = -0x1p24;
      csr.indices.push_back(k);
      values.push_back(v);
    }
    csr.indptr.push_back((int64_t)csr.indices.size());
    ++csr.rows;
  }
  csr.values.assign(values.size() * normot_value_size(type), 0);
  for (size_t k = 0; k < values.size(); ++k) PutValue(csr.values, type, k, values[k]);
  return csr;
}

// libm's log1p of each scaled value, divided by log(base) as the library documents it.
std::vector<unsigned char> PlainLog1p(const std::vector<unsigned char> &scaled,
                                      normot_value_type type, double log_base) {
  std::vector<unsigned char> out = scaled;
  const double divisor = log_base != 0.0 ? std::log(log_base) : 0.0;
  if (type == NORMOT_FLOAT32) {
    for (size_t i = 0; i < out.size() / 4; ++i) {
      float y;
      std::memcpy(&y, &out[i * 4], 4);
      float r = log1pf(y);
      if (divisor != 0.0) r = (float)((double)r / divisor);
      std::memcpy(&out[i * 4], &r, 4);
    }
  } else {
    for (size_t i = 0; i < out.size() / 8; ++i) {
      double y;
      std::memcpy(&y, &out[i * 8], 8);
      double r = log1p(y);
      if (divisor != 0.0) r = r / divisor;
      std::memcpy(&out[i * 8], &r, 8);
    }
  }
  return out;
}

struct Path {
  const char *name;
  bool has_target, check_values;
};
// target_sum unchecked is the fused pass; checked, the two-pass path (as with the median).
const Path kPaths[] = {{"fused", true, false}, {"two-pass", true, true}};

// For each layout, path, base, thread count and both in place and out of place: the log1p
// call equals PlainLog1p of the same call without log1p, bit for bit.
void ExpectPlainLog1p(const Csr &csr, double target_sum) {
  normot_context *ctx = nullptr;
  ASSERT_EQ(normot_context_create(&ctx, NORMOT_BACKEND_CPU, 0), NORMOT_SUCCESS);
  for (normot_layout layout : {NORMOT_LAYOUT_CSR, NORMOT_LAYOUT_CSC, NORMOT_LAYOUT_DENSE})
    for (normot_index_type idx : {NORMOT_INDEX_INT32, NORMOT_INDEX_INT64}) {
      if (layout == NORMOT_LAYOUT_DENSE && idx == NORMOT_INDEX_INT64) continue;
      HostMatrix m = Build(csr, layout, idx);
      for (const Path &path : kPaths)
        for (double base : {0.0, 0.5})  // 0.5: a negative divisor, -0.0 for 0
          for (int threads_place = 0; threads_place < 6; ++threads_place) {
            const int threads = 1 + threads_place % 3;
            const bool in_place = threads_place >= 3;
            SCOPED_TRACE(::testing::Message()
                         << LayoutName(layout) << " idx " << (int)idx << " " << path.name
                         << " base " << base << " threads " << threads << " in place " << in_place
                         << " " << TypeName(csr.type));
            ASSERT_EQ(normot_context_set_threads(ctx, threads), NORMOT_SUCCESS);
            normot_normalize_params p;
            normot_normalize_params_init(&p);
            p.has_target_sum = path.has_target;
            p.target_sum = target_sum;
            p.check_values = path.check_values;
            Result plain = RunNormalize(ctx, m, p, csr.type, in_place);
            p.log1p = 1;
            p.log_base = base;
            Result logged = RunNormalize(ctx, m, p, csr.type, in_place);
            ASSERT_EQ(plain.status, NORMOT_SUCCESS) << plain.message;
            ASSERT_EQ(logged.status, NORMOT_SUCCESS) << logged.message;
            std::vector<unsigned char> expected = PlainLog1p(plain.values, csr.type, base);
            ASSERT_EQ(logged.values.size(), expected.size());
            EXPECT_EQ(std::memcmp(logged.values.data(), expected.data(), expected.size()), 0);
          }
    }
  normot_context_destroy(ctx);
}

TEST(NormalizeLog1pMemo, RepeatedCountsEqualPlainLog1p) {
  Csr csr = RepeatedCounts(3, 500, 180);  // ~36k values: more than one block
  ExpectPlainLog1p(csr, 1e4);
  ExpectPlainLog1p(WithType(csr, NORMOT_FLOAT64), 1e4);
}

TEST(NormalizeLog1pMemo, DistinctRealsEqualPlainLog1p) {
  Csr csr = DistinctReals(5, 300, 150);
  ExpectPlainLog1p(csr, 1e4);
  ExpectPlainLog1p(WithType(csr, NORMOT_FLOAT64), 1e4);
}

TEST(NormalizeLog1pMemo, CollidingKeysAndNegativeZeroEqualPlainLog1p) {
  for (normot_value_type type : {NORMOT_FLOAT32, NORMOT_FLOAT64}) {
    double total = 0.0;
    Csr csr = CollidingIntegers(type, 9, &total);
    ExpectPlainLog1p(csr, total);
  }
}

// The rows the per-row table serves and the values it must leave to the scalar path, with
// target_sum 1e4 and with 1 (size factors above 1, results of order 1e-4 .. 1e-2).
TEST(NormalizeLog1pMemo, TableEdgesEqualPlainLog1p) {
  for (normot_value_type type : {NORMOT_FLOAT32, NORMOT_FLOAT64}) {
    Csr csr = TableEdges(type, 11);
    ExpectPlainLog1p(csr, 1e4);
    ExpectPlainLog1p(csr, 1.0);
  }
}

// Rows of equal totals take their entries from one table per factor, evicted and refilled as
// other factors take its slot: still libm's results, bit for bit.
TEST(NormalizeLog1pMemo, RowsOfEqualTotalsEqualPlainLog1p) {
  for (normot_value_type type : {NORMOT_FLOAT32, NORMOT_FLOAT64}) {
    Csr csr = SharedTotals(type, 21);
    ExpectPlainLog1p(csr, 1e4);
    ExpectPlainLog1p(csr, 3.0);
  }
}

// Totals that float32 lanes would get wrong are still those of the stored order, on the path
// that adds them in the same loop as it finds the row's table values. The target keeps every
// scaled value above -1.
TEST(NormalizeLog1pMemo, TotalsThatFloat32LanesCannotAddEqualPlainLog1p) {
  for (normot_value_type type : {NORMOT_FLOAT32, NORMOT_FLOAT64})
    ExpectPlainLog1p(LaneRoundingTotals(type), 1e-6);
}

// The block API (the streaming path) on the same kinds of data, the matrix as one block, CSR
// and dense.
TEST(NormalizeLog1pMemo, BlockScaleEqualsPlainLog1p) {
  normot_context *ctx = nullptr;
  ASSERT_EQ(normot_context_create(&ctx, NORMOT_BACKEND_CPU, 0), NORMOT_SUCCESS);
  double total = 0.0;
  Csr repeated = RepeatedCounts(4, 400, 120);
  Csr colliding = CollidingIntegers(NORMOT_FLOAT32, 10, &total);
  for (const Csr &csr : {repeated, WithType(repeated, NORMOT_FLOAT64), colliding,
                         TableEdges(NORMOT_FLOAT32, 12), TableEdges(NORMOT_FLOAT64, 13),
                         SharedTotals(NORMOT_FLOAT32, 14), SharedTotals(NORMOT_FLOAT64, 15)})
    for (int threads_layout = 0; threads_layout < 6; ++threads_layout) {
      const int threads = 1 + threads_layout % 3;
      const normot_layout layout = threads_layout < 3 ? NORMOT_LAYOUT_CSR : NORMOT_LAYOUT_DENSE;
      SCOPED_TRACE(::testing::Message()
                   << TypeName(csr.type) << " threads " << threads << " " << LayoutName(layout));
      ASSERT_EQ(normot_context_set_threads(ctx, threads), NORMOT_SUCCESS);
      HostMatrix m = Build(csr, layout, NORMOT_INDEX_INT64);
      std::vector<double> totals((size_t)csr.rows, 0.0);
      for (int64_t r = 0; r < csr.rows; ++r)
        for (int64_t k = csr.indptr[(size_t)r]; k < csr.indptr[(size_t)r + 1]; ++k)
          totals[(size_t)r] += GetValue(csr.values.data(), csr.type, (size_t)k);
      normot_normalize_params p;
      normot_normalize_params_init(&p);
      p.has_target_sum = 1;
      p.target_sum = 1e4;
      std::vector<unsigned char> plain(m.values.size()), logged(m.values.size());
      normot_matrix X = m.View();
      normot_normalize_output out{};
      out.value_type = csr.type;
      out.values = plain.data();
      ASSERT_EQ(normot_normalize_block_scale(ctx, &X, &p, totals.data(), &out), NORMOT_SUCCESS);
      p.log1p = 1;
      p.log_base = 2.0;
      out.values = logged.data();
      ASSERT_EQ(normot_normalize_block_scale(ctx, &X, &p, totals.data(), &out), NORMOT_SUCCESS);
      std::vector<unsigned char> expected = PlainLog1p(plain, csr.type, 2.0);
      EXPECT_EQ(std::memcmp(logged.data(), expected.data(), expected.size()), 0);
    }
  normot_context_destroy(ctx);
}

}  // namespace
