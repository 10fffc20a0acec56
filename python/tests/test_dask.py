"""Dask arrays through normalize_total and the EMD batches, on the threaded scheduler and on a
dask.distributed LocalCluster of two worker processes on loopback: the same bytes as in memory,
errors raised on the client with the library's message, and the workers' thread budget."""

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import normot
from normot import _dask
from normot._context import threads_in_this_thread

from conftest import count_matrix, random_batch

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

# Uneven row chunks with an empty chunk, a single-row chunk and an all-zero chunk (rows 30-39).
ROW_CHUNKS = (30, 10, 0, 1, 77, 62)
ZERO_ROWS = slice(30, 40)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True,
                                       host="127.0.0.1", dashboard_address=None,
                                       worker_dashboard_address=None)
    client = distributed.Client(cluster, set_as_default=False, timeout=60)
    try:
        yield client
    finally:
        client.close(timeout=30)
        cluster.close(timeout=30)


@pytest.fixture(params=["threads", "distributed"])
def scheduler(request):
    """Makes every compute(), normot's own gathering passes included, run on that scheduler."""
    if request.param == "threads":
        with dask.config.set(scheduler="threads"):
            yield request.param
    else:
        with request.getfixturevalue("client").as_current():
            yield request.param


def synthetic_counts():
    counts = count_matrix(sum(ROW_CHUNKS), 60, density=0.3, seed=7)
    counts[ZERO_ROWS] = 0
    counts[45, 5] = 5000.0  # one gene highly expressed in a single cell of a later chunk
    return counts


def dask_matrix(matrix, layout, row_chunks):
    """A Dask array of dense or CSR chunks of the given row sizes."""
    if layout == "csr":
        return da.from_array(sp.csr_matrix(matrix), chunks=(row_chunks, -1), asarray=False)
    return da.from_array(np.asarray(matrix), chunks=(row_chunks, -1))


def as_dense(chunked):
    return chunked.toarray() if sp.issparse(chunked) else np.asarray(chunked)


def quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return function(*args, **kwargs)


NORMALIZE_CASES = {
    "median": dict(),
    "target_sum": dict(target_sum=1e4),
    "exclude_median": dict(exclude_highly_expressed=True, max_fraction=0.2),
    "exclude_target_sum": dict(exclude_highly_expressed=True, max_fraction=0.2, target_sum=50.0),
}


@pytest.mark.parametrize("case", sorted(NORMALIZE_CASES))
@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_synthetic_chunks_give_the_in_memory_bytes(scheduler, layout, case):
    counts = synthetic_counts()
    kwargs = NORMALIZE_CASES[case]
    expected = quiet(normot.normalize_total, counts.copy(), inplace=False, **kwargs)
    result = quiet(normot.normalize_total, dask_matrix(counts, layout, ROW_CHUNKS),
                   inplace=False, **kwargs)
    assert _dask.is_dask_array(result["X"]) and _dask.is_dask_array(result["norm_factor"])
    values, factors = dask.compute(result["X"], result["norm_factor"])
    assert sp.issparse(values) == (layout == "csr")
    assert as_dense(values).tobytes() == expected["X"].tobytes()
    assert np.asarray(factors).tobytes() == expected["norm_factor"].tobytes()


def test_exclusion_takes_the_genes_of_every_chunk():
    counts = synthetic_counts()
    # Gene 5 is highly expressed only in row 45 (fifth chunk): chunk-local sets would differ.
    local = quiet(normot.normalize_total, counts[:40].copy(), exclude_highly_expressed=True,
                  max_fraction=0.2, inplace=False)
    whole = quiet(normot.normalize_total, counts.copy(), exclude_highly_expressed=True,
                  max_fraction=0.2, inplace=False)
    assert local["X"].tobytes() != whole["X"][:40].tobytes()
    result = quiet(_dask.normalize, dask_matrix(counts, "csr", ROW_CHUNKS), None, True, 0.2)
    assert 5 in result.excluded
    assert as_dense(result.X.compute(scheduler="threads")).tobytes() == whole["X"].tobytes()


