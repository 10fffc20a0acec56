// normot_emd_sparse: exact EMD restricted to a given edge set (CSR over rows). Every optimal
// result is certified on its edges (feasible plan on the edges, u_i + v_j <= cost on every
// edge, equality where the plan is positive, cost = <G, M> = sum a u + sum b v).
#include <cmath>
#include <cstring>
#include <functional>
#include <string>

#include "normot_io.h"
#include "test_cli_util.h"
#include "test_emd_support.h"

namespace {

// A problem with its edges; costs of pairs that are not edges are meaningless.
struct SparseCase {
  int64_t n = 0, m = 0;
  std::vector<double> a, b;
  std::vector<int64_t> indptr, indices;
  std::vector<double> values;
};

SparseCase FromDense(const EmdCase &c, const std::vector<bool> &keep) {
  SparseCase s;
  s.n = c.n, s.m = c.m, s.a = c.a, s.b = c.b;
  s.indptr.push_back(0);
  for (int64_t i = 0; i < c.n; ++i) {
    for (int64_t j = 0; j < c.m; ++j)
      if (keep[i * c.m + j]) s.indices.push_back(j), s.values.push_back(c.cost[i * c.m + j]);
    s.indptr.push_back((int64_t)s.indices.size());
  }
  return s;
}

class EmdSparseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(normot_context_create(&context_, NORMOT_BACKEND_CPU, 0), NORMOT_SUCCESS);
    normot_emd_params_init(&params_);
  }
  void TearDown() override { normot_context_destroy(context_); }

  normot_emd_sparse_problem View(const SparseCase &s) {
    normot_emd_sparse_problem p = {};
    p.n = s.n, p.m = s.m, p.nnz = (int64_t)s.values.size();
    p.value_type = NORMOT_FLOAT64;
    p.a = s.a.empty() ? nullptr : s.a.data();
    p.b = s.b.empty() ? nullptr : s.b.data();
    p.indptr = s.indptr.data(), p.indices = s.indices.data(), p.index_type = NORMOT_INDEX_INT64;
    p.values = s.values.data();
    p.memory = NORMOT_MEMORY_HOST;
    return p;
  }
  normot_status Solve(const SparseCase &s, EmdOutcome *out) {
    *out = AllocateOutcome(1, s.n, s.m);
    normot_emd_result result = ResultView(*out);
    normot_emd_sparse_problem p = View(s);
    return normot_emd_sparse(context_, &p, &params_, &result);
  }
  // The certificate restricted to the edges.
  static void ExpectEdgeCertificate(const SparseCase &s, const EmdOutcome &out) {
    ASSERT_EQ(out.status[0], NORMOT_EMD_OPTIMAL);
    std::vector<double> a = WeightsOf(s.a, s.n), b = WeightsOf(s.b, s.m);
    double sum_a = 0, sum_b = 0, largest = 0;
    for (double w : a) sum_a += w;
    for (double w : b) sum_b += w;
    for (double &w : b) w *= sum_a / sum_b;
    for (double x : s.values) largest = std::max(largest, std::fabs(x));
    const double cost_tol = 1e-9 * std::max(largest, 1e-300), mass_tol = 1e-9 * sum_a;
    std::vector<double> row(s.n, 0.0), col(s.m, 0.0);
    std::vector<bool> edge(s.n * s.m, false);
    double primal = 0;
    for (int64_t i = 0; i < s.n; ++i)
      for (int64_t e = s.indptr[i]; e < s.indptr[i + 1]; ++e) {
        const int64_t j = s.indices[e];
        edge[i * s.m + j] = true;
        EXPECT_LE(out.u[i] + out.v[j], s.values[e] + cost_tol)
            << "dual infeasible at " << i << "," << j;
      }
    for (int64_t e = 0; e < out.sparse_count[0]; ++e) {
      const int64_t i = out.sparse_row[e], j = out.sparse_col[e];
      const double g = out.sparse_value[e];
      ASSERT_TRUE(edge[i * s.m + j]) << "flow on a missing edge " << i << "," << j;
      EXPECT_GT(g, 0.0);
      EXPECT_EQ(out.plan[i * s.m + j], g);
      row[i] += g, col[j] += g;
      // The cheapest edge (i, j) carries the flow (duplicates are allowed).
      double cheapest = INFINITY;
      for (int64_t f = s.indptr[i]; f < s.indptr[i + 1]; ++f)
        if (s.indices[f] == j) cheapest = std::min(cheapest, s.values[f]);
      primal += g * cheapest;
      EXPECT_NEAR(out.u[i] + out.v[j], cheapest, cost_tol) << "slackness at " << i << "," << j;
    }
    for (int64_t i = 0; i < s.n; ++i) EXPECT_NEAR(row[i], a[i], mass_tol) << "row " << i;
    for (int64_t j = 0; j < s.m; ++j) EXPECT_NEAR(col[j], b[j], mass_tol) << "column " << j;
    double dual = 0;
    for (int64_t i = 0; i < s.n; ++i) dual += a[i] * out.u[i];
    for (int64_t j = 0; j < s.m; ++j) dual += b[j] * out.v[j];
    EXPECT_NEAR(out.cost[0], primal, 1e-9 * std::max(largest, 1e-300));
    EXPECT_NEAR(out.cost[0], dual, 1e-9 * std::max(largest, 1e-300));
  }
  normot_context *context_ = nullptr;
  normot_emd_params params_;
};

