// normalize_total against goldens written by real scanpy (tests/gen_scanpy_goldens.py):
// bitwise equal values, size factors, totals and target, in every layout and index type, out of
// place and in place; log1p within 1 ulp of numpy; and the real 10x v3 data read with the CLI's
// Matrix Market reader.
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "normot_io.h"
#include "test_normalize_helpers.h"
#include "test_support.h"

using namespace normalize_test;

namespace {

normot_value_type ParseType(const std::string &name) {
  if (name == "float32") return NORMOT_FLOAT32;
  if (name == "float64") return NORMOT_FLOAT64;
  if (name == "int32") return NORMOT_INT32;
  if (name == "int64") return NORMOT_INT64;
  if (name == "uint16") return NORMOT_UINT16;
  return NORMOT_UINT32;
}

// One "case ... end" block of a golden file.
struct GoldenCase {
  std::string name;
  std::map<std::string, std::string> scalars;  // the rest of the line after the key
  std::map<std::string, std::pair<std::string, std::vector<std::string>>> arrays;

  std::string Get(const std::string &key) const {
    auto it = scalars.find(key);
    return it == scalars.end() ? "" : it->second;
  }
  int64_t Int(const std::string &key) const { return std::stoll(Get(key)); }
  double Float64(const std::string &key) const {
    uint64_t bits = std::stoull(Get(key), nullptr, 16);
    double v;
    std::memcpy(&v, &bits, 8);
    return v;
  }
};

std::vector<GoldenCase> ReadGoldens(const std::string &path) {
  std::vector<GoldenCase> cases;
  std::ifstream in(path);
  std::string line;
  GoldenCase current;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string key;
    words >> key;
    if (key == "case") {
      current = GoldenCase();
      words >> current.name;
    } else if (key == "end") {
      cases.push_back(current);
    } else if (key == "array") {
      std::string name, type;
      size_t n;
      words >> name >> type >> n;
      std::vector<std::string> items;
      items.reserve(n);
      while (items.size() < n && in >> key) items.push_back(key);
      current.arrays[name] = {type, items};
    } else {
      std::string rest;
      std::getline(words >> std::ws, rest);
      current.scalars[key] = rest;
    }
  }
  return cases;
}

// Bytes of an array of hex float bits (float32/float64) or decimal integers.
std::vector<unsigned char> ArrayBytes(const std::pair<std::string, std::vector<std::string>> &a) {
  normot_value_type type = ParseType(a.first);
  std::vector<unsigned char> bytes(a.second.size() * normot_value_size(type));
  for (size_t i = 0; i < a.second.size(); ++i) {
    unsigned char *p = &bytes[i * normot_value_size(type)];
    if (type == NORMOT_FLOAT32) {
      uint32_t bits = (uint32_t)std::stoul(a.second[i], nullptr, 16);
      std::memcpy(p, &bits, 4);
    } else if (type == NORMOT_FLOAT64) {
      uint64_t bits = std::stoull(a.second[i], nullptr, 16);
      std::memcpy(p, &bits, 8);
    } else {
      PutValue(bytes, type, i, (double)std::stoll(a.second[i]));
    }
  }
  return bytes;
}

std::vector<int64_t> ArrayInts(const std::vector<std::string> &items) {
  std::vector<int64_t> out;
  for (const std::string &s : items) out.push_back(std::stoll(s));
  return out;
}

Csr CaseMatrix(const GoldenCase &g) {
  Csr csr;
  csr.rows = g.Int("rows");
  csr.cols = g.Int("cols");
  csr.indptr = ArrayInts(g.arrays.at("indptr").second);
  csr.indices = ArrayInts(g.arrays.at("indices").second);
  csr.type = ParseType(g.arrays.at("values").first);
  csr.values = ArrayBytes(g.arrays.at("values"));
  return csr;
}

