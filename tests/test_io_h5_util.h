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
#include "matrix_io.h"
}

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

}  // namespace io_test

#endif
