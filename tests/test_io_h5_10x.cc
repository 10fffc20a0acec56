// Cell Ranger inputs: the 10x matrix directory and the 10x .h5 (v3 and legacy v2 layouts), on the
// real files in ../shared/data/10x and on small files made here, including malformed ones that
// must be refused with a clear message and nothing returned.
#include <gtest/gtest.h>
#include <zlib.h>

#include <string>
#include <vector>

#include "test_io_h5_util.h"
#include "test_support.h"

extern "C" {
#include "normot_io.h"
}

#ifdef NORMOT_HAVE_HDF5
#include <hdf5.h>
#endif

using io_test::IsEmpty;
using io_test::Matrix;
using io_test::TempDir;
using io_test::ValueAt;

namespace {

std::string V3Dir() {
  return SharedDataDir() + "/10x/v3/filtered_feature_bc_matrix";
}
std::string V3H5() {
  return SharedDataDir() + "/10x/v3/filtered_feature_bc_matrix.h5";
}
std::string V2H5() {
  return SharedDataDir() + "/10x/v2/filtered_gene_bc_matrices_h5.h5";
}

void WriteGzip(const std::string &path, const std::string &text) {
  gzFile stream = gzopen(path.c_str(), "wb");
  ASSERT_NE(stream, nullptr) << path;
  ASSERT_EQ(gzwrite(stream, text.data(), static_cast<unsigned>(text.size())),
            static_cast<int>(text.size()));
  ASSERT_EQ(gzclose(stream), Z_OK);
}

// Cuts a file to `keep` bytes.
void Truncate(const std::string &path, long keep) {
  ASSERT_EQ(truncate(path.c_str(), keep), 0);
}

long FileSize(const std::string &path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 ? static_cast<long>(info.st_size) : -1;
}

// Every row's column indices strictly ascending.
void ExpectRowsAscending(const cli_matrix &m) {
  for (int64_t r = 0; r < m.n_rows; r++)
    for (int64_t i = m.indptr[r] + 1; i < m.indptr[r + 1]; i++)
      ASSERT_LT(m.indices[i - 1], m.indices[i]) << "row " << r;
}

void ExpectSameMatrix(const cli_matrix &a, const cli_matrix &b) {
  ASSERT_EQ(a.n_rows, b.n_rows);
  ASSERT_EQ(a.n_cols, b.n_cols);
  ASSERT_EQ(a.nnz, b.nnz);
  for (int64_t r = 0; r <= a.n_rows; r++) ASSERT_EQ(a.indptr[r], b.indptr[r]) << "indptr " << r;
  for (int64_t i = 0; i < a.nnz; i++) {
    ASSERT_EQ(a.indices[i], b.indices[i]) << "entry " << i;
    ASSERT_EQ(ValueAt(a, i), ValueAt(b, i)) << "entry " << i;
  }
  ASSERT_NE(a.row_names, nullptr);
  ASSERT_NE(b.row_names, nullptr);
  for (int64_t r = 0; r < a.n_rows; r++) ASSERT_STREQ(a.row_names[r], b.row_names[r]);
  ASSERT_NE(a.col_names, nullptr);
  ASSERT_NE(b.col_names, nullptr);
  ASSERT_NE(a.col_symbols, nullptr);
  ASSERT_NE(b.col_symbols, nullptr);
  for (int64_t c = 0; c < a.n_cols; c++) {
    ASSERT_STREQ(a.col_names[c], b.col_names[c]);
    ASSERT_STREQ(a.col_symbols[c], b.col_symbols[c]);
  }
}

// A small 10x directory: 3 genes x 4 cells, written in Cell Ranger's order (descending genes
// within a cell), as gzip or plain files.
struct TinyDir {
  std::string header = "%%MatrixMarket matrix coordinate integer general\n";
  std::string sizes = "3 4 6\n";
  std::string entries = "3 1 5\n1 1 1\n2 3 7\n3 4 3\n2 4 4\n1 4 2\n";
  std::string features = "G1\tA\tGene Expression\nG2\tB\tGene Expression\nG3\tC\tGene Expression\n";
  std::string barcodes = "AAAC-1\nAAAG-1\nAAAT-1\nAACA-1\n";
};

void WriteTinyDir(const TempDir &dir, const TinyDir &tiny) {
  WriteGzip(dir.file("matrix.mtx.gz"), tiny.header + tiny.sizes + tiny.entries);
  WriteGzip(dir.file("features.tsv.gz"), tiny.features);
  WriteGzip(dir.file("barcodes.tsv.gz"), tiny.barcodes);
}

// The expected content of the tiny matrix, cells x genes: each cell's genes ascending (the
// directory reader), or in the order its .h5 stores them (`file_order`, TinyH5 below), which
// the .h5 reader keeps as scanpy's read_10x_h5 does.
void ExpectTinyMatrix(const cli_matrix &m, bool file_order = false) {
  ASSERT_EQ(m.n_rows, 4);
  ASSERT_EQ(m.n_cols, 3);
  ASSERT_EQ(m.nnz, 6);
  const int64_t indptr[] = {0, 2, 2, 3, 6};
  const int64_t sorted_indices[] = {0, 2, 1, 0, 1, 2}, file_indices[] = {2, 0, 1, 2, 1, 0};
  const double sorted_values[] = {1, 5, 7, 2, 4, 3}, file_values[] = {5, 1, 7, 3, 4, 2};
  const int64_t *indices = file_order ? file_indices : sorted_indices;
  const double *values = file_order ? file_values : sorted_values;
  for (int r = 0; r <= 4; r++) EXPECT_EQ(m.indptr[r], indptr[r]);
  for (int i = 0; i < 6; i++) {
    EXPECT_EQ(m.indices[i], indices[i]) << i;
    EXPECT_EQ(ValueAt(m, i), values[i]) << i;
  }
  ASSERT_NE(m.row_names, nullptr);
  EXPECT_STREQ(m.row_names[0], "AAAC-1");
  EXPECT_STREQ(m.row_names[3], "AACA-1");
  ASSERT_NE(m.col_names, nullptr);
  EXPECT_STREQ(m.col_names[2], "G3");
  ASSERT_NE(m.col_symbols, nullptr);
  EXPECT_STREQ(m.col_symbols[1], "B");
}

}  // namespace