normot_normalize_params CaseParams(const GoldenCase &g) {
  normot_normalize_params params;
  normot_normalize_params_init(&params);
  params.has_target_sum = (int)g.Int("has_target_sum");
  params.target_sum = g.Float64("target_sum");
  params.exclude_highly_expressed = (int)g.Int("exclude");
  params.max_fraction = g.Float64("max_fraction");
  return params;
}

double ScalarOfType(const std::string &hex, normot_value_type type) {
  if (type == NORMOT_FLOAT32) {
    uint32_t bits = (uint32_t)std::stoul(hex, nullptr, 16);
    float v;
    std::memcpy(&v, &bits, 4);
    return v;
  }
  uint64_t bits = std::stoull(hex, nullptr, 16);
  double v;
  std::memcpy(&v, &bits, 8);
  return v;
}

// Largest distance in units in the last place between two arrays of non-negative floats.
int64_t MaxUlpDistance(const std::vector<unsigned char> &a, const std::vector<unsigned char> &b,
                       normot_value_type type) {
  int64_t worst = 0;
  size_t size = normot_value_size(type);
  for (size_t i = 0; i < a.size() / size; ++i) {
    int64_t x = 0, y = 0;
    std::memcpy(&x, &a[i * size], size);
    std::memcpy(&y, &b[i * size], size);
    worst = std::max(worst, x > y ? x - y : y - x);
  }
  return worst;
}

std::vector<normot_value_type> InputTypesFor(const Csr &csr) {
  if (IsFloat(csr.type)) return {csr.type};
  double largest = 0;
  for (size_t k = 0; k < csr.indices.size(); ++k)
    largest = std::max(largest, GetValue(csr.values.data(), csr.type, k));
  std::vector<normot_value_type> types = {NORMOT_INT32, NORMOT_INT64, NORMOT_UINT32};
  if (largest <= 65535) types.push_back(NORMOT_UINT16);
  return types;
}

const std::vector<unsigned char> &Expected(const GoldenCase &g, const std::string &key,
                                           std::map<std::string, std::vector<unsigned char>> &c) {
  auto it = c.find(key);
  if (it == c.end()) it = c.emplace(key, ArrayBytes(g.arrays.at(key))).first;
  return it->second;
}

class NormalizeGolden : public BackendTest {};

TEST_P(NormalizeGolden, MatchesScanpyBitwise) {
  std::vector<GoldenCase> cases = ReadGoldens(TestDataDir() + "/normalize/scanpy_goldens.txt");
  ASSERT_GE(cases.size(), 15u) << "golden file missing or truncated";
  for (const GoldenCase &g : cases) {
    std::map<std::string, std::vector<unsigned char>> cache;
    const Csr original = CaseMatrix(g);
    normot_value_type out_type = ParseType(g.arrays.at("expected_values").first);
    normot_normalize_params params = CaseParams(g);
    std::istringstream layouts(g.Get("layouts"));
    std::string layout_name;
    while (layouts >> layout_name) {
      normot_layout layout = layout_name == "csr"   ? NORMOT_LAYOUT_CSR
                             : layout_name == "csc" ? NORMOT_LAYOUT_CSC
                                                    : NORMOT_LAYOUT_DENSE;
      for (normot_value_type in_type : InputTypesFor(original)) {
        for (normot_index_type index_type : {NORMOT_INDEX_INT32, NORMOT_INDEX_INT64}) {
          if (layout == NORMOT_LAYOUT_DENSE && index_type == NORMOT_INDEX_INT32) continue;
          for (int variant = 0; variant < 4; ++variant) {
            bool in_place = variant & 1;
            params.check_values = !(variant & 2);  // 0: the fused pass where it applies
            if (in_place && !IsFloat(in_type)) continue;
            SCOPED_TRACE(g.name + " " + layout_name + " " + TypeName(in_type) +
                         (index_type == NORMOT_INDEX_INT32 ? " int32 indices" : " int64 indices") +
                         (in_place ? " in place" : " out of place") +
                         (params.check_values ? "" : " unchecked"));
            HostMatrix m = Build(WithType(original, in_type), layout, index_type,
                                 layout == NORMOT_LAYOUT_DENSE ? 3 : 0, 7.0);
            Result r = RunNormalize(context_, m, params, out_type, in_place);
            ASSERT_EQ(r.status, NORMOT_SUCCESS) << r.message;
            std::vector<unsigned char> values = r.values;
            if (layout == NORMOT_LAYOUT_DENSE) {
              bool zeros_ok = false;
              values = DenseEntries(m, r, out_type, &zeros_ok);
              EXPECT_TRUE(zeros_ok) << "implicit zeros of the dense matrix did not stay +0";
            }
            EXPECT_TRUE(values == Expected(g, "expected_values", cache)) << "values differ";
            EXPECT_TRUE(r.size_factors == Expected(g, "expected_size_factors", cache))
                << "size factors differ";
            EXPECT_TRUE(r.totals == Expected(g, "expected_totals", cache)) << "totals differ";
            EXPECT_EQ(r.target, ScalarOfType(g.Get("expected_target"), out_type));
            EXPECT_EQ(r.n_zero_cells, g.Int("expected_n_zero_cells"));
            EXPECT_EQ(r.n_excluded_genes, g.Int("expected_n_excluded_genes"));
          }
        }
      }
    }
  }
}

