/* The in-memory matrix every reader produces: freeing it, its gene annotations, and the
 * operations the readers and commands apply to it (transpose, canonical row order, keeping the
 * gene-expression features). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "io_internal.h"

void cli_free_strings(char **strings, int64_t count) {
  if (strings == NULL) return;
  for (int64_t i = 0; i < count; i++) free(strings[i]);
  free(strings);
}

void cli_matrix_free(cli_matrix *matrix) {
  if (matrix == NULL) return;
  free(matrix->indptr);
  free(matrix->indices);
  free(matrix->values);
  char **name_lists[] = {matrix->row_names, matrix->col_names, matrix->col_symbols};
  int64_t name_counts[] = {matrix->n_rows, matrix->n_cols, matrix->n_cols};
  for (int list = 0; list < 3; ++list) {
    if (name_lists[list] == NULL) continue;
    for (int64_t i = 0; i < name_counts[list]; ++i) free(name_lists[list][i]);
    free(name_lists[list]);
  }
  cli_matrix_free_annotations(matrix);
  memset(matrix, 0, sizeof *matrix);
}

void cli_matrix_free_annotations(cli_matrix *matrix) {
  for (int k = 0; k < matrix->n_annotations; k++) {
    free(matrix->annotations[k].name);
    cli_free_strings(matrix->annotations[k].values, matrix->n_cols);
  }
  free(matrix->annotations);
  matrix->annotations = NULL;
  matrix->n_annotations = 0;
}

int cli_matrix_add_annotation(cli_matrix *matrix, const char *name, char **values) {
  cli_gene_annotation *grown = realloc(
      matrix->annotations, (size_t)(matrix->n_annotations + 1) * sizeof *matrix->annotations);
  char *name_copy = strdup(name);
  if (grown != NULL) matrix->annotations = grown;
  if (grown == NULL || name_copy == NULL) {
    free(name_copy);
    cli_free_strings(values, matrix->n_cols);
    return 1;
  }
  cli_gene_annotation *added = &matrix->annotations[matrix->n_annotations++];
  added->name = name_copy;
  added->values = values;
  return 0;
}

int cli_transpose_matrix(cli_matrix *matrix, char *error, size_t error_size) {
  int64_t n_rows = matrix->n_rows, n_cols = matrix->n_cols, nnz = matrix->nnz;
  size_t value_size = normot_value_size(matrix->value_type);
  int64_t *indptr = calloc((size_t)n_cols + 1, sizeof *indptr);
  int64_t *indices = malloc((nnz > 0 ? (size_t)nnz : 1) * sizeof *indices);
  char *values = malloc((nnz > 0 ? (size_t)nnz : 1) * value_size);
  if (indptr == NULL || indices == NULL || values == NULL) {
    free(indptr);
    free(indices);
    free(values);
    return cli_io_fail(error, error_size, "out of memory transposing the matrix");
  }
  for (int64_t i = 0; i < nnz; ++i) indptr[matrix->indices[i] + 1]++;
  for (int64_t c = 0; c < n_cols; ++c) indptr[c + 1] += indptr[c];
  /* Visiting rows in order keeps the new rows' indices sorted. */
  for (int64_t r = 0; r < n_rows; ++r) {
    for (int64_t i = matrix->indptr[r]; i < matrix->indptr[r + 1]; ++i) {
      int64_t slot = indptr[matrix->indices[i]]++;
      indices[slot] = r;
      memcpy(values + (size_t)slot * value_size,
             (const char *)matrix->values + (size_t)i * value_size, value_size);
    }
  }
  for (int64_t c = n_cols; c > 0; --c) indptr[c] = indptr[c - 1];
  indptr[0] = 0;
  free(matrix->indptr);
  free(matrix->indices);
  free(matrix->values);
  matrix->indptr = indptr;
  matrix->indices = indices;
  matrix->values = values;
  matrix->n_rows = n_cols;
  matrix->n_cols = n_rows;
  /* Names follow their axis; symbols and annotations belong to genes, which are now rows: drop
   * them. */
  char **old_rows = matrix->row_names;
  matrix->row_names = matrix->col_names;
  matrix->col_names = old_rows;
  cli_free_strings(matrix->col_symbols, n_cols);
  matrix->col_symbols = NULL;
  matrix->n_cols = n_cols;
  cli_matrix_free_annotations(matrix);
  matrix->n_cols = n_rows;
  return 0;
}

typedef struct column_position {
  int64_t column;
  int64_t position;
} column_position;

static int compare_columns(const void *left, const void *right) {
  const column_position *a = left, *b = right;
  if (a->column != b->column) return a->column < b->column ? -1 : 1;
  return a->position < b->position ? -1 : a->position > b->position;
}