// ---- the 10x directory ------------------------------------------------------------------------

TEST(TenxDir, ReadsAGzipDirectoryTransposedAndSorted) {
  TempDir dir;
  WriteTinyDir(dir, TinyDir());
  EXPECT_TRUE(cli_is_10x_dir(dir.path().c_str()));
  Matrix m;
  char error[512] = "";
  ASSERT_EQ(cli_read_10x_dir(dir.path().c_str(), &m.m, error, sizeof error), 0) << error;
  ExpectTinyMatrix(m.m);
}

TEST(TenxDir, ReadsALegacyPlainDirectoryWithGenesTsv) {
  TempDir dir;
  TinyDir tiny;
  io_test::WriteText(dir.file("matrix.mtx"), tiny.header + tiny.sizes + tiny.entries);
  io_test::WriteText(dir.file("genes.tsv"), "G1\tA\r\nG2\tB\r\nG3\tC\r\n");  // CRLF, 2 columns
  io_test::WriteText(dir.file("barcodes.tsv"), "AAAC-1\nAAAG-1\nAAAT-1\nAACA-1");  // no last \n
  Matrix m;
  char error[512] = "";
  ASSERT_EQ(cli_read_10x_dir(dir.path().c_str(), &m.m, error, sizeof error), 0) << error;
  ExpectTinyMatrix(m.m);
}

// A multi-modal run: an antibody feature among the genes is dropped, as scanpy's gex_only=True.
TEST(TenxDir, KeepsOnlyGeneExpressionFeatures) {
  TempDir dir;
  TinyDir tiny;
  tiny.sizes = "4 4 8\n";
  tiny.entries = "4 1 5\n1 1 1\n2 1 9\n3 3 7\n4 4 3\n3 4 4\n1 4 2\n2 4 8\n";
  tiny.features =
      "G1\tA\tGene Expression\nAB1\tCD3\tAntibody Capture\nG2\tB\tGene Expression\n"
      "G3\tC\tGene Expression\n";
  WriteTinyDir(dir, tiny);
  Matrix m;
  char error[512] = "";
  ASSERT_EQ(cli_read_10x_dir(dir.path().c_str(), &m.m, error, sizeof error), 0) << error;
  ExpectTinyMatrix(m.m);
  EXPECT_STREQ(m.m.col_names[1], "G2");
}

