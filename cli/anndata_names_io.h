/* The rules the anndata package applies to names and string columns, for an .h5ad that reads
 * back as anndata would have written it: var_names_make_unique(), the duplicate-name check, and
 * the conversion of a string column with repeated values into a categorical whose categories
 * are in natural order ("gene2" before "gene10"). */
#ifndef NORMOT_CLI_ANNDATA_NAMES_IO_H
#define NORMOT_CLI_ANNDATA_NAMES_IO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Renames every repeat of a name (the first occurrence keeps it) to "<name>-<k>" with the
 * smallest k >= 1 not yet used for that name such that the result is not already a name.
 * Sets *collided to 1 when some tentative name was taken (anndata then warns that the suffixes
 * may be hard to read), else 0. Returns 0, or non-zero when out of memory (names unchanged). */
int cli_names_make_unique(char **names, int64_t count, int *collided);

/* 1 if some name occurs twice, 0 if not, -1 when out of memory. */
int cli_names_have_duplicates(char *const *names, int64_t count);

/* Natural order (natsort's default, as anndata sorts categories): the strings are split into
 * runs of ASCII digits and runs of other bytes; runs are compared in turn, digit runs by their
 * value, other runs bytewise (a string that starts with a digit comes first); equal run lists
 * are ordered bytewise. Returns <0, 0 or >0 like strcmp. */
int cli_natural_compare(const char *left, const char *right);

/* A string column as anndata's categorical: the distinct values in natural order and, per row,
 * the index of its value. `categories` points into the column's strings (not copies). */
typedef struct cli_categorical {
  const char **categories;
  int64_t n_categories;
  int64_t *codes;
} cli_categorical;

/* Builds the categorical of `values`. Returns 0, or non-zero when out of memory. */
int cli_categorical_build(char *const *values, int64_t count, cli_categorical *out);
void cli_categorical_free(cli_categorical *categorical);

#ifdef __cplusplus
}
#endif

#endif
