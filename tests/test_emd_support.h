// Helpers of the EMD tests: a batch of problems held as float64 vectors, a call of normot_emd
// that collects every output, and the optimality certificate of docs/emd_semantics.md, which every
// test applies to every problem it solves.
#ifndef NORMOT_TEST_EMD_SUPPORT_H
#define NORMOT_TEST_EMD_SUPPORT_H

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "normot/normot.h"

// One problem: weights (uniform when empty) and a dense n x m cost.
struct EmdCase {
  int64_t n = 0, m = 0;
  std::vector<double> a, b, cost;
};

// Everything normot_emd returns for a batch.
struct EmdOutcome {
  int64_t k = 0, n = 0, m = 0;
  std::vector<double> cost, plan, u, v, sparse_value;
  std::vector<int64_t> sparse_row, sparse_col, sparse_count, iterations;
  std::vector<int32_t> status, flags;
};

// Two outcomes with the same bytes in every output (NaN-safe: floating values compared as bytes).
inline void ExpectSameOutcomeBytes(const EmdOutcome &x, const EmdOutcome &y) {
  for (auto member : {&EmdOutcome::cost, &EmdOutcome::plan, &EmdOutcome::u, &EmdOutcome::v,
                      &EmdOutcome::sparse_value}) {
    const std::vector<double> &left = x.*member, &right = y.*member;
    EXPECT_TRUE(left.size() == right.size() &&
                std::memcmp(left.data(), right.data(), left.size() * sizeof(double)) == 0);
  }
  for (auto member : {&EmdOutcome::sparse_row, &EmdOutcome::sparse_col, &EmdOutcome::sparse_count,
                      &EmdOutcome::iterations})
    EXPECT_EQ(x.*member, y.*member);
  EXPECT_EQ(x.status, y.status);
  EXPECT_EQ(x.flags, y.flags);
}

inline EmdOutcome AllocateOutcome(int64_t k, int64_t n, int64_t m) {
  EmdOutcome out;
  out.k = k, out.n = n, out.m = m;
  out.cost.assign(k, -7.0);
  out.plan.assign(k * n * m, -7.0);
  out.u.assign(k * n, -7.0);
  out.v.assign(k * m, -7.0);
  out.sparse_value.assign(k * (n + m - 1), -7.0);
  out.sparse_row.assign(k * (n + m - 1), -7);
  out.sparse_col.assign(k * (n + m - 1), -7);
  out.sparse_count.assign(k, -7);
  out.iterations.assign(k, -7);
  out.status.assign(k, -7);
  out.flags.assign(k, -7);
  return out;
}

inline normot_emd_result ResultView(EmdOutcome &out) {
  normot_emd_result r;
  r.cost = out.cost.data();
  r.plan = out.plan.data();
  r.sparse_row = out.sparse_row.data();
  r.sparse_col = out.sparse_col.data();
  r.sparse_value = out.sparse_value.data();
  r.sparse_count = out.sparse_count.data();
  r.u = out.u.data();
  r.v = out.v.data();
  r.status = out.status.data();
  r.iterations = out.iterations.data();
  r.flags = out.flags.data();
  return r;
}

// Solves a batch of same-sized cases (per-problem arrays, float64) with every output on.
inline normot_status SolveBatch(normot_context *context, const std::vector<EmdCase> &cases,
                                const normot_emd_params &params, EmdOutcome *out) {
  const int64_t k = (int64_t)cases.size(), n = cases[0].n, m = cases[0].m;
  std::vector<double> a, b, cost;
  const bool uniform_a = cases[0].a.empty(), uniform_b = cases[0].b.empty();
  for (const EmdCase &c : cases) {
    a.insert(a.end(), c.a.begin(), c.a.end());
    b.insert(b.end(), c.b.begin(), c.b.end());
    cost.insert(cost.end(), c.cost.begin(), c.cost.end());
  }
  normot_emd_problem problem = {};
  problem.k = k, problem.n = n, problem.m = m;
  problem.value_type = NORMOT_FLOAT64;
  problem.memory = NORMOT_MEMORY_HOST;
  problem.a = uniform_a ? nullptr : a.data();
  problem.b = uniform_b ? nullptr : b.data();
  problem.cost = cost.data();
  *out = AllocateOutcome(k, n, m);
  normot_emd_result result = ResultView(*out);
  return normot_emd(context, &problem, &params, &result);
}

inline std::vector<double> WeightsOf(const std::vector<double> &given, int64_t length) {
  if (!given.empty()) return given;
  return std::vector<double>(length, 1.0 / (double)length);
}