TEST_P(NormalizeGolden, FusedLog1pWithinOneUlpOfNumpy) {
  std::vector<GoldenCase> cases = ReadGoldens(TestDataDir() + "/normalize/scanpy_goldens.txt");
  int checked = 0;
  for (const GoldenCase &g : cases) {
    if (g.arrays.count("expected_log1p_values") == 0) continue;
    std::map<std::string, std::vector<unsigned char>> cache;
    normot_value_type out_type = ParseType(g.arrays.at("expected_values").first);
    normot_normalize_params params = CaseParams(g);
    params.log1p = 1;
    params.log_base = g.Float64("log1p_base");
    for (normot_layout layout : {NORMOT_LAYOUT_CSR, NORMOT_LAYOUT_CSC, NORMOT_LAYOUT_DENSE}) {
      SCOPED_TRACE(g.name + " " + LayoutName(layout));
      HostMatrix m = Build(CaseMatrix(g), layout, NORMOT_INDEX_INT64);
      Result r = RunNormalize(context_, m, params, out_type);
      ASSERT_EQ(r.status, NORMOT_SUCCESS) << r.message;
      std::vector<unsigned char> values = r.values;
      if (layout == NORMOT_LAYOUT_DENSE) {
        bool zeros_ok = false;
        values = DenseEntries(m, r, out_type, &zeros_ok);
        EXPECT_TRUE(zeros_ok);
      }
      // numpy's log1p and the C library's differ by up to 1 ulp; dividing by log(base) can
      // stretch that one ulp to two (docs/normalize_semantics.md).
      int64_t allowed = params.log_base == 0.0 ? 1 : 2;
      EXPECT_LE(MaxUlpDistance(values, Expected(g, "expected_log1p_values", cache), out_type),
                allowed);
      // The scaling itself stays bitwise scanpy's.
      EXPECT_TRUE(r.size_factors == Expected(g, "expected_size_factors", cache));
      ++checked;
    }
  }
  EXPECT_EQ(checked, 6);
}

// FNV-1a 64 of (row u32, col u32, value bits) over the entries sorted by (row, col), as the
// golden script computes it.
uint64_t CanonicalDigest(int64_t rows, const std::vector<int64_t> &indptr,
                         const std::vector<int64_t> &indices, const std::vector<unsigned char> &v,
                         normot_value_type type) {
  uint64_t h = 0xCBF29CE484222325ull;
  auto feed = [&h](const void *data, size_t n) {
    const unsigned char *p = (const unsigned char *)data;
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001B3ull;
  };
  size_t size = normot_value_size(type);
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<std::pair<int64_t, int64_t>> row;  // (column, entry)
    for (int64_t k = indptr[(size_t)r]; k < indptr[(size_t)r + 1]; ++k)
      row.push_back({indices[(size_t)k], k});
    std::sort(row.begin(), row.end());
    for (const auto &[col, k] : row) {
      uint32_t r32 = (uint32_t)r, c32 = (uint32_t)col;
      feed(&r32, 4);
      feed(&c32, 4);
      feed(&v[(size_t)k * size], size);
    }
  }
  return h;
}