TEST(TenxDir, RefusesATruncatedGzipList) {
  TempDir dir;
  TinyDir tiny;
  WriteTinyDir(dir, tiny);
  std::string barcodes = dir.file("barcodes.tsv.gz");
  Truncate(barcodes, FileSize(barcodes) - 6);  // loses the gzip trailer and some data
  Matrix m;
  char error[512] = "";
  EXPECT_NE(cli_read_10x_dir(dir.path().c_str(), &m.m, error, sizeof error), 0);
  EXPECT_NE(std::string(error).find("barcodes.tsv.gz"), std::string::npos) << error;
  EXPECT_TRUE(IsEmpty(m.m));
}

TEST(TenxDir, RefusesATruncatedGzipMatrix) {
  TempDir dir;
  TinyDir tiny;
  // Enough entries that the cut falls inside the compressed data.
  tiny.sizes = "3 4 600\n";
  tiny.entries.clear();
  for (int i = 0; i < 600; i++)
    tiny.entries += std::to_string(1 + i % 3) + " " + std::to_string(1 + (i / 3) % 4) + " " +
                    std::to_string(1 + i) + "\n";
  WriteTinyDir(dir, tiny);
  std::string matrix = dir.file("matrix.mtx.gz");
  Truncate(matrix, FileSize(matrix) / 2);
  Matrix m;
  char error[512] = "";
  EXPECT_NE(cli_read_10x_dir(dir.path().c_str(), &m.m, error, sizeof error), 0);
  EXPECT_NE(std::string(error).find("matrix.mtx.gz"), std::string::npos) << error;
  EXPECT_TRUE(IsEmpty(m.m));
}

TEST(TenxDir, RefusesABadHeader) {
  TempDir dir;
  TinyDir tiny;
  tiny.header = "%%MatrixMarket matrix array integer general\n";  // dense: not a 10x matrix
  WriteTinyDir(dir, tiny);
  Matrix m;
  char error[512] = "";
  EXPECT_NE(cli_read_10x_dir(dir.path().c_str(), &m.m, error, sizeof error), 0);
  EXPECT_NE(std::string(error), "");
  EXPECT_TRUE(IsEmpty(m.m));
}

TEST(TenxDir, RefusesAnIndexOutOfRange) {
  TempDir dir;
  TinyDir tiny;
  tiny.entries = "3 1 5\n1 1 1\n2 3 7\n4 4 3\n2 4 4\n1 4 2\n";  // gene 4 of 3
  WriteTinyDir(dir, tiny);
  Matrix m;
  char error[512] = "";
  EXPECT_NE(cli_read_10x_dir(dir.path().c_str(), &m.m, error, sizeof error), 0);
  EXPECT_NE(std::string(error), "");
  EXPECT_TRUE(IsEmpty(m.m));
}

TEST(TenxDir, RefusesListsThatDisagreeWithTheMatrix) {
  TempDir dir;
  TinyDir tiny;
  tiny.barcodes = "AAAC-1\nAAAG-1\nAAAT-1\n";  // 3 barcodes for 4 cells
  WriteTinyDir(dir, tiny);
  Matrix m;
  char error[512] = "";
  EXPECT_NE(cli_read_10x_dir(dir.path().c_str(), &m.m, error, sizeof error), 0);
  EXPECT_NE(std::string(error).find("has 3 lines but the matrix has 4 cells"), std::string::npos)
      << error;
  EXPECT_TRUE(IsEmpty(m.m));

  TempDir dir2;
  tiny = TinyDir();
  tiny.features += "G4\tD\tGene Expression\n";  // 4 genes for 3
  WriteTinyDir(dir2, tiny);
  EXPECT_NE(cli_read_10x_dir(dir2.path().c_str(), &m.m, error, sizeof error), 0);
  EXPECT_NE(std::string(error).find("features.tsv.gz"), std::string::npos) << error;
  EXPECT_TRUE(IsEmpty(m.m));
}

