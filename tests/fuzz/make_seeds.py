#!/usr/bin/env python3
"""Writes the committed seed corpora of the fuzz targets: tests/fuzz/corpus/<target>/.

A few tiny valid inputs per target (and one or two near misses), so that a short run starts
from every format's main paths. The .h5 / .h5ad seeds are written with h5py in the layouts the
readers accept (Cell Ranger v3 and v2; AnnData csr, csc and dense X), each well under 20 KB.
The API seeds follow the byte layouts that fuzz_normalize.c and fuzz_emd.c decode, the
*_layout seeds the steps of fuzz_hdf5_builder.c (the name lists mirror the targets' own).

Usage: python3 tests/fuzz/make_seeds.py   (needs numpy and h5py; rewrites the corpora)
"""
import gzip
import io
import os
import shutil
import struct

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as out:
        out.write(data if isinstance(data, bytes) else data.encode())


MTX_INTEGER = "%%MatrixMarket matrix coordinate integer general\n% cells x genes\n3 4 5\n1 1 3\n1 3 1\n2 2 7\n3 4 2\n3 1 1\n"
MTX_REAL = "%%MatrixMarket matrix coordinate real general\n2 3 3\n1 1 0.5\n2 3 1.25e2\n2 1 -3\n"
MTX_PATTERN = "%%MatrixMarket matrix coordinate pattern general\n2 2 2\n1 2\n2 1\n"
MTX_DUPLICATES = "%%MatrixMarket matrix coordinate integer general\n2 2 3\n1 1 1\n1 1 2\n2 2 0\n"
MTX_EMPTY = "%%MatrixMarket matrix coordinate integer general\n0 0 0\n"
MTX_SYMMETRIC = "%%MatrixMarket matrix coordinate integer symmetric\n2 2 1\n1 2 1\n"


def mtx_seeds():
    texts = {"integer.mtx": MTX_INTEGER, "real.mtx": MTX_REAL, "pattern.mtx": MTX_PATTERN,
             "duplicates.mtx": MTX_DUPLICATES, "empty.mtx": MTX_EMPTY,
             "symmetric.mtx": MTX_SYMMETRIC}
    for name, text in texts.items():
        write("fuzz_mtx", name, text)
        write("fuzz_mtx_gz", name, text)
    write("fuzz_mtx", "integer.mtx.gz", gzip.compress(MTX_INTEGER.encode(), mtime=0))


def npy_bytes(array, version=(1, 0)):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, version=version)
    return buffer.getvalue()


def npy_seeds():
    write("fuzz_npy", "f4_2x3.npy", npy_bytes(np.arange(6, dtype="<f4").reshape(2, 3)))
    write("fuzz_npy", "f8_1d.npy", npy_bytes(np.array([0.5, -1.0, 3.0], dtype="<f8")))
    write("fuzz_npy", "i4_scalar.npy", npy_bytes(np.array(7, dtype="<i4")))
    write("fuzz_npy", "i8_3d_v2.npy", npy_bytes(np.ones((2, 1, 2), dtype="<i8"), (2, 0)))
    write("fuzz_npy", "f8_empty.npy", npy_bytes(np.zeros((0, 3), dtype="<f8")))


def tenx_dir_input(files):
    return "".join("==> %s <==\n%s" % (name, text) for name, text in files)


TENX_MATRIX = "%%MatrixMarket matrix coordinate integer general\n3 2 4\n1 1 5\n3 1 1\n2 2 2\n3 2 9\n"
TENX_FEATURES = "G1\tGene1\tGene Expression\nG2\tGene2\tGene Expression\nA1\tCD3\tAntibody Capture\n"
TENX_GENES_V2 = "G1\tGene1\nG2\tGene2\nG3\tGene3\n"
TENX_BARCODES = "AAAC-1\nAAAG-1\n"


