// Helpers for the file-format tests (10x directory, 10x .h5, .h5ad): temporary directories,
// running a command, and reading a cli_matrix entry as a number whatever its value type.
#ifndef NORMOT_TEST_IO_H5_UTIL_H
#define NORMOT_TEST_IO_H5_UTIL_H

#include <dirent.h>
#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

extern "C" {
#include "normot_io.h"
}

#ifdef NORMOT_HAVE_HDF5
#include <hdf5.h>
#endif

namespace io_test {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    const char *base = getenv("TMPDIR");
    std::string pattern =
        std::string(base != nullptr && base[0] != '\0' ? base : "/tmp") + "/normot_io_test_XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (mkdtemp(buffer.data()) != nullptr) path_ = buffer.data();
  }
  ~TempDir() {
    if (!path_.empty()) {
      std::string command = "rm -rf '" + path_ + "'";
      if (system(command.c_str()) != 0) fprintf(stderr, "could not remove %s\n", path_.c_str());
    }
  }
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;
  const std::string &path() const { return path_; }
  std::string file(const std::string &name) const { return path_ + "/" + name; }
  // The names of the entries in the directory (without . and ..), sorted.
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    DIR *dir = opendir(path_.c_str());
    if (dir == nullptr) return names;
    while (struct dirent *entry = readdir(dir)) {
      std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    closedir(dir);
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  std::string path_;
};

inline bool FileExists(const std::string &path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0;
}

inline void WriteText(const std::string &path, const std::string &text) {
  FILE *stream = fopen(path.c_str(), "wb");
  ASSERT_NE(stream, nullptr) << path;
  fwrite(text.data(), 1, text.size(), stream);
  fclose(stream);
}

// Runs a shell command; returns its exit status and collects stdout (+ stderr if asked).
inline int Run(const std::string &command, std::string *output) {
  FILE *pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  char buffer[4096];
  size_t got;
  while ((got = fread(buffer, 1, sizeof buffer, pipe)) > 0)
    if (output != nullptr) output->append(buffer, got);
  int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline double ValueAt(const cli_matrix &m, int64_t i) {
  switch (m.value_type) {
    case NORMOT_FLOAT32: return static_cast<const float *>(m.values)[i];
    case NORMOT_FLOAT64: return static_cast<const double *>(m.values)[i];
    case NORMOT_INT32: return static_cast<const int32_t *>(m.values)[i];
    case NORMOT_INT64: return static_cast<double>(static_cast<const int64_t *>(m.values)[i]);
    case NORMOT_UINT16: return static_cast<const uint16_t *>(m.values)[i];
    case NORMOT_UINT32: return static_cast<const uint32_t *>(m.values)[i];
  }
  return 0.0;
}

// Owns a cli_matrix for the length of a test.
struct Matrix {
  cli_matrix m;
  Matrix() { memset(&m, 0, sizeof m); }
  ~Matrix() { cli_matrix_free(&m); }
  Matrix(const Matrix &) = delete;
  Matrix &operator=(const Matrix &) = delete;
};

// True when the matrix is the empty state a failed reader must leave behind.
inline bool IsEmpty(const cli_matrix &m) {
  return m.n_rows == 0 && m.n_cols == 0 && m.nnz == 0 && m.indptr == nullptr &&
         m.indices == nullptr && m.values == nullptr && m.row_names == nullptr &&
         m.col_names == nullptr && m.col_symbols == nullptr;
}

#ifdef NORMOT_HAVE_HDF5
// Tiny HDF5 files that declare huge datasets and never write them (a few KB on disk, whatever
// the declared size): what a careless or hostile producer leaves behind.

// A chunked dataset of `dims` values of `type`, created but never written.
inline void CreateUnwrittenDataset(hid_t location, const char *name, hid_t type,
                                   std::vector<hsize_t> dims, std::vector<hsize_t> chunk) {
  hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  hid_t properties = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(properties, static_cast<int>(chunk.size()), chunk.data());
  hid_t dataset = H5Dcreate2(location, name, type, space, H5P_DEFAULT, properties, H5P_DEFAULT);
  ASSERT_GE(dataset, 0) << name;
  H5Dclose(dataset);
  H5Pclose(properties);
  H5Sclose(space);
}

inline void WriteStringAttribute(hid_t object, const char *name, const char *value) {
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t attribute = H5Acreate2(object, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(attribute, 0) << name;
  ASSERT_GE(H5Awrite(attribute, type, &value), 0);
  H5Aclose(attribute);
  H5Sclose(space);
  H5Tclose(type);
}

// An .h5ad whose X is a dense float32 (rows, cols) array that was never written.
inline void WriteUnwrittenDenseH5ad(const std::string &path, hsize_t rows, hsize_t cols) {
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(file, 0) << path;
  CreateUnwrittenDataset(file, "X", H5T_IEEE_F32LE, {rows, cols}, {1, cols < 1024 ? cols : 1024});
  hid_t x = H5Dopen2(file, "X", H5P_DEFAULT);
  WriteStringAttribute(x, "encoding-type", "array");
  WriteStringAttribute(x, "encoding-version", "0.2.0");
  H5Dclose(x);
  H5Fclose(file);
}

// A 10x .h5 (v3 layout) of 10 genes declaring `cells` cells: shape written, indptr and barcodes
// never written, no entries.
inline void WriteUnwritten10xH5(const std::string &path, int32_t cells) {
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(file, 0) << path;
  hid_t group = H5Gcreate2(file, "matrix", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  int32_t shape[2] = {10, cells};
  hsize_t two[1] = {2};
  hid_t space = H5Screate_simple(1, two, nullptr);
  hid_t dataset =
      H5Dcreate2(group, "shape", H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(dataset, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, shape);
  H5Dclose(dataset);
  H5Sclose(space);
  CreateUnwrittenDataset(group, "indptr", H5T_STD_I64LE, {static_cast<hsize_t>(cells) + 1},
                         {10000});
  CreateUnwrittenDataset(group, "indices", H5T_STD_I64LE, {0}, {1});
  CreateUnwrittenDataset(group, "data", H5T_STD_I32LE, {0}, {1});
  hid_t barcode_type = H5Tcopy(H5T_C_S1);
  H5Tset_size(barcode_type, 16);
  CreateUnwrittenDataset(group, "barcodes", barcode_type, {static_cast<hsize_t>(cells)}, {10000});
  H5Tclose(barcode_type);
  H5Gclose(group);
  H5Fclose(file);
}
#endif  // NORMOT_HAVE_HDF5

}  // namespace io_test

#endif