TEST(TenxDir, RefusesADirectoryWithAFileMissing) {
  TempDir dir;
  WriteTinyDir(dir, TinyDir());
  ASSERT_EQ(unlink(dir.file("features.tsv.gz").c_str()), 0);
  Matrix m;
  char error[512] = "";
  EXPECT_NE(cli_read_10x_dir(dir.path().c_str(), &m.m, error, sizeof error), 0);
  EXPECT_NE(std::string(error).find("no features.tsv.gz"), std::string::npos) << error;
  EXPECT_TRUE(IsEmpty(m.m));
  TempDir empty;
  EXPECT_FALSE(cli_is_10x_dir(empty.path().c_str()));
  EXPECT_NE(cli_read_10x_dir(empty.path().c_str(), &m.m, error, sizeof error), 0);
  EXPECT_NE(std::string(error).find("no matrix.mtx"), std::string::npos) << error;
}

TEST(TenxDir, SortRowEntriesMovesValuesWithTheirIndices) {
  int64_t indptr[] = {0, 4, 4, 7};
  int64_t indices[] = {3, 0, 2, 1, 9, 5, 7};  // mixed order; empty row; descending row
  double values[] = {30, 0.5, 20, 10, 90, 50, 70};
  cli_matrix m;
  memset(&m, 0, sizeof m);
  m.n_rows = 3;
  m.n_cols = 10;
  m.nnz = 7;
  m.indptr = indptr;
  m.indices = indices;
  m.values = values;
  m.value_type = NORMOT_FLOAT64;
  ASSERT_EQ(cli_sort_row_entries(&m), 0);
  const int64_t want_indices[] = {0, 1, 2, 3, 5, 7, 9};
  const double want_values[] = {0.5, 10, 20, 30, 50, 70, 90};
  for (int i = 0; i < 7; i++) {
    EXPECT_EQ(indices[i], want_indices[i]);
    EXPECT_EQ(values[i], want_values[i]);
  }
}

// ---- the real Cell Ranger files -----------------------------------------------------------------

TEST(TenxRealData, V3DirectoryAndH5GiveTheSameMatrix) {
  if (SharedDataDir().empty()) GTEST_SKIP() << "../shared/data is absent";
  if (!cli_hdf5_available()) GTEST_SKIP() << "built without HDF5";
  Matrix from_dir, from_h5;
  char error[512] = "";
  ASSERT_EQ(cli_read_10x_dir(V3Dir().c_str(), &from_dir.m, error, sizeof error), 0) << error;
  ASSERT_EQ(cli_read_10x_h5(V3H5().c_str(), &from_h5.m, error, sizeof error), 0) << error;
  EXPECT_EQ(from_h5.m.n_rows, 1107);  // cells
  EXPECT_EQ(from_h5.m.n_cols, 507);   // genes
  EXPECT_EQ(from_h5.m.nnz, 23866);
  // Cell Ranger lists each cell's genes in descending order, and the reader keeps that order
  // (scanpy's); sorted, the matrix is the directory's.
  for (int64_t r = 0; r < from_h5.m.n_rows; r++)
    for (int64_t i = from_h5.m.indptr[r] + 1; i < from_h5.m.indptr[r + 1]; i++)
      ASSERT_GT(from_h5.m.indices[i - 1], from_h5.m.indices[i]) << "row " << r;
  ASSERT_EQ(cli_sort_row_entries(&from_h5.m), 0);
  ExpectRowsAscending(from_h5.m);
  ExpectSameMatrix(from_dir.m, from_h5.m);
  // The file's first entry, "458 1 3" (gene 458 of cell 1, 1-based), lands transposed.
  bool found = false;
  for (int64_t i = from_h5.m.indptr[0]; i < from_h5.m.indptr[1]; i++)
    if (from_h5.m.indices[i] == 457) found = ValueAt(from_h5.m, i) == 3.0;
  EXPECT_TRUE(found);
  // Counts stay integers (so that normalization casts them like scanpy does).
  EXPECT_EQ(from_h5.m.value_type, NORMOT_INT32);
}

