// The newcomer's path, end to end: a Cell Ranger output (the v3 matrix directory or the v3 .h5)
// through `normot normalize ... -o out.h5ad` gives a .h5ad whose values and size factors are
// bitwise those of scanpy (the committed golden tests/data/normalize/scanpy_10x_v3.txt, made by
// tests/gen_scanpy_goldens.py with scanpy 1.11.5), with the barcodes and gene ids as names; and
// the whole file against the one scanpy writes (tests/scanpy_h5ad_output.py).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "test_io_h5_util.h"
#include "test_support.h"

extern "C" {
#include "normot_io.h"
}

#ifdef NORMOT_HAVE_HDF5
#include <hdf5.h>

namespace {

// The key/value lines of one case of the golden file.
std::map<std::string, std::string> GoldenCase(const std::string &path, const std::string &name) {
  std::map<std::string, std::string> fields;
  std::ifstream stream(path);
  std::string line;
  bool inside = false;
  while (std::getline(stream, line)) {
    std::istringstream words(line);
    std::string key, value;
    words >> key >> value;
    if (key == "case") {
      inside = value == name;
      continue;
    }
    if (inside && !key.empty() && key[0] != '#') fields[key] = value;
  }
  return fields;
}

uint64_t Fnv1a(uint64_t h, const void *data, size_t size) {
  const unsigned char *bytes = static_cast<const unsigned char *>(data);
  for (size_t i = 0; i < size; i++) h = (h ^ bytes[i]) * 0x100000001B3ull;
  return h;
}

std::string Hex(uint64_t value) {
  char text[32];
  snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

// FNV-1a 64 of (row u32, col u32, float32 bits) over the entries sorted by (row, col).
std::string CanonicalDigest(const cli_matrix &m) {
  uint64_t h = 0xCBF29CE484222325ull;
  const float *values = static_cast<const float *>(m.values);
  for (int64_t r = 0; r < m.n_rows; r++) {
    std::vector<std::pair<int64_t, int64_t>> row;
    for (int64_t k = m.indptr[r]; k < m.indptr[r + 1]; k++) row.push_back({m.indices[k], k});
    std::sort(row.begin(), row.end());
    for (const auto &[column, k] : row) {
      uint32_t r32 = static_cast<uint32_t>(r), c32 = static_cast<uint32_t>(column);
      h = Fnv1a(h, &r32, 4);
      h = Fnv1a(h, &c32, 4);
      h = Fnv1a(h, &values[k], 4);
    }
  }
  return Hex(h);
}

// obs/<column> as float32 bytes, read with the HDF5 C API (normot's reader skips columns).
std::vector<float> ReadSizeFactors(const std::string &path, const std::string &column) {
  std::vector<float> factors;
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) return factors;
  hid_t dataset = H5Lexists(file, ("obs/" + column).c_str(), H5P_DEFAULT) > 0
                      ? H5Dopen2(file, ("obs/" + column).c_str(), H5P_DEFAULT)
                      : -1;
  if (dataset >= 0) {
    hid_t space = H5Dget_space(dataset);
    factors.resize(static_cast<size_t>(H5Sget_simple_extent_npoints(space)));
    H5Dread(dataset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, factors.data());
    H5Sclose(space);
    H5Dclose(dataset);
  }
  H5Fclose(file);
  return factors;
}

void ExpectScanpyIdentical(const std::string &input) {
  std::map<std::string, std::string> golden =
      GoldenCase(TestDataDir() + "/normalize/scanpy_10x_v3.txt", "tenx_f32_median");
  ASSERT_FALSE(golden["expected_digest"].empty()) << "golden case tenx_f32_median not found";
  io_test::TempDir dir;
  std::string out = dir.file("normalized.h5ad");
  std::string factors_npy = dir.file("size_factors.npy");
  std::string log;
  std::string plain = dir.file("plain.h5ad");
  int status =
      io_test::Run(std::string("'") + NORMOT_CLI_PATH + "' normalize '" + input + "' -o '" + out +
                       "' --key-added n_factor 2>&1 && '" + NORMOT_CLI_PATH + "' normalize '" +
                       input + "' -o '" + plain + "' 2>&1",
                   &log);
  ASSERT_EQ(status, 0) << log;
  // The size factors go to obs only when asked (scanpy's key_added); no .npy appears unasked.
  EXPECT_NE(access(factors_npy.c_str(), F_OK), 0);
  EXPECT_TRUE(ReadSizeFactors(plain, "n_factor").empty());
  EXPECT_TRUE(ReadSizeFactors(plain, "size_factors").empty());
  io_test::Matrix m;
  char error[512] = "";
  ASSERT_EQ(cli_read_h5ad(out.c_str(), &m.m, error, sizeof error), 0) << error;
  ASSERT_EQ(m.m.value_type, NORMOT_FLOAT32);  // scanpy casts counts to float32
  EXPECT_EQ(m.m.n_rows, std::stoll(golden["rows"]));
  EXPECT_EQ(m.m.n_cols, std::stoll(golden["cols"]));
  EXPECT_EQ(m.m.nnz, std::stoll(golden["nnz"]));
  EXPECT_EQ(CanonicalDigest(m.m), golden["expected_digest"]);
  std::vector<float> factors = ReadSizeFactors(out, "n_factor");
  ASSERT_EQ(factors.size(), static_cast<size_t>(m.m.n_rows)) << "no obs/n_factor column";
  EXPECT_EQ(Hex(Fnv1a(0xCBF29CE484222325ull, factors.data(), factors.size() * sizeof(float))),
            golden["expected_size_factors_digest"]);
  ASSERT_NE(m.m.row_names, nullptr);
  EXPECT_STREQ(m.m.row_names[0], "AAACCCAAGGAGAGTA-1");
  ASSERT_NE(m.m.col_names, nullptr);
  EXPECT_STREQ(m.m.col_names[0], "ENSG00000279493");
  ASSERT_NE(m.m.col_symbols, nullptr);
  EXPECT_STREQ(m.m.col_symbols[0], "CH507-9B2.2");
}

}  // namespace