uint64_t BytesDigest(const std::vector<unsigned char> &bytes) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char b : bytes) h = (h ^ b) * 0x100000001B3ull;
  return h;
}

TEST_P(NormalizeGolden, Real10xV3MatchesScanpy) {
  if (SharedDataDir().empty()) GTEST_SKIP() << "../shared/data is absent: no 10x data to read";
  std::string path = SharedDataDir() + "/10x/v3/filtered_feature_bc_matrix/matrix.mtx.gz";
  cli_matrix read{};
  char error[512] = "";
  ASSERT_EQ(cli_read_mtx(path.c_str(), 1, &read, error, sizeof error), 0) << error;
  Csr csr;
  csr.rows = read.n_rows;
  csr.cols = read.n_cols;
  csr.indptr.assign(read.indptr, read.indptr + read.n_rows + 1);
  csr.indices.assign(read.indices, read.indices + read.nnz);
  csr.type = read.value_type;
  const unsigned char *raw = (const unsigned char *)read.values;
  csr.values.assign(raw, raw + read.nnz * normot_value_size(read.value_type));
  cli_matrix_free(&read);

  std::vector<GoldenCase> cases = ReadGoldens(TestDataDir() + "/normalize/scanpy_10x_v3.txt");
  ASSERT_EQ(cases.size(), 3u);
  for (const GoldenCase &g : cases) {
    ASSERT_EQ(csr.rows, g.Int("rows"));
    ASSERT_EQ(csr.cols, g.Int("cols"));
    ASSERT_EQ(csr.nnz(), g.Int("nnz"));
    normot_value_type out_type = ParseType(g.Get("output_type"));
    normot_normalize_params params = CaseParams(g);
    for (normot_layout layout : {NORMOT_LAYOUT_CSR, NORMOT_LAYOUT_CSC, NORMOT_LAYOUT_DENSE}) {
      SCOPED_TRACE(g.name + " " + LayoutName(layout) + " from " + TypeName(csr.type));
      HostMatrix m = Build(csr, layout, NORMOT_INDEX_INT64);
      Result r = RunNormalize(context_, m, params, out_type);
      ASSERT_EQ(r.status, NORMOT_SUCCESS) << r.message;
      std::vector<unsigned char> values = r.values;
      if (layout == NORMOT_LAYOUT_DENSE) {
        bool zeros_ok = false;
        values = DenseEntries(m, r, out_type, &zeros_ok);
        EXPECT_TRUE(zeros_ok);
      }
      char digest[32];
      snprintf(
          digest, sizeof digest, "%016llx",
          (unsigned long long)CanonicalDigest(csr.rows, csr.indptr, csr.indices, values, out_type));
      EXPECT_EQ(digest, g.Get("expected_digest"));
      snprintf(digest, sizeof digest, "%016llx", (unsigned long long)BytesDigest(r.size_factors));
      EXPECT_EQ(digest, g.Get("expected_size_factors_digest"));
      snprintf(digest, sizeof digest, "%016llx", (unsigned long long)BytesDigest(r.totals));
      EXPECT_EQ(digest, g.Get("expected_totals_digest"));
      EXPECT_EQ(r.target, ScalarOfType(g.Get("expected_target"), out_type));
      EXPECT_EQ(r.n_zero_cells, g.Int("expected_n_zero_cells"));
      EXPECT_EQ(r.n_excluded_genes, g.Int("expected_n_excluded_genes"));
      if (g.arrays.count("expected_size_factors"))
        EXPECT_TRUE(r.size_factors == ArrayBytes(g.arrays.at("expected_size_factors")));
    }
  }
}

NORMOT_INSTANTIATE_FOR_BACKENDS(NormalizeGolden);

}  // namespace
