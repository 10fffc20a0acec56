/* A build without the HDF5 C library (NORMOT_HDF5=OFF): the HDF5 formats say so. */
#include "normot_io.h"

int cli_hdf5_available(void) {
  return 0;
}

int cli_read_10x_h5(const char *path, cli_matrix *out, char *error, size_t error_size) {
  (void)out;
  cli_io_fail(error, error_size, "cannot read '%s': this normot was built without HDF5", path);
  return 1;
}

int cli_read_h5ad(const char *path, cli_matrix *out, char *error, size_t error_size) {
  (void)out;
  cli_io_fail(error, error_size, "cannot read '%s': this normot was built without HDF5", path);
  return 1;
}

int cli_write_h5ad(const char *path, const cli_matrix *matrix, const cli_h5ad_output *output,
                   char *error, size_t error_size) {
  (void)matrix;
  (void)output;
  cli_io_fail(error, error_size, "cannot write '%s': this normot was built without HDF5", path);
  return 1;
}
