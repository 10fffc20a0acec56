/* Builds a well-formed HDF5 file from fuzzed bytes, for the structure-aware .h5 / .h5ad
 * targets: the bytes are a little program of steps (enter or leave a group, add a numeric or
 * string dataset, add an attribute) whose names and string values come from a vocabulary of
 * the format. The file is valid HDF5 (libhdf5 wrote it), so what the reader meets is what
 * normot must handle itself: wrong shapes, types, lengths and values, huge declared sizes on
 * chunked datasets that were never written, missing or misplaced members.
 *
 * Byte-level mutation of HDF5 files (fuzz_10x_h5, fuzz_h5ad) mostly exercises libhdf5's own
 * parser, which normot cannot fix (docs/fuzzing.md). */
#ifndef NORMOT_FUZZ_HDF5_BUILDER_H
#define NORMOT_FUZZ_HDF5_BUILDER_H

#include <stddef.h>
#include <stdint.h>

typedef struct hdf5_vocabulary {
  const char *const *names;         /* group, dataset and attribute names */
  const char *const *string_values; /* contents of string datasets and attributes */
} hdf5_vocabulary;

/* Writes the file the bytes describe to `path` (replacing it). Fails (fuzz_fail) only when
 * the file cannot be created at all; steps that libhdf5 refuses are skipped. */
void fuzz_build_hdf5(const char *path, const uint8_t *data, size_t size,
                     const hdf5_vocabulary *vocabulary);

#endif
