/* The Matrix Market reader through zlib: the input is the text, compressed before the read, so
 * that the mutations act on the Matrix Market text rather than on the deflate stream. */
#include "fuzz_readers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_read_promises promises = {.sorted_unique_columns = 1, .finite_values = 1};
  fuzz_read_as_file(data, size, "input.mtx.gz", 1, 0, promises);
  return 0;
}
