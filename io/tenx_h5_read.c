/* Cell Ranger's 10x .h5 (v3 and the legacy v2 layout), read as a cells x genes CSR matrix
 * (the file is CSC genes x cells). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hdf5_internal.h"

/* The legacy layout has one group per genome; the first (by name) that holds a matrix is read. */
typedef struct genome_search {
  char name[256];
  int found;
} genome_search;

static herr_t find_genome_group(hid_t group, const char *name, const H5L_info_t *info, void *data) {
  (void)info;
  genome_search *search = data;
  char data_path[300];
  snprintf(data_path, sizeof data_path, "%s/data", name);
  if (cli_h5_link_exists(group, name) && cli_h5_link_exists(group, data_path)) {
    snprintf(search->name, sizeof search->name, "%s", name);
    search->found = 1;
    return 1; /* stop iterating */
  }
  return 0;
}

/* The names, in name order, of the string datasets of `features/` that scanpy's reader turns
 * into var columns of their own (all but the id, name and type it handles itself). */
typedef struct feature_columns {
  char names[32][64];
  int count;
  int overflow; /* more datasets, or longer names, than fit */
} feature_columns;

static herr_t collect_feature_column(hid_t group, const char *name, const H5L_info_t *info,
                                     void *data) {
  (void)info;
  feature_columns *columns = data;
  static const char *const handled[] = {"name", "feature_type", "id", "gene_id", "_all_tag_keys"};
  for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++)
    if (strcmp(name, handled[i]) == 0) return 0;
  if (cli_h5_object_kind(group, name) != H5I_DATASET) return 0;
  hid_t dataset = H5Dopen2(group, name, H5P_DEFAULT);
  H5T_class_t type_class = dataset >= 0 ? cli_h5_dataset_class(dataset) : H5T_NO_CLASS;
  if (dataset >= 0) H5Dclose(dataset);
  if (type_class != H5T_STRING) return 0;
  if (columns->count == 32 || strlen(name) >= sizeof columns->names[0]) {
    columns->overflow = 1;
    return 1;
  }
  snprintf(columns->names[columns->count++], sizeof columns->names[0], "%s", name);
  return 0;
}

/* Reads one string dataset of `features/` as the annotation `column`. */
static int add_feature_annotation(const cli_h5_source *src, hid_t group, const char *dataset,
                                  const char *column, cli_matrix *out) {
  const char *path = src->path;
  char *error = src->error;
  size_t error_size = src->error_size;
  char qualified[128];
  char **values = NULL;
  snprintf(qualified, sizeof qualified, "features/%s", dataset);
  if (cli_h5_read_string_vector(src, group, qualified, out->n_cols, &values)) return 1;
  if (cli_matrix_add_annotation(out, column, values) != 0)
    return cli_io_fail(error, error_size, "'%s': out of memory reading '%s'", path, qualified);
  return 0;
}

/* The var columns scanpy.read_10x_h5 makes of a Cell Ranger 3+ features group, in its order:
 * probe_ids (probe matrices, whose gene ids are then features/gene_id), feature_types, then
 * every other string dataset (genome, ...) by name. */
static int read_feature_annotations(const cli_h5_source *src, hid_t group, cli_matrix *out) {
  const char *path = src->path;
  char *error = src->error;
  size_t error_size = src->error_size;
  if (cli_h5_link_exists(group, "features/gene_id")) {
    char **gene_ids = NULL;
    if (cli_h5_read_string_vector(src, group, "features/gene_id", out->n_cols, &gene_ids)) return 1;
    if (cli_matrix_add_annotation(out, "probe_ids", out->col_names) != 0) {
      out->col_names = gene_ids;
      return cli_io_fail(error, error_size, "'%s': out of memory reading the probe ids", path);
    }
    out->col_names = gene_ids;
  }
  if (add_feature_annotation(src, group, "feature_type", "feature_types", out)) return 1;
  feature_columns columns = {.count = 0, .overflow = 0};
  hid_t features = H5Gopen2(group, "features", H5P_DEFAULT);
  if (features < 0) return cli_io_fail(error, error_size, "'%s': no features group", path);
  hsize_t position = 0;
  H5Literate(features, H5_INDEX_NAME, H5_ITER_INC, &position, collect_feature_column, &columns);
  H5Gclose(features);
  if (columns.overflow)
    return cli_io_fail(error, error_size,
                       "'%s': features/ has more than 32 string datasets, or a name of more than "
                       "63 bytes",
                       path);
  for (int k = 0; k < columns.count; k++)
    if (add_feature_annotation(src, group, columns.names[k], columns.names[k], out)) return 1;
  return 0;
}

/* Where a 10x .h5 keeps its matrix: the group and the names of its gene datasets. */
typedef struct tenx_layout {
  char group[256];
  const char *ids, *names; /* within the group */
  int has_features;        /* Cell Ranger 3 and later: features/ with more annotations */
} tenx_layout;

static int find_layout(const cli_h5_source *src, hid_t file, tenx_layout *layout) {
  if (cli_h5_link_exists(file, "matrix")) { /* Cell Ranger 3 and later */
    snprintf(layout->group, sizeof layout->group, "matrix");
    layout->ids = "features/id";
    layout->names = "features/name";
    layout->has_features = 1;
    return 0;
  }
  /* Cell Ranger 2: /<genome>/{genes,gene_names} */
  genome_search search = {{0}, 0};
  hsize_t position = 0;
  H5Literate(file, H5_INDEX_NAME, H5_ITER_INC, &position, find_genome_group, &search);
  if (!search.found)
    return cli_io_fail(src->error, src->error_size,
                       "'%s' is not a 10x .h5 matrix: no /matrix group and no genome group with "
                       "data",
                       src->path);
  snprintf(layout->group, sizeof layout->group, "%s", search.name);
  layout->ids = "genes";
  layout->names = "gene_names";
  layout->has_features = 0;
  return 0;
}

