/* The steps, each chosen by one byte (modulo 6):
 *   0 group:     name -> create it under the current group and enter it (at most 4 deep)
 *   1 up:        leave the current group
 *   2 numbers:   name, type (bits 0-2: int32 int64 float32 float64 uint16 uint32 int8 uint64;
 *                bit 3: leave unwritten; bit 4: chunked), rank (0-2), extents, values
 *   3 strings:   name, kind (0: variable length, else fixed width 1-15), count, values
 *   4 text attr: name, kind, value (on the last dataset made, else the current group)
 *   5 num attr:  name, type, count (0: scalar, 1-3), values
 * Extents are mostly 0..11; codes 240..255 give huge ones (up to 2^62), which are only ever
 * declared on chunked datasets that stay unwritten, so the file stays a few KB. */
#include "fuzz_hdf5_builder.h"

#include <hdf5.h>
#include <string.h>

#include "fuzz_bytes.h"
#include "fuzz_support.h"

enum { MAX_STEPS = 64, MAX_DEPTH = 4, MAX_WRITTEN = 4096, MAX_RANK = 2 };

typedef struct builder {
  fuzz_bytes bytes;
  const hdf5_vocabulary *vocabulary;
  hid_t groups[MAX_DEPTH + 1]; /* groups[0] is the file */
  int depth;
  hid_t last_dataset; /* attributes go here when >= 0 */
} builder;

static const char *pick(const char *const *list, uint8_t code) {
  int count = 0;
  while (list[count] != NULL) ++count;
  if (count == 0) fuzz_fail("an empty vocabulary");
  return list[code % count];
}

static hsize_t decode_extent(uint8_t code) {
  static const hsize_t huge[16] = {1u << 20,         (hsize_t)1 << 31,       100000,
                                   (hsize_t)1 << 40, ((hsize_t)1 << 61) + 1, (hsize_t)1 << 62,
                                   100000000,        (hsize_t)1 << 32,       65536,
                                   1000000,          (hsize_t)1 << 48,       ((hsize_t)1 << 63) - 1,
                                   3000000000u,      (hsize_t)1 << 30,       70000,
                                   (hsize_t)1 << 56};
  return code < 240 ? code % 12 : huge[code - 240];
}

static hid_t numeric_type(uint8_t code) {
  const hid_t types[8] = {H5T_STD_I32LE, H5T_STD_I64LE, H5T_IEEE_F32LE, H5T_IEEE_F64LE,
                          H5T_STD_U16LE, H5T_STD_U32LE, H5T_STD_I8LE,   H5T_STD_U64LE};
  return types[code & 7];
}

static hid_t current(const builder *b) {
  return b->groups[b->depth];
}

static void set_last_dataset(builder *b, hid_t dataset) {
  if (b->last_dataset >= 0) H5Dclose(b->last_dataset);
  b->last_dataset = dataset;
}

/* A dataset creation property list: chunked (chunks of at most 64 per extent) or default. */
static hid_t creation_list(int chunked, int rank, const hsize_t *extents) {
  hid_t list = H5Pcreate(H5P_DATASET_CREATE);
  if (chunked && rank > 0) {
    hsize_t chunk[MAX_RANK];
    for (int d = 0; d < rank; ++d)
      chunk[d] = extents[d] == 0 ? 1 : (extents[d] < 64 ? extents[d] : 64);
    H5Pset_chunk(list, rank, chunk);
  }
  return list;
}

/* The element count, or MAX_WRITTEN + 1 when it is larger (or overflows). */
static hsize_t bounded_count(int rank, const hsize_t *extents) {
  hsize_t count = 1;
  for (int d = 0; d < rank; ++d) {
    if (extents[d] != 0 && count > MAX_WRITTEN / extents[d]) return MAX_WRITTEN + 1;
    count *= extents[d];
  }
  return count;
}

static void add_numbers(builder *b) {
  const char *name = pick(b->vocabulary->names, fuzz_take_byte(&b->bytes));
  const uint8_t type_code = fuzz_take_byte(&b->bytes);
  const int rank = fuzz_take_byte(&b->bytes) % (MAX_RANK + 1);
  hsize_t extents[MAX_RANK] = {0, 0};
  for (int d = 0; d < rank; ++d) extents[d] = decode_extent(fuzz_take_byte(&b->bytes));
  const hsize_t count = bounded_count(rank, extents);
  const int written = !(type_code & 8) && count <= MAX_WRITTEN;
  const int chunked = (type_code & 16) || !written;
  hid_t space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, extents, NULL);
  hid_t list = creation_list(chunked, rank, extents);
  hid_t dataset =
      H5Dcreate2(current(b), name, numeric_type(type_code), space, H5P_DEFAULT, list, H5P_DEFAULT);
  if (dataset >= 0 && written && count > 0) {
    static double values[MAX_WRITTEN];
    for (hsize_t i = 0; i < count; ++i) values[i] = fuzz_take_number(&b->bytes, NULL);
    H5Dwrite(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
  }
  H5Pclose(list);
  H5Sclose(space);
  if (dataset >= 0) set_last_dataset(b, dataset);
}

