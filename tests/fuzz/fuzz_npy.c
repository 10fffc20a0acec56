/* The .npy reader on the input bytes as a file: a failure is one line and an empty array; a
 * success is an array whose every byte can be read. */
#include <string.h>
#include <unistd.h>

#include "fuzz_support.h"
#include "normot_io.h"

static void check_array(const char *path, const cli_array *array) {
  if (array->ndim < 0 || array->ndim > CLI_NPY_MAX_DIMS)
    fuzz_fail("%s: ndim %d", path, array->ndim);
  for (int d = 0; d < array->ndim; ++d)
    if (array->shape[d] < 0) fuzz_fail("%s: negative extent", path);
  int64_t count = cli_array_size(array);
  if (count < 0) fuzz_fail("%s: the shape's product overflows", path);
  size_t element = array->type == NORMOT_FLOAT64 || array->type == NORMOT_INT64 ? 8 : 4;
  if (array->type != NORMOT_FLOAT32 && array->type != NORMOT_FLOAT64 &&
      array->type != NORMOT_INT32 && array->type != NORMOT_INT64)
    fuzz_fail("%s: unexpected type %d", path, (int)array->type);
  if (count > 0 && array->data == NULL) fuzz_fail("%s: no data", path);
  /* Reading every byte lets AddressSanitizer see a buffer shorter than the shape says. */
  volatile unsigned char sum = 0;
  for (size_t i = 0; i < (size_t)count * element; ++i)
    sum ^= ((const unsigned char *)array->data)[i];
  (void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[640];
  fuzz_scratch_path("input.npy", path, sizeof path);
  fuzz_write_file(path, data, size, 0);
  cli_array array;
  char error[1024] = "";
  const int status = cli_npy_read(path, &array, error, sizeof error);
  fuzz_report_outcome(path, status != 0 ? error : NULL);
  if (status != 0) {
    static const cli_array empty;
    fuzz_check_error_line(path, error);
    if (memcmp(&array, &empty, sizeof empty) != 0) fuzz_fail("%s: failed, array not empty", path);
  } else {
    check_array(path, &array);
    cli_array_free(&array);
  }
  unlink(path);
  return 0;
}
