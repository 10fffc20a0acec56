"""Dask arrays: normalize_total on row chunks and EMD batches chunked along the problems.

Every chunk goes through the same library call as an in-memory array, so the values are the
in-memory bytes. What spans chunks is small and gathered on the client: the per-cell totals
(for the median target) and the excluded-gene set. Results are Dask arrays; nothing is
computed until asked, except the passes the target and the excluded set need.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass

import numpy as np

from . import _blocks
from . import _library as L
from ._context import _settings, threads_in_this_thread
from ._errors import NormotError


def is_dask_array(obj) -> bool:
    return any(cls.__name__ == "Array" and cls.__module__.startswith("dask.array")
               for cls in type(obj).__mro__)


# ---------------------------------------------------------------------------------------------
# Threads: a chunk's call uses its share of the cores, never all of them from every task.


def _current_worker():
    try:
        from distributed import get_worker
    except ImportError:
        return None
    try:
        return get_worker()
    except ValueError:  # not inside a distributed worker's task
        return None


def task_threads() -> int:
    """The CPU threads one library call made by the current Dask task may use.

    In a dask.distributed worker: the worker's thread count divided by the tasks it is running
    now (its other tasks hold the rest), at least 1. Elsewhere (the threaded or synchronous
    scheduler, in this process): the count of set_num_threads (0: every core) divided by the
    threaded scheduler's pool size when the task runs on a pool thread, at least 1.
    """
    worker = _current_worker()
    if worker is not None:
        state = worker.state
        return max(1, int(state.nthreads) // max(1, int(state.executing_count)))
    budget = _settings["threads"] or (os.cpu_count() or 1)
    if threading.current_thread() is threading.main_thread():
        return budget
    import dask

    pool = dask.config.get("num_workers", None) or (os.cpu_count() or 1)
    return max(1, budget // int(pool))


# ---------------------------------------------------------------------------------------------
# normalize_total


@dataclass
class DaskNormalized:
    """What normalize_total reports for a Dask matrix (the fields _report reads)."""

    X: object                 # Dask array of the normalized chunks
    size_factors: object      # Dask array (n_cells,)
    target: float | None      # None when given by the caller and nothing was computed
    n_zero_cells: int         # 0 when the totals were not computed (a given target)
    excluded: np.ndarray | None


@dataclass(frozen=True)
class _Settings:
    """normalize_total's arguments in a picklable form (tasks rebuild the ctypes params)."""

    target_sum: float | None
    max_fraction: float

    def params(self, target_sum=None):
        """The library's parameters, with this target (None: the median)."""
        return _blocks.params_for(target_sum, self.max_fraction)


def _chunk_kind(x) -> str:
    from .normalize import _sparse_format

    meta = getattr(x, "_meta", None)
    fmt = _sparse_format(meta) if meta is not None else None
    if fmt == "csr":
        return "csr"
    if isinstance(meta, np.ndarray):
        return "dense"
    raise TypeError("normot.normalize_total takes Dask arrays of numpy or scipy.sparse CSR "
                    f"chunks, not chunks of {type(meta).__name__}"
                    + (" (CSC: convert the chunks with .map_blocks(lambda c: c.tocsr()))"
                       if fmt == "csc" else ""))


@contextlib.contextmanager
def _chunk_call(block_info):
    """A task's library calls: with the task's share of the threads, and an error that says
    which rows of the whole matrix the chunk holds (the library counts from the chunk's start)."""
    try:
        with threads_in_this_thread(task_threads()):
            yield
    except NormotError as error:
        # The input chunk's rows (block_info[0]): the output's location differs where a task
        # returns one row per chunk (the highly-expressed genes).
        if not block_info or 0 not in block_info:
            raise
        first, end = block_info[0]["array-location"][0]
        raise type(error)(f"in the chunk of rows {first} to {end - 1} of the Dask array: "
                          f"{error}", error.status) from None


def _chunk_totals(chunk, settings: _Settings, excluded=None, block_info=None):
    """(n_rows, 1): the chunk's totals in the output type (the library's sums, rounded), over
    the genes not flagged in `excluded` when it is given: one read of the chunk, nothing
    written. The excluded set comes from a pass that checked this chunk's values, so they are
    not checked again."""
    with _chunk_call(block_info):
        rows = _blocks.Rows(chunk)
        params = settings.params()
        if excluded is not None:
            params = _blocks.values_checked(params)
        return _blocks.totals(rows, params, excluded).astype(rows.out_dtype)[:, None]


def _chunk_high_genes(chunk, settings: _Settings, block_info=None):
    """(1, n_genes) mask of the genes some cell of the chunk has above max_fraction of its
    total (the library's rule)."""
    with _chunk_call(block_info):
        rows = _blocks.Rows(chunk)
        params = settings.params()
        cell_totals = _blocks.totals(rows, params)
        flags = _blocks.high_genes(rows, _blocks.values_checked(params), cell_totals)
    return flags.astype(bool)[None, :]


