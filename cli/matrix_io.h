/* In-memory count matrices for the CLI, and the readers/writers of every file format.
 * Every reader returns 0 on success, or non-zero with a one-line reason in `error`.
 * Every writer writes to a temporary name beside the target and renames it at the end, so that
 * a failed write leaves no output file (see atomic_file.h). */
#ifndef NORMOT_CLI_MATRIX_IO_H
#define NORMOT_CLI_MATRIX_IO_H

#include <stddef.h>
#include <stdint.h>

#include "normot/normot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A string annotation of every gene beyond its id and symbol (a 10x file's feature_types,
 * genome, ...), named as scanpy's readers name the var column. */
typedef struct cli_gene_annotation {
  char *name;
  char **values; /* n_cols */
} cli_gene_annotation;

/* An owning CSR matrix, rows = cells, columns = genes, 64-bit indices. */
typedef struct cli_matrix {
  int64_t n_rows;
  int64_t n_cols;
  int64_t nnz;
  int64_t *indptr;                  /* n_rows + 1 */
  int64_t *indices;                 /* nnz column indices */
  void *values;                     /* nnz values of value_type */
  normot_value_type value_type;     /* integer files: an integer type; real files: FLOAT64 */
  char **row_names;                 /* optional (NULL): n_rows cell barcodes / obs names */
  char **col_names;                 /* optional (NULL): n_cols gene ids / var names */
  char **col_symbols;               /* optional (NULL): n_cols gene symbols */
  cli_gene_annotation *annotations; /* optional: n_annotations more gene columns, in order */
  int n_annotations;
} cli_matrix;

void cli_matrix_free(cli_matrix *matrix);
/* Frees the gene annotations (cli_matrix_free does too) and sets their count to 0. */
void cli_matrix_free_annotations(cli_matrix *matrix);
/* Appends an annotation named `name`, taking ownership of `values` (n_cols strings) whether it
 * succeeds or not. Returns 0, or non-zero when out of memory. */
int cli_matrix_add_annotation(cli_matrix *matrix, const char *name, char **values);

/* What an input path holds, by the rules cli_read_matrix follows. */
typedef enum cli_input_kind {
  CLI_INPUT_10X_DIR,
  CLI_INPUT_10X_H5,
  CLI_INPUT_H5AD,
  CLI_INPUT_OTHER /* Matrix Market, or unreadable */
} cli_input_kind;
cli_input_kind cli_input_kind_of(const char *path);

/* Matrix Market coordinate (integer | real | pattern, general), plain or gzip (found by its magic
 * bytes, whatever the name), rows = cells (scipy.io.mmread); `transpose` for genes x cells files.
 * The result is what scipy's mmread(path).tocsr() holds: column indices sorted within each row,
 * duplicate entries summed, explicit zeros kept (tests/gen_cli_mtx_goldens.py checks this against
 * scipy). Comment and blank lines are accepted anywhere (scipy only before the size line). Values:
 * integer files give INT32 when every (summed) value fits, else INT64; pattern files INT32 ones;
 * real files FLOAT64. Refuses, with a one-line reason, anything malformed: header, sizes (negative,
 * overflowing, more entries than the file can hold, more memory than is available (what reading
 * and normalizing take, see memory_budget.h), checked
 * before allocating), indices out of range, non-numeric or non-finite values, too few or too many
 * entries, bad gzip data. */
int cli_read_mtx(const char *path, int transpose, cli_matrix *out, char *error, size_t error_size);
/* Writes values of `value_type` (FLOAT32: 9 significant digits, FLOAT64: 17; round-trip). */
int cli_write_mtx(const char *path, const cli_matrix *matrix, char *error, size_t error_size);

/* Reads any supported input by its name: a directory (10x), .h5 (10x), .h5ad, .mtx[.gz]; a file
 * with another name is sniffed (Matrix Market text or gzip: read as .mtx). `transpose` swaps rows
 * and columns after reading (for .mtx: genes x cells files; 10x inputs are already cells x
 * genes). */
int cli_read_matrix(const char *path, int transpose, cli_matrix *out, char *error,
                    size_t error_size);
/* Writes by extension: .mtx, or .h5ad laid out as `h5ad` says (hdf5_io.h; NULL: defaults). */
struct cli_h5ad_output;
int cli_write_matrix(const char *path, const cli_matrix *matrix, const struct cli_h5ad_output *h5ad,
                     char *error, size_t error_size);

/* Threads the Matrix Market writer formats with (the CLI's --threads); 0: OpenMP's default. More
 * threads than processors are not started. */
void cli_set_io_threads(int threads);
/* The bytes of formatting buffers cli_write_mtx takes with the current thread setting: at most
 * 128 MiB, whatever the thread count. */
size_t cli_mtx_format_buffer_bytes(void);

/* 0 if `path` names an output format this build writes (.mtx, .mtx.gz, .h5ad with HDF5), else
 * non-zero with the reason: lets a command refuse before doing any work. */
int cli_check_output_path(const char *path, char *error, size_t error_size);

/* Transposes `matrix` in place (rows become columns; indices stay sorted; row and column names
 * swap; gene symbols are dropped). Returns 0, or non-zero (out of memory; matrix unchanged). */
int cli_transpose_matrix(cli_matrix *matrix, char *error, size_t error_size);

#ifdef __cplusplus
}
#endif

#endif
