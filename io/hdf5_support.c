/* What the HDF5 readers and writers share (declared in hdf5_internal.h).
 *
 * HDF5 clears its error stack when the next API call starts, and a failed write is followed by
 * several closing calls, so the cause is taken when the failure happens: the automatic error
 * handler, which HDF5 calls as a failing API function returns, records it. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hdf5_internal.h"

typedef struct failure_record {
  int recorded;
  char cause[256];
} failure_record;

static failure_record last_failure;

/* What one walk of the error stack learned. */
typedef struct stack_summary {
  int error_number; /* the errno a file driver reported, 0 if none */
  int out_of_memory;
  hid_t major, minor; /* of the innermost entry */
} stack_summary;

static herr_t summarize_entry(unsigned depth, const H5E_error2_t *entry, void *data) {
  (void)depth;
  stack_summary *summary = data;
  summary->major = entry->maj_num;
  summary->minor = entry->min_num;
  /* The sec2 driver writes "errno = 28, error message = '...'" into its description. */
  const char *found = entry->desc != NULL ? strstr(entry->desc, "errno = ") : NULL;
  if (found != NULL && summary->error_number == 0) summary->error_number = atoi(found + 8);
  if (entry->min_num == H5E_CANTALLOC || entry->min_num == H5E_NOSPACE) summary->out_of_memory = 1;
  return 0;
}

static void describe_summary(const stack_summary *summary, char *text, size_t text_size) {
  if (summary->error_number > 0) {
    snprintf(text, text_size, "%s", strerror(summary->error_number));
    return;
  }
  if (summary->out_of_memory) {
    snprintf(text, text_size, "out of memory");
    return;
  }
  char major[96] = "", minor[96] = "";
  if (summary->major > 0) H5Eget_msg(summary->major, NULL, major, sizeof major);
  if (summary->minor > 0) H5Eget_msg(summary->minor, NULL, minor, sizeof minor);
  snprintf(text, text_size, "HDF5 error (%s: %s)", major, minor);
}

static herr_t record_failure(hid_t stack, void *unused) {
  (void)unused;
  if (last_failure.recorded) return 0;
  stack_summary summary = {0, 0, -1, -1};
  H5Ewalk2(stack, H5E_WALK_DOWNWARD, summarize_entry, &summary);
  describe_summary(&summary, last_failure.cause, sizeof last_failure.cause);
  last_failure.recorded = 1;
  return 0;
}

void cli_h5_setup(void) {
  static int done = 0;
  if (done) return;
  done = 1;
  H5dont_atexit();
  H5Eset_auto2(H5E_DEFAULT, record_failure, NULL);
}

void cli_h5_failure_reset(void) {
  last_failure.recorded = 0;
  last_failure.cause[0] = '\0';
}

void cli_h5_failure_note(const char *cause) {
  if (last_failure.recorded) return;
  snprintf(last_failure.cause, sizeof last_failure.cause, "%s", cause);
  last_failure.recorded = 1;
}

void cli_h5_failure_cause(char *text, size_t text_size) {
  snprintf(text, text_size, "%s", last_failure.recorded ? last_failure.cause : "unknown failure");
}

int cli_h5_check_declared_size(const cli_h5_source *src, hid_t dataset, const char *name,
                               uint64_t count, double memory_bytes) {
  const char *path = src->path;
  char *error = src->error;
  size_t error_size = src->error_size;
  hid_t type = H5Dget_type(dataset);
  size_t element_size = type >= 0 ? H5Tget_size(type) : 0;
  if (type >= 0) H5Tclose(type);
  if (element_size == 0) element_size = 1;
  double declared = (double)count * (double)element_size;
  double stored = (double)H5Dget_storage_size(dataset);
  if (declared > stored * CLI_H5_MAX_COMPRESSION + CLI_H5_UNSTORED_ALLOWANCE)
    return cli_io_fail(error, error_size,
                       "'%s': '%s' declares %llu values (%.1f MiB) but the file stores only %.0f "
                       "bytes of them (never written, or corrupt)",
                       path, name, (unsigned long long)count, declared / 1048576.0, stored);
  char shortfall[160];
  if (cli_memory_shortfall(memory_bytes, shortfall, sizeof shortfall))
    return cli_io_fail(error, error_size, "'%s': reading '%s' (%llu values) %s", path, name,
                       (unsigned long long)count, shortfall);
  return 0;
}

/* Reads (into != NULL) or writes the range's values of `dataset` from or into memory. */
static int range_io(hid_t dataset, hid_t memory_type, const cli_h5_range *range, const void *from,
                    void *into) {
  hid_t file_space = H5Dget_space(dataset);
  hid_t memory_space = H5Screate_simple(range->rank, range->count, NULL);
  int status =
      file_space < 0 || memory_space < 0 ||
      H5Sselect_hyperslab(file_space, H5S_SELECT_SET, range->first, NULL, range->count, NULL) < 0;
  if (status == 0 && into != NULL)
    status = H5Dread(dataset, memory_type, memory_space, file_space, H5P_DEFAULT, into) < 0;
  else if (status == 0)
    status = H5Dwrite(dataset, memory_type, memory_space, file_space, H5P_DEFAULT, from) < 0;
  if (memory_space >= 0) H5Sclose(memory_space);
  if (file_space >= 0) H5Sclose(file_space);
  return status;
}

int cli_h5_read_range(hid_t dataset, hid_t memory_type, const cli_h5_range *range, void *buffer) {
  return range_io(dataset, memory_type, range, NULL, buffer);
}

int cli_h5_write_range(hid_t dataset, hid_t memory_type, const cli_h5_range *range,
                       const void *buffer) {
  return range_io(dataset, memory_type, range, buffer, NULL);
}