TEST(TenxRealData, LegacyV2H5Reads) {
  if (SharedDataDir().empty()) GTEST_SKIP() << "../shared/data is absent";
  if (!cli_hdf5_available()) GTEST_SKIP() << "built without HDF5";
  Matrix m;
  char error[512] = "";
  ASSERT_EQ(cli_read_10x_h5(V2H5().c_str(), &m.m, error, sizeof error), 0) << error;
  EXPECT_EQ(m.m.n_rows, 12);   // cells
  EXPECT_EQ(m.m.n_cols, 343);  // genes of the one genome group, hg19_chr21
  EXPECT_EQ(m.m.nnz, 12);
  ExpectRowsAscending(m.m);
  ASSERT_NE(m.m.row_names, nullptr);
  ASSERT_NE(m.m.col_names, nullptr);
  ASSERT_NE(m.m.col_symbols, nullptr);
  // The file's first barcode and gene (scanpy's test file stores symbols as the gene ids).
  EXPECT_STREQ(m.m.row_names[0], "AACACGTGTACGCTGC-1");
  EXPECT_STREQ(m.m.col_names[0], "DSCAM");
  EXPECT_STREQ(m.m.col_symbols[1], "MIR99AHG");
}

// ---- 10x .h5 made here
// ----------------------------------------------------------------------------

