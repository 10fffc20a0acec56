"""`normot normalize ... -o OUT.h5ad` against what scanpy writes for the same input.

Run by tests/test_io_h5_scanpy.cc with pytest (or by hand):
  NORMOT_CLI=build-cpu/cli/normot NORMOT_SHARED_DATA=../shared/data python3 -m pytest -q THIS
For each 10x input (a Cell Ranger 3 directory, its .h5, a legacy Cell Ranger 2 .h5) scanpy's
reader, normalize_total (and log1p) and write_h5ad make the reference file; normot's output must
read back (anndata.read_h5ad) with equal obs and var frames, uns, X's layout and entry order, and
X's values bitwise (log1p: within the one ulp by which numpy's log1p and the C library's may
differ). Small 10x files made here cover repeated gene symbols, several genomes and the natural
order of categories. An .h5ad input must come back with every element but X unchanged.
"""

import os
import subprocess
import warnings
from pathlib import Path

import anndata
import h5py
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.io
import scipy.sparse as sp

CLI = os.environ.get("NORMOT_CLI", "")
if not CLI or not os.access(CLI, os.X_OK):
    pytest.skip("NORMOT_CLI does not name the normot executable", allow_module_level=True)


def shared_10x():
    folder = Path(os.environ.get("NORMOT_SHARED_DATA", "")) / "10x"
    if not folder.is_dir():
        pytest.skip("../shared/data/10x is absent (set NORMOT_SHARED_DATA)")
    return folder


