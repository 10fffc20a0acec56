"""normot.normalize_total against scanpy.pp.normalize_total on the same inputs.

On integer counts the results must be bitwise equal (values and size factors). Note on scanpy
1.11.5: its CSR path takes the median over *all* totals, zeros included, where its dense path
and scanpy main (and normot) take the median of the positive totals; with empty cells and no
target_sum, normot is therefore compared with scanpy's dense path.
"""

import warnings

import anndata as ad
import numpy as np
import pytest
import scanpy as sc
from scipy import sparse

import normot
from normot import _library as L

from conftest import count_matrix

FORMATS = ["csr", "csc", "dense"]


def as_format(dense, fmt):
    if fmt == "csr":
        return sparse.csr_matrix(dense)
    if fmt == "csc":
        return sparse.csc_matrix(dense)
    if fmt == "csr_array":
        return sparse.csr_array(dense)
    if fmt == "dense_f":
        return np.asfortranarray(dense)
    return np.ascontiguousarray(dense)


def to_dense(x):
    return x.toarray() if sparse.issparse(x) else np.asarray(x)


def scanpy_reference(x, **kwargs):
    """scanpy's result on its own copy: (X dense, norm_factor)."""
    adata = ad.AnnData(x.copy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.pp.normalize_total(adata, key_added="sf", **kwargs)
    return to_dense(adata.X), adata.obs["sf"].to_numpy()


def assert_bitwise(actual, expected):
    actual = np.ascontiguousarray(actual)
    expected = np.ascontiguousarray(expected)
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    assert np.array_equal(actual.view(np.uint8), expected.view(np.uint8)), (
        f"{np.count_nonzero(actual != expected)} values differ")


@pytest.mark.parametrize("fmt", FORMATS + ["csr_array", "dense_f"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_anndata_in_place_is_bitwise_scanpy(fmt, dtype):
    dense = count_matrix(300, 200, density=0.2, seed=1, dtype=dtype)
    x = as_format(dense, fmt)
    # scanpy 1.11.5 itself fails on csr_array input: its reference is taken on csr_matrix.
    expected_x, expected_sf = scanpy_reference(as_format(dense, fmt.replace("_array", "")))
    adata = ad.AnnData(x)
    stored = adata.X
    assert normot.normalize_total(adata, key_added="sf") is None
    assert adata.X is stored  # truly in place: the same object, same format
    assert_bitwise(to_dense(adata.X), expected_x)
    assert_bitwise(adata.obs["sf"].to_numpy(), expected_sf)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint16, np.uint32, np.int16, np.uint8])
def test_integer_counts_become_float32_like_scanpy(fmt, dtype):
    dense = count_matrix(200, 120, density=0.3, seed=2, dtype=dtype, max_count=250)
    expected_x, expected_sf = scanpy_reference(as_format(dense, fmt))
    adata = ad.AnnData(as_format(dense, fmt))
    normot.normalize_total(adata, key_added="sf")
    assert adata.X.dtype == np.float32
    assert_bitwise(to_dense(adata.X), expected_x)
    assert_bitwise(adata.obs["sf"].to_numpy(), expected_sf)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("target_sum", [1.0, 1e4, 1e6, 3.3])
def test_target_sum(fmt, target_sum):
    dense = count_matrix(150, 90, seed=3)
    expected_x, expected_sf = scanpy_reference(as_format(dense, fmt), target_sum=target_sum)
    result = normot.normalize_total(as_format(dense, fmt), target_sum=target_sum, inplace=False)
    assert_bitwise(to_dense(result["X"]), expected_x)
    assert_bitwise(result["norm_factor"], expected_sf)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("max_fraction", [0.05, 0.2, 0.5])
def test_exclude_highly_expressed(fmt, max_fraction):
    dense = count_matrix(250, 60, density=0.4, seed=4)
    dense[:, 7] *= 40  # a gene that dominates some cells
    kwargs = dict(exclude_highly_expressed=True, max_fraction=max_fraction)
    expected_x, expected_sf = scanpy_reference(as_format(dense, fmt), **kwargs)
    adata = ad.AnnData(as_format(dense, fmt))
    normot.normalize_total(adata, key_added="sf", **kwargs)
    assert_bitwise(to_dense(adata.X), expected_x)
    assert_bitwise(adata.obs["sf"].to_numpy(), expected_sf)


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_cells_warn_stay_zero_and_use_the_positive_median(fmt):
    dense = count_matrix(120, 80, seed=5, zero_cells=7)
    expected_x, expected_sf = scanpy_reference(as_format(dense, "dense"))  # see module note
    adata = ad.AnnData(as_format(dense, fmt))
    with pytest.warns(UserWarning, match="Some cells have zero counts"):
        normot.normalize_total(adata, key_added="sf")
    result = to_dense(adata.X)
    assert_bitwise(result, expected_x)
    assert_bitwise(adata.obs["sf"].to_numpy(), expected_sf)
    assert not np.isnan(result).any() and not result[:7].any()
    assert (adata.obs["sf"].to_numpy()[:7] == 0).all()


def test_inplace_false_returns_scanpy_dict_and_leaves_input_alone():
    dense = count_matrix(100, 50, seed=6)
    adata = ad.AnnData(sparse.csr_matrix(dense))
    before = adata.X.copy()
    result = normot.normalize_total(adata, inplace=False)
    reference = sc.pp.normalize_total(ad.AnnData(sparse.csr_matrix(dense)), inplace=False)
    assert set(result) == set(reference) == {"X", "norm_factor"}
    assert_bitwise(result["X"].toarray(), reference["X"].toarray())
    assert_bitwise(result["norm_factor"], reference["norm_factor"])
    assert (adata.X != before).nnz == 0
    assert not np.shares_memory(adata.X.data, result["X"].data)


def test_copy_returns_a_new_anndata():
    dense = count_matrix(100, 50, seed=7)
    adata = ad.AnnData(dense.copy())
    out = normot.normalize_total(adata, copy=True, key_added="sf")
    assert isinstance(out, ad.AnnData) and out is not adata
    assert np.array_equal(adata.X, dense) and "sf" not in adata.obs
    expected_x, _ = scanpy_reference(dense)
    assert_bitwise(out.X, expected_x)


def test_layer_is_normalized_and_x_is_not():
    dense = count_matrix(80, 40, seed=8)
    adata = ad.AnnData(dense.copy(), layers={"counts": sparse.csr_matrix(dense)})
    normot.normalize_total(adata, layer="counts")
    expected_x, _ = scanpy_reference(sparse.csr_matrix(dense))
    assert_bitwise(adata.layers["counts"].toarray(), expected_x)
    assert np.array_equal(adata.X, dense)


def test_anndata_view_becomes_actual():
    dense = count_matrix(100, 40, seed=9)
    parent = ad.AnnData(sparse.csr_matrix(dense))
    view = parent[10:60]
    normot.normalize_total(view)
    assert not view.is_view
    expected_x, _ = scanpy_reference(sparse.csr_matrix(dense[10:60]))
    assert_bitwise(view.X.toarray(), expected_x)
    assert np.array_equal(parent.X.toarray(), dense)


@pytest.mark.parametrize("fmt", FORMATS)
def test_bare_matrix_in_place_returns_the_same_object(fmt):
    dense = count_matrix(60, 30, seed=10)
    x = as_format(dense, fmt)
    expected_x, _ = scanpy_reference(as_format(dense, fmt))
    assert normot.normalize_total(x) is x
    assert_bitwise(to_dense(x), expected_x)


def test_row_slice_of_a_dense_array_is_normalized_in_place():
    dense = count_matrix(50, 40, seed=11)
    big = dense.copy()
    view = big[:, 5:30]  # rows with a leading dimension of 40
    expected_x, _ = scanpy_reference(np.ascontiguousarray(dense[:, 5:30]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the slice may have empty cells
        normot.normalize_total(view)
    assert_bitwise(np.ascontiguousarray(big[:, 5:30]), expected_x)
    assert np.array_equal(big[:, :5], dense[:, :5]) and np.array_equal(big[:, 30:], dense[:, 30:])


def test_int64_indices_and_unsorted_entries():
    dense = count_matrix(70, 50, seed=12)
    x = sparse.csr_matrix(dense)
    order = np.concatenate([np.arange(s, e)[::-1] for s, e in zip(x.indptr[:-1], x.indptr[1:])])
    shuffled = sparse.csr_matrix((x.data[order], x.indices[order].astype(np.int64),
                                  x.indptr.astype(np.int64)), shape=x.shape)
    expected_x, _ = scanpy_reference(sparse.csr_matrix(dense))
    normot.normalize_total(shuffled)
    assert_bitwise(shuffled.toarray(), expected_x)


def test_results_do_not_depend_on_the_thread_count():
    dense = count_matrix(500, 300, density=0.1, seed=13)
    results = []
    for threads in (1, 2, 0):
        normot.set_num_threads(threads)
        results.append(normot.normalize_total(sparse.csr_matrix(dense), inplace=False)["X"].data)
    normot.set_num_threads(0)
    assert_bitwise(results[0], results[1])
    assert_bitwise(results[0], results[2])


def test_non_integer_float_data_matches_scanpy_closely():
    rng = np.random.default_rng(14)
    dense = (rng.random((90, 70)) * (rng.random((90, 70)) < 0.3)).astype(np.float64)
    expected_x, expected_sf = scanpy_reference(sparse.csr_matrix(dense))
    result = normot.normalize_total(sparse.csr_matrix(dense), inplace=False)
    np.testing.assert_allclose(result["X"].toarray(), expected_x, rtol=1e-14)
    np.testing.assert_allclose(result["norm_factor"], expected_sf, rtol=1e-14)


# ---- bad inputs -------------------------------------------------------------------------------


def test_bad_arguments_raise_like_scanpy():
    adata = ad.AnnData(count_matrix(10, 5, seed=15))
    with pytest.raises(ValueError, match="max_fraction"):
        normot.normalize_total(adata, max_fraction=1.5)
    with pytest.raises(ValueError, match="max_fraction"):
        normot.normalize_total(adata, max_fraction=float("nan"))
    with pytest.raises(ValueError, match="copy=True"):
        normot.normalize_total(adata, copy=True, inplace=False)
    with pytest.raises(ValueError, match="not found"):
        normot.normalize_total(adata, layer="missing")
    with pytest.raises(ValueError, match="key_added"):
        normot.normalize_total(np.ones((3, 3), np.float32), key_added="sf")


@pytest.mark.parametrize("fmt", FORMATS)
def test_nan_is_rejected_and_nothing_is_written(fmt):
    dense = count_matrix(30, 20, seed=16)
    dense[4, 3] = np.nan
    x = as_format(dense, fmt)
    before = to_dense(x).copy()
    with pytest.raises(normot.NormotError) as caught:
        normot.normalize_total(x)
    assert caught.value.status == L.ERROR_NONFINITE_VALUE
    assert str(caught.value)  # the library's message
    assert np.array_equal(to_dense(x), before, equal_nan=True)


def test_bad_target_sum_and_all_zero_matrix():
    x = sparse.csr_matrix(count_matrix(20, 10, seed=17))
    before = x.data.copy()
    with pytest.raises(normot.NormotError) as caught:
        normot.normalize_total(x, target_sum=-1.0)
    assert caught.value.status == L.ERROR_INVALID_TARGET_SUM
    assert np.array_equal(x.data, before)
    zeros = sparse.csr_matrix((5, 4), dtype=np.float32)
    with pytest.raises(normot.NormotError) as caught:
        normot.normalize_total(zeros)
    assert caught.value.status == L.ERROR_NO_POSITIVE_TOTAL


def test_malformed_sparse_structure_is_rejected():
    data = np.ones(4, np.float32)
    bad_indptr = sparse.csr_matrix((3, 3), dtype=np.float32)
    bad_indptr.data, bad_indptr.indices = data, np.array([0, 1, 2, 0], np.int32)
    bad_indptr.indptr = np.array([0, 3, 1, 4], np.int32)  # decreasing
    with pytest.raises(normot.NormotError) as caught:
        normot.normalize_total(bad_indptr)
    assert caught.value.status == L.ERROR_INVALID_INDPTR
    assert np.array_equal(bad_indptr.data, data)
    bad_index = sparse.csc_matrix((3, 2), dtype=np.float32)
    bad_index.data, bad_index.indices = data.copy(), np.array([0, 1, 7, 2], np.int32)
    bad_index.indptr = np.array([0, 2, 4], np.int32)
    with pytest.raises(normot.NormotError) as caught:
        normot.normalize_total(bad_index)
    assert caught.value.status == L.ERROR_INDEX_OUT_OF_RANGE


def test_unsupported_inputs():
    with pytest.raises(TypeError, match="CSR or CSC"):
        normot.normalize_total(sparse.coo_matrix(np.eye(3, dtype=np.float32)))
    with pytest.raises(ValueError, match="2-D"):
        normot.normalize_total(np.ones((2, 2, 2), np.float32))
    with pytest.raises(TypeError):
        normot.normalize_total(np.array([["a", "b"]]))
    frozen = np.ones((3, 3), np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        normot.normalize_total(frozen)
    assert normot.normalize_total(frozen, inplace=False)["X"].dtype == np.float32


# ---- GPU arrays -------------------------------------------------------------------------------


def _cupy_or_skip():
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed: GPU array paths not run")
    try:
        if cupy.cuda.runtime.getDeviceCount() == 0:
            pytest.skip("no CUDA device: GPU array paths not run")
    except Exception as error:  # no driver
        pytest.skip(f"no usable CUDA device: {error}")
    if "cuda" not in normot.info()["backends"]:
        pytest.skip("libnormot was built without the CUDA backend")
    return cupy


@pytest.mark.parametrize("fmt", ["csr", "dense"])
def test_cupy_arrays_are_normalized_on_the_device_in_place(fmt):
    cupy = _cupy_or_skip()
    from cupyx.scipy import sparse as cusparse

    dense = count_matrix(300, 100, seed=18)
    expected_x, expected_sf = scanpy_reference(as_format(dense, fmt))
    x = cusparse.csr_matrix(cupy.asarray(dense)) if fmt == "csr" else cupy.asarray(dense)
    pointer = (x.data if fmt == "csr" else x).data.ptr
    result = normot.normalize_total(x, inplace=True)
    assert result is x and (x.data if fmt == "csr" else x).data.ptr == pointer
    host = x.get().toarray() if fmt == "csr" else x.get()
    assert_bitwise(host, expected_x)


def test_torch_cuda_tensor_is_normalized_on_the_device():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: GPU paths not run")
    if not torch.cuda.is_available() or "cuda" not in normot.info()["backends"]:
        pytest.skip("no CUDA device or no CUDA backend: GPU tensor paths not run")
    dense = count_matrix(200, 80, seed=19)
    expected_x, _ = scanpy_reference(dense)
    x = torch.as_tensor(dense, device="cuda")
    normot.normalize_total(x)
    assert_bitwise(x.cpu().numpy(), expected_x)


def test_mixed_index_types_are_widened():
    dense = count_matrix(40, 30, seed=20)
    x = sparse.csr_matrix(dense)
    mixed = sparse.csr_matrix((x.data.copy(), x.indices.astype(np.int32), x.indptr), shape=x.shape)
    mixed.indptr = x.indptr.astype(np.int64)  # scipy allows the two index arrays to differ
    expected_x, _ = scanpy_reference(sparse.csr_matrix(dense))
    normot.normalize_total(mixed)
    assert_bitwise(mixed.toarray(), expected_x)


def test_integer_input_is_left_untouched_when_not_in_place():
    dense = count_matrix(50, 20, seed=21, dtype=np.int32)
    x = sparse.csr_matrix(dense)
    result = normot.normalize_total(x, inplace=False)
    assert x.dtype == np.int32 and np.array_equal(x.toarray(), dense)
    assert result["X"].dtype == np.float32 and result["norm_factor"].dtype == np.float32
    assert not np.shares_memory(result["X"].indices, x.indices)


def scanpy_records(adata, **kwargs):
    """(level, message) of every record scanpy's logger emits for this call, at DEBUG."""
    import logging

    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record)
    root = sc.settings._root_logger
    verbosity = sc.settings.verbosity
    sc.settings.verbosity = 4
    root.addHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sc.pp.normalize_total(adata, **kwargs)
    finally:
        root.removeHandler(handler)
        sc.settings.verbosity = verbosity
    return [(r.levelno, r.msg) for r in records]


def without_time(records):
    """The elapsed time (scanpy's first call compiles its numba kernels) is not compared."""
    import re

    return [(level, re.sub(r"\(\d+:\d\d:\d\d\)|\(\{time_passed\}\)", "(TIME)", message))
            for level, message in records]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("exclude", [False, True])
def test_log_records_are_scanpys(fmt, exclude, caplog):
    import logging

    counts = count_matrix(50, 30, seed=9)
    counts[3, 7] = counts[3].sum() * 4  # one gene dominates a cell: excluded at max_fraction
    kwargs = dict(exclude_highly_expressed=exclude, max_fraction=0.3, key_added="sf")
    expected = scanpy_records(ad.AnnData(as_format(counts, fmt)), **kwargs)
    adata = ad.AnnData(as_format(counts, fmt))
    with caplog.at_level(logging.DEBUG, logger="normot"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        normot.normalize_total(adata, **kwargs)
    ours = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "normot"]
    assert without_time(ours) == without_time(expected)
    assert len(ours) == 4 if exclude else 3


def test_nothing_is_logged_below_info_and_no_print(capsys, caplog):
    import logging

    adata = ad.AnnData(sparse.csr_matrix(count_matrix(20, 10, seed=2)))
    with caplog.at_level(logging.WARNING, logger="normot"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        normot.normalize_total(adata, exclude_highly_expressed=True)
    assert [r for r in caplog.records if r.name == "normot"] == []
    assert capsys.readouterr() == ("", "")