def tenx_dir_seeds():
    write("fuzz_10x_dir", "v3", tenx_dir_input([("matrix.mtx", TENX_MATRIX),
                                                ("features.tsv", TENX_FEATURES),
                                                ("barcodes.tsv", TENX_BARCODES)]))
    write("fuzz_10x_dir", "v3_gz", tenx_dir_input([("matrix.mtx.gz", TENX_MATRIX),
                                                   ("features.tsv.gz", TENX_FEATURES),
                                                   ("barcodes.tsv.gz", TENX_BARCODES)]))
    write("fuzz_10x_dir", "v2", tenx_dir_input([("matrix.mtx", TENX_MATRIX),
                                                ("genes.tsv", TENX_GENES_V2),
                                                ("barcodes.tsv", TENX_BARCODES)]))
    write("fuzz_10x_dir", "missing_barcodes", tenx_dir_input([("matrix.mtx", TENX_MATRIX),
                                                              ("genes.tsv", TENX_GENES_V2)]))


def strings(values):
    return np.array([v.encode() for v in values], dtype=object)


def h5_file(build):
    """The bytes of a new HDF5 file filled by build(file), in the oldest compact layout."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w", libver="earliest") as f:
        build(f)
    return buffer.getvalue()


# One 3 genes x 2 cells count matrix, CSC (genes x cells) as Cell Ranger stores it.
TENX_DATA, TENX_INDICES, TENX_INDPTR = [5, 1, 2, 9], [0, 2, 1, 2], [0, 2, 4]


def tenx_v3(f):
    g = f.create_group("matrix")
    g["data"] = np.array(TENX_DATA, dtype=np.int32)
    g["indices"] = np.array(TENX_INDICES, dtype=np.int64)
    g["indptr"] = np.array(TENX_INDPTR, dtype=np.int64)
    g["shape"] = np.array([3, 2], dtype=np.int32)
    g["barcodes"] = strings(["AAAC-1", "AAAG-1"]).astype("S6")
    features = g.create_group("features")
    features["id"] = strings(["G1", "G2", "A1"]).astype("S2")
    features["name"] = strings(["Gene1", "Gene2", "CD3"]).astype("S5")
    features["feature_type"] = strings(["Gene Expression"] * 2 + ["Antibody Capture"]).astype("S16")


def tenx_v2(f):
    g = f.create_group("GRCh38")
    g["data"] = np.array(TENX_DATA, dtype=np.int32)
    g["indices"] = np.array(TENX_INDICES, dtype=np.int64)
    g["indptr"] = np.array(TENX_INDPTR, dtype=np.int64)
    g["shape"] = np.array([3, 2], dtype=np.int32)
    g["barcodes"] = strings(["AAAC-1", "AAAG-1"]).astype("S6")
    g["genes"] = strings(["G1", "G2", "G3"]).astype("S2")
    g["gene_names"] = strings(["Gene1", "Gene2", "Gene3"]).astype("S5")


def tenx_h5_seeds():
    write("fuzz_10x_h5", "v3.h5", h5_file(tenx_v3))
    write("fuzz_10x_h5", "v2.h5", h5_file(tenx_v2))


def dataframe(f, name, index):
    g = f.create_group(name)
    g.attrs["encoding-type"] = "dataframe"
    g.attrs["encoding-version"] = "0.2.0"
    g.attrs["_index"] = "_index"
    g.attrs["column-order"] = np.array([], dtype="S1")
    g.create_dataset("_index", data=index, dtype=h5py.string_dtype())
    return g


def h5ad_sparse(csr):
    dense = np.array([[1, 0, 2], [0, 0, 3]], dtype=np.float32)

    def build(f):
        x = f.create_group("X")
        x.attrs["encoding-type"] = "csr_matrix" if csr else "csc_matrix"
        x.attrs["encoding-version"] = "0.1.0"
        x.attrs["shape"] = np.array(dense.shape, dtype=np.int64)
        major = dense if csr else dense.T
        rows, cols = np.nonzero(major)
        x["data"] = major[rows, cols]
        x["indices"] = cols.astype(np.int32)
        x["indptr"] = np.searchsorted(rows, np.arange(major.shape[0] + 1)).astype(np.int32)
        dataframe(f, "obs", ["c1", "c2"])
        var = dataframe(f, "var", ["g1", "g2", "g3"])
        var.create_dataset("gene_ids", data=["E1", "E2", "E3"], dtype=h5py.string_dtype())
    return build


def h5ad_dense(f):
    x = f.create_dataset("X", data=np.array([[1, 0], [4, 5]], dtype=np.int64))
    x.attrs["encoding-type"] = "array"
    x.attrs["encoding-version"] = "0.2.0"
    dataframe(f, "obs", ["c1", "c2"])
    dataframe(f, "var", ["g1", "g2"])


def h5ad_seeds():
    write("fuzz_h5ad", "csr.h5ad", h5_file(h5ad_sparse(True)))
    write("fuzz_h5ad", "csc.h5ad", h5_file(h5ad_sparse(False)))
    write("fuzz_h5ad", "dense.h5ad", h5_file(h5ad_dense))


def number(value):
    """fuzz_bytes.c's tagged encoding of a small integer or a multiple of 1/16 below 6."""
    if value == int(value) and 0 <= value < 128:
        return bytes([int(value)])
    if value * 16 == int(value * 16) and 0 <= value < 6:
        return bytes([128 + int(value * 16)])
    return bytes([240]) + struct.pack("<d", value)


