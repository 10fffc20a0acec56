/* The 10x directory reader. The input holds the directory's files one after another, each
 * introduced by a line "==> NAME <==" (as `head` prints several files), NAME one of the names
 * the reader looks for; a .gz name is written gzip-compressed. Other names are ignored. */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_readers.h"
#include "fuzz_support.h"

static const char *const known_names[] = {"matrix.mtx",      "matrix.mtx.gz",   "features.tsv",
                                          "features.tsv.gz", "genes.tsv",       "genes.tsv.gz",
                                          "barcodes.tsv",    "barcodes.tsv.gz", NULL};

static const char header_open[] = "==> ";
static const char header_close[] = " <==\n";

/* The next header at or after `from` (its offset), or `size` when there is none. */
static size_t find_header(const uint8_t *data, size_t size, size_t from) {
  const size_t open_length = sizeof header_open - 1;
  for (size_t at = from; at + open_length <= size; ++at) {
    if ((at == 0 || data[at - 1] == '\n') && memcmp(data + at, header_open, open_length) == 0)
      return at;
  }
  return size;
}

/* Writes the section whose header starts at `at` and returns the offset of the next one. */
static size_t write_section(const uint8_t *data, size_t size, size_t at) {
  const size_t name_start = at + sizeof header_open - 1;
  const uint8_t *close = NULL;
  for (size_t i = name_start; i + sizeof header_close - 1 <= size && close == NULL; ++i)
    if (memcmp(data + i, header_close, sizeof header_close - 1) == 0) close = data + i;
  if (close == NULL) return size;
  const size_t content = (size_t)(close - data) + sizeof header_close - 1;
  const size_t next = find_header(data, size, content);
  const size_t name_length = (size_t)(close - data) - name_start;
  for (int k = 0; known_names[k] != NULL; ++k) {
    if (strlen(known_names[k]) != name_length ||
        memcmp(known_names[k], data + name_start, name_length) != 0)
      continue;
    char path[700];
    fuzz_scratch_path(known_names[k], path, sizeof path);
    const size_t gz_length = strlen(".gz");
    fuzz_write_file(path, data + content, next - content,
                    name_length > gz_length &&
                        memcmp(data + name_start + name_length - gz_length, ".gz", gz_length) == 0);
  }
  return next;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *dir = fuzz_scratch_dir();
  for (size_t at = find_header(data, size, 0); at < size;) at = write_section(data, size, at);
  fuzz_read_promises promises = {.sorted_unique_columns = 1, .finite_values = 1};
  fuzz_read_and_check(dir, 0, promises);
  for (int k = 0; known_names[k] != NULL; ++k) {
    char path[700];
    fuzz_scratch_path(known_names[k], path, sizeof path);
    unlink(path);
  }
  return 0;
}