def test_median_target_is_taken_over_all_chunks():
    counts = synthetic_counts()
    whole = quiet(normot.normalize_total, counts.copy(), inplace=False)
    result = quiet(_dask.normalize, dask_matrix(counts, "dense", ROW_CHUNKS), None, False, 0.05)
    totals = counts.sum(axis=1, dtype=np.float64).astype(np.float32)
    assert result.target == float(np.median(totals[totals > 0]))
    assert result.n_zero_cells == ZERO_ROWS.stop - ZERO_ROWS.start
    assert result.X.compute(scheduler="threads").tobytes() == whole["X"].tobytes()


def test_a_given_target_computes_nothing_until_asked():
    calls = []

    def counted(chunk):
        calls.append(chunk.shape)
        return chunk

    counts = synthetic_counts()
    lazy = dask_matrix(counts, "dense", ROW_CHUNKS).map_blocks(
        counted, dtype=counts.dtype, meta=np.empty((0, 0), counts.dtype))
    result = normot.normalize_total(lazy, target_sum=1e4, inplace=False)
    assert calls == []
    result["X"].compute(scheduler="sync")
    assert calls


def shared_10x_h5():
    path = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "10x" / "v3" / \
        "filtered_feature_bc_matrix.h5"
    if not path.is_file():
        pytest.skip("../shared/data/10x/v3 is absent")
    return path


@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_real_10x_chunks_give_the_in_memory_bytes(scheduler, layout):
    import scanpy as sc

    adata = quiet(sc.read_10x_h5, shared_10x_h5())
    counts = adata.X if layout == "csr" else adata.X.toarray()
    expected = quiet(normot.normalize_total, adata.copy(), key_added="sf", inplace=False)
    lazy = adata.copy()
    lazy.X = dask_matrix(counts, layout, (400, 1, 300, lazy.n_obs - 701))
    quiet(normot.normalize_total, lazy, key_added="sf")
    assert _dask.is_dask_array(lazy.X)
    assert as_dense(lazy.X.compute()).tobytes() == expected["X"].toarray().tobytes()
    assert lazy.obs["sf"].to_numpy().tobytes() == expected["norm_factor"].tobytes()


def test_anndata_copy_and_key_added_as_scanpy():
    import anndata

    counts = synthetic_counts()
    adata = anndata.AnnData(X=dask_matrix(counts, "csr", ROW_CHUNKS))
    copied = quiet(normot.normalize_total, adata, copy=True, key_added="size_factor")
    assert copied is not adata and "size_factor" not in adata.obs
    expected = quiet(normot.normalize_total, counts.copy(), inplace=False)
    assert as_dense(copied.X.compute(scheduler="threads")).tobytes() == expected["X"].tobytes()
    assert copied.obs["size_factor"].to_numpy().tobytes() == expected["norm_factor"].tobytes()
    assert as_dense(adata.X.compute(scheduler="threads")).tobytes() == counts.tobytes()


@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_lazily_read_h5ad(tmp_path, layout):
    import anndata
    import h5py
    from anndata.experimental import read_elem_lazy

    counts = synthetic_counts()
    X = sp.csr_matrix(counts) if layout == "csr" else counts
    anndata.AnnData(X=X).write_h5ad(tmp_path / "counts.h5ad")
    expected = quiet(normot.normalize_total, counts.copy(), exclude_highly_expressed=True,
                     max_fraction=0.2, inplace=False)
    with h5py.File(tmp_path / "counts.h5ad", "r") as file:
        lazy = read_elem_lazy(file["X"], chunks=(50, counts.shape[1]))
        result = quiet(normot.normalize_total, lazy, exclude_highly_expressed=True,
                       max_fraction=0.2, inplace=False)
        values = result["X"].compute(scheduler="threads")
    assert as_dense(values).tobytes() == expected["X"].tobytes()