TEST(TenxToH5ad, MatrixDirectoryNormalizesLikeScanpy) {
  if (SharedDataDir().empty()) GTEST_SKIP() << "../shared/data is absent";
  ExpectScanpyIdentical(SharedDataDir() + "/10x/v3/filtered_feature_bc_matrix");
}

TEST(TenxToH5ad, CellRangerH5NormalizesLikeScanpy) {
  if (SharedDataDir().empty()) GTEST_SKIP() << "../shared/data is absent";
  ExpectScanpyIdentical(SharedDataDir() + "/10x/v3/filtered_feature_bc_matrix.h5");
}

// The .h5ad a scanpy user would have written: tests/scanpy_h5ad_output.py runs scanpy's readers,
// normalize_total, log1p and write_h5ad on the three real 10x inputs (and small files made there
// for repeated symbols, genomes and .h5ad inputs) and compares anndata's reading of both files.
TEST(TenxToH5ad, OutputEqualsScanpysFile) {
  std::string script = TestDataDir() + "/../scanpy_h5ad_output.py";
  if (io_test::Run("python3 -c \"import importlib.util as u, sys; sys.exit(0 if all(u.find_spec(m) "
                   "for m in ('scanpy', 'anndata', 'h5py', 'pytest')) else 1)\" >/dev/null 2>&1",
                   nullptr) != 0)
    GTEST_SKIP() << "python3 with scanpy, anndata, h5py and pytest is not installed";
  std::string log;
  int status =
      io_test::Run(std::string("NORMOT_CLI='") + NORMOT_CLI_PATH + "' NORMOT_SHARED_DATA='" +
                       NORMOT_SHARED_DATA_DIR +
                       "' python3 -m pytest -q -p no:cacheprovider -W ignore '" + script + "' 2>&1",
                   &log);
  EXPECT_EQ(status, 0) << log;
}

// Malformed inputs through the command: non-zero exit, one line on stderr, no output at all.
TEST(TenxToH5ad, MalformedInputsLeaveNoOutput) {
  io_test::TempDir dir;
  // A .h5 that is an HDF5 file without a matrix, and one whose indices run out of range.
  hid_t file = H5Fcreate(dir.file("empty.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  H5Fclose(file);
  // An .h5ad whose X has an encoding normot does not read.
  io_test::Matrix m;
  m.m.n_rows = 1;
  m.m.n_cols = 1;
  m.m.nnz = 1;
  m.m.indptr = static_cast<int64_t *>(calloc(2, sizeof(int64_t)));
  m.m.indptr[1] = 1;
  m.m.indices = static_cast<int64_t *>(calloc(1, sizeof(int64_t)));
  m.m.values = calloc(1, sizeof(float));
  m.m.value_type = NORMOT_FLOAT32;
  char error[512] = "";
  ASSERT_EQ(cli_write_h5ad(dir.file("odd.h5ad").c_str(), &m.m, nullptr, error, sizeof error), 0);
  file = H5Fopen(dir.file("odd.h5ad").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t x = H5Gopen2(file, "X", H5P_DEFAULT);
  H5Adelete(x, "encoding-type");
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t attribute = H5Acreate2(x, "encoding-type", type, space, H5P_DEFAULT, H5P_DEFAULT);
  const char *encoding = "nullable-integer";
  H5Awrite(attribute, type, &encoding);
  H5Aclose(attribute);
  H5Sclose(space);
  H5Tclose(type);
  H5Gclose(x);
  H5Fclose(file);
  // A 10x directory whose barcodes list is a truncated gzip stream.
  ASSERT_EQ(mkdir(dir.file("tenx").c_str(), 0755), 0);
  io_test::WriteText(dir.file("tenx/matrix.mtx"),
                     "%%MatrixMarket matrix coordinate integer general\n2 2 2\n1 1 3\n2 2 4\n");
  io_test::WriteText(dir.file("tenx/features.tsv"), "G1\tA\nG2\tB\n");
  io_test::WriteText(dir.file("tenx/barcodes.tsv.gz"), std::string("\x1f\x8b\x08\x00", 4));

  const struct {
    const char *input;
    const char *expected;
  } cases[] = {{"empty.h5", "not a 10x .h5 matrix"},
               {"odd.h5ad", "encoding-type 'nullable-integer'"},
               {"tenx", "barcodes.tsv.gz"}};
  for (const auto &c : cases) {
    SCOPED_TRACE(c.input);
    io_test::TempDir out_dir;
    std::string log;
    int status =
        io_test::Run(std::string("'") + NORMOT_CLI_PATH + "' normalize '" + dir.file(c.input) +
                         "' -o '" + out_dir.file("out.h5ad") + "' 2>&1",
                     &log);
    EXPECT_EQ(status, 1) << log;
    EXPECT_NE(log.find(c.expected), std::string::npos) << log;
    EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
    EXPECT_TRUE(out_dir.entries().empty());  // neither the output nor a temporary
  }
}
#endif  // NORMOT_HAVE_HDF5
