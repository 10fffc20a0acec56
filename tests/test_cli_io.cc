// The CLI's file readers and writers, through the normot_io library directly: Matrix Market and
// .npy round trips, the reader's semantics (scipy's mmread(...).tocsr()), and its refusals.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "test_cli_util.h"
#include "test_support.h"

extern "C" {
#include "normot_io.h"
}

namespace {

using cli_test::FileExists;
using cli_test::ReadWholeFile;
using cli_test::ScratchDir;
using cli_test::WriteWholeFile;

// An owning CSR matrix built in the test, handed to the writer as a cli_matrix view.
struct TestCsr {
  int64_t n_rows = 0, n_cols = 0;
  std::vector<int64_t> indptr{0}, indices;
  std::vector<double> values;  // converted to the written type by View()
};

// A random sparse matrix: sorted unique columns per row, some empty rows, ~20% density.
TestCsr RandomCsr(int64_t n_rows, int64_t n_cols, std::mt19937_64 &rng, bool integer) {
  TestCsr m;
  m.n_rows = n_rows;
  m.n_cols = n_cols;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (int64_t r = 0; r < n_rows; ++r) {
    bool empty_row = unit(rng) < 0.1;
    for (int64_t c = 0; c < n_cols; ++c) {
      if (empty_row || unit(rng) > 0.2) continue;
      m.indices.push_back(c);
      double v = integer ? std::floor(unit(rng) * 50.0) : std::ldexp(unit(rng), (int)(c % 40) - 20);
      if (!integer && (r + c) % 7 == 0) v = -v;
      m.values.push_back(v);
    }
    m.indptr.push_back((int64_t)m.indices.size());
  }
  return m;
}

// A cli_matrix view of `m` with values stored as `type` in `storage`.
cli_matrix View(const TestCsr &m, normot_value_type type, std::vector<unsigned char> &storage) {
  size_t size = (type == NORMOT_FLOAT64 || type == NORMOT_INT64) ? 8 : 4;
  storage.assign(m.values.size() * size + 8, 0);
  for (size_t i = 0; i < m.values.size(); ++i) {
    unsigned char *slot = storage.data() + i * size;
    switch (type) {
      case NORMOT_FLOAT32: {
        float v = (float)m.values[i];
        memcpy(slot, &v, 4);
        break;
      }
      case NORMOT_FLOAT64: {
        double v = m.values[i];
        memcpy(slot, &v, 8);
        break;
      }
      case NORMOT_INT32: {
        int32_t v = (int32_t)m.values[i];
        memcpy(slot, &v, 4);
        break;
      }
      case NORMOT_INT64: {
        int64_t v = (int64_t)m.values[i];
        memcpy(slot, &v, 8);
        break;
      }
      default: break;
    }
  }
  cli_matrix view;
  memset(&view, 0, sizeof view);
  view.n_rows = m.n_rows;
  view.n_cols = m.n_cols;
  view.nnz = (int64_t)m.values.size();
  view.indptr = const_cast<int64_t *>(m.indptr.data());
  view.indices = const_cast<int64_t *>(m.indices.data());
  view.values = storage.data();
  view.value_type = type;
  return view;
}

double ValueAt(const cli_matrix &m, int64_t i) {
  switch (m.value_type) {
    case NORMOT_FLOAT32: return ((const float *)m.values)[i];
    case NORMOT_FLOAT64: return ((const double *)m.values)[i];
    case NORMOT_INT32: return ((const int32_t *)m.values)[i];
    case NORMOT_INT64: return (double)((const int64_t *)m.values)[i];
    default: return NAN;
  }
}

// Reads `text` written to a file as Matrix Market; returns the status, the matrix in *out.
int ReadMtxText(const ScratchDir &dir, const std::string &text, int transpose, cli_matrix *out,
                std::string *message = nullptr) {
  std::string path = dir.Path("input.mtx");
  WriteWholeFile(path, text);
  char error[512] = "";
  int status = cli_read_mtx(path.c_str(), transpose, out, error, sizeof error);
  if (message != nullptr) *message = error;
  return status;
}

std::string GzipBytes(const std::string &plain, const ScratchDir &dir) {
  std::string path = dir.Path("gzip_scratch.gz");
  gzFile file = gzopen(path.c_str(), "wb");
  gzwrite(file, plain.data(), (unsigned)plain.size());
  gzclose(file);
  std::string bytes = ReadWholeFile(path);
  unlink(path.c_str());
  return bytes;
}

// ---- Matrix Market round trips --------------------------------------------------------------

class MtxRoundTrip : public ::testing::TestWithParam<normot_value_type> {};

TEST_P(MtxRoundTrip, WriteThenReadGivesTheSameMatrixBitForBit) {
  ScratchDir dir;
  ASSERT_TRUE(dir.ok());
  normot_value_type type = GetParam();
  bool integer = type == NORMOT_INT32 || type == NORMOT_INT64;
  std::mt19937_64 rng(1234 + (int)type);
  for (const char *name : {"m.mtx", "m.mtx.gz"}) {
    TestCsr m = RandomCsr(37, 23, rng, integer);
    std::vector<unsigned char> storage;
    cli_matrix written = View(m, type, storage);
    char error[512] = "";
    std::string path = dir.Path(name);
    ASSERT_EQ(cli_write_mtx(path.c_str(), &written, error, sizeof error), 0) << error;
    cli_matrix read;
    ASSERT_EQ(cli_read_mtx(path.c_str(), 0, &read, error, sizeof error), 0) << error;
    ASSERT_EQ(read.n_rows, m.n_rows);
    ASSERT_EQ(read.n_cols, m.n_cols);
    ASSERT_EQ(read.nnz, (int64_t)m.values.size());
    EXPECT_EQ(read.value_type, integer ? NORMOT_INT32 : NORMOT_FLOAT64);
    for (int64_t r = 0; r <= m.n_rows; ++r) ASSERT_EQ(read.indptr[r], m.indptr[r]);
    for (int64_t i = 0; i < read.nnz; ++i) {
      ASSERT_EQ(read.indices[i], m.indices[i]);
      // float32 is printed with 9 digits: reading it back to float gives the same float.
      if (type == NORMOT_FLOAT32)
        ASSERT_EQ((float)ValueAt(read, i), ((float *)written.values)[i]);
      else
        ASSERT_EQ(ValueAt(read, i), ValueAt(written, i));
    }
    cli_matrix_free(&read);
    // Nothing but the output is left beside it.
    EXPECT_EQ(dir.Entries(), std::set<std::string>{name});
    unlink(path.c_str());
  }
}

INSTANTIATE_TEST_SUITE_P(Types, MtxRoundTrip,
                         ::testing::Values(NORMOT_FLOAT32, NORMOT_FLOAT64, NORMOT_INT32,
                                           NORMOT_INT64));

TEST(MtxWriter, HardFloat64ValuesRoundTripExactly) {
  ScratchDir dir;
  ASSERT_TRUE(dir.ok());
  TestCsr m;
  m.n_rows = 1;
  m.n_cols = 6;
  m.indices = {0, 1, 2, 3, 4, 5};
  m.values = {
      0.1, 1.0 / 3.0, 5e-324, 1.7976931348623157e308, -2.2250738585072014e-308, 123456789.12345678};
  m.indptr = {0, 6};
  std::vector<unsigned char> storage;
  cli_matrix written = View(m, NORMOT_FLOAT64, storage);
  char error[512] = "";
  std::string path = dir.Path("hard.mtx");
  ASSERT_EQ(cli_write_mtx(path.c_str(), &written, error, sizeof error), 0) << error;
  EXPECT_EQ(ReadWholeFile(path).rfind("%%MatrixMarket matrix coordinate real general\n", 0), 0u);
  cli_matrix read;
  ASSERT_EQ(cli_read_mtx(path.c_str(), 0, &read, error, sizeof error), 0) << error;
  for (int i = 0; i < 6; ++i) EXPECT_EQ(ValueAt(read, i), m.values[i]) << i;
  cli_matrix_free(&read);
}

TEST(MtxWriter, FailureLeavesNoFile) {
  ScratchDir dir;
  ASSERT_TRUE(dir.ok());
  TestCsr m;
  m.n_rows = 1;
  m.n_cols = 2;
  m.indices = {5};  // out of range: refused before anything is written
  m.values = {1.0};
  m.indptr = {0, 1};
  std::vector<unsigned char> storage;
  cli_matrix bad = View(m, NORMOT_FLOAT64, storage);
  char error[512] = "";
  EXPECT_NE(cli_write_mtx(dir.Path("bad.mtx").c_str(), &bad, error, sizeof error), 0);
  EXPECT_GT(strlen(error), 0u);
  // A directory that does not exist: the temporary file cannot be created.
  m.indices = {1};
  cli_matrix good = View(m, NORMOT_FLOAT64, storage);
  EXPECT_NE(cli_write_mtx(dir.Path("missing/sub/x.mtx").c_str(), &good, error, sizeof error), 0);
  EXPECT_TRUE(dir.Entries().empty());
}

// ---- Matrix Market reader semantics (what scipy.io.mmread(path).tocsr() gives) ----------------

TEST(MtxReader, SortsColumnsSumsDuplicatesKeepsExplicitZeros) {
  ScratchDir dir;
  ASSERT_TRUE(dir.ok());
  // scipy: indptr [0 2 3], indices [0 2 1], data [2 6 0]
  const char *text =
      "%%MatrixMarket matrix coordinate integer general\n"
      "% a comment\n"
      "\n"
      "2 3 4\n"
      "1 3 5\n"
      "1 1 2\n"
      "1 3 1\n"
      "2 2 0\n";
  cli_matrix m;
  ASSERT_EQ(ReadMtxText(dir, text, 0, &m), 0);
  ASSERT_EQ(m.n_rows, 2);
  ASSERT_EQ(m.n_cols, 3);
  ASSERT_EQ(m.nnz, 3);
  EXPECT_EQ(m.value_type, NORMOT_INT32);
  EXPECT_EQ(std::vector<int64_t>(m.indptr, m.indptr + 3), (std::vector<int64_t>{0, 2, 3}));
  EXPECT_EQ(std::vector<int64_t>(m.indices, m.indices + 3), (std::vector<int64_t>{0, 2, 1}));
  EXPECT_EQ(std::vector<int32_t>((int32_t *)m.values, (int32_t *)m.values + 3),
            (std::vector<int32_t>{2, 6, 0}));
  cli_matrix_free(&m);
}

TEST(MtxReader, TransposeReadsGenesByCellsFiles) {
  ScratchDir dir;
  ASSERT_TRUE(dir.ok());
  const char *text =
      "%%MatrixMarket matrix coordinate real general\r\n"
      "3 2 3\r\n"
      "3 1 1.5\r\n"
      "1 1 -2.25\r\n"
      "2 2 4e-3\r\n";
  cli_matrix m;
  ASSERT_EQ(ReadMtxText(dir, text, 1, &m), 0);
  ASSERT_EQ(m.n_rows, 2);
  ASSERT_EQ(m.n_cols, 3);
  EXPECT_EQ(m.value_type, NORMOT_FLOAT64);
  EXPECT_EQ(std::vector<int64_t>(m.indptr, m.indptr + 3), (std::vector<int64_t>{0, 2, 3}));
  EXPECT_EQ(std::vector<int64_t>(m.indices, m.indices + 3), (std::vector<int64_t>{0, 2, 1}));
  EXPECT_EQ(std::vector<double>((double *)m.values, (double *)m.values + 3),
            (std::vector<double>{-2.25, 1.5, 4e-3}));
  cli_matrix_free(&m);
}

TEST(MtxReader, PatternGivesOnesAndLargeIntegersGiveInt64) {
  ScratchDir dir;
  ASSERT_TRUE(dir.ok());
  cli_matrix m;
  ASSERT_EQ(
      ReadMtxText(dir, "%%MatrixMarket matrix coordinate pattern general\n2 2 3\n2 1\n1 2\n2 1\n",
                  0, &m),
      0);
  EXPECT_EQ(m.value_type, NORMOT_INT32);
  ASSERT_EQ(m.nnz, 2);
  EXPECT_EQ(((int32_t *)m.values)[0], 1);
  EXPECT_EQ(((int32_t *)m.values)[1], 2);  // the duplicate (2, 1) is summed, as scipy does
  cli_matrix_free(&m);
  ASSERT_EQ(ReadMtxText(dir,
                        "%%MatrixMarket matrix coordinate integer general\n1 2 2\n"
                        "1 1 3000000000\n1 2 -7\n",
                        0, &m),
            0);
  EXPECT_EQ(m.value_type, NORMOT_INT64);
  EXPECT_EQ(((int64_t *)m.values)[0], 3000000000LL);
  EXPECT_EQ(((int64_t *)m.values)[1], -7);
  cli_matrix_free(&m);
}

TEST(MtxReader, EmptyMatricesAndEmptyRows) {
  ScratchDir dir;
  ASSERT_TRUE(dir.ok());
  cli_matrix m;
  ASSERT_EQ(ReadMtxText(dir, "%%MatrixMarket matrix coordinate real general\n0 0 0\n", 0, &m), 0);
  EXPECT_EQ(m.n_rows, 0);
  EXPECT_EQ(m.nnz, 0);
  EXPECT_EQ(m.indptr[0], 0);
  cli_matrix_free(&m);
  ASSERT_EQ(ReadMtxText(dir, "%%MatrixMarket matrix coordinate real general\n4 5 1\n3 5 2", 0, &m),
            0);  // no newline at the end of the last line
  EXPECT_EQ(std::vector<int64_t>(m.indptr, m.indptr + 5), (std::vector<int64_t>{0, 0, 0, 1, 1}));
  EXPECT_EQ(m.indices[0], 4);
  cli_matrix_free(&m);
}

TEST(MtxReader, GzipIsFoundByMagicBytesNotByName) {
  ScratchDir dir;
  ASSERT_TRUE(dir.ok());
  std::string text = "%%MatrixMarket matrix coordinate integer general\n2 2 2\n1 1 4\n2 2 9\n";
  std::string path = dir.Path("counts.mtx");  // gzip data under a plain name
  WriteWholeFile(path, GzipBytes(text, dir));
  cli_matrix m;
  char error[512] = "";
  ASSERT_EQ(cli_read_mtx(path.c_str(), 0, &m, error, sizeof error), 0) << error;
  EXPECT_EQ(m.nnz, 2);
  EXPECT_EQ(((int32_t *)m.values)[1], 9);
  cli_matrix_free(&m);
}

TEST(MtxReader, LongFilesAcrossReadChunks) {
  ScratchDir dir;
  ASSERT_TRUE(dir.ok());
  // More than one 1 MiB read chunk, entries in reverse order, with a very long comment line.
  const int64_t rows = 300, cols = 400;
  std::string text = "%%MatrixMarket matrix coordinate integer general\n%" +
                     std::string(3 << 20, 'x') + "\n" + std::to_string(rows) + " " +
                     std::to_string(cols) + " " + std::to_string(rows * cols) + "\n";
  for (int64_t r = rows; r >= 1; --r)
    for (int64_t c = cols; c >= 1; --c)
      text +=
          std::to_string(r) + " " + std::to_string(c) + " " + std::to_string(r * 1000 + c) + "\n";
  cli_matrix m;
  std::string message;
  ASSERT_EQ(ReadMtxText(dir, text, 0, &m, &message), 0) << message;
  ASSERT_EQ(m.nnz, rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      int64_t i = r * cols + c;
      ASSERT_EQ(m.indices[i], c);
      ASSERT_EQ(((int32_t *)m.values)[i], (r + 1) * 1000 + c + 1);
    }
  }
  cli_matrix_free(&m);
}

