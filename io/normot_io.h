/* normot_io: the file formats around libnormot, for the `normot` tool, the tests and the
 * benchmarks. Readers turn a 10x directory, a 10x .h5, an AnnData .h5ad or a Matrix Market file
 * into one in-memory CSR matrix (cli_matrix) and .npy files into arrays (cli_array); writers do the
 * reverse.
 *
 * How they fail: every reader and writer returns 0 on success, or non-zero with a one-line reason
 * in the caller's `error` buffer (cli_io_fail formats it), and then leaves its output empty (a
 * reader's `out` zeroed, a writer's path absent). Readers check every size a file declares
 * against the bytes the file can hold and the memory available before allocating, so a small
 * file that lies about its sizes is refused rather than allocated. Writers write to a temporary
 * name beside the target and rename it at the end (atomic output, below). */
#ifndef NORMOT_IO_H
#define NORMOT_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "normot/normot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- failures and names ---------------------------------------------------------------------- */

/* Formats the reason into error (when error is not NULL and error_size > 0). Returns -1, so
 * that a reader can `return cli_io_fail(error, error_size, "...", ...);`. */
int cli_io_fail(char *error, size_t error_size, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* 1 if text ends with suffix, byte for byte (case-sensitive), else 0. */
int cli_ends_with(const char *text, const char *suffix);
/* The same, ASCII letters compared without case (".H5AD" ends with ".h5ad"). */
int cli_ends_with_ignoring_case(const char *text, const char *suffix);

/* ---- the in-memory matrix -------------------------------------------------------------------- */

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
 * and normalizing take, see cli_memory_available), checked
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
/* Writes by extension: .mtx, or .h5ad laid out as `h5ad` says (cli_h5ad_output below; NULL:
 * defaults). */
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

/* ---- 10x directory --------------------------------------------------------------------------- */

/* Cell Ranger's 10x matrix directory: matrix.mtx[.gz] (genes x cells) with features.tsv[.gz]
 * (v3) or genes.tsv (v2) and barcodes.tsv[.gz]. Read as a cells x genes CSR matrix. */

/* 1 if `name` is one of the files a 10x directory is read from (matrix.mtx.gz, features.tsv,
 * barcodes.tsv.gz, ...), else 0. */
int cli_is_10x_file_name(const char *name);

/* 1 if `dir` is a directory holding a matrix.mtx or matrix.mtx.gz, else 0. */
int cli_is_10x_dir(const char *dir);

/* Reads the directory into `out` (cells x genes): row_names = barcodes, col_names = gene ids,
 * col_symbols = gene names; only "Gene Expression" features when several types are listed (see
 * cli_keep_gene_expression). Returns 0, or non-zero with a one-line reason in `error` (and `out`
 * left empty). */
int cli_read_10x_dir(const char *dir, cli_matrix *out, char *error, size_t error_size);

/* Puts each row's entries in ascending column order (scipy's canonical order), values moved with
 * their indices. Cell Ranger writes them descending; the order changes no integer result but
 * makes two readings of one dataset compare equal. Returns 0, or non-zero when out of memory
 * (the matrix is then unchanged). */
int cli_sort_row_entries(cli_matrix *matrix);

/* Keeps only the columns whose feature type is "Gene Expression" when the file lists several
 * types (Antibody Capture, CRISPR Guide Capture, ...), as scanpy's read_10x_* do by default
 * (gex_only=True); the names follow their columns. No type of "Gene Expression" at all, or
 * feature_types NULL: the matrix is left whole. Returns 0, or non-zero when out of memory
 * (matrix unchanged). */
int cli_keep_gene_expression(cli_matrix *matrix, char **feature_types);

/* The rule of cli_keep_gene_expression in pieces, for a matrix read a block at a time: in
 * *new_index (allocated, n_cols entries) each column's index among the kept ones, -1 for a
 * dropped one; NULL when nothing is dropped. Returns 0, or non-zero when out of memory. */
int cli_gene_expression_index(char *const *feature_types, int64_t n_cols, int64_t **new_index);
/* Keeps the names and annotations of the columns with new_index >= 0 (n_cols shrinks). */
void cli_keep_named_columns(cli_matrix *matrix, const int64_t *new_index);
/* The values of the annotation called `name`, or NULL. */
char **cli_matrix_annotation(const cli_matrix *matrix, const char *name);