def run_normot(*args):
    """Runs `normot normalize ARGS --quiet`; returns its stderr (the run must succeed)."""
    done = subprocess.run([CLI, "normalize", *map(str, args), "--quiet"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stderr


def quietly(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


def scanpy_pipeline(adata, path, *, log1p, key_added):
    quietly(sc.pp.normalize_total, adata, key_added=key_added)
    if log1p:
        quietly(sc.pp.log1p, adata)
    quietly(adata.write_h5ad, path)
    return anndata.read_h5ad(path)


def assert_same_values(actual, expected, *, log1p):
    """Equal arrays of one float dtype: bitwise, or within 1 ulp after log1p."""
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    if not log1p:
        assert np.array_equal(actual.view(np.uint8), expected.view(np.uint8))
        return
    as_int = {4: np.int32, 8: np.int64}[actual.dtype.itemsize]
    ulps = np.abs(actual.view(as_int).astype(np.int64) - expected.view(as_int).astype(np.int64))
    assert ulps.max(initial=0) <= 1


def assert_same_x(ours, ref, *, log1p):
    assert type(ours.X) is type(ref.X)
    if sp.issparse(ref.X):
        assert ours.X.format == ref.X.format
        assert np.array_equal(ours.X.indptr, ref.X.indptr)
        assert np.array_equal(ours.X.indices, ref.X.indices)  # the reader's entry order
        assert_same_values(ours.X.data, ref.X.data, log1p=log1p)
    else:
        assert_same_values(np.asarray(ours.X), np.asarray(ref.X), log1p=log1p)


def assert_same_uns(ours, ref):
    assert ours.keys() == ref.keys()
    for key, value in ref.items():
        if isinstance(value, dict):
            assert_same_uns(ours[key], value)
        elif isinstance(value, np.ndarray):
            assert np.array_equal(ours[key], value)
        else:
            assert ours[key] == value


def column_encodings(path, frame):
    """Each column's encoding-type as stored (categorical, string-array, array) and dtype."""
    with h5py.File(path, "r") as f:
        group = f[frame]
        found = {}
        for name in group:
            item = group[name]
            codes = item["codes"].dtype.str if isinstance(item, h5py.Group) else item.dtype.str
            found[name] = (item.attrs["encoding-type"], codes)
        return found, list(group.attrs["column-order"])


def assert_same_file_as_scanpy(ours_path, ref_path, *, log1p):
    ours, ref = anndata.read_h5ad(ours_path), anndata.read_h5ad(ref_path)
    pd.testing.assert_frame_equal(ours.obs, ref.obs)
    pd.testing.assert_frame_equal(ours.var, ref.var)
    assert_same_uns(ours.uns, ref.uns)
    assert_same_x(ours, ref, log1p=log1p)
    for frame in ("obs", "var"):
        assert column_encodings(ours_path, frame) == column_encodings(ref_path, frame)


TENX_INPUTS = {
    "v3_directory": ("v3/filtered_feature_bc_matrix", sc.read_10x_mtx),
    "v3_h5": ("v3/filtered_feature_bc_matrix.h5", sc.read_10x_h5),
    "v2_h5": ("v2/filtered_gene_bc_matrices_h5.h5", sc.read_10x_h5),
}


@pytest.mark.parametrize("log1p", [False, True], ids=["normalize", "log1p"])
@pytest.mark.parametrize("name", TENX_INPUTS)
def test_10x_input_gives_scanpys_file(name, log1p, tmp_path):
    relative, reader = TENX_INPUTS[name]
    source = shared_10x() / relative
    ref = tmp_path / "scanpy.h5ad"
    scanpy_pipeline(quietly(reader, source), ref, log1p=log1p, key_added="n_factor")
    ours = tmp_path / "normot.h5ad"
    run_normot(source, "-o", ours, "--key-added", "n_factor", *(["--log1p"] if log1p else []))
    assert_same_file_as_scanpy(ours, ref, log1p=log1p)


def test_without_key_added_obs_has_no_column(tmp_path):
    source = shared_10x() / "v3/filtered_feature_bc_matrix.h5"
    ours = tmp_path / "normot.h5ad"
    run_normot(source, "-o", ours)
    adata = anndata.read_h5ad(ours)
    assert list(adata.obs.columns) == []
    assert adata.uns == {}
    assert adata.var_names[0] == "CH507-9B2.2"  # the symbol, not the Ensembl id
    assert adata[:, "CH507-9B2.2"].var["gene_ids"].iloc[0] == "ENSG00000279493"


def test_var_names_gene_ids_as_read_10x_mtx(tmp_path):
    source = shared_10x() / "v3/filtered_feature_bc_matrix"
    ref = tmp_path / "scanpy.h5ad"
    scanpy_pipeline(quietly(sc.read_10x_mtx, source, var_names="gene_ids"), ref, log1p=False,
                    key_added=None)
    ours = tmp_path / "normot.h5ad"
    run_normot(source, "-o", ours, "--var-names", "gene_ids")
    assert_same_file_as_scanpy(ours, ref, log1p=False)


# ---- small 10x files with repeated symbols and several genomes --------------------------------

SYMBOLS = ["A", "B", "A", "A-1", "C", "A", "B", "D", "A-2", "E", "C", "F"]
# Repeated, so that anndata stores the column as a categorical; natural order puts g2 before g10,
# a string that starts with a digit first, "a" before "a01" before "a1" before "a 1".
GENOMES = ["g10", "g2", "g10", "1x", "a1", "a01", "a 1", "a", "g2", "1x", "a1", "G1"]


def small_counts(n_cells=9):
    rng = np.random.default_rng(19)
    counts = rng.poisson(2.0, size=(n_cells, len(SYMBOLS))) * (rng.random((n_cells, len(SYMBOLS)))
                                                               < 0.6)
    counts[:, 0] += 1  # no empty cell
    return counts.astype(np.int32)


def write_small_h5(path, counts):
    """A Cell Ranger 3 .h5: CSC genes x cells, each cell's genes in descending order."""
    csc = sp.csr_matrix(counts.T).tocsc()
    n_genes, n_cells = counts.shape[1], counts.shape[0]
    with h5py.File(path, "w") as f:
        m = f.create_group("matrix")
        indptr, indices, data = [0], [], []
        for cell in range(n_cells):
            column = csc.getcol(cell).tocoo()
            order = np.argsort(-column.row)
            indices.extend(column.row[order])
            data.extend(column.data[order])
            indptr.append(len(indices))
        m["data"] = np.asarray(data, dtype=np.int32)
        m["indices"] = np.asarray(indices, dtype=np.int64)
        m["indptr"] = np.asarray(indptr, dtype=np.int64)
        m["shape"] = np.asarray([n_genes, n_cells], dtype=np.int32)
        m["barcodes"] = np.asarray([f"CELL{c}-1" for c in range(n_cells)], dtype="S")
        features = m.create_group("features")
        features["id"] = np.asarray([f"ENSG{g:04d}" for g in range(n_genes)], dtype="S")
        features["name"] = np.asarray(SYMBOLS, dtype="S")
        features["feature_type"] = np.asarray(["Gene Expression"] * n_genes, dtype="S")
        features["genome"] = np.asarray(GENOMES, dtype="S")
        features["_all_tag_keys"] = np.asarray([b"genome"])


def write_small_directory(folder, counts):
    import gzip

    folder.mkdir()
    with gzip.open(folder / "matrix.mtx.gz", "wb") as out:
        scipy.io.mmwrite(out, sp.coo_matrix(counts.T), field="integer")
    with gzip.open(folder / "features.tsv.gz", "wt") as out:
        for g, symbol in enumerate(SYMBOLS):
            out.write(f"ENSG{g:04d}\t{symbol}\tGene Expression\n")
    with gzip.open(folder / "barcodes.tsv.gz", "wt") as out:
        for c in range(counts.shape[0]):
            out.write(f"CELL{c}-1\n")


def compare_small_input(tmp_path, reader, writer, *normot_args, make_unique=False):
    """Writes the small input (`writer`), runs scanpy (`reader`, then var_names_make_unique when
    asked, normalize_total with key_added "sf", log1p) and normot on it, and compares the files.
    Returns normot's stderr and its output read back."""
    source = tmp_path / ("small.h5" if writer is write_small_h5 else "small")
    writer(source, small_counts())
    adata = quietly(reader, source)
    if make_unique:
        quietly(adata.var_names_make_unique)
    ref = tmp_path / "scanpy.h5ad"
    scanpy_pipeline(adata, ref, log1p=True, key_added="sf")
    ours = tmp_path / "normot.h5ad"
    stderr = run_normot(source, "-o", ours, "--log1p", "--key-added", "sf", *normot_args)
    assert_same_file_as_scanpy(ours, ref, log1p=True)
    return stderr, anndata.read_h5ad(ours)


def test_repeated_symbols_in_an_h5_are_kept_with_anndatas_warning(tmp_path):
    stderr, ours = compare_small_input(tmp_path, sc.read_10x_h5, write_small_h5)
    assert "Variable names are not unique. To make them unique, call " \
           "`.var_names_make_unique`" in stderr
    assert list(ours.var_names) == SYMBOLS
    # The genome column is a categorical whose categories are in anndata's (natural) order.
    assert list(ours.var["genome"].cat.categories) == \
           ["1x", "G1", "a", "a01", "a1", "a 1", "g2", "g10"]


def test_var_names_make_unique_as_anndata(tmp_path):
    stderr, ours = compare_small_input(tmp_path, sc.read_10x_h5, write_small_h5,
                                       "--var-names-make-unique", make_unique=True)
    assert "not unique" not in stderr
    # "A-1" and "A-2" are symbols already, so the repeats of "A" become "A-3" and "A-4" (and
    # anndata's warning about such suffixes is printed).
    assert list(ours.var_names[:6]) == ["A", "B", "A-3", "A-1", "C", "A-4"]
    assert "Suffix used (-[0-9]+)" in stderr


def test_directory_symbols_are_made_unique_as_read_10x_mtx(tmp_path):
    compare_small_input(tmp_path, sc.read_10x_mtx, write_small_directory)


def test_var_names_options_refused_for_other_inputs(tmp_path):
    source = tmp_path / "counts.mtx"
    scipy.io.mmwrite(source, sp.coo_matrix(small_counts()), field="integer")
    done = subprocess.run([CLI, "normalize", source, "-o", tmp_path / "out.h5ad",
                           "--var-names", "gene_ids"], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 2
    assert "apply to 10x inputs" in done.stderr
    assert not (tmp_path / "out.h5ad").exists()


# ---- an .h5ad input keeps every element but X -------------------------------------------------

def rich_anndata(layout):
    counts = small_counts(n_cells=11).astype(np.float32)
    n_obs, n_vars = counts.shape
    rng = np.random.default_rng(7)
    obs = pd.DataFrame({"batch": pd.Categorical(["b1", "b2", "b1"] * 3 + ["b3", "b3"]),
                        "score": rng.random(n_obs), "kept": rng.random(n_obs) > 0.5},
                       index=[f"cell{i}" for i in range(n_obs)])
    var = pd.DataFrame({"gene_ids": [f"ENSG{g:04d}" for g in range(n_vars)],
                        "mean": rng.random(n_vars).astype(np.float32)},
                       index=[f"gene{g}" for g in range(n_vars)])
    x = {"csr": sp.csr_matrix, "csc": sp.csc_matrix, "dense": np.asarray}[layout](counts)
    adata = anndata.AnnData(x, obs=obs, var=var)
    adata.obsm["X_pca"] = rng.random((n_obs, 3))
    adata.varm["PCs"] = rng.random((n_vars, 3))
    adata.obsp["distances"] = sp.random(n_obs, n_obs, density=0.3, format="csr", random_state=1)
    adata.layers["counts"] = sp.csr_matrix(counts)
    adata.uns["neighbors"] = {"params": {"n_neighbors": 5, "method": "umap"}}
    adata.uns["colors"] = np.array(["#ff0000", "#00ff00"])
    adata.raw = adata.copy()
    return adata


def h5_tree(path):
    """Every object but X: its path, attributes and (for datasets) dtype and bytes."""
    tree = {}
    with h5py.File(path, "r") as f:
        def visit(name, item):
            if name == "X" or name.startswith("X/"):
                return
            attrs = {k: np.asarray(v).tolist() for k, v in item.attrs.items()}
            content = None
            if isinstance(item, h5py.Dataset):
                value = item[()]
                if not item.shape:
                    value = repr(value)
                elif item.dtype.kind == "O":  # strings: compare them, not their pointers
                    value = value.tolist()
                else:
                    value = value.tobytes()
                content = (item.dtype.str, item.shape, value)
            tree[name] = (attrs, content)
        f.visititems(visit)
        tree["/"] = ({k: np.asarray(v).tolist() for k, v in f.attrs.items()}, None)
    return tree


@pytest.mark.parametrize("layout", ["csr", "csc", "dense"])
def test_h5ad_input_keeps_everything_but_x(layout, tmp_path):
    source = tmp_path / "input.h5ad"
    quietly(rich_anndata(layout).write_h5ad, source)
    ours = tmp_path / "normot.h5ad"
    run_normot(source, "-o", ours)
    assert h5_tree(ours) == h5_tree(source)  # obs, var, obsm, varm, obsp, layers, uns, raw
    result, original = anndata.read_h5ad(ours), anndata.read_h5ad(source)
    reference = original.copy()
    quietly(sc.pp.normalize_total, reference)
    if layout == "csc":  # scanpy 1.11 returns CSR here; normot keeps the input's layout
        reference.X = sp.csc_matrix(reference.X)
    assert_same_x(result, reference, log1p=False)
    with h5py.File(ours, "r") as f, h5py.File(source, "r") as g:
        assert {k: np.asarray(v).tolist() for k, v in f["X"].attrs.items()} == \
               {k: np.asarray(v).tolist() for k, v in g["X"].attrs.items()}


def test_h5ad_input_with_key_added_and_log1p(tmp_path):
    source = tmp_path / "input.h5ad"
    original = rich_anndata("csr")
    quietly(original.write_h5ad, source)
    ours = tmp_path / "normot.h5ad"
    run_normot(source, "-o", ours, "--key-added", "sf", "--log1p")
    ref = tmp_path / "scanpy.h5ad"
    reference = scanpy_pipeline(anndata.read_h5ad(source), ref, log1p=True, key_added="sf")
    result = anndata.read_h5ad(ours)
    pd.testing.assert_frame_equal(result.obs, reference.obs)
    pd.testing.assert_frame_equal(result.var, reference.var)
    assert_same_uns(result.uns, reference.uns)
    assert_same_x(result, reference, log1p=True)
    for key in ("obsm", "varm"):
        for name, value in getattr(reference, key).items():
            assert np.array_equal(getattr(result, key)[name], value)
    assert (result.obsp["distances"] != reference.obsp["distances"]).nnz == 0
    assert (result.layers["counts"] != reference.layers["counts"]).nnz == 0
    pd.testing.assert_frame_equal(result.raw.var, reference.raw.var)
    assert (result.raw.X != reference.raw.X).nnz == 0
    # Untouched elements are stored exactly as in the input.
    ours_tree, source_tree = h5_tree(ours), h5_tree(source)
    for name, item in source_tree.items():
        if name.startswith(("obs", "uns")) or name == "/":
            continue
        assert ours_tree[name] == item, name