def test_emd_batches_give_the_in_memory_results(scheduler, rng):
    A, B, M = random_batch(rng, 9, 6, 5)
    chunked_M = da.from_array(M, chunks=(4, 3, 5))  # also split inside the problems
    plans = normot.emd(da.from_array(A, chunks=(2, 6)), B[0], chunked_M)
    assert _dask.is_dask_array(plans) and plans.chunks[0] == (4, 4, 1)
    assert plans.compute().tobytes() == normot.emd(A, B[0], M).tobytes()
    costs = normot.emd2([], B.tolist(), chunked_M)  # nested lists, as POT takes them
    assert _dask.is_dask_array(costs)
    assert costs.compute().tobytes() == normot.emd2([], B, M).tobytes()

    X, Y = rng.random((9, 6, 2)), rng.random((9, 5, 2))
    clouds = normot.emd_pointclouds(da.from_array(X, chunks=(5, 6, 2)),
                                    da.from_array(Y, chunks=(2, 5, 1)), A, None,
                                    metric="euclidean")
    assert clouds.compute().tobytes() == normot.emd_pointclouds(
        X, Y, A, None, metric="euclidean").tobytes()


def test_errors_reach_the_client_with_the_library_message(scheduler, rng):
    A, B, M = random_batch(rng, 6, 4, 4)
    A[4] *= 2
    with pytest.raises(normot.UnbalancedError, match="problem 0: unbalanced marginals"):
        normot.emd2(A[4:], B[4:], da.from_array(M[4:], chunks=(1, 4, 4))).compute()

    counts = synthetic_counts()
    counts[50, 3] = np.nan
    with pytest.raises(normot.NormotError) as error:
        quiet(normot.normalize_total, dask_matrix(counts, "csr", ROW_CHUNKS))
    assert str(error.value).startswith(
        "in the chunk of rows 41 to 117 of the Dask array: non-finite value: values[")
    assert "= nan in row 9 " in str(error.value)
    assert error.value.status_name == "NaN or Inf value"


# Rows whose results overflow float32 although every value is finite: the chunk's fast
# unchecked scaling must still end in the library's error. Without exclusion the total of
# (3e38, -3e38, 1) is 1; with it, gene 4 (3e38 of the row's total) is left out of the total 1.
OVERFLOWING_ROWS = {
    "target_sum": ([3e38, -3e38, 1, 0, 0], dict(target_sum=1e4)),
    "exclude_target_sum": ([2, -1, 0, 0, 3e38],
                           dict(target_sum=1e4, exclude_highly_expressed=True, max_fraction=0.5)),
}


@pytest.mark.parametrize("case", sorted(OVERFLOWING_ROWS))
@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_results_that_overflow_fail_as_in_memory(layout, case):
    row, kwargs = OVERFLOWING_ROWS[case]
    counts = np.ones((12, 5), np.float32)
    counts[9] = row
    with pytest.raises(normot.NormotError) as in_memory:
        quiet(normot.normalize_total, counts.copy(), inplace=False, **kwargs)
    result = quiet(normot.normalize_total, dask_matrix(counts, layout, (6, 6)), inplace=False,
                   **kwargs)
    with pytest.raises(normot.NormotError) as error:
        result["X"].compute(scheduler="threads")
    assert error.value.status == in_memory.value.status == 20  # NORMOT_ERROR_OVERFLOW
    # The row counted from the chunk's start (the block scaling words it more briefly).
    assert str(error.value).startswith("in the chunk of rows 6 to 11 of the Dask array: row 3: "
                                       "its values ")


@pytest.mark.parametrize("case", ["exclude_median", "median"])
def test_a_nan_fails_in_the_first_pass_with_or_without_exclusion(case):
    counts = synthetic_counts()
    counts[50, 3] = np.nan
    with pytest.raises(normot.NormotError) as error:
        quiet(normot.normalize_total, dask_matrix(counts, "dense", ROW_CHUNKS),
              **NORMALIZE_CASES[case])
    assert str(error.value).startswith(
        "in the chunk of rows 41 to 117 of the Dask array: non-finite value: values[")
    assert "= nan in row 9 " in str(error.value)


