/* The AnnData .h5ad reader (through libhdf5) on the input bytes as a file. */
#include "fuzz_readers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_read_promises promises = {.sorted_unique_columns = 0, .finite_values = 0};
  fuzz_read_as_file(data, size, "input.h5ad", 0, 0, promises);
  return 0;
}
