#include "test_support.h"

#include <sys/stat.h>

std::string SharedDataDir() {
  struct stat info;
  if (stat(NORMOT_SHARED_DATA_DIR, &info) == 0 && S_ISDIR(info.st_mode))
    return NORMOT_SHARED_DATA_DIR;
  return "";
}

std::string TestDataDir() {
  return NORMOT_TEST_DATA_DIR;
}