def test_csr_results_share_the_input_chunks_structure():
    chunk = sp.csr_matrix(synthetic_counts()[:30])
    settings = _dask._Settings(None, 0.2)
    totals = _dask._chunk_totals(chunk, settings)
    for scaled in (_dask._chunk_scaled(chunk, 10.0, settings),
                   _dask._chunk_divided(chunk, totals, 10.0, settings)):
        assert np.shares_memory(scaled.indices, chunk.indices)
        assert np.shares_memory(scaled.indptr, chunk.indptr)
        assert not np.shares_memory(scaled.data, chunk.data)
        expected = normot.normalize_total(chunk, target_sum=10.0, inplace=False)["X"]
        assert scaled.data.tobytes() == expected.data.tobytes()


def test_bad_arguments_fail_before_any_task():
    counts = synthetic_counts()
    with pytest.raises(normot.NormotError, match="target_sum"):
        normot.normalize_total(dask_matrix(counts, "dense", ROW_CHUNKS), target_sum=-1.0)
    csc = da.from_array(sp.csc_matrix(counts), chunks=(ROW_CHUNKS, -1), asarray=False)
    with pytest.raises(TypeError, match="CSR chunks, not chunks of csc_matrix"):
        normot.normalize_total(csc)
    M = da.zeros((4, 3, 3), chunks=(2, 3, 3))
    with pytest.raises(ValueError, match="log=True needs in-memory arrays"):
        normot.emd([], [], M, log=True)
    with pytest.raises(normot.ShapeMismatchError, match="a has shape \\(5,\\)"):
        normot.emd2(np.ones(5) / 5, [], M)


def test_normot_errors_survive_pickling():
    # In a fresh interpreter: importing distributed installs tblib's exception pickling, which
    # would hide a failure here; the multiprocessing scheduler has no such help.
    script = ("import pickle, normot\n"
              "error = normot.UnbalancedError('problem 0: unbalanced marginals', 7)\n"
              "copy = pickle.loads(pickle.dumps(error))\n"
              "assert type(copy) is normot.UnbalancedError\n"
              "assert (str(copy), copy.status) == (str(error), 7)\n")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)


def test_a_distributed_task_uses_its_workers_threads(client):
    # Two threads per worker and one task running: the call may use both.
    assert client.submit(_dask.task_threads, pure=False).result(timeout=60) == 2
    # The library is told that count, in the worker process.
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        probe = client.submit(_threads_seen_by_the_library, pure=False)
        seen = probe.result(timeout=60)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert seen == 2


def _threads_seen_by_the_library():
    """Run on a worker, which cannot import this test module: sent by value (see below)."""
    with threads_in_this_thread(_dask.task_threads()):
        return normot.get_num_threads()


def test_threaded_scheduler_tasks_share_the_cores():
    normot.set_num_threads(4)
    try:
        with dask.config.set(scheduler="threads", num_workers=2):
            seen = dask.delayed(_dask.task_threads)().compute()
        assert seen == 2
        assert _dask.task_threads() == 4  # the calling thread itself: the whole setting
    finally:
        normot.set_num_threads(0)


def test_thread_override_is_per_thread_and_restored():
    normot.set_num_threads(3)
    try:
        with threads_in_this_thread(1):
            assert normot.get_num_threads() == 1
        assert normot.get_num_threads() == 3
    finally:
        normot.set_num_threads(0)


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.uint16])
@pytest.mark.parametrize("case", ["median", "exclude_median"])
def test_other_dtypes_give_the_in_memory_bytes(dtype, case):
    counts = synthetic_counts().astype(dtype)
    kwargs = NORMALIZE_CASES[case]
    expected = quiet(normot.normalize_total, counts.copy(), inplace=False, **kwargs)
    result = quiet(normot.normalize_total, dask_matrix(counts, "csr", ROW_CHUNKS),
                   inplace=False, **kwargs)
    values = result["X"].compute(scheduler="threads")
    assert values.dtype == expected["X"].dtype
    assert as_dense(values).tobytes() == expected["X"].tobytes()
