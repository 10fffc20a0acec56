/* The .h5ad reader on well-formed HDF5 files whose AnnData layout is fuzzed (see
 * fuzz_hdf5_builder.h): X as a sparse group, a dense dataset or something else, obs and var
 * data frames, categorical columns, their attributes, with any shapes, types and values. */
#include "fuzz_hdf5_builder.h"
#include "fuzz_readers.h"
#include "fuzz_support.h"

static const char *const names[] = {"X",
                                    "obs",
                                    "var",
                                    "data",
                                    "indices",
                                    "indptr",
                                    "_index",
                                    "gene_ids",
                                    "gene_symbols",
                                    "categories",
                                    "codes",
                                    "shape",
                                    "encoding-type",
                                    "encoding-version",
                                    "h5sparse_format",
                                    "column-order",
                                    "obs_names",
                                    "var_names",
                                    "layers",
                                    NULL};

static const char *const string_values[] = {
    "csr_matrix", "csc_matrix", "array",  "dataframe", "categorical",  "string-array",
    "csr",        "csc",        "_index", "gene_ids",  "gene_symbols", "0.1.0",
    "0.2.0",      "cell1",      "GENE",   "",          "coo_matrix",   NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const hdf5_vocabulary vocabulary = {names, string_values};
  char path[640];
  fuzz_scratch_path("layout.h5ad", path, sizeof path);
  fuzz_build_hdf5(path, data, size, &vocabulary);
  fuzz_read_promises promises = {.sorted_unique_columns = 0, .finite_values = 0};
  fuzz_read_and_check(path, 0, promises);
  fuzz_remove_file(path);
  return 0;
}