// The committed goldens from tests/gen_cli_mtx_goldens.py: scipy.io.mmread(path).tocsr().
TEST(MtxReader, MatchesScipyGoldens) {
  for (const char *name : {"integer", "real", "pattern"}) {
    std::string base = TestDataDir() + "/cli/scipy/" + name;
    cli_matrix m;
    cli_array indptr, indices, data;
    char error[512] = "";
    ASSERT_EQ(cli_read_mtx((base + ".mtx").c_str(), 0, &m, error, sizeof error), 0) << error;
    ASSERT_EQ(cli_npy_read((base + ".indptr.npy").c_str(), &indptr, error, sizeof error), 0);
    ASSERT_EQ(cli_npy_read((base + ".indices.npy").c_str(), &indices, error, sizeof error), 0);
    ASSERT_EQ(cli_npy_read((base + ".data.npy").c_str(), &data, error, sizeof error), 0);
    ASSERT_EQ(indptr.shape[0], m.n_rows + 1) << name;
    ASSERT_EQ(indices.shape[0], m.nnz) << name;
    EXPECT_EQ(m.value_type, std::string(name) == "real" ? NORMOT_FLOAT64 : NORMOT_INT32);
    for (int64_t r = 0; r <= m.n_rows; ++r)
      ASSERT_EQ(m.indptr[r], ((int64_t *)indptr.data)[r]) << name << " row " << r;
    for (int64_t i = 0; i < m.nnz; ++i) {
      ASSERT_EQ(m.indices[i], ((int64_t *)indices.data)[i]) << name << " entry " << i;
      double expected = data.type == NORMOT_FLOAT64 ? ((double *)data.data)[i]
                                                    : (double)((int64_t *)data.data)[i];
      ASSERT_EQ(ValueAt(m, i), expected) << name << " entry " << i;
    }
    cli_array_free(&indptr);
    cli_array_free(&indices);
    cli_array_free(&data);
    cli_matrix_free(&m);
  }
}