/* ---- HDF5: 10x .h5 and AnnData .h5ad --------------------------------------------------------- */

/* Built with the HDF5 C library when NORMOT_HAVE_HDF5 is defined; without it (hdf5_absent.c) every
 * function here returns non-zero with a message saying that HDF5 support is not compiled in. */

/* 1 if this build can read and write HDF5 files, else 0. */
int cli_hdf5_available(void);

/* Both readers check every size a file declares before reading or allocating (dimensions,
 * stored bytes against declared ones, the memory available), so that a small
 * file declaring huge datasets is refused with one line.
 *
 * A 10x .h5 (v3: /matrix/{data,indices,indptr,shape,barcodes,features/{id,name}}; v2 legacy:
 * one group per genome with {data,indices,indptr,shape,barcodes,genes,gene_names}; the first
 * genome group is read). The file is CSC genes x cells, which is read as CSR cells x genes.
 * Like the 10x directory reader, keeps only "Gene Expression" features when several types are
 * listed (features/feature_type), as scanpy.read_10x_h5 does by default.
 * Returns 0, or non-zero with a one-line reason in `error` (and `out` left empty). */
int cli_read_10x_h5(const char *path, cli_matrix *out, char *error, size_t error_size);

/* An AnnData .h5ad: X as csr_matrix, csc_matrix or a dense 2-D dataset; obs names become
 * row_names, var names col_names (and var's gene_symbols / gene_ids column col_symbols when
 * present). Returns 0, or non-zero with a one-line reason in `error`. */
int cli_read_h5ad(const char *path, cli_matrix *out, char *error, size_t error_size);

/* Which gene names index var (scanpy's read_10x_mtx var_names=). */
typedef enum cli_var_index {
  CLI_VAR_INDEX_SYMBOLS, /* the symbols; the ids go to a "gene_ids" column */
  CLI_VAR_INDEX_IDS      /* the ids; the symbols go to a "gene_symbols" column */
} cli_var_index;

/* What an .h5ad output holds besides X. All zero: var indexed by the gene symbols (or the ids when
 * there are none), no obs column, an empty uns. */
typedef struct cli_h5ad_output {
  const void *size_factors; /* NULL, or n_rows values of the matrix's (float) type ... */
  const char *key_added;    /* ... written as the obs column of this name */
  cli_var_index var_index;
  int log1p;               /* uns["log1p"] = {"base": None}, as sc.pp.log1p records */
  const char *source_h5ad; /* an .h5ad input: every element but X is copied from it unchanged,
                            * and X is written in its layout (CSR, CSC or dense) */
  const struct cli_values_source
      *values_source; /* NULL, or where X's values come from instead of the matrix, a block at
                       * a time: with source_h5ad, in its X's layout; without, as a CSR X whose
                       * indptr is the matrix's and whose indices come with the blocks */
} cli_h5ad_output;

/* A block of X's normalized values for the writer (normot normalize's streaming run). */
typedef struct cli_values_block {
  int64_t first; /* sparse X: where the block's first value goes in X/data; dense X: its row */
  int64_t n_rows, nnz;
  const int64_t *indptr;  /* dense X: the block's rows as CSR, n_rows + 1 offsets from 0 ... */
  const int64_t *indices; /* ... and column indices (every other value is 0); a built CSR X:
                           * the block's nnz column indices */
  const void *values;     /* nnz values of the matrix's type, in the order of the input file */
} cli_values_block;

/* X's values produced a block at a time, in the order of the input's X (entries of its data,
 * or rows of a dense X). With it, cli_write_h5ad reads of the matrix only its sizes and value
 * type (and indptr without source_h5ad), and the file is the one the whole matrix gives. */
typedef struct cli_values_source {
  /* Fills the next block and returns 1; returns 0 after the last one, -1 on failure (the
   * source keeps its own message; the write then fails). */
  int (*next)(void *state, cli_values_block *block);
  void *state;
} cli_values_source;

/* Writes `matrix` as the .h5ad that scanpy's write_h5ad would write after reading the input and
 * normalizing it (see docs/formats.md); `output` NULL means all defaults. Written to a temporary
 * name and renamed: a failure leaves no file at `path`. Returns 0, or non-zero with a reason that
 * names `path` (never the temporary name) and the cause: the system's (errno), out of memory, or
 * HDF5's error class. */