// The certificate of problem p of `out` against case c: a feasible plan (marginals to 1e-9 of
// the mass, b rescaled to the mass of a as POT does), dual feasibility, complementary
// slackness, cost = <G, M> = sum a u + sum b v, and a sparse plan that is the dense plan with at
// most n + m - 1 entries.
inline void ExpectCertificate(const EmdCase &c, const EmdOutcome &out, int64_t p,
                              double relative_tol = 1e-9) {
  SCOPED_TRACE(::testing::Message()
               << "certificate of problem " << p << " (" << c.n << "x" << c.m << ")");
  const int64_t n = c.n, m = c.m;
  std::vector<double> a = WeightsOf(c.a, n), b = WeightsOf(c.b, m);
  double sum_a = 0, sum_b = 0, largest = 0;
  for (double w : a) sum_a += w;
  for (double w : b) sum_b += w;
  for (double &w : b) w = w * sum_a / sum_b;
  for (double x : c.cost) largest = std::max(largest, std::fabs(x));
  const double cost_tol = relative_tol * std::max(largest, 1e-300);
  const double mass_tol = relative_tol * sum_a;
  ASSERT_EQ(out.status[p], NORMOT_EMD_OPTIMAL);
  const double *G = out.plan.data() + p * n * m;
  const double *u = out.u.data() + p * n;
  const double *v = out.v.data() + p * m;
  std::vector<double> col_sum(m, 0.0);
  double primal = 0, scale = 0;
  for (int64_t i = 0; i < n; ++i) {
    double row_sum = 0;
    for (int64_t j = 0; j < m; ++j) {
      double g = G[i * m + j], cij = c.cost[i * m + j];
      ASSERT_GE(g, 0.0) << "G[" << i << "," << j << "]";
      row_sum += g;
      col_sum[j] += g;
      primal += g * cij;
      scale += g * std::fabs(cij);
      ASSERT_LE(u[i] + v[j], cij + cost_tol) << "dual infeasible at " << i << "," << j;
      if (g > 0) ASSERT_GE(u[i] + v[j], cij - cost_tol) << "slackness at " << i << "," << j;
    }
    ASSERT_NEAR(row_sum, a[i], mass_tol) << "row " << i;
  }
  for (int64_t j = 0; j < m; ++j) ASSERT_NEAR(col_sum[j], b[j], mass_tol) << "column " << j;
  double dual = 0, dual_scale = 0;
  for (int64_t i = 0; i < n; ++i) dual += a[i] * u[i], dual_scale += a[i] * std::fabs(u[i]);
  for (int64_t j = 0; j < m; ++j) dual += b[j] * v[j], dual_scale += b[j] * std::fabs(v[j]);
  const double value_tol = relative_tol * std::max({scale, dual_scale, largest * sum_a, 1e-300});
  EXPECT_NEAR(out.cost[p], primal, value_tol);
  EXPECT_NEAR(out.cost[p], dual, value_tol);
  // The sparse plan lists exactly the positive entries of the dense one, rows then columns.
  const int64_t count = out.sparse_count[p], base = p * (n + m - 1);
  ASSERT_GE(count, 1);
  ASSERT_LE(count, n + m - 1);
  int64_t positives = 0;
  for (int64_t e = 0; e < n * m; ++e) positives += G[e] > 0;
  EXPECT_EQ(count, positives);
  for (int64_t e = 0; e < count; ++e) {
    int64_t i = out.sparse_row[base + e], j = out.sparse_col[base + e];
    ASSERT_TRUE(i >= 0 && i < n && j >= 0 && j < m);
    EXPECT_GT(out.sparse_value[base + e], 0.0);
    EXPECT_EQ(out.sparse_value[base + e], G[i * m + j]);
    if (e > 0)
      EXPECT_LT(out.sparse_row[base + e - 1] * m + out.sparse_col[base + e - 1], i * m + j);
  }
  // No problem of the shared instances needs the CPU fallback (the auction's answer re-solved
  // by the simplex, on either backend): a silent re-solve would hide a device answer that the
  // certificate on the original costs rejected. Tests that expect one check flags themselves.
  EXPECT_EQ(out.flags[p], 0) << "problem " << p << " was re-solved by the CPU fallback";
  EXPECT_GE(out.iterations[p], 0);
}

// Seeded random cases.
inline EmdCase RandomCase(std::mt19937_64 &rng, int64_t n, int64_t m, bool uniform,
                          int zero_rows = 0, int zero_cols = 0, double cost_scale = 1.0,
                          double cost_shift = 0.0) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  EmdCase c;
  c.n = n, c.m = m;
  if (!uniform) {
    c.a.resize(n), c.b.resize(m);
    double sa = 0, sb = 0;
    for (double &w : c.a) sa += (w = unit(rng) + 0.05);
    for (double &w : c.b) sb += (w = unit(rng) + 0.05);
    for (int z = 0; z < zero_rows && z < n - 1; ++z) sa -= c.a[z * 2 % n], c.a[z * 2 % n] = 0;
    for (int z = 0; z < zero_cols && z < m - 1; ++z)
      sb -= c.b[(z * 3 + 1) % m], c.b[(z * 3 + 1) % m] = 0;
    for (double &w : c.a) w /= sa;
    for (double &w : c.b) w /= sb;
  }
  c.cost.resize(n * m);
  for (double &x : c.cost) x = unit(rng) * cost_scale + cost_shift;
  return c;
}

inline EmdCase PointCloudCase(std::mt19937_64 &rng, int64_t n, int64_t m, bool uniform) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  EmdCase c = RandomCase(rng, n, m, uniform);
  std::vector<double> x(n * 2), y(m * 2);
  for (double &t : x) t = unit(rng);
  for (double &t : y) t = unit(rng);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) {
      double dx = x[i * 2] - y[j * 2], dy = x[i * 2 + 1] - y[j * 2 + 1];
      c.cost[i * m + j] = dx * dx + dy * dy;
    }
  return c;
}

#endif