// Every committed malformed file is refused with a one-line reason.
class MtxBadFile : public ::testing::TestWithParam<const char *> {};

TEST_P(MtxBadFile, IsRefusedWithAOneLineReason) {
  std::string path = TestDataDir() + "/cli/" + GetParam();
  ASSERT_TRUE(FileExists(path)) << path;
  cli_matrix m;
  char error[512] = "";
  EXPECT_NE(cli_read_mtx(path.c_str(), 0, &m, error, sizeof error), 0);
  EXPECT_GT(strlen(error), 10u);
  EXPECT_EQ(strchr(error, '\n'), nullptr) << error;
  EXPECT_EQ(m.indptr, nullptr);  // nothing handed out on failure
  EXPECT_EQ(m.values, nullptr);
}

INSTANTIATE_TEST_SUITE_P(Committed, MtxBadFile, ::testing::ValuesIn(cli_test::BadMtxFiles()),
                         [](const ::testing::TestParamInfo<const char *> &info) {
                           std::string name = info.param;
                           return name.substr(0, name.size() - 4);
                         });

TEST(MtxReader, BadGzipIsRefused) {
  ScratchDir dir;
  ASSERT_TRUE(dir.ok());
  std::string text = "%%MatrixMarket matrix coordinate integer general\n100 100 100\n";
  for (int i = 1; i <= 100; ++i) text += std::to_string(i) + " " + std::to_string(i) + " 7\n";
  std::string gz = GzipBytes(text, dir);
  char error[512];
  cli_matrix m;
  std::string truncated = dir.Path("truncated.mtx.gz");
  WriteWholeFile(truncated, gz.substr(0, gz.size() / 2));
  EXPECT_NE(cli_read_mtx(truncated.c_str(), 0, &m, error, sizeof error), 0);
  EXPECT_EQ(strchr(error, '\n'), nullptr);
  std::string corrupt = dir.Path("corrupt.mtx.gz");
  std::string bad = gz;
  for (size_t i = 20; i < bad.size() - 8; i += 3) bad[i] = (char)(bad[i] ^ 0x5a);
  WriteWholeFile(corrupt, bad);
  EXPECT_NE(cli_read_mtx(corrupt.c_str(), 0, &m, error, sizeof error), 0);
  EXPECT_EQ(strchr(error, '\n'), nullptr);
  EXPECT_NE(cli_read_mtx(dir.Path("absent.mtx").c_str(), 0, &m, error, sizeof error), 0);
}