def _chunk_scaled(chunk, target: float, settings: _Settings, block_info=None):
    """The chunk normalized to a known target by the whole-matrix call, which sums each row
    while it is in cache and scales it there: one read of the chunk and one write (and one read
    of the results for the finiteness check)."""
    with _chunk_call(block_info):
        return _blocks.normalized(_blocks.Rows(chunk), chunk, settings.params(target))


def _chunk_divided(chunk, totals, target: float, settings: _Settings, block_info=None):
    """The chunk scaled by the totals it is given (the totals over the kept genes, which the
    chunk alone cannot tell), by the library's block scaling."""
    with _chunk_call(block_info):
        rows = _blocks.Rows(chunk)
        return _blocks.scaled(rows, chunk, settings.params(target),
                              np.asarray(totals, np.float64).reshape(-1))


def _target_of(totals: np.ndarray, settings: _Settings, dtype) -> float:
    """target_sum rounded to the output type, or the library's median of the positive totals
    (its error when none is positive). One thread: a selection over one number a cell is
    milliseconds, less than waking a team of threads on cores the workers are using."""
    with threads_in_this_thread(1):
        return _blocks.target(totals, settings.params(settings.target_sum), dtype)


def _lazy_totals(x, settings: _Settings, dtype, excluded=None):
    """The Dask column (n_cells, 1) of the totals, one task a chunk. A column rather than
    map_blocks(drop_axis=1): on a LocalCluster, gathering the dropped-axis form took about four
    times as long (bench/RESULTS.md)."""
    return x.map_blocks(_chunk_totals, settings, excluded, chunks=(x.chunks[0], (1,)),
                        dtype=dtype, meta=np.empty((0, 0), dtype))


def _persisted_totals(x, settings: _Settings, dtype, excluded=None):
    """(the Dask totals column kept where it was computed, the totals gathered on the client):
    the chunks read once."""
    totals = _lazy_totals(x, settings, dtype, excluded).persist()
    return totals, np.asarray(totals.compute()).reshape(-1)


def _size_factors(totals: np.ndarray, target: float, row_chunks):
    import dask.array as da

    return da.from_array(totals / totals.dtype.type(target), chunks=row_chunks)


def normalize(x, target_sum, exclude_highly_expressed: bool, max_fraction: float):
    """normalize_total of a Dask matrix of numpy or CSR row chunks, as a DaskNormalized."""
    from .normalize import _check_dtype

    if x.ndim != 2:
        raise ValueError(f"normot.normalize_total needs a 2-D cells x genes matrix, got shape "
                         f"{tuple(x.shape)}")
    _check_dtype(x.dtype)
    _chunk_kind(x)
    if x.numblocks[1] > 1:  # a cell's total needs all its genes in one chunk
        x = x.rechunk({1: -1})
    dtype = _blocks.output_dtype(x.dtype)
    settings = _Settings(None if target_sum is None else float(target_sum), float(max_fraction))
    if target_sum is not None:  # refused now, with the library's message, not in every task
        _target_of(np.empty(0), settings, dtype)
    if exclude_highly_expressed:
        return _normalize_excluding(x, settings, dtype)
    meta = x._meta.astype(dtype)
    if target_sum is None:
        # Gathered only: the scaling sums each row again in cache, so nothing is kept on the
        # workers, and the pass is one round trip.
        totals = np.asarray(_lazy_totals(x, settings, dtype).compute()).reshape(-1)
        target = _target_of(totals, settings, dtype)
        values = x.map_blocks(_chunk_scaled, target, settings, dtype=dtype, meta=meta)
        return DaskNormalized(values, _size_factors(totals, target, (x.chunks[0],)), target,
                              int(np.count_nonzero(totals == 0)), None)
    # A given target and no exclusion: nothing spans chunks, so nothing is computed now.
    values = x.map_blocks(_chunk_scaled, settings.target_sum, settings, dtype=dtype, meta=meta)
    totals = _lazy_totals(x, settings, dtype)[:, 0]
    return DaskNormalized(values, totals / dtype.type(settings.target_sum), None, 0, None)


def _normalize_excluding(x, settings: _Settings, dtype) -> DaskNormalized:
    """Exclusion: the excluded set is the union of the chunks' sets (a gene is excluded when
    any cell has too much of its total in it); the totals over the kept genes are computed once,
    gathered for the target and kept on the workers for the scaling, which the library does
    with them."""
    import dask.array as da

    high = x.map_blocks(_chunk_high_genes, settings, chunks=(1, x.shape[1]), dtype=bool,
                        meta=np.empty((0, 0), bool))
    excluded_mask = np.asarray(high.any(axis=0).compute())
    kept_totals, totals = _persisted_totals(x, settings, dtype, excluded_mask.astype(np.uint8))
    target = _target_of(totals, settings, dtype)
    values = da.map_blocks(_chunk_divided, x, kept_totals, target, settings,
                           dtype=dtype, meta=x._meta.astype(dtype))
    return DaskNormalized(values, _size_factors(totals, target, (x.chunks[0],)), float(target),
                          int(np.count_nonzero(totals == 0)), np.flatnonzero(excluded_mask))