int cli_write_h5ad(const char *path, const cli_matrix *matrix, const cli_h5ad_output *output,
                   char *error, size_t error_size);

/* ---- an .h5ad's X in blocks (h5ad_stream.c) -------------------------------------------------- */

/* `normot normalize` on an .h5ad larger than memory reads X a block at a time, with the checks
 * and messages of cli_read_h5ad: rows of a csr_matrix or of a dense X (given as CSR without its
 * zeros, as cli_read_h5ad keeps it), columns of a csc_matrix. A 10x .h5 is read likewise, by
 * cells, as cli_read_10x_h5 gives it: CSR without the features other than gene expression. */
typedef struct cli_x_layout {
  normot_layout layout; /* as stored: CSR, CSC or DENSE */
  int64_t n_rows, n_cols;
  int64_t nnz; /* stored entries of a sparse X; 0 for a dense one */
  normot_value_type value_type;
  int64_t n_blocks;          /* once planned */
  int64_t max_block_entries; /* once planned: the most values a block holds */
} cli_x_layout;

typedef struct cli_x_stream_request {
  const char *path;       /* kept by pointer until the stream is closed */
  int float_type;         /* -1, or the float type float values are converted to as they are read */
  cli_matrix *tenx_names; /* NULL for an .h5ad; for a 10x .h5, receives its names and gene
                           * annotations (no entries), as cli_read_10x_h5 gives them */
} cli_x_stream_request;

/* One block: X is a view (CSR rows or CSC columns, int64 indices) valid until the next read. */
typedef struct cli_x_block {
  normot_matrix X;
  int64_t first;       /* its first row (CSR, dense) or column (CSC) */
  int64_t first_entry; /* sparse X: where its first entry lies in X/data */
} cli_x_block;

typedef struct cli_x_stream cli_x_stream;

/* Opens X: its layout, shape and (sparse) indptr are read and checked. Returns 0, or non-zero
 * with a one-line reason in `error`. */
int cli_x_stream_open(const cli_x_stream_request *request, cli_x_stream **out, char *error,
                      size_t error_size);
const cli_x_layout *cli_x_stream_layout(const cli_x_stream *stream);
/* Cuts X into blocks of whole rows (columns for CSC) of at most max_entries values (a longer row
 * is a block alone) and allocates their buffers: values, int64 indices and, for a dense X, its
 * rows as stored. Returns 0, or non-zero with a one-line reason in `error`. */
int cli_x_stream_plan(cli_x_stream *stream, int64_t max_entries, char *error, size_t error_size);
/* Reads block `index` (0 <= index < n_blocks) and checks its indices. Returns 0, or non-zero
 * with a one-line reason in `error`. */
int cli_x_stream_read(cli_x_stream *stream, int64_t index, cli_x_block *block, char *error,
                      size_t error_size);
/* From now on, read a CSR X's blocks without their indices (skip non-zero) or with them (0, the
 * default): a pass that reads only the values and offsets (the totals, the scaling) then reads
 * half the data. The block's indices are not valid then, and not checked. */
void cli_x_stream_skip_indices(cli_x_stream *stream, int skip);
/* A sparse X's offsets (n_outer + 1). For a 10x .h5 whose other features are dropped, those of
 * the entries kept: complete once every block has been read, in order. The indices of such a
 * file are always read (skip_indices has no effect), as dropping entries needs them. */
const int64_t *cli_x_stream_offsets(const cli_x_stream *stream);
void cli_x_stream_close(cli_x_stream *stream);

/* ---- anndata's name rules (.h5ad) ------------------------------------------------------------ */

/* The rules the anndata package applies to names and string columns, for an .h5ad that reads
 * back as anndata would have written it: var_names_make_unique(), the duplicate-name check, and
 * the conversion of a string column with repeated values into a categorical whose categories
 * are in natural order ("gene2" before "gene10"). */

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

/* ---- NumPy .npy ----------------------------------------------------------------------------- */

/* NumPy .npy arrays (format 1.0/2.0/3.0, C order, little-endian float32/float64/int32/int64). */

enum { CLI_NPY_MAX_DIMS = 4 };