TEST_F(EmdSparseTest, AllEdgesGiveTheDenseOptimum) {
  std::mt19937_64 rng(31);
  for (int64_t n : {1, 3, 20, 90}) {
    EmdCase c = RandomCase(rng, n, n + 5, n % 2 == 0, 1, 2);
    EmdOutcome sparse, dense;
    ASSERT_EQ(Solve(FromDense(c, std::vector<bool>(c.cost.size(), true)), &sparse), NORMOT_SUCCESS)
        << normot_context_last_error(context_);
    ExpectEdgeCertificate(FromDense(c, std::vector<bool>(c.cost.size(), true)), sparse);
    ASSERT_EQ(SolveBatch(context_, {c}, params_, &dense), NORMOT_SUCCESS);
    EXPECT_NEAR(sparse.cost[0], dense.cost[0], 1e-9);
  }
}

TEST_F(EmdSparseTest, MissingEdgesAreForbidden) {
  // A random edge subset that contains a feasible plan's support (the north-west corner rule),
  // against the dense solver on a cost where every missing edge is prohibitively expensive.
  std::mt19937_64 rng(32);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (int64_t n : {4, 30, 120}) {
    EmdCase c = RandomCase(rng, n, n + 7, false);
    std::vector<bool> keep(c.cost.size());
    for (size_t e = 0; e < keep.size(); ++e) keep[e] = unit(rng) < 0.2;
    std::vector<double> a = c.a, b = c.b;
    for (int64_t i = 0, j = 0; i < c.n && j < c.m;) {
      keep[i * c.m + j] = true;
      double moved = std::min(a[i], b[j]);
      a[i] -= moved, b[j] -= moved;
      if (a[i] <= 1e-15 && i + 1 < c.n)
        ++i;
      else if (j + 1 < c.m)
        ++j;
      else
        break;
    }
    SparseCase s = FromDense(c, keep);
    EmdOutcome sparse, dense;
    ASSERT_EQ(Solve(s, &sparse), NORMOT_SUCCESS);
    ExpectEdgeCertificate(s, sparse);
    EmdCase penalised = c;
    for (size_t e = 0; e < keep.size(); ++e)
      if (!keep[e]) penalised.cost[e] = 1e4;
    ASSERT_EQ(SolveBatch(context_, {penalised}, params_, &dense), NORMOT_SUCCESS);
    EXPECT_NEAR(sparse.cost[0], dense.cost[0], 1e-9);
  }
}