int cli_sort_row_entries(cli_matrix *matrix) {
  size_t size = normot_value_size(matrix->value_type);
  int64_t longest = 0;
  for (int64_t r = 0; r < matrix->n_rows; r++) {
    int64_t length = matrix->indptr[r + 1] - matrix->indptr[r];
    if (length > longest) longest = length;
  }
  column_position *order = malloc((size_t)(longest > 0 ? longest : 1) * sizeof *order);
  char *scratch = malloc((size_t)(longest > 0 ? longest : 1) * size);
  if (order == NULL || scratch == NULL) {
    free(order);
    free(scratch);
    return 1;
  }
  char *values = matrix->values;
  for (int64_t r = 0; r < matrix->n_rows; r++) {
    int64_t begin = matrix->indptr[r], length = matrix->indptr[r + 1] - begin;
    int64_t *columns = matrix->indices + begin;
    int ascending = 1, descending = 1;
    for (int64_t i = 1; i < length; i++) {
      if (columns[i - 1] > columns[i]) ascending = 0;
      if (columns[i - 1] <= columns[i]) descending = 0;
    }
    if (ascending) continue;
    char *row_values = values + (size_t)begin * size;
    if (descending) { /* Cell Ranger's order: a reversal suffices */
      for (int64_t i = 0, j = length - 1; i < j; i++, j--) {
        int64_t column = columns[i];
        columns[i] = columns[j];
        columns[j] = column;
        memcpy(scratch, row_values + (size_t)i * size, size);
        memcpy(row_values + (size_t)i * size, row_values + (size_t)j * size, size);
        memcpy(row_values + (size_t)j * size, scratch, size);
      }
      continue;
    }
    for (int64_t i = 0; i < length; i++) order[i] = (column_position){columns[i], i};
    qsort(order, (size_t)length, sizeof *order, compare_columns);
    for (int64_t i = 0; i < length; i++)
      memcpy(scratch + (size_t)i * size, row_values + (size_t)order[i].position * size, size);
    memcpy(row_values, scratch, (size_t)length * size);
    for (int64_t i = 0; i < length; i++) columns[i] = order[i].column;
  }
  free(order);
  free(scratch);
  return 0;
}

static const char gene_expression[] = "Gene Expression";

/* Moves the strings of the kept columns (new_index >= 0) to their new places, frees the rest. */
static void keep_columns(char **strings, const int64_t *new_index, int64_t n_cols) {
  if (strings == NULL) return;
  for (int64_t c = 0; c < n_cols; c++) {
    if (new_index[c] < 0)
      free(strings[c]);
    else
      strings[new_index[c]] = strings[c];
  }
}

int cli_gene_expression_index(char *const *feature_types, int64_t n_cols, int64_t **new_index) {
  *new_index = NULL;
  if (feature_types == NULL) return 0;
  int64_t kept = 0, expression = 0;
  for (int64_t c = 0; c < n_cols; c++) expression += strcmp(feature_types[c], gene_expression) == 0;
  if (expression == 0 || expression == n_cols) return 0; /* nothing to separate */
  int64_t *index = malloc((size_t)n_cols * sizeof *index);
  if (index == NULL) return 1;
  for (int64_t c = 0; c < n_cols; c++)
    index[c] = strcmp(feature_types[c], gene_expression) == 0 ? kept++ : -1;
  *new_index = index;
  return 0;
}

void cli_keep_named_columns(cli_matrix *matrix, const int64_t *new_index) {
  int64_t n_cols = matrix->n_cols, kept = 0;
  for (int64_t c = 0; c < n_cols; c++) kept += new_index[c] >= 0;
  keep_columns(matrix->col_names, new_index, n_cols);
  keep_columns(matrix->col_symbols, new_index, n_cols);
  for (int k = 0; k < matrix->n_annotations; k++)
    keep_columns(matrix->annotations[k].values, new_index, n_cols);
  matrix->n_cols = kept;
}

char **cli_matrix_annotation(const cli_matrix *matrix, const char *name) {
  for (int k = 0; k < matrix->n_annotations; k++)
    if (strcmp(matrix->annotations[k].name, name) == 0) return matrix->annotations[k].values;
  return NULL;
}

int cli_keep_gene_expression(cli_matrix *matrix, char **feature_types) {
  int64_t *new_index = NULL;
  if (cli_gene_expression_index(feature_types, matrix->n_cols, &new_index) != 0) return 1;
  if (new_index == NULL) return 0;
  size_t size = normot_value_size(matrix->value_type);
  char *values = matrix->values;
  int64_t write = 0, row_start = 0;
  for (int64_t r = 0; r < matrix->n_rows; r++) {
    int64_t row_end = matrix->indptr[r + 1];
    for (int64_t i = row_start; i < row_end; i++) {
      int64_t column = new_index[matrix->indices[i]];
      if (column < 0) continue;
      matrix->indices[write] = column;
      memmove(values + (size_t)write * size, values + (size_t)i * size, size);
      write++;
    }
    row_start = row_end;
    matrix->indptr[r + 1] = write;
  }
  matrix->nnz = write;
  cli_keep_named_columns(matrix, new_index);
  free(new_index);
  return 0;
}