# ---------------------------------------------------------------------------------------------
# EMD batches: each chunk of problems is one batched library call.


@dataclass(frozen=True)
class EmdOptions:
    """The solver's options, as the tasks receive them."""

    max_iter: int
    center_dual: bool
    check_marginals: bool


def unsupported(name: str, value) -> None:
    if value:
        raise ValueError(f"normot.emd with Dask arrays returns the plans or costs only; "
                         f"{name}={value!r} needs in-memory arrays (compute the chunk first)")


def _weights_operand(w, name: str, index: str, size: int, k: int, row_chunks):
    """(array or constant, index) for blockwise: per-problem weights (k, size) chunked like
    the problems; shared (size,) or empty weights are passed to every task as they are."""
    from .emd import _DIMENSION_MISMATCH, _is_empty
    from ._errors import ShapeMismatchError

    if _is_empty(w):
        return None, None
    shape = tuple(int(s) for s in w.shape)
    if shape == (size,):
        return (w.compute() if is_dask_array(w) else w), None
    if shape == (k, size):
        import dask.array as da

        return da.asarray(w).rechunk((row_chunks, (size,))), "k" + index
    raise ShapeMismatchError(f"{_DIMENSION_MISMATCH}: {name} has shape {shape}, expected "
                             f"({size},) or ({k}, {size}) or an empty list for uniform weights")


def _batch_operands(a, b, first, second_size: int):
    """Blockwise operands (a, index, b, index) of a batch whose problems are first's chunks."""
    k, n = (int(s) for s in first.shape[:2])
    a_array, a_index = _weights_operand(a, "a", "i", n, k, first.chunks[0])
    b_array, b_index = _weights_operand(b, "b", "j", second_size, k, first.chunks[0])
    return a_array, a_index, b_array, b_index


def _as_problem_chunks(array, name: str, last: str):
    import dask.array as da

    array = da.asarray(array)
    if array.ndim != 3:
        raise ValueError(f"normot.emd: a Dask {name} must be a batch of shape (k, n, {last}), "
                         f"got shape {tuple(array.shape)}")
    return array.rechunk({1: -1, 2: -1})


def _emd_chunk(M, a, b, options: EmdOptions, costs_only: bool):
    from .emd import emd, emd2

    kwargs = dict(numItermax=options.max_iter, center_dual=options.center_dual,
                  check_marginals=options.check_marginals)
    with threads_in_this_thread(task_threads()):
        a = [] if a is None else a
        b = [] if b is None else b
        return emd2(a, b, M, **kwargs) if costs_only else emd(a, b, M, **kwargs)


def emd_batch(a, b, M, options: EmdOptions, costs_only: bool):
    """Plans (k, n, m) or costs (k,) of a Dask batch M chunked along k, as Dask arrays."""
    import dask.array as da

    from .emd import _ResultKind

    M = _as_problem_chunks(M, "M", "m")
    a_array, a_index, b_array, b_index = _batch_operands(a, b, M, int(M.shape[2]))
    dtype = np.dtype(np.float64) if costs_only else _ResultKind(a, b, M).dtype
    out_index = "k" if costs_only else "kij"
    return da.blockwise(_emd_chunk, out_index, M, "kij", a_array, a_index, b_array, b_index,
                        options, None, costs_only, None, concatenate=True, dtype=dtype,
                        meta=np.empty((0,) * len(out_index), dtype))


def _clouds_chunk(X, Y, a, b, metric: str, options: EmdOptions):
    from .emd import emd_pointclouds

    with threads_in_this_thread(task_threads()):
        return emd_pointclouds(X, Y, a, b, metric=metric, numItermax=options.max_iter,
                               center_dual=options.center_dual,
                               check_marginals=options.check_marginals)


def emd_pointclouds_batch(X, Y, a, b, metric: str, options: EmdOptions):
    """Costs (k,) of Dask point clouds X (k, n, d) and Y (k, m, d), as a Dask array."""
    import dask.array as da

    X = _as_problem_chunks(X, "X", "d")
    Y = _as_problem_chunks(Y, "Y", "d").rechunk({0: X.chunks[0]})
    if X.shape[0] != Y.shape[0] or X.shape[2] != Y.shape[2]:
        raise ValueError(f"X and Y must hold as many problems of the same dimension; got "
                         f"{tuple(X.shape)} and {tuple(Y.shape)}")
    if metric not in L.METRIC_BY_NAME:
        raise ValueError(f"metric must be one of {sorted(L.METRIC_BY_NAME)}, not {metric!r}")
    a_array, a_index, b_array, b_index = _batch_operands(a, b, X, int(Y.shape[1]))
    return da.blockwise(_clouds_chunk, "k", X, "kid", Y, "kjd", a_array, a_index, b_array,
                        b_index, metric, None, options, None, concatenate=True,
                        dtype=np.float64, meta=np.empty((0,), np.float64))