// ---- dispatch -------------------------------------------------------------------------------

TEST(MatrixDispatch, SniffsUnnamedFilesAndRefusesUnknownOnes) {
  ScratchDir dir;
  ASSERT_TRUE(dir.ok());
  WriteWholeFile(dir.Path("counts.txt"),
                 "%%MatrixMarket matrix coordinate integer general\n2 3 1\n2 3 5\n");
  cli_matrix m;
  char error[512] = "";
  ASSERT_EQ(cli_read_matrix(dir.Path("counts.txt").c_str(), 1, &m, error, sizeof error), 0)
      << error;
  EXPECT_EQ(m.n_rows, 3);  // transposed on read
  cli_matrix_free(&m);
  WriteWholeFile(dir.Path("random.bin"), "just some bytes\n");
  EXPECT_NE(cli_read_matrix(dir.Path("random.bin").c_str(), 0, &m, error, sizeof error), 0);
  EXPECT_NE(cli_check_output_path("out.csv", error, sizeof error), 0);
  EXPECT_EQ(cli_check_output_path("out.mtx", error, sizeof error), 0);
  EXPECT_EQ(cli_check_output_path("out.mtx.gz", error, sizeof error), 0);
}

TEST(MatrixDispatch, TransposeKeepsRowsSorted) {
  TestCsr t;
  t.n_rows = 2;
  t.n_cols = 3;
  t.indptr = {0, 2, 4};
  t.indices = {0, 2, 1, 2};
  t.values = {1, 2, 3, 4};
  std::vector<unsigned char> storage;
  cli_matrix view = View(t, NORMOT_FLOAT64, storage);
  // Give cli_transpose_matrix an owning copy.
  cli_matrix m = view;
  m.indptr = (int64_t *)malloc(3 * sizeof(int64_t));
  m.indices = (int64_t *)malloc(4 * sizeof(int64_t));
  m.values = malloc(4 * sizeof(double));
  memcpy(m.indptr, view.indptr, 3 * sizeof(int64_t));
  memcpy(m.indices, view.indices, 4 * sizeof(int64_t));
  memcpy(m.values, view.values, 4 * sizeof(double));
  char error[256];
  ASSERT_EQ(cli_transpose_matrix(&m, error, sizeof error), 0);
  EXPECT_EQ(m.n_rows, 3);
  EXPECT_EQ(std::vector<int64_t>(m.indptr, m.indptr + 4), (std::vector<int64_t>{0, 1, 2, 4}));
  EXPECT_EQ(std::vector<int64_t>(m.indices, m.indices + 4), (std::vector<int64_t>{0, 1, 0, 1}));
  EXPECT_EQ(std::vector<double>((double *)m.values, (double *)m.values + 4),
            (std::vector<double>{1, 3, 2, 4}));
  cli_matrix_free(&m);
}