typedef struct cli_array {
  int ndim;
  int64_t shape[CLI_NPY_MAX_DIMS];
  normot_value_type type; /* FLOAT32, FLOAT64, INT32 or INT64 */
  void *data;             /* owning, C order */
} cli_array;

/* Total number of elements (product of the shape; 1 for ndim 0). */
int64_t cli_array_size(const cli_array *array);
void cli_array_free(cli_array *array);

/* Returns 0 on success, or non-zero with a one-line reason in `error` (truncated file, Fortran
 * order, big-endian or unsupported dtype, absurd shape, ...). */
int cli_npy_read(const char *path, cli_array *out, char *error, size_t error_size);
/* Writes atomically (temporary name, then rename). Format 1.0, data 64-byte aligned. */
int cli_npy_write(const char *path, const cli_array *array, char *error, size_t error_size);
/* Writes to exactly `temp_path`, created exclusively (an existing file is an error, never
 * overwritten); removes it again if the write fails. For commands that stage several outputs
 * under cli_atomic_temp_name() names and rename them all together at the end. Messages name
 * `final_path`, the file the user asked for, never the temporary name. */
int cli_npy_write_staged(const char *temp_path, const char *final_path, const cli_array *array,
                         char *error, size_t error_size);

/* ---- atomic output --------------------------------------------------------------------------- */

/* Output files that appear whole or not at all: write to "<path>.tmp.<pid>.<n>", then rename. */

typedef struct cli_atomic_file {
  FILE *stream;
  char *final_path;
  char *temp_path;
} cli_atomic_file;

/* Opens the temporary file for writing. Returns 0, or non-zero with errno set. */
int cli_atomic_open(cli_atomic_file *file, const char *final_path);
/* Flushes, closes and renames onto the final path. Returns 0 on success; on failure the
 * temporary file is removed. */
int cli_atomic_commit(cli_atomic_file *file);
/* Closes and removes the temporary file (after a failure). Safe to call twice. */
void cli_atomic_abort(cli_atomic_file *file);
/* For writers that need a path rather than a stream (HDF5), and for commands that stage several
 * outputs and rename them all at the end: the name to write (malloc'ed, "<final>.tmp.<pid>.<n>";
 * the caller frees it), renamed by cli_atomic_commit_path. Until it is committed or discarded
 * the name is registered, so that SIGINT/SIGTERM/SIGHUP remove the file. */
char *cli_atomic_temp_name(const char *final_path);
/* Renames temp_path onto final_path. Returns 0; on failure removes temp_path, returns -1 with
 * errno set. Does not free temp_path. */
int cli_atomic_commit_path(const char *temp_path, const char *final_path);
/* Removes the staged file temp_path (if it exists), forgets it and frees the name. NULL: no-op. */
void cli_atomic_discard_path(char *temp_path);

/* ---- memory budget --------------------------------------------------------------------------- */

/* How much memory a reader may still ask for, so that a file declaring sizes no machine here can
 * hold is refused with one line before anything is allocated (rather than killed by the kernel
 * or left swapping). */

/* Bytes this process can still take: the smaller of the memory the kernel reports available
 * (MemAvailable in /proc/meminfo, else the physical memory) and what the address-space and
 * data-segment limits (ulimit -v, ulimit -d) leave. */
uint64_t cli_memory_available(void);

/* 0 when `bytes` fit in cli_memory_available(); otherwise writes "needs 29.8 GiB, more than the
 * 7.9 GiB of memory available here" (MiB or KiB for smaller amounts) into `text` and returns 1. */
int cli_memory_shortfall(double bytes, char *text, size_t text_size);

/* ---- file identity --------------------------------------------------------------------------- */

/* Whether two paths name one file, by what the file system says rather than by their spelling
 * (./M.npy, M.npy, a hard link and a symbolic link to it are all the same file). */

/* 1 when `a` and `b` name the same file: the same device and inode when both exist; when neither
 * exists yet, the same directory (by device and inode) and the same last name. Else 0. */
int cli_same_file(const char *a, const char *b);

/* 1 when writing `output` would replace `input` or, for a 10x directory input, one of the files
 * it is read from. Else 0. */
int cli_output_replaces_input(const char *output, const char *input);

#ifdef __cplusplus
}
#endif

#endif