def normalize_call(layout, value_type, flags, n_rows, n_cols, structure, values, target_sum=0,
                   max_fraction=0.05, out_type=0, log_base=None):
    """The bytes fuzz_normalize.c decodes: layout, value type, index type (int32), flags,
    memory (host), threads (1), n_rows, n_cols, the sparse lengths + corruption (none) +
    indices or the dense leading-dimension code, the parameters, the values, the output type."""
    data = bytes([layout, value_type, 0, flags, 0, 1, n_rows, n_cols]) + structure
    data += number(target_sum) + bytes([240]) + struct.pack("<d", max_fraction * 16)
    if log_base is not None:
        data += number(log_base)
    return data + b"".join(number(v) for v in values) + bytes([out_type])


def csr_structure(rows, n_cols):
    lengths = bytes(len(r) for r in rows)
    indices = bytes(c for r in rows for c, _ in r) + bytes([0])
    return lengths + bytes([4]) + indices


def normalize_seeds():
    rows = [[(0, 3), (2, 1)], [], [(1, 7), (3, 2)]]
    values = [v for r in rows for _, v in r] + [0]
    all_outputs = 0b01100000
    write("fuzz_normalize", "csr_median",
          normalize_call(0, 0, all_outputs, 3, 4, csr_structure(rows, 4), values))
    write("fuzz_normalize", "csr_int_target_log1p",
          normalize_call(0, 2, all_outputs | 0b1010, 3, 4, csr_structure(rows, 4), values,
                         target_sum=100, out_type=1))
    write("fuzz_normalize", "csr_exclude_in_place",
          normalize_call(0, 0, all_outputs | 0b101, 3, 4, csr_structure(rows, 4), values,
                         max_fraction=0.5))
    columns = [[(0, 3)], [(2, 7)], [(0, 1)], [(2, 2), (1, 1)]]
    write("fuzz_normalize", "csc_float64",
          normalize_call(1, 1, all_outputs | 0b100, 3, 4, csr_structure(columns, 3),
                         [v for c in columns for _, v in c] + [0], out_type=1, max_fraction=0.3))
    dense = [1, 0, 2, 9, 0, 0, 0, 0, 4, 5, 6, 9]  # 3 x 3 with ld 4 (the 9s are padding)
    write("fuzz_normalize", "dense_ld_log_base",
          normalize_call(2, 0, all_outputs | 0b10001000, 3, 3, bytes([1]), dense, log_base=2))