// ---- .npy -----------------------------------------------------------------------------------

// The bytes of a .npy file with the given header dict text and data.
std::string NpyBytes(const std::string &dict, const std::string &data, int major = 1) {
  std::string header = dict;
  size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string bytes = "\x93NUMPY";
  bytes += (char)major;
  bytes += '\0';
  uint32_t length = (uint32_t)header.size();
  for (size_t i = 0; i < prefix - 8; ++i) bytes += (char)((length >> (8 * i)) & 0xff);
  return bytes + header + data;
}

TEST(Npy, RoundTripEveryTypeAndRank) {
  ScratchDir dir;
  ASSERT_TRUE(dir.ok());
  const normot_value_type types[] = {NORMOT_FLOAT32, NORMOT_FLOAT64, NORMOT_INT32, NORMOT_INT64};
  const std::vector<std::vector<int64_t>> shapes = {{}, {5}, {0}, {3, 4}, {2, 0, 3}, {2, 3, 1, 2}};
  std::mt19937_64 rng(7);
  for (normot_value_type type : types) {
    for (const auto &shape : shapes) {
      cli_array array;
      memset(&array, 0, sizeof array);
      array.ndim = (int)shape.size();
      for (size_t d = 0; d < shape.size(); ++d) array.shape[d] = shape[d];
      array.type = type;
      int64_t count = cli_array_size(&array);
      size_t size = (type == NORMOT_FLOAT64 || type == NORMOT_INT64) ? 8 : 4;
      std::vector<unsigned char> data(count * size + 1);
      for (auto &byte : data) byte = (unsigned char)rng();
      if (type == NORMOT_FLOAT32 || type == NORMOT_FLOAT64)  // keep floats finite (no NaN bits)
        for (int64_t i = 0; i < count; ++i) {
          if (size == 4) {
            float v = (float)i / 3.0f;
            memcpy(&data[i * 4], &v, 4);
          } else {
            double v = (double)i / 3.0;
            memcpy(&data[i * 8], &v, 8);
          }
        }
      array.data = data.data();
      std::string path = dir.Path("a.npy");
      char error[512] = "";
      ASSERT_EQ(cli_npy_write(path.c_str(), &array, error, sizeof error), 0) << error;
      std::string bytes = ReadWholeFile(path);
      ASSERT_EQ((bytes.size() - count * size) % 64, 0u);  // data 64-byte aligned
      cli_array read;
      ASSERT_EQ(cli_npy_read(path.c_str(), &read, error, sizeof error), 0) << error;
      EXPECT_EQ(read.type, type);
      ASSERT_EQ(read.ndim, array.ndim);
      for (int d = 0; d < read.ndim; ++d) EXPECT_EQ(read.shape[d], array.shape[d]);
      EXPECT_EQ(memcmp(read.data, data.data(), count * size), 0);
      cli_array_free(&read);
      EXPECT_EQ(dir.Entries(), std::set<std::string>{"a.npy"});
      unlink(path.c_str());
    }
  }
}

