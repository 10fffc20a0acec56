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

int cli_x_stream_open(const cli_x_stream_request *request, cli_x_stream **out, char *error,
                      size_t error_size) {
  *out = NULL;
  cli_io_fail(error, error_size, "cannot read '%s': this normot was built without HDF5",
              request->path);
  return 1;
}

/* Never reached: no stream opens without HDF5. */
const cli_x_layout *cli_x_stream_layout(const cli_x_stream *stream) {
  (void)stream;
  return NULL;
}

int cli_x_stream_plan(cli_x_stream *stream, int64_t max_entries, char *error, size_t error_size) {
  (void)stream;
  (void)max_entries;
  return cli_io_fail(error, error_size, "this normot was built without HDF5");
}

int cli_x_stream_read(cli_x_stream *stream, int64_t index, cli_x_block *block, char *error,
                      size_t error_size) {
  (void)stream;
  (void)index;
  (void)block;
  return cli_io_fail(error, error_size, "this normot was built without HDF5");
}

void cli_x_stream_close(cli_x_stream *stream) {
  (void)stream;
}

void cli_x_stream_skip_indices(cli_x_stream *stream, int skip) {
  (void)stream;
  (void)skip;
}

const int64_t *cli_x_stream_offsets(const cli_x_stream *stream) {
  (void)stream;
  return NULL;
}