TEST_F(EmdSparseTest, MatchesPotOnItsSparseExample) {
  // POT 0.9.7: ot.emd([.5, .5], [.3, .3, .4], scipy.sparse.csr_matrix([[1, 0, 2], [0, 3, 1]]),
  // log=True) gives cost 1.8, u = [1.4, 0.4], v = [-0.4, 2.6, 0.6] (a non-degenerate optimum,
  // so its centred duals are unique) and the plan [[.3, 0, .2], [0, .3, .2]].
  SparseCase s;
  s.n = 2, s.m = 3, s.a = {0.5, 0.5}, s.b = {0.3, 0.3, 0.4};
  s.indptr = {0, 2, 4}, s.indices = {0, 2, 1, 2}, s.values = {1.0, 2.0, 3.0, 1.0};
  EmdOutcome out;
  ASSERT_EQ(Solve(s, &out), NORMOT_SUCCESS);
  ExpectEdgeCertificate(s, out);
  EXPECT_NEAR(out.cost[0], 1.8, 1e-12);
  const double u[] = {1.4, 0.4}, v[] = {-0.4, 2.6, 0.6};
  for (int i = 0; i < 2; ++i) EXPECT_NEAR(out.u[i], u[i], 1e-12);
  for (int j = 0; j < 3; ++j) EXPECT_NEAR(out.v[j], v[j], 1e-12);
  const double plan[] = {0.3, 0.0, 0.2, 0.0, 0.3, 0.2};
  for (int e = 0; e < 6; ++e) EXPECT_NEAR(out.plan[e], plan[e], 1e-15);
}

TEST_F(EmdSparseTest, EdgesThatCannotCarryTheMarginalsAreInfeasible) {
  // Row 1 has no edge at all; then a row whose only column cannot take its mass.
  SparseCase s;
  s.n = 2, s.m = 2, s.a = {0.5, 0.5}, s.b = {0.5, 0.5};
  s.indptr = {0, 2, 2}, s.indices = {0, 1}, s.values = {1.0, 2.0};
  EmdOutcome out;
  ASSERT_EQ(Solve(s, &out), NORMOT_SUCCESS);
  EXPECT_EQ(out.status[0], NORMOT_EMD_INFEASIBLE);
  EXPECT_EQ(out.cost[0], 0.0);
  EXPECT_EQ(out.sparse_count[0], 0);
  for (double g : out.plan) EXPECT_EQ(g, 0.0);
  for (double x : out.u) EXPECT_EQ(x, 0.0);
  s.a = {0.7, 0.3}, s.indptr = {0, 1, 2}, s.indices = {0, 1}, s.values = {1.0, 2.0};
  ASSERT_EQ(Solve(s, &out), NORMOT_SUCCESS);
  EXPECT_EQ(out.status[0], NORMOT_EMD_INFEASIBLE);
}

TEST_F(EmdSparseTest, ZeroWeightsDuplicatesExplicitZerosAndInt32Indices) {
  SparseCase s;
  s.n = 3, s.m = 3, s.a = {0.5, 0.0, 0.5}, s.b = {0.25, 0.25, 0.5};
  // Row 0 lists column 1 twice (the cheaper copy counts) and an explicit zero cost.
  s.indptr = {0, 4, 5, 7};
  s.indices = {1, 1, 0, 2, 0, 2, 1};
  s.values = {5.0, 0.5, 0.0, 3.0, 7.0, 1.0, 2.0};
  EmdOutcome out;
  ASSERT_EQ(Solve(s, &out), NORMOT_SUCCESS);
  ExpectEdgeCertificate(s, out);
  EXPECT_NEAR(out.cost[0], 0.25 * 0.0 + 0.25 * 0.5 + 0.5 * 1.0, 1e-15);
  EXPECT_TRUE(std::isfinite(out.u[1]));  // a zero-weight row
  std::vector<int32_t> indptr32(s.indptr.begin(), s.indptr.end());
  std::vector<int32_t> indices32(s.indices.begin(), s.indices.end());
  normot_emd_sparse_problem p = View(s);
  p.indptr = indptr32.data(), p.indices = indices32.data(), p.index_type = NORMOT_INDEX_INT32;
  EmdOutcome again = AllocateOutcome(1, 3, 3);
  normot_emd_result result = ResultView(again);
  ASSERT_EQ(normot_emd_sparse(context_, &p, &params_, &result), NORMOT_SUCCESS);
  EXPECT_EQ(std::memcmp(&again.cost[0], &out.cost[0], sizeof(double)), 0);
}

