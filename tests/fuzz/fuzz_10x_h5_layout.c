/* The 10x .h5 reader on well-formed HDF5 files whose Cell Ranger layout is fuzzed (see
 * fuzz_hdf5_builder.h): v3 /matrix with features, v2 genome groups, with any shapes, types,
 * lengths and values. */
#include "fuzz_hdf5_builder.h"
#include "fuzz_readers.h"
#include "fuzz_support.h"

static const char *const names[] = {
    "matrix", "GRCh38", "data",         "indices", "indptr",     "shape",  "barcodes", "features",
    "id",     "name",   "feature_type", "genes",   "gene_names", "genome", "mm10",     NULL};

static const char *const string_values[] = {"Gene Expression",
                                            "Antibody Capture",
                                            "CRISPR Guide Capture",
                                            "AAAC-1",
                                            "AAAG-1",
                                            "ENSG0001",
                                            "GENE1",
                                            "",
                                            "GRCh38",
                                            NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const hdf5_vocabulary vocabulary = {names, string_values};
  char path[640];
  fuzz_scratch_path("layout.h5", path, sizeof path);
  fuzz_build_hdf5(path, data, size, &vocabulary);
  fuzz_read_promises promises = {.sorted_unique_columns = 0, .finite_values = 0};
  fuzz_read_and_check(path, 0, promises);
  fuzz_remove_file(path);
  return 0;
}