TEST(Npy, ReadsFormatVersions2And3AndNumpysOwnHeaders) {
  ScratchDir dir;
  ASSERT_TRUE(dir.ok());
  double values[3] = {1.5, -2.0, 1e300};
  std::string data((const char *)values, sizeof values);
  for (int major : {1, 2, 3}) {
    std::string path = dir.Path("v.npy");
    WriteWholeFile(
        path, NpyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", data, major));
    cli_array read;
    char error[512] = "";
    ASSERT_EQ(cli_npy_read(path.c_str(), &read, error, sizeof error), 0) << major << error;
    ASSERT_EQ(read.ndim, 1);
    EXPECT_EQ(read.shape[0], 3);
    EXPECT_EQ(((double *)read.data)[2], 1e300);
    cli_array_free(&read);
  }
  // Key order and spacing vary; Python 2 wrote 3L.
  std::string path = dir.Path("w.npy");
  WriteWholeFile(path,
                 NpyBytes("{\"shape\":(3L,),\"fortran_order\":True,\"descr\":\"<f8\"}", data));
  cli_array read;
  char error[512] = "";
  ASSERT_EQ(cli_npy_read(path.c_str(), &read, error, sizeof error), 0) << error;
  cli_array_free(&read);
}

struct BadNpy {
  const char *name;
  std::string bytes;
};

std::vector<BadNpy> BadNpyFiles() {
  std::string eight(8, '\0'), many(96, '\0');
  const std::string ok_dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
  std::string good = NpyBytes(ok_dict, std::string(48, '\0'));
  return {
      {"empty", ""},
      {"bad_magic", "\x93NUMPZ\x01\x00" + good.substr(8)},
      {"version_9", "\x93NUMPY\x09\x00" + good.substr(8)},
      {"truncated_header", good.substr(0, 40)},
      {"header_length_beyond_file", std::string("\x93NUMPY\x01\x00\xff\xff", 10) + "{}"},
      {"header_not_a_dict", NpyBytes("garbage here", many)},
      {"header_unclosed",
       NpyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)", many)},
      {"header_missing_shape", NpyBytes("{'descr': '<f8', 'fortran_order': False}", many)},
      {"header_unknown_key", NpyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), "
                                      "'extra': 1}",
                                      many)},
      {"header_repeated_key", NpyBytes("{'descr': '<f8', 'descr': '<f4', 'fortran_order': False, "
                                       "'shape': (2,)}",
                                       many)},
      {"header_text_after_dict", NpyBytes(ok_dict + " junk", many)},
      {"fortran_order", NpyBytes("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }",
                                 std::string(48, '\0'))},
      {"fortran_order_not_bool",
       NpyBytes("{'descr': '<f8', 'fortran_order': 0, 'shape': (2,)}", many)},
      {"big_endian", NpyBytes("{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", many)},
      {"uint8", NpyBytes("{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", many)},
      {"complex", NpyBytes("{'descr': '<c16', 'fortran_order': False, 'shape': (2,), }", many)},
      {"structured",
       NpyBytes("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2,), }", many)},
      {"shape_not_tuple", NpyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': 2, }", many)},
      {"shape_int_in_parens",
       NpyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2), }", many)},
      {"shape_negative",
       NpyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (-2,), }", many)},
      {"shape_product_overflows",
       NpyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, "
                "4611686018427387904), }",
                many)},
      {"shape_dimension_beyond_64_bits",
       NpyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,), }",
                many)},
      {"shape_too_many_dimensions",
       NpyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1), }", eight)},
      {"data_beyond_file", NpyBytes("{'descr': '<f8', 'fortran_order': False, "
                                    "'shape': (1000000000000,), }",
                                    many)},
      {"truncated_data", good.substr(0, good.size() - 1)},
  };
}