TEST_F(EmdSparseTest, BadInputsFailBeforeAnythingIsWritten) {
  SparseCase s;
  s.n = 2, s.m = 2, s.indptr = {0, 1, 2}, s.indices = {0, 1}, s.values = {1.0, 2.0};
  struct Bad {
    const char *what;
    std::function<void(normot_emd_sparse_problem &, SparseCase &)> edit;
    normot_status status;
    const char *message;
  };
  const Bad cases[] = {
      {"indptr NULL", [](normot_emd_sparse_problem &p, SparseCase &) { p.indptr = nullptr; },
       NORMOT_ERROR_NULL_POINTER, "indptr is NULL"},
      {"n = 0", [](normot_emd_sparse_problem &p, SparseCase &) { p.n = 0; },
       NORMOT_ERROR_INVALID_SIZE, "must be >= 1"},
      {"indptr end", [](normot_emd_sparse_problem &, SparseCase &c) { c.indptr[2] = 1; },
       NORMOT_ERROR_INVALID_INDPTR, "must equal nnz"},
      {"column", [](normot_emd_sparse_problem &, SparseCase &c) { c.indices[1] = 2; },
       NORMOT_ERROR_INDEX_OUT_OF_RANGE, "indices[1] = 2"},
      {"cost", [](normot_emd_sparse_problem &, SparseCase &c) { c.values[0] = NAN; },
       NORMOT_ERROR_NONFINITE_VALUE, "edge 0"},
      {"edge cost above the magnitude limit",
       [](normot_emd_sparse_problem &, SparseCase &c) { c.values[1] = 1e307; },
       NORMOT_ERROR_OVERFLOW, "costs up to 1e+307 are too large"},
      {"a large mass lowers the cost limit",
       [](normot_emd_sparse_problem &p, SparseCase &c) {
         c.a = {2e306, 1e306}, c.b = {1e-300, 1e-300};
         p.a = c.a.data(), p.b = c.b.data();
       },
       NORMOT_ERROR_OVERFLOW,
       "costs up to 2 are too large for this problem (n + m = 4, mass 3e+306)"},
      {"a mass above DBL_MAX / (8 (n + m))",
       [](normot_emd_sparse_problem &p, SparseCase &c) {
         c.a = {1e308, 5e307};
         p.a = c.a.data();
       },
       NORMOT_ERROR_OVERFLOW, "the mass of a (1.5e+308) is too large"},
      {"index type",
       [](normot_emd_sparse_problem &p, SparseCase &) { p.index_type = (normot_index_type)7; },
       NORMOT_ERROR_UNSUPPORTED_TYPE, "index_type 7"},
      {"weights",
       [](normot_emd_sparse_problem &p, SparseCase &c) {
         c.a = {1.0, -1.0};
         p.a = c.a.data();
       },
       NORMOT_ERROR_NEGATIVE_WEIGHT, "negative"},
  };
  params_.check_marginals = 0; /* b is rescaled to the mass of a */
  for (const Bad &bad : cases) {
    SCOPED_TRACE(bad.what);
    SparseCase c = s;
    normot_emd_sparse_problem p = View(c);
    bad.edit(p, c);
    EmdOutcome out = AllocateOutcome(1, 2, 2);
    normot_emd_result result = ResultView(out);
    EXPECT_EQ(normot_emd_sparse(context_, &p, &params_, &result), bad.status);
    EXPECT_NE(std::string(normot_context_last_error(context_)).find(bad.message), std::string::npos)
        << normot_context_last_error(context_);
    EXPECT_EQ(out.cost[0], -7.0);
    EXPECT_EQ(out.status[0], -7);
  }
}

