// HDF5 inputs that lie about their sizes: a dense X whose declared width overflows a byte count,
// datasets declared huge but never written, an encoding-type of the wrong type. Each is refused
// with one line, before anything large is allocated or read; real compressed data still reads.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "test_io_h5_util.h"

extern "C" {
#include "normot_io.h"
}

#ifdef NORMOT_HAVE_HDF5
#include <hdf5.h>

using io_test::IsEmpty;
using io_test::Matrix;
using io_test::TempDir;

namespace {

// Reads `path` as .h5ad and expects a refusal whose message contains `expected`.
void ExpectH5adRefused(const std::string &path, const std::string &expected) {
  Matrix m;
  char error[512] = "";
  EXPECT_NE(cli_read_h5ad(path.c_str(), &m.m, error, sizeof error), 0) << path;
  EXPECT_NE(std::string(error).find(expected), std::string::npos)
      << "message: " << error << "\nexpected to contain: " << expected;
  EXPECT_EQ(std::string(error).find('\n'), std::string::npos) << error;
  EXPECT_TRUE(IsEmpty(m.m));
}

long FileSize(const std::string &path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 ? static_cast<long>(info.st_size) : -1;
}

}  // namespace

// element size x columns used to wrap: a heap over-read (2^61 + 1 columns) or a division by zero
// (2^62 columns) in the block size.
TEST(H5adHardening, DenseXWithAWidthBeyondAnyByteCountIsRefused) {
  TempDir dir;
  const hsize_t widths[] = {(hsize_t{1} << 61) + 1, hsize_t{1} << 62};
  for (hsize_t width : widths) {
    std::string path = dir.file("wide.h5ad");
    io_test::WriteUnwrittenDenseH5ad(path, 8, width);
    EXPECT_LT(FileSize(path), 64 * 1024);
    ExpectH5adRefused(path, "X has an impossible shape (8, " + std::to_string(width) + ")");
  }
}

// 1e5 x 1e5 float32 never written: 40 GB of fill values to read for nothing.
TEST(H5adHardening, NeverWrittenDenseXIsRefusedBeforeReading) {
  TempDir dir;
  std::string path = dir.file("unwritten.h5ad");
  io_test::WriteUnwrittenDenseH5ad(path, 100000, 100000);
  EXPECT_LT(FileSize(path), 64 * 1024);
  ExpectH5adRefused(path,
                    "'X' declares 10000000000 values (38147.0 MiB) but the file stores only 0 "
                    "bytes of them");
}

