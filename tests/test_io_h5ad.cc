// AnnData .h5ad: files written by normot are opened by the anndata package with the same values,
// names and size factors; files written by anndata (X as csr, csc, dense, integers) are read by
// normot; malformed files are refused with a clear message. The Python half lives in
// tests/anndata_roundtrip.py; tests that need it skip when python3 or anndata is missing.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_io_h5_util.h"
#include "test_support.h"

extern "C" {
#include "normot_io.h"
}

#ifdef NORMOT_HAVE_HDF5
#include <hdf5.h>

using io_test::IsEmpty;
using io_test::Matrix;
using io_test::TempDir;
using io_test::ValueAt;

namespace {

const int kObs = 9, kVars = 13;

// The pattern matrix of tests/anndata_roundtrip.py, computed here independently.
double Pattern(int r, int c) {
  if ((r + 2 * c) % 3 != 0) return 0.0;
  return ((r * 31 + c * 17) % 7) + 0.25 * (r % 2);
}

std::string Script() {
  return TestDataDir() + "/../anndata_roundtrip.py";
}

// Looks the modules up without importing them (an anndata import takes seconds); once.
bool HaveAnndata() {
  static const bool have =
      io_test::Run(
          "python3 -c \"import importlib.util as u, sys; sys.exit(0 if all(u.find_spec(m) "
          "for m in ('anndata', 'scipy', 'h5py')) else 1)\" >/dev/null 2>&1",
          nullptr) == 0;
  return have;
}

char *Copy(const std::string &text) {
  return strdup(text.c_str());
}

// Fills `m` with the pattern's non-zero entries (float32), names, symbols when asked.
void FillPattern(cli_matrix *m, bool with_names) {
  std::vector<int64_t> indices;
  std::vector<float> values;
  m->n_rows = kObs;
  m->n_cols = kVars;
  m->indptr = static_cast<int64_t *>(malloc((kObs + 1) * sizeof(int64_t)));
  m->indptr[0] = 0;
  for (int r = 0; r < kObs; r++) {
    for (int c = 0; c < kVars; c++) {
      if (Pattern(r, c) == 0.0) continue;
      indices.push_back(c);
      values.push_back(static_cast<float>(Pattern(r, c)));
    }
    m->indptr[r + 1] = static_cast<int64_t>(indices.size());
  }
  m->nnz = static_cast<int64_t>(indices.size());
  m->indices = static_cast<int64_t *>(malloc(indices.size() * sizeof(int64_t)));
  memcpy(m->indices, indices.data(), indices.size() * sizeof(int64_t));
  m->values = malloc(values.size() * sizeof(float));
  memcpy(m->values, values.data(), values.size() * sizeof(float));
  m->value_type = NORMOT_FLOAT32;
  if (!with_names) return;
  m->row_names = static_cast<char **>(malloc(kObs * sizeof(char *)));
  for (int r = 0; r < kObs; r++) m->row_names[r] = Copy("cell" + std::to_string(r));
  m->col_names = static_cast<char **>(malloc(kVars * sizeof(char *)));
  m->col_symbols = static_cast<char **>(malloc(kVars * sizeof(char *)));
  for (int c = 0; c < kVars; c++) {
    m->col_names[c] = Copy("gene" + std::to_string(c));
    m->col_symbols[c] = Copy("SYM" + std::to_string(c));
  }
}

// Ids in the var index (symbols in a gene_symbols column) and the size factors in obs, the
// layout anndata_roundtrip.py dump prints.
cli_h5ad_output IdsAndSizeFactors(const float *size_factors) {
  cli_h5ad_output output = {};
  output.size_factors = size_factors;
  output.key_added = "size_factors";
  output.var_index = CLI_VAR_INDEX_IDS;
  return output;
}

std::string Format17(double value) {
  char text[64];
  snprintf(text, sizeof text, "%.17g", value);
  return text;
}

// What anndata_roundtrip.py dump prints for `m` (written with `size_factors`, float32 or NULL).
std::string ExpectedDump(const cli_matrix &m, const float *size_factors, const char *dtype) {
  std::string text = "shape " + std::to_string(m.n_rows) + " " + std::to_string(m.n_cols) +
                     "\nformat csr\ndtype " + dtype + "\n";
  for (int64_t r = 0; r < m.n_rows; r++) {
    text += "obs " + (m.row_names ? std::string(m.row_names[r]) : std::to_string(r));
    if (size_factors != nullptr) text += " " + Format17(size_factors[r]);
    text += "\n";
  }
  for (int64_t c = 0; c < m.n_cols; c++) {
    text += "var " + (m.col_names ? std::string(m.col_names[c]) : std::to_string(c));
    if (m.col_symbols != nullptr) text += " " + std::string(m.col_symbols[c]);
    text += "\n";
  }
  for (int64_t r = 0; r < m.n_rows; r++)
    for (int64_t i = m.indptr[r]; i < m.indptr[r + 1]; i++)
      text += "X " + std::to_string(r) + " " + std::to_string(m.indices[i]) + " " +
              Format17(ValueAt(m, i)) + "\n";
  return text;
}

void ExpectPatternMatrix(const cli_matrix &m, bool floor_values, const std::string &what) {
  ASSERT_EQ(m.n_rows, kObs) << what;
  ASSERT_EQ(m.n_cols, kVars) << what;
  int64_t k = 0;
  for (int r = 0; r < kObs; r++) {
    ASSERT_EQ(m.indptr[r], k) << what << " row " << r;
    for (int c = 0; c < kVars; c++) {
      double want =
          floor_values ? static_cast<double>(static_cast<int64_t>(Pattern(r, c))) : Pattern(r, c);
      if (want == 0.0) continue;
      ASSERT_LT(k, m.nnz) << what;
      EXPECT_EQ(m.indices[k], c) << what << " row " << r;
      EXPECT_EQ(ValueAt(m, k), want) << what << " (" << r << ", " << c << ")";
      k++;
    }
  }
  EXPECT_EQ(m.nnz, k) << what;
  ASSERT_NE(m.row_names, nullptr) << what;
  for (int r = 0; r < kObs; r++) EXPECT_EQ(std::string(m.row_names[r]), "cell" + std::to_string(r));
  ASSERT_NE(m.col_names, nullptr) << what;
  ASSERT_NE(m.col_symbols, nullptr) << what;
  for (int c = 0; c < kVars; c++) {
    EXPECT_EQ(std::string(m.col_names[c]), "gene" + std::to_string(c)) << what;
    EXPECT_EQ(std::string(m.col_symbols[c]), "SYM" + std::to_string(c)) << what;
  }
}

void ReplaceStringAttribute(hid_t object, const char *name, const char *value) {
  if (H5Aexists(object, name) > 0) H5Adelete(object, name);
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t attribute = H5Acreate2(object, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(attribute, 0);
  ASSERT_GE(H5Awrite(attribute, type, &value), 0);
  H5Aclose(attribute);
  H5Sclose(space);
  H5Tclose(type);
}

// Writes the pattern with normot, breaks it with `edit` (given the open file), and expects
// cli_read_h5ad to refuse it with a message containing `expected`.
template <typename Edit>
void ExpectBrokenFileRefused(Edit edit, const std::string &expected) {
  TempDir dir;
  std::string path = dir.file("broken.h5ad");
  Matrix m;
  FillPattern(&m.m, true);
  char error[512] = "";
  ASSERT_EQ(cli_write_h5ad(path.c_str(), &m.m, nullptr, error, sizeof error), 0) << error;
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  edit(file);
  H5Fclose(file);
  Matrix back;
  EXPECT_NE(cli_read_h5ad(path.c_str(), &back.m, error, sizeof error), 0);
  EXPECT_NE(std::string(error).find(expected), std::string::npos)
      << "message: " << error << "\nexpected to contain: " << expected;
  EXPECT_TRUE(IsEmpty(back.m));
}

}  // namespace

TEST(H5ad, WrittenByNormotOpensInAnndata) {
  if (!HaveAnndata()) GTEST_SKIP() << "python3 with anndata, scipy and h5py is not installed";
  TempDir dir;
  char error[512] = "";
  // Normalized values with names, symbols and size factors.
  Matrix m;
  FillPattern(&m.m, true);
  std::vector<float> size_factors(kObs);
  for (int r = 0; r < kObs; r++) size_factors[r] = 0.1f + 0.37f * static_cast<float>(r);
  std::string path = dir.file("out.h5ad");
  cli_h5ad_output output = IdsAndSizeFactors(size_factors.data());
  ASSERT_EQ(cli_write_h5ad(path.c_str(), &m.m, &output, error, sizeof error), 0) << error;
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out.h5ad"});  // no temporary left
  // Integer counts as a reader gives them, without names or size factors.
  Matrix counts;
  FillPattern(&counts.m, false);
  std::vector<int32_t> integers(static_cast<size_t>(counts.m.nnz));
  for (int64_t i = 0; i < counts.m.nnz; i++)
    integers[i] = static_cast<int32_t>(4 * ValueAt(counts.m, i));
  memcpy(counts.m.values, integers.data(), integers.size() * sizeof(int32_t));
  counts.m.value_type = NORMOT_INT32;
  std::string counts_path = dir.file("counts.h5ad");
  ASSERT_EQ(cli_write_h5ad(counts_path.c_str(), &counts.m, nullptr, error, sizeof error), 0)
      << error;

  std::string dump;
  ASSERT_EQ(
      io_test::Run("python3 '" + Script() + "' dump '" + path + "' '" + counts_path + "'", &dump),
      0)
      << dump;
  EXPECT_EQ(dump, ExpectedDump(m.m, size_factors.data(), "float32") +
                      ExpectedDump(counts.m, nullptr, "int32"));
}

TEST(H5ad, WrittenByAnndataReadByNormot) {
  if (!HaveAnndata()) GTEST_SKIP() << "python3 with anndata, scipy and h5py is not installed";
  TempDir dir;
  std::string log;
  ASSERT_EQ(io_test::Run("python3 '" + Script() + "' make '" + dir.path() + "' 2>&1", &log), 0)
      << log;
  char error[512] = "";
  for (const char *name : {"csr.h5ad", "csc.h5ad", "dense.h5ad", "scanpy_var.h5ad"}) {
    Matrix m;
    ASSERT_EQ(cli_read_h5ad(dir.file(name).c_str(), &m.m, error, sizeof error), 0)
        << name << ": " << error;
    EXPECT_EQ(m.m.value_type, NORMOT_FLOAT32) << name;
    ExpectPatternMatrix(m.m, false, name);
  }
  Matrix counts;
  ASSERT_EQ(cli_read_h5ad(dir.file("int_csr.h5ad").c_str(), &counts.m, error, sizeof error), 0)
      << error;
  EXPECT_EQ(counts.m.value_type, NORMOT_INT64);
  ExpectPatternMatrix(counts.m, true, "int_csr.h5ad");

  Matrix categorical;  // gene_symbols stored by anndata as a categorical (repeated values)
  ASSERT_EQ(
      cli_read_h5ad(dir.file("categorical_var.h5ad").c_str(), &categorical.m, error, sizeof error),
      0)
      << error;
  ASSERT_NE(categorical.m.col_symbols, nullptr);
  for (int c = 0; c < kVars; c++)
    EXPECT_EQ(std::string(categorical.m.col_symbols[c]), "SYM" + std::to_string(c % 5));

  Matrix unknown;
  EXPECT_NE(cli_read_h5ad(dir.file("unknown.h5ad").c_str(), &unknown.m, error, sizeof error), 0);
  EXPECT_NE(std::string(error).find("encoding-type 'coo_matrix'"), std::string::npos) << error;
  EXPECT_TRUE(IsEmpty(unknown.m));
}

TEST(H5ad, NormotReadsBackWhatItWrote) {
  TempDir dir;
  Matrix m;
  FillPattern(&m.m, true);
  char error[512] = "";
  std::string path = dir.file("round.h5ad");
  ASSERT_EQ(cli_write_h5ad(path.c_str(), &m.m, nullptr, error, sizeof error), 0) << error;
  Matrix back;
  ASSERT_EQ(cli_read_h5ad(path.c_str(), &back.m, error, sizeof error), 0) << error;
  EXPECT_EQ(back.m.value_type, NORMOT_FLOAT32);
  ExpectPatternMatrix(back.m, false, "round trip");
}

TEST(H5ad, AFailedWriteLeavesNoFile) {
  TempDir dir;
  Matrix m;
  FillPattern(&m.m, true);
  char error[512] = "";
  std::string nowhere = dir.file("missing_dir/out.h5ad");
  EXPECT_NE(cli_write_h5ad(nowhere.c_str(), &m.m, nullptr, error, sizeof error), 0);
  EXPECT_NE(std::string(error), "");
  // Size factors for an integer matrix are refused before anything is created.
  m.m.value_type = NORMOT_INT32;
  std::vector<float> size_factors(kObs, 1.0f);
  std::string path = dir.file("out.h5ad");
  cli_h5ad_output output = IdsAndSizeFactors(size_factors.data());
  EXPECT_NE(cli_write_h5ad(path.c_str(), &m.m, &output, error, sizeof error), 0);
  EXPECT_NE(std::string(error).find("size factors"), std::string::npos) << error;
  EXPECT_TRUE(dir.entries().empty());
}

// An .h5ad input is copied whole but X; obs[key_added] needs obs to be a dataframe group (files
// of anndata < 0.7 store it as a compound dataset) and a name other than its index's: else
// refused, and nothing is left behind.
TEST(H5ad, CopyRefusesAnObsColumnItCannotAdd) {
  TempDir dir;
  Matrix m;
  FillPattern(&m.m, true);
  char error[512] = "";
  std::string source = dir.file("old.h5ad");
  ASSERT_EQ(cli_write_h5ad(source.c_str(), &m.m, nullptr, error, sizeof error), 0) << error;
  hid_t file = H5Fopen(source.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  H5Ldelete(file, "obs", H5P_DEFAULT);
  hsize_t dims[1] = {kObs};
  hid_t space = H5Screate_simple(1, dims, nullptr);
  hid_t obs = H5Dcreate2(file, "obs", H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dclose(obs);
  H5Sclose(space);
  H5Fclose(file);
  std::vector<float> size_factors(kObs, 1.0f);
  cli_h5ad_output output = {};
  output.size_factors = size_factors.data();
  output.key_added = "sf";
  output.source_h5ad = source.c_str();
  std::string path = dir.file("out.h5ad");
  EXPECT_NE(cli_write_h5ad(path.c_str(), &m.m, &output, error, sizeof error), 0);
  EXPECT_NE(std::string(error).find("cannot add obs['sf']: obs in '" + source +
                                    "' is not a dataframe group"),
            std::string::npos)
      << error;
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"old.h5ad"});
  // The index's name is no column name either (here the index dataset is "_index").
  std::string named = dir.file("named.h5ad");
  ASSERT_EQ(cli_write_h5ad(named.c_str(), &m.m, nullptr, error, sizeof error), 0) << error;
  output.source_h5ad = named.c_str();
  output.key_added = "_index";
  EXPECT_NE(cli_write_h5ad(path.c_str(), &m.m, &output, error, sizeof error), 0);
  EXPECT_NE(std::string(error).find("other than '_index'"), std::string::npos) << error;
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"named.h5ad", "old.h5ad"}));
  // An index stored under another name (obs's _index attribute says which).
  file = H5Fopen(named.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  ASSERT_GE(H5Lmove(file, "obs/_index", file, "obs/barcode", H5P_DEFAULT, H5P_DEFAULT), 0);
  hid_t named_obs = H5Gopen2(file, "obs", H5P_DEFAULT);
  ReplaceStringAttribute(named_obs, "_index", "barcode");
  H5Gclose(named_obs);
  H5Fclose(file);
  output.key_added = "barcode";
  EXPECT_NE(cli_write_h5ad(path.c_str(), &m.m, &output, error, sizeof error), 0);
  EXPECT_NE(std::string(error).find("cannot add obs['barcode']: that is the name of obs's index"),
            std::string::npos)
      << error;
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"named.h5ad", "old.h5ad"}));
  output.source_h5ad = source.c_str();
  output.key_added = "sf";
  // Without the column to add, the old obs is copied as it is.
  output.size_factors = nullptr;
  ASSERT_EQ(cli_write_h5ad(path.c_str(), &m.m, &output, error, sizeof error), 0) << error;
  file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  hid_t copied = H5Dopen2(file, "obs", H5P_DEFAULT);
  EXPECT_GE(copied, 0);
  if (copied >= 0) H5Dclose(copied);
  H5Fclose(file);
}