TEST(Npy, MalformedFilesAreRefusedWithAOneLineReason) {
  ScratchDir dir;
  ASSERT_TRUE(dir.ok());
  for (const BadNpy &bad : BadNpyFiles()) {
    std::string path = dir.Path(std::string(bad.name) + ".npy");
    WriteWholeFile(path, bad.bytes);
    cli_array read;
    char error[512] = "";
    EXPECT_NE(cli_npy_read(path.c_str(), &read, error, sizeof error), 0) << bad.name;
    EXPECT_GT(strlen(error), 10u) << bad.name;
    EXPECT_EQ(strchr(error, '\n'), nullptr) << bad.name;
    EXPECT_EQ(read.data, nullptr) << bad.name;
  }
}

// ---- atomic files -----------------------------------------------------------------------------

TEST(AtomicFile, CommitRenamesAbortRemovesStagedPathsToo) {
  ScratchDir dir;
  ASSERT_TRUE(dir.ok());
  std::string target = dir.Path("out.txt");
  cli_atomic_file file;
  ASSERT_EQ(cli_atomic_open(&file, target.c_str()), 0);
  fputs("first", file.stream);
  EXPECT_FALSE(FileExists(target));  // nothing at the final name until the commit
  ASSERT_EQ(cli_atomic_commit(&file), 0);
  EXPECT_EQ(ReadWholeFile(target), "first");
  ASSERT_EQ(cli_atomic_open(&file, target.c_str()), 0);
  fputs("second", file.stream);
  cli_atomic_abort(&file);
  cli_atomic_abort(&file);  // twice is harmless
  EXPECT_EQ(ReadWholeFile(target), "first");
  char *staged = cli_atomic_temp_name(target.c_str());
  ASSERT_NE(staged, nullptr);
  WriteWholeFile(staged, "staged");
  cli_atomic_discard_path(staged);
  EXPECT_EQ(dir.Entries(), std::set<std::string>{"out.txt"});
  EXPECT_NE(cli_atomic_open(&file, dir.Path("no/such/dir/x").c_str()), 0);
}

}  // namespace