def emd_call(k, n, m, value_type, flags, solver, metric, dim, arrays, wanted=0x7F, max_iter=0):
    """The bytes fuzz_emd.c decodes: k, n, m, value type, flags, solver/metric/dim, outputs,
    max_iter code, marginal tolerance (1e-6), threads (1), then a, b, the costs or x and y."""
    data = bytes([k, n - 1, m - 1, value_type, flags, solver | metric << 3 | dim << 5, wanted,
                  max_iter, 0, 1])
    return data + b"".join(number(v) for values in arrays for v in values)


def emd_seeds():
    square = [1, 5, 3, 2, 0, 4, 6, 1, 2]
    write("fuzz_emd", "uniform_square_auto", emd_call(1, 3, 3, 1, 0, 0, 0, 0, [square]))
    write("fuzz_emd", "uniform_square_assignment", emd_call(2, 3, 3, 1, 0x20, 2, 0, 0, [square]))
    write("fuzz_emd", "weighted_simplex",
          emd_call(1, 3, 2, 1, 0b101, 1, 0, 0, [[1, 2, 3], [3, 3], [1, 2, 0.5, 4, 3, 1]]))
    write("fuzz_emd", "weighted_auction_float32",
          emd_call(2, 2, 3, 0, 0b1111, 3, 0, 0, [[2, 1], [1, 1, 1], [4, 1, 0, 2, 2, 5] * 2]))
    write("fuzz_emd", "point_cloud_euclidean",
          emd_call(1, 3, 3, 1, 0b10000, 0, 1, 2, [[0, 0, 1, 0, 0, 1], [2, 2, 0, 3, 1, 1]]))
    write("fuzz_emd", "unbalanced_rescaled_max_iter",
          emd_call(1, 2, 2, 1, 0b1000101, 1, 0, 0, [[1, 1], [1, 3], [0, 1, 1, 0]], max_iter=129))
    # Side codes 248 and 249 (n - 1 here) are 1030 points each (LARGE_SIDE in fuzz_emd.c):
    # MULTISCALE's coarse-to-fine hierarchy; coordinates past these follow the harness's spread.
    write("fuzz_emd", "large_clouds_multiscale_hierarchy",
          emd_call(1, 249, 250, 1, 0b10000, 4, 1, 2, [[0.5, 3, 1, 1, 7, 2]]))


class H5Program:
    """fuzz_hdf5_builder.c's steps; names and strings are indices into the target's lists."""

    def __init__(self, names, values):
        self.names, self.values, self.code = names, values, bytearray()

    def group(self, name):
        self.code += bytes([0, self.names.index(name)])
        return self

    def up(self):
        self.code += bytes([1])
        return self

    def numbers(self, name, type_code, extents, values):
        self.code += bytes([2, self.names.index(name), type_code, len(extents)] + list(extents))
        self.code += b"".join(number(v) for v in values)
        return self

    def strings(self, name, texts, kind=0):
        self.code += bytes([3, self.names.index(name), kind, len(texts)])
        self.code += bytes(self.values.index(t) for t in texts)
        return self

    def text_attribute(self, name, value, kind=0):
        self.code += bytes([4, self.names.index(name), kind, self.values.index(value)])
        return self

    def number_attribute(self, name, type_code, values):
        self.code += bytes([5, self.names.index(name), type_code, len(values)])
        self.code += b"".join(number(v) for v in values)
        return self


INT32, INT64, FLOAT32, FLOAT64 = 0, 1, 2, 3

H5AD_NAMES = ["X", "obs", "var", "data", "indices", "indptr", "_index", "gene_ids",
              "gene_symbols", "categories", "codes", "shape", "encoding-type",
              "encoding-version", "h5sparse_format", "column-order", "obs_names", "var_names",
              "layers"]
H5AD_VALUES = ["csr_matrix", "csc_matrix", "array", "dataframe", "categorical", "string-array",
               "csr", "csc", "_index", "gene_ids", "gene_symbols", "0.1.0", "0.2.0", "cell1",
               "GENE", "", "coo_matrix"]