// The outputs may overlap no input and no other output, as for normot_emd.
TEST_F(EmdSparseTest, OverlappingOutputsFailBeforeAnythingIsWritten) {
  SparseCase s;
  s.n = 2, s.m = 2, s.indptr = {0, 1, 2}, s.indices = {0, 1}, s.values = {1.0, 2.0};
  normot_emd_sparse_problem p = View(s);
  EmdOutcome out = AllocateOutcome(1, 2, 2);
  normot_emd_result result = ResultView(out);
  result.u = s.values.data();
  EXPECT_EQ(normot_emd_sparse(context_, &p, &params_, &result), NORMOT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(normot_context_last_error(context_)).find("result->u"), std::string::npos)
      << normot_context_last_error(context_);
  EXPECT_EQ(s.values[0], 1.0);
  EXPECT_EQ(out.cost[0], -7.0);
  result = ResultView(out);
  result.v = result.u;
  EXPECT_EQ(normot_emd_sparse(context_, &p, &params_, &result), NORMOT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(out.status[0], -7);
}

using cli_test::CliRun;
using cli_test::RunCli;
using cli_test::ScratchDir;

// normot emd with a sparse cost from three .npy arrays: POT's sparse example again, end to end.
TEST(EmdSparseCli, SolvesACsrCostFromThreeNpyArrays) {
  ScratchDir dir, capture;
  ASSERT_TRUE(dir.ok() && capture.ok());
  char error[256];
  auto save = [&](const char *name, normot_value_type type, std::vector<double> values) {
    cli_array array = {};
    array.ndim = 1, array.shape[0] = (int64_t)values.size(), array.type = type;
    std::vector<int64_t> integers(values.begin(), values.end());
    array.data = type == NORMOT_INT64 ? (void *)integers.data() : (void *)values.data();
    ASSERT_EQ(cli_npy_write(dir.Path(name).c_str(), &array, error, sizeof error), 0) << error;
  };
  save("indptr.npy", NORMOT_INT64, {0, 2, 4});
  save("indices.npy", NORMOT_INT64, {0, 2, 1, 2});
  save("data.npy", NORMOT_FLOAT64, {1.0, 2.0, 3.0, 1.0});
  save("a.npy", NORMOT_FLOAT64, {0.5, 0.5});
  save("b.npy", NORMOT_FLOAT64, {0.3, 0.3, 0.4});
  CliRun run = RunCli({"emd",
                       "--cost-indptr",
                       dir.Path("indptr.npy"),
                       "--cost-indices",
                       dir.Path("indices.npy"),
                       "--cost-data",
                       dir.Path("data.npy"),
                       "--cost-cols",
                       "3",
                       "--a",
                       dir.Path("a.npy"),
                       "--b",
                       dir.Path("b.npy"),
                       "--out-cost",
                       dir.Path("cost.npy"),
                       "--out-plan-rows",
                       dir.Path("r.npy"),
                       "--out-plan-cols",
                       dir.Path("c.npy"),
                       "--out-plan-values",
                       dir.Path("v.npy"),
                       "--quiet"},
                      capture);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  cli_array cost = {}, rows = {}, cols = {}, values = {};
  ASSERT_EQ(cli_npy_read(dir.Path("cost.npy").c_str(), &cost, error, sizeof error), 0);
  ASSERT_EQ(cli_npy_read(dir.Path("r.npy").c_str(), &rows, error, sizeof error), 0);
  ASSERT_EQ(cli_npy_read(dir.Path("c.npy").c_str(), &cols, error, sizeof error), 0);
  ASSERT_EQ(cli_npy_read(dir.Path("v.npy").c_str(), &values, error, sizeof error), 0);
  EXPECT_NEAR(((double *)cost.data)[0], 1.8, 1e-12);
  ASSERT_EQ(rows.shape[0], 4);
  const int64_t want_rows[] = {0, 0, 1, 1}, want_cols[] = {0, 2, 1, 2};
  const double want_values[] = {0.3, 0.2, 0.3, 0.2};
  for (int e = 0; e < 4; ++e) {
    EXPECT_EQ(((int64_t *)rows.data)[e], want_rows[e]);
    EXPECT_EQ(((int64_t *)cols.data)[e], want_cols[e]);
    EXPECT_NEAR(((double *)values.data)[e], want_values[e], 1e-15);
  }
  for (cli_array *array : {&cost, &rows, &cols, &values}) cli_array_free(array);
  // A dense plan output is refused with a sparse cost.
  run = RunCli({"emd", "--cost-indptr", dir.Path("indptr.npy"), "--cost-indices",
                dir.Path("indices.npy"), "--cost-data", dir.Path("data.npy"), "--cost-cols", "3",
                "--out-cost", dir.Path("cost2.npy"), "--out-plan", dir.Path("plan.npy")},
               capture);
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("--out-plan is dense"), std::string::npos) << run.err;
}

}  // namespace