/* The shape (genes x cells) from the group's `shape` dataset. */
static int read_tenx_shape(const cli_h5_source *src, hid_t group, int64_t *n_genes,
                           int64_t *n_cells) {
  int64_t *shape = NULL;
  if (cli_h5_read_int64_vector(src, group, "shape", 2, &shape, NULL)) return 1;
  *n_genes = shape[0];
  *n_cells = shape[1];
  free(shape);
  /* The bound keeps n + 1 and the allocations below from overflowing on a lying file. */
  if (*n_genes < 0 || *n_cells < 0 || *n_genes > CLI_H5_MAX_DIMENSION ||
      *n_cells > CLI_H5_MAX_DIMENSION)
    return cli_io_fail(src->error, src->error_size, "'%s': impossible shape (%lld, %lld)",
                       src->path, (long long)*n_genes, (long long)*n_cells);
  return 0;
}

/* The barcodes, gene ids and gene names of `group` (n_rows cells, n_cols genes in `out`). */
static int read_tenx_names(const cli_h5_source *src, hid_t group, const tenx_layout *layout,
                           cli_matrix *out) {
  return cli_h5_read_string_vector(src, group, "barcodes", out->n_rows, &out->row_names) ||
         cli_h5_read_string_vector(src, group, layout->ids, out->n_cols, &out->col_names) ||
         (cli_h5_link_exists(group, layout->names) &&
          cli_h5_read_string_vector(src, group, layout->names, out->n_cols, &out->col_symbols));
}

/* The matrix of `group` as CSR cells x genes into `out` (stored as CSC genes x cells: indptr
 * runs over cells, indices are genes, which is exactly that), with the barcodes, gene ids and
 * gene names. On failure `out` holds what was read so far (the caller frees it). */
static int read_tenx_matrix(const cli_h5_source *src, hid_t group, const tenx_layout *layout,
                            cli_matrix *out) {
  if (read_tenx_shape(src, group, &out->n_cols, &out->n_rows)) return 1;
  const int64_t n_genes = out->n_cols, n_cells = out->n_rows;
  if (cli_h5_read_int64_vector(src, group, "indptr", n_cells + 1, &out->indptr, NULL)) return 1;
  const int64_t nnz = out->nnz = out->indptr[n_cells];
  if (nnz < 0)
    return cli_io_fail(src->error, src->error_size, "'%s': indptr ends at a negative offset",
                       src->path);
  return cli_h5_read_int64_vector(src, group, "indices", nnz, &out->indices, NULL) ||
         cli_h5_read_value_vector(src, group, "data", nnz, &out->values, &out->value_type) ||
         cli_h5_check_indptr(src, "indptr", out->indptr, n_cells, nnz) ||
         cli_h5_check_indices(src, "indices", out->indices, nnz, n_genes) ||
         read_tenx_names(src, group, layout, out);
}

/* The group of `file` that holds the matrix, opened, or -1 after saying why. */
static hid_t open_tenx_group(const cli_h5_source *src, hid_t file, tenx_layout *layout) {
  if (find_layout(src, file, layout) != 0) return -1;
  hid_t group = H5Gopen2(file, layout->group, H5P_DEFAULT);
  if (group < 0)
    cli_io_fail(src->error, src->error_size, "'%s': '/%s' is not a group", src->path,
                layout->group);
  return group;
}

hid_t cli_tenx_h5_open_matrix(const cli_h5_source *src, hid_t file, cli_matrix *names) {
  memset(names, 0, sizeof *names);
  tenx_layout layout;
  hid_t group = open_tenx_group(src, file, &layout);
  if (group < 0) return -1;
  int status = read_tenx_shape(src, group, &names->n_cols, &names->n_rows) ||
               read_tenx_names(src, group, &layout, names) ||
               (layout.has_features && read_feature_annotations(src, group, names) != 0);
  if (status == 0) return group;
  cli_matrix_free(names);
  H5Gclose(group);
  return -1;
}

int cli_read_10x_h5(const char *path, cli_matrix *out, char *error, size_t error_size) {
  const cli_h5_source source = {path, error, error_size}, *src = &source;
  cli_h5_setup();
  memset(out, 0, sizeof *out);
  hid_t file = cli_h5_open_input(path, error, error_size);
  if (file < 0) return 1;
  tenx_layout layout;
  hid_t group = open_tenx_group(src, file, &layout);
  int status = group < 0;
  /* Each cell's entries stay in the file's order, as scanpy's reader keeps them. */
  if (status == 0)
    status = read_tenx_matrix(src, group, &layout, out) != 0 ||
             (layout.has_features && read_feature_annotations(src, group, out) != 0);
  if (status == 0 &&
      cli_keep_gene_expression(out, cli_matrix_annotation(out, "feature_types")) != 0) {
    cli_io_fail(error, error_size, "'%s': out of memory selecting the gene expression features",
                path);
    status = 1;
  }
  if (status != 0) cli_matrix_free(out);
  if (group >= 0) H5Gclose(group);
  H5Fclose(file);
  return status;
}