/* Variable-length (kind 0) or fixed-width strings. */
static hid_t string_type(uint8_t kind) {
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, kind % 16 == 0 ? H5T_VARIABLE : (size_t)(kind % 16));
  H5Tset_cset(type, H5T_CSET_UTF8);
  return type;
}

/* Writes `count` strings picked from the vocabulary in the layout of `type`. */
static void write_strings(builder *b, hid_t dataset, hid_t type, hsize_t count) {
  static const char *pointers[MAX_WRITTEN];
  static char fixed[MAX_WRITTEN * 16];
  const int variable = H5Tis_variable_str(type) > 0;
  const size_t width = variable ? 0 : H5Tget_size(type);
  for (hsize_t i = 0; i < count; ++i) {
    const char *text = pick(b->vocabulary->string_values, fuzz_take_byte(&b->bytes));
    if (variable)
      pointers[i] = text;
    else
      strncpy(fixed + i * width, text, width);
  }
  H5Dwrite(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT,
           variable ? (const void *)pointers : (const void *)fixed);
}

static void add_strings(builder *b) {
  const char *name = pick(b->vocabulary->names, fuzz_take_byte(&b->bytes));
  hid_t type = string_type(fuzz_take_byte(&b->bytes));
  hsize_t count = decode_extent(fuzz_take_byte(&b->bytes));
  const int written = count <= MAX_WRITTEN;
  hid_t space = H5Screate_simple(1, &count, NULL);
  hid_t list = creation_list(!written, 1, &count);
  hid_t dataset = H5Dcreate2(current(b), name, type, space, H5P_DEFAULT, list, H5P_DEFAULT);
  if (dataset >= 0 && written && count > 0) write_strings(b, dataset, type, count);
  H5Pclose(list);
  H5Sclose(space);
  H5Tclose(type);
  if (dataset >= 0) set_last_dataset(b, dataset);
}

static hid_t attribute_owner(const builder *b) {
  return b->last_dataset >= 0 ? b->last_dataset : current(b);
}

static void add_text_attribute(builder *b) {
  const char *name = pick(b->vocabulary->names, fuzz_take_byte(&b->bytes));
  hid_t type = string_type(fuzz_take_byte(&b->bytes));
  const char *text = pick(b->vocabulary->string_values, fuzz_take_byte(&b->bytes));
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t attribute = H5Acreate2(attribute_owner(b), name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  if (attribute >= 0) {
    if (H5Tis_variable_str(type) > 0) {
      H5Awrite(attribute, type, &text);
    } else {
      char fixed[16] = "";
      strncpy(fixed, text, sizeof fixed);
      H5Awrite(attribute, type, fixed);
    }
    H5Aclose(attribute);
  }
  H5Sclose(space);
  H5Tclose(type);
}

static void add_number_attribute(builder *b) {
  const char *name = pick(b->vocabulary->names, fuzz_take_byte(&b->bytes));
  const hid_t type = numeric_type(fuzz_take_byte(&b->bytes));
  hsize_t count = fuzz_take_byte(&b->bytes) % 4;
  hid_t space = count == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &count, NULL);
  hid_t attribute = H5Acreate2(attribute_owner(b), name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  if (attribute >= 0) {
    double values[3] = {0, 0, 0};
    for (hsize_t i = 0; i < (count == 0 ? 1 : count); ++i)
      values[i] = fuzz_take_number(&b->bytes, NULL);
    H5Awrite(attribute, H5T_NATIVE_DOUBLE, values);
    H5Aclose(attribute);
  }
  H5Sclose(space);
}

static void enter_group(builder *b) {
  const char *name = pick(b->vocabulary->names, fuzz_take_byte(&b->bytes));
  if (b->depth == MAX_DEPTH) return;
  hid_t group = H5Gcreate2(current(b), name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (group < 0) return;
  set_last_dataset(b, -1);
  b->groups[++b->depth] = group;
}

static void leave_group(builder *b) {
  if (b->depth == 0) return;
  set_last_dataset(b, -1);
  H5Gclose(b->groups[b->depth--]);
}

void fuzz_build_hdf5(const char *path, const uint8_t *data, size_t size,
                     const hdf5_vocabulary *vocabulary) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  builder b = {{data, size, 0}, vocabulary, {-1}, 0, -1};
  b.groups[0] = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (b.groups[0] < 0) fuzz_fail("cannot create %s", path);
  for (int step = 0; step < MAX_STEPS && b.bytes.used < b.bytes.size; ++step) {
    switch (fuzz_take_byte(&b.bytes) % 6) {
      case 0: enter_group(&b); break;
      case 1: leave_group(&b); break;
      case 2: add_numbers(&b); break;
      case 3: add_strings(&b); break;
      case 4: add_text_attribute(&b); break;
      default: add_number_attribute(&b); break;
    }
  }
  while (b.depth > 0) leave_group(&b);
  set_last_dataset(&b, -1);
  H5Fclose(b.groups[0]);
}