#ifdef NORMOT_HAVE_HDF5
namespace {

// The same tiny matrix as TinyDir, in Cell Ranger's .h5 layout, with knobs to break it.
struct TinyH5 {
  std::vector<int64_t> shape{3, 4};  // genes, cells
  std::vector<int64_t> indptr{0, 2, 2, 3, 6};
  std::vector<int64_t> indices{2, 0, 1, 2, 1, 0};  // cell 3 in mixed order
  std::vector<int32_t> data{5, 1, 7, 3, 4, 2};
  std::vector<std::string> barcodes{"AAAC-1", "AAAG-1", "AAAT-1", "AACA-1"};
  std::vector<std::string> ids{"G1", "G2", "G3"};
  std::vector<std::string> names{"A", "B", "C"};
  std::vector<std::string> types{"Gene Expression", "Gene Expression", "Gene Expression"};
  std::vector<std::string> genomes;  // features/genome, written when not empty
  std::string group = "matrix";      // "matrix" (v3) or a genome name (v2)
  std::string skip;                  // a dataset to leave out
  bool shape_2d = false;             // store shape as a 1 x 2 matrix
  bool data_as_strings = false;
};

void WriteInts(hid_t location, const char *name, hid_t file_type, hid_t memory_type,
               const void *values, std::vector<hsize_t> dims) {
  hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  hid_t dataset =
      H5Dcreate2(location, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(dataset, 0) << name;
  ASSERT_GE(H5Dwrite(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values), 0) << name;
  H5Dclose(dataset);
  H5Sclose(space);
}

// Fixed-length strings, as Cell Ranger writes them (numpy's |S).
void WriteStrings(hid_t location, const char *name, const std::vector<std::string> &strings) {
  size_t width = 1;
  for (const auto &s : strings) width = std::max(width, s.size());
  std::vector<char> buffer(strings.size() * width, '\0');
  for (size_t i = 0; i < strings.size(); i++)
    memcpy(buffer.data() + i * width, strings[i].data(), strings[i].size());
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, width);
  H5Tset_strpad(type, H5T_STR_NULLPAD);
  hsize_t dims[1] = {strings.size()};
  hid_t space = H5Screate_simple(1, dims, nullptr);
  hid_t dataset = H5Dcreate2(location, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(dataset, 0) << name;
  if (!strings.empty())
    ASSERT_GE(H5Dwrite(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()), 0);
  H5Dclose(dataset);
  H5Sclose(space);
  H5Tclose(type);
}

void WriteTinyH5(const std::string &path, const TinyH5 &t) {
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  hid_t group = H5Gcreate2(file, t.group.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  bool v3 = t.group == "matrix";
  auto wanted = [&](const char *name) { return t.skip != name; };
  if (wanted("shape")) {
    std::vector<int32_t> shape(t.shape.begin(), t.shape.end());
    std::vector<hsize_t> dims =
        t.shape_2d ? std::vector<hsize_t>{1, shape.size()} : std::vector<hsize_t>{shape.size()};
    WriteInts(group, "shape", H5T_STD_I32LE, H5T_NATIVE_INT32, shape.data(), dims);
  }
  if (wanted("indptr"))
    WriteInts(group, "indptr", H5T_STD_I64LE, H5T_NATIVE_INT64, t.indptr.data(), {t.indptr.size()});
  if (wanted("indices"))
    WriteInts(group, "indices", H5T_STD_I64LE, H5T_NATIVE_INT64, t.indices.data(),
              {t.indices.size()});
  if (wanted("data")) {
    if (t.data_as_strings) {
      std::vector<std::string> texts;
      for (int32_t v : t.data) texts.push_back(std::to_string(v));
      WriteStrings(group, "data", texts);
    } else {
      WriteInts(group, "data", H5T_STD_I32LE, H5T_NATIVE_INT32, t.data.data(), {t.data.size()});
    }
  }
  if (wanted("barcodes")) WriteStrings(group, "barcodes", t.barcodes);
  if (v3) {
    hid_t features = H5Gcreate2(group, "features", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (wanted("features/id")) WriteStrings(features, "id", t.ids);
    WriteStrings(features, "name", t.names);
    if (wanted("features/feature_type")) WriteStrings(features, "feature_type", t.types);
    if (!t.genomes.empty()) WriteStrings(features, "genome", t.genomes);
    H5Gclose(features);
  } else {
    if (wanted("genes")) WriteStrings(group, "genes", t.ids);
    WriteStrings(group, "gene_names", t.names);
  }
  H5Gclose(group);
  H5Fclose(file);
}

// Reads `t` back and expects a refusal whose message contains `expected`.
void ExpectRefused(const TinyH5 &t, const std::string &expected) {
  TempDir dir;
  std::string path = dir.file("bad.h5");
  WriteTinyH5(path, t);
  Matrix m;
  char error[512] = "";
  EXPECT_NE(cli_read_10x_h5(path.c_str(), &m.m, error, sizeof error), 0);
  EXPECT_NE(std::string(error).find(expected), std::string::npos)
      << "message: " << error << "\nexpected to contain: " << expected;
  EXPECT_TRUE(IsEmpty(m.m));
}

}  // namespace

TEST(Tenx10xH5, ReadsV3InTheFilesEntryOrderWithScanpysVarColumns) {
  TempDir dir;
  TinyH5 t;
  t.genomes = {"GRCh38", "GRCh38", "mm10"};
  WriteTinyH5(dir.file("tiny.h5"), t);
  Matrix m;
  char error[512] = "";
  ASSERT_EQ(cli_read_10x_h5(dir.file("tiny.h5").c_str(), &m.m, error, sizeof error), 0) << error;
  ExpectTinyMatrix(m.m, true);
  EXPECT_EQ(m.m.value_type, NORMOT_INT32);
  // scanpy.read_10x_h5's var columns after gene_ids: feature_types, then genome.
  ASSERT_EQ(m.m.n_annotations, 2);
  EXPECT_STREQ(m.m.annotations[0].name, "feature_types");
  EXPECT_STREQ(m.m.annotations[0].values[2], "Gene Expression");
  EXPECT_STREQ(m.m.annotations[1].name, "genome");
  EXPECT_STREQ(m.m.annotations[1].values[2], "mm10");
}

TEST(Tenx10xH5, ReadsTheLegacyLayout) {
  TempDir dir;
  TinyH5 t;
  t.group = "GRCh38";
  WriteTinyH5(dir.file("tiny.h5"), t);
  Matrix m;
  char error[512] = "";
  ASSERT_EQ(cli_read_10x_h5(dir.file("tiny.h5").c_str(), &m.m, error, sizeof error), 0) << error;
  ExpectTinyMatrix(m.m, true);
  EXPECT_EQ(m.m.n_annotations, 0);  // Cell Ranger 2 lists no feature types
}

TEST(Tenx10xH5, KeepsOnlyGeneExpressionFeatures) {
  TempDir dir;
  TinyH5 t;
  t.shape = {4, 4};
  t.ids = {"G1", "AB1", "G2", "G3"};
  t.names = {"A", "CD3", "B", "C"};
  t.types = {"Gene Expression", "Antibody Capture", "Gene Expression", "Gene Expression"};
  t.genomes = {"GRCh38", "", "GRCh38", "mm10"};
  t.indptr = {0, 3, 3, 4, 8};
  t.indices = {3, 0, 1, 2, 3, 2, 0, 1};
  t.data = {5, 1, 9, 7, 3, 4, 2, 8};
  WriteTinyH5(dir.file("tiny.h5"), t);
  Matrix m;
  char error[512] = "";
  ASSERT_EQ(cli_read_10x_h5(dir.file("tiny.h5").c_str(), &m.m, error, sizeof error), 0) << error;
  ExpectTinyMatrix(m.m, true);
  EXPECT_STREQ(m.m.col_names[1], "G2");
  // The annotations follow their genes.
  ASSERT_EQ(m.m.n_annotations, 2);
  EXPECT_STREQ(m.m.annotations[0].values[1], "Gene Expression");
  EXPECT_STREQ(m.m.annotations[1].values[2], "mm10");
  // Only one type listed: nothing is dropped.
  t.types = {"Antibody Capture", "Antibody Capture", "Antibody Capture", "Antibody Capture"};
  WriteTinyH5(dir.file("adt.h5"), t);
  Matrix whole;
  ASSERT_EQ(cli_read_10x_h5(dir.file("adt.h5").c_str(), &whole.m, error, sizeof error), 0) << error;
  EXPECT_EQ(whole.m.n_cols, 4);
  EXPECT_EQ(whole.m.nnz, 8);
}

TEST(Tenx10xH5, RefusesMissingDatasets) {
  for (const char *name :
       {"data", "indices", "indptr", "shape", "barcodes", "features/id", "features/feature_type"}) {
    TinyH5 t;
    t.skip = name;
    ExpectRefused(t, std::string("'") + name + "' is missing");
  }
  TinyH5 legacy;
  legacy.group = "hg19";
  legacy.skip = "genes";
  ExpectRefused(legacy, "'genes' is missing");
}

TEST(Tenx10xH5, RefusesMisShapedDatasets) {
  TinyH5 t;
  t.shape_2d = true;
  ExpectRefused(t, "'shape' should be 1-dimensional");
  t = TinyH5();
  t.indptr = {0, 2, 3, 6};  // 3 + 1 offsets for 4 cells
  t.indptr.resize(4);
  ExpectRefused(t, "'indptr' has 4 entries, expected 5");
  t = TinyH5();
  t.data.pop_back();
  ExpectRefused(t, "'data' has 5 entries, expected 6");
  t = TinyH5();
  t.barcodes.pop_back();
  ExpectRefused(t, "'barcodes' has 3 entries, expected 4");
  t = TinyH5();
  t.shape = {3, 4, 1};
  ExpectRefused(t, "'shape' has 3 entries, expected 2");
  t = TinyH5();
  t.shape = {3, -4};
  ExpectRefused(t, "impossible shape (3, -4)");
  t = TinyH5();
  t.data_as_strings = true;
  ExpectRefused(t, "'data' should hold numbers");
}

TEST(Tenx10xH5, RefusesBadIndptrAndIndices) {
  TinyH5 t;
  t.indices[4] = 3;  // gene 3 of 3
  ExpectRefused(t, "indices[4] = 3 is out of range [0, 3)");
  t = TinyH5();
  t.indices[0] = -1;
  ExpectRefused(t, "indices[0] = -1 is out of range");
  t = TinyH5();
  t.indptr = {0, 3, 2, 3, 6};
  ExpectRefused(t, "indptr decreases at entry 2");
  t = TinyH5();
  t.indptr = {1, 2, 2, 3, 6};
  ExpectRefused(t, "indptr starts at 1");
}

TEST(Tenx10xH5, RefusesFilesThatAreNotA10xMatrix) {
  TempDir dir;
  io_test::WriteText(dir.file("text.h5"), "not an HDF5 file\n");
  Matrix m;
  char error[512] = "";
  EXPECT_NE(cli_read_10x_h5(dir.file("text.h5").c_str(), &m.m, error, sizeof error), 0);
  EXPECT_NE(std::string(error).find("cannot open"), std::string::npos) << error;
  EXPECT_TRUE(IsEmpty(m.m));
  hid_t file = H5Fcreate(dir.file("empty.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  H5Fclose(file);
  EXPECT_NE(cli_read_10x_h5(dir.file("empty.h5").c_str(), &m.m, error, sizeof error), 0);
  EXPECT_NE(std::string(error).find("not a 10x .h5 matrix"), std::string::npos) << error;
  EXPECT_NE(cli_read_10x_h5(dir.file("absent.h5").c_str(), &m.m, error, sizeof error), 0);
  EXPECT_TRUE(IsEmpty(m.m));
}
#endif  // NORMOT_HAVE_HDF5