// The rule bounds compression, it does not forbid it: a 16 MB dense X that deflate stores in a
// few dozen KB reads whole.
TEST(H5adHardening, CompressedDenseXStillReads) {
  TempDir dir;
  std::string path = dir.file("compressed.h5ad");
  const hsize_t n = 2000;
  std::vector<float> values(n * n, 0.0f);
  for (hsize_t i = 0; i < n; i++) values[i * n + i] = static_cast<float>(i % 7 + 1);
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  hsize_t dims[2] = {n, n}, chunk[2] = {250, n};
  hid_t space = H5Screate_simple(2, dims, nullptr);
  hid_t properties = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(properties, 2, chunk);
  H5Pset_deflate(properties, 9);
  hid_t x = H5Dcreate2(file, "X", H5T_IEEE_F32LE, space, H5P_DEFAULT, properties, H5P_DEFAULT);
  ASSERT_GE(H5Dwrite(x, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
  io_test::WriteStringAttribute(x, "encoding-type", "array");
  H5Dclose(x);
  H5Pclose(properties);
  H5Sclose(space);
  H5Fclose(file);
  ASSERT_LT(FileSize(path) * 100, static_cast<long>(n * n * sizeof(float)))
      << "deflate should store this at least 100 times smaller";

  Matrix m;
  char error[512] = "";
  ASSERT_EQ(cli_read_h5ad(path.c_str(), &m.m, error, sizeof error), 0) << error;
  ASSERT_EQ(m.m.n_rows, static_cast<int64_t>(n));
  ASSERT_EQ(m.m.nnz, static_cast<int64_t>(n));
  for (int64_t i = 0; i < m.m.nnz; i++) {
    EXPECT_EQ(m.m.indices[i], i);
    EXPECT_EQ(io_test::ValueAt(m.m, i), static_cast<double>(i % 7 + 1));
  }
}

// An integer encoding-type is there, with the wrong type: saying it is missing misleads.
TEST(H5adHardening, IntegerEncodingTypeIsAWrongTypeNotAMissingOne) {
  TempDir dir;
  std::string path = dir.file("int_encoding.h5ad");
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  hid_t x = H5Gcreate2(file, "X", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t attribute = H5Acreate2(x, "encoding-type", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
  int64_t three = 3;
  H5Awrite(attribute, H5T_NATIVE_INT64, &three);
  H5Aclose(attribute);
  H5Sclose(space);
  H5Gclose(x);
  H5Fclose(file);
  ExpectH5adRefused(path, "X's encoding-type attribute has the wrong type (not a string)");
}

// Memory that runs out during an .h5ad write is reported as such, not as a full disk. The child
// process writing the file gets only a few MB more address space than it already maps.
TEST(H5adHardening, AWriteThatRunsOutOfMemorySaysSo) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer maps terabytes of shadow memory: no address-space limit";
#else
  TempDir dir;
  const int64_t rows = 2000, cols = 2000, nnz = 4000000;
  Matrix m;
  m.m.n_rows = rows;
  m.m.n_cols = cols;
  m.m.nnz = nnz;
  m.m.value_type = NORMOT_FLOAT32;
  m.m.indptr = static_cast<int64_t *>(malloc((rows + 1) * sizeof(int64_t)));
  m.m.indices = static_cast<int64_t *>(malloc(nnz * sizeof(int64_t)));
  m.m.values = calloc(nnz, sizeof(float));
  ASSERT_TRUE(m.m.indptr != nullptr && m.m.indices != nullptr && m.m.values != nullptr);
  for (int64_t r = 0; r <= rows; r++) m.m.indptr[r] = r * (nnz / rows);
  for (int64_t i = 0; i < nnz; i++) m.m.indices[i] = i % cols;
  std::string path = dir.file("out.h5ad");
  int channel[2];
  ASSERT_EQ(pipe(channel), 0);
  H5open();  // the library's own set-up is not what should run out
  pid_t pid = fork();
  if (pid == 0) {
    unsigned long long pages = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    if (statm == nullptr || fscanf(statm, "%llu", &pages) != 1) _exit(3);
    fclose(statm);
    struct rlimit limit;
    limit.rlim_cur = limit.rlim_max = pages * sysconf(_SC_PAGESIZE) + (rlim_t{8} << 20);
    setrlimit(RLIMIT_AS, &limit);
    char error[512] = "";
    int status = cli_write_h5ad(path.c_str(), &m.m, nullptr, error, sizeof error);
    ssize_t ignored = write(channel[1], error, strlen(error));
    (void)ignored;
    _exit(status == 0 ? 0 : 1);
  }
  close(channel[1]);
  std::string message;
  char buffer[512];
  ssize_t got;
  while ((got = read(channel[0], buffer, sizeof buffer)) > 0) message.append(buffer, got);
  close(channel[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << message;
  EXPECT_EQ(WEXITSTATUS(status), 1) << message;
  EXPECT_EQ(message, "cannot write '" + path + "': out of memory");
  EXPECT_TRUE(dir.entries().empty());
#endif
}

// 1e8 cells declared by a 10x .h5 of a few KB: 6 GB of indptr and barcodes to allocate.
TEST(Tenx10xH5Hardening, NeverWrittenCellsAreRefusedBeforeAllocating) {
  TempDir dir;
  std::string path = dir.file("unwritten.h5");
  io_test::WriteUnwritten10xH5(path, 100000000);
  EXPECT_LT(FileSize(path), 64 * 1024);
  Matrix m;
  char error[512] = "";
  EXPECT_NE(cli_read_10x_h5(path.c_str(), &m.m, error, sizeof error), 0);
  EXPECT_NE(std::string(error).find("'indptr' declares 100000001 values (762.9 MiB) but the file "
                                    "stores only 0 bytes of them"),
            std::string::npos)
      << error;
  EXPECT_TRUE(IsEmpty(m.m));
}

#endif  // NORMOT_HAVE_HDF5
