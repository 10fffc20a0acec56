// Reader inputs the fuzz campaigns found to break the contract, read here through the ordinary
// reader call from the reproducers committed in tests/fuzz/regressions/<target>/.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "normot_io.h"

namespace {

// Reads `file` of regressions/<target>/, copied under the name the target gives its input
// (`extension` chooses the reader), with the readers' memory capped at 128 MiB as the fuzz
// targets run; returns the reader's status, and its message in `error`.
int ReadReproducerUnderTheFuzzCap(const std::string &target, const std::string &file,
                                  const std::string &extension, std::string *error) {
  const std::string source = std::string(NORMOT_FUZZ_REGRESSIONS_DIR) + "/" + target + "/" + file;
  const std::string path = testing::TempDir() + "reproducer" + extension;
  {
    std::ifstream in(source, std::ios::binary);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << in.rdbuf();
  }
  setenv("NORMOT_MAX_MEMORY", "134217728", 1);
  cli_matrix matrix;
  char text[512] = "";
  const int status = cli_read_matrix(path.c_str(), 0, &matrix, text, sizeof text);
  unsetenv("NORMOT_MAX_MEMORY");
  if (status == 0) cli_matrix_free(&matrix);
  std::remove(path.c_str());
  *error = text;
  return status;
}

// fuzz_10x_h5, fixed_string_width_of_1_gb: three fixed-length strings declared 1.2 GB wide. The
// memory check counted 24 bytes per string whatever its width, so 3.6 GB was asked for.
TEST(FuzzRegressionReaders, AFixedStringWidthCountsAgainstTheMemoryBudget) {
  if (!cli_hdf5_available()) GTEST_SKIP() << "built without HDF5";
  std::string error;
  EXPECT_NE(
      ReadReproducerUnderTheFuzzCap("fuzz_10x_h5", "fixed_string_width_of_1_gb", ".h5", &error), 0);
  EXPECT_NE(error.find("reading 'features/feature_type' (3 values) needs 3.6 GiB, more than the "
                       "128.0 MiB"),
            std::string::npos)
      << error;
}

}  // namespace
