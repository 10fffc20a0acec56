/* The Matrix Market reader on the input bytes as a file (gzip data is found by its magic bytes,
 * so the gzip seeds reach the same reader), read as cells x genes and transposed. */
#include "fuzz_readers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_read_promises promises = {.sorted_unique_columns = 1, .finite_values = 1};
  fuzz_read_as_file(data, size, "input.mtx", 0, 0, promises);
  fuzz_read_as_file(data, size, "input.mtx", 0, 1, promises);
  return 0;
}