TEST(H5ad, RefusesAnUnknownEncoding) {
  ExpectBrokenFileRefused(
      [](hid_t file) {
        hid_t x = H5Gopen2(file, "X", H5P_DEFAULT);
        ReplaceStringAttribute(x, "encoding-type", "awkward-array");
        H5Gclose(x);
      },
      "X has encoding-type 'awkward-array'");
}

TEST(H5ad, RefusesMissingOrMisShapedParts) {
  ExpectBrokenFileRefused([](hid_t file) { H5Ldelete(file, "X/indptr", H5P_DEFAULT); },
                          "'indptr' is missing");
  ExpectBrokenFileRefused([](hid_t file) { H5Ldelete(file, "X", H5P_DEFAULT); }, "has no X");
  ExpectBrokenFileRefused(
      [](hid_t file) {
        hid_t x = H5Gopen2(file, "X", H5P_DEFAULT);
        H5Adelete(x, "shape");
        H5Gclose(x);
      },
      "no integer 'shape' attribute");
  ExpectBrokenFileRefused(
      [](hid_t file) {  // a shape no memory could hold: refused before anything is allocated
        hid_t x = H5Gopen2(file, "X", H5P_DEFAULT);
        hid_t attribute = H5Aopen(x, "shape", H5P_DEFAULT);
        int64_t shape[2] = {kObs, int64_t{1} << 60};
        H5Awrite(attribute, H5T_NATIVE_INT64, shape);
        H5Aclose(attribute);
        H5Gclose(x);
      },
      "X has an impossible shape (9, 1152921504606846976)");
  ExpectBrokenFileRefused(
      [](hid_t file) {
        hid_t x = H5Gopen2(file, "X", H5P_DEFAULT);
        H5Ldelete(x, "data", H5P_DEFAULT);
        hsize_t dims[1] = {3};
        hid_t space = H5Screate_simple(1, dims, nullptr);
        hid_t data =
            H5Dcreate2(x, "data", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Dclose(data);
        H5Sclose(space);
        H5Gclose(x);
      },
      "'data' has 3 entries");
  ExpectBrokenFileRefused(
      [](hid_t file) {  // var names for one gene too few
        H5Ldelete(file, "var/_index", H5P_DEFAULT);
        std::vector<const char *> names(kVars - 1, "g");
        hid_t type = H5Tcopy(H5T_C_S1);
        H5Tset_size(type, H5T_VARIABLE);
        hsize_t dims[1] = {names.size()};
        hid_t space = H5Screate_simple(1, dims, nullptr);
        hid_t index =
            H5Dcreate2(file, "var/_index", type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Dwrite(index, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, names.data());
        H5Dclose(index);
        H5Sclose(space);
        H5Tclose(type);
      },
      "'var/_index' has 12 entries, expected 13");
}

TEST(H5ad, RefusesIndicesOutOfRange) {
  ExpectBrokenFileRefused(
      [](hid_t file) {
        hid_t indices = H5Dopen2(file, "X/indices", H5P_DEFAULT);
        int64_t bad = kVars;  // one past the last gene
        hsize_t start[1] = {2}, count[1] = {1};
        hid_t file_space = H5Dget_space(indices);
        H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, nullptr, count, nullptr);
        hid_t memory_space = H5Screate_simple(1, count, nullptr);
        H5Dwrite(indices, H5T_NATIVE_INT64, memory_space, file_space, H5P_DEFAULT, &bad);
        H5Sclose(memory_space);
        H5Sclose(file_space);
        H5Dclose(indices);
      },
      "X/indices[2] = 13 is out of range [0, 13)");
}

#endif  // NORMOT_HAVE_HDF5