def h5ad_frames(program, n_obs, n_var):
    for frame, count in (("obs", n_obs), ("var", n_var)):
        program.group(frame).text_attribute("_index", "_index")
        program.text_attribute("encoding-type", "dataframe")
        program.strings("_index", (["cell1", "GENE", ""] * 3)[:count]).up()
    return program


def h5ad_layout_seeds():
    def program():
        return H5Program(H5AD_NAMES, H5AD_VALUES)
    csr = program().group("X").text_attribute("encoding-type", "csr_matrix")
    csr.text_attribute("encoding-version", "0.1.0").number_attribute("shape", INT64, [2, 3])
    csr.numbers("data", FLOAT32, [3], [1, 2, 3]).numbers("indices", INT32, [3], [0, 2, 2])
    csr.numbers("indptr", INT32, [3], [0, 2, 3]).up()
    write("fuzz_h5ad_layout", "csr", bytes(h5ad_frames(csr, 2, 3).code))
    csc = program().group("X").text_attribute("encoding-type", "csc_matrix")
    csc.number_attribute("shape", INT64, [2, 2]).numbers("data", INT64, [2], [4, 5])
    csc.numbers("indices", INT64, [2], [1, 0]).numbers("indptr", INT64, [3], [0, 1, 2]).up()
    categorical = h5ad_frames(csc, 2, 2).group("var").group("gene_ids")
    categorical.text_attribute("encoding-type", "categorical")
    categorical.strings("categories", ["GENE", "cell1"]).numbers("codes", 6, [2], [1, 0])
    write("fuzz_h5ad_layout", "csc_categorical", bytes(categorical.up().up().code))
    dense = program().numbers("X", FLOAT64, [2, 3], [1, 0, 2, 0, 0, 3])
    dense.text_attribute("encoding-type", "array")
    write("fuzz_h5ad_layout", "dense", bytes(h5ad_frames(dense, 2, 3).code))


TENX_NAMES = ["matrix", "GRCh38", "data", "indices", "indptr", "shape", "barcodes", "features",
              "id", "name", "feature_type", "genes", "gene_names", "genome", "mm10"]
TENX_VALUES = ["Gene Expression", "Antibody Capture", "CRISPR Guide Capture", "AAAC-1",
               "AAAG-1", "ENSG0001", "GENE1", "", "GRCh38"]


def tenx_counts(program):
    program.numbers("data", INT32, [4], TENX_DATA).numbers("indices", INT64, [4], TENX_INDICES)
    program.numbers("indptr", INT64, [3], TENX_INDPTR).numbers("shape", INT32, [2], [3, 2])
    return program.strings("barcodes", ["AAAC-1", "AAAG-1"], kind=6)


def tenx_h5_layout_seeds():
    v3 = tenx_counts(H5Program(TENX_NAMES, TENX_VALUES).group("matrix")).group("features")
    v3.strings("id", ["ENSG0001", "GENE1", "GRCh38"]).strings("name", ["GENE1", "GENE1", ""])
    v3.strings("feature_type", ["Gene Expression"] * 2 + ["Antibody Capture"]).up().up()
    write("fuzz_10x_h5_layout", "v3", bytes(v3.code))
    v2 = tenx_counts(H5Program(TENX_NAMES, TENX_VALUES).group("GRCh38"))
    v2.strings("genes", ["ENSG0001", "GENE1", "GRCh38"], kind=8)
    v2.strings("gene_names", ["GENE1", "", "GENE1"]).up()
    write("fuzz_10x_h5_layout", "v2", bytes(v2.code))


def main():
    shutil.rmtree(CORPUS, ignore_errors=True)
    for make in (mtx_seeds, npy_seeds, tenx_dir_seeds, tenx_h5_seeds, h5ad_seeds,
                 tenx_h5_layout_seeds, h5ad_layout_seeds, normalize_seeds, emd_seeds):
        make()


if __name__ == "__main__":
    main()
