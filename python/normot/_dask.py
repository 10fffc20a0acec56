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


def _params(settings: _Settings, target_sum):
    from .normalize import _make_params

    return _make_params(target_sum, False, settings.max_fraction)


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


def _output_dtype(dtype) -> np.dtype:
    from .normalize import _FLOAT_CODES

    return np.dtype(dtype) if np.dtype(dtype) in _FLOAT_CODES else np.dtype(np.float32)


@contextlib.contextmanager
def _naming_rows(block_info):
    """A library error of a chunk says which rows of the whole matrix the chunk holds, since
    the library's own message counts rows from the start of the chunk."""
    try:
        yield
    except NormotError as error:
        if not block_info or None not in block_info:
            raise
        first, end = block_info[None]["array-location"][0]
        raise type(error)(f"in the chunk of rows {first} to {end - 1} of the Dask array: "
                          f"{error}", error.status) from None


def _chunk_totals(chunk, settings: _Settings, block_info=None):
    """The chunk's totals as the library computes them (rounded to the output type), from a
    call with target 1 whose normalized values are dropped."""
    from .normalize import _normalize_matrix

    with threads_in_this_thread(task_threads()), _naming_rows(block_info):
        return _normalize_matrix(_scratch_values(chunk), params=_params(settings, 1.0),
                                 inplace=True).totals


def _scratch_values(chunk):
    """The chunk with its own copy of the values (float values: normalized in place there) and
    the chunk's own index arrays, which the library only reads: a memcpy instead of a new output
    array and copies of the indices."""
    if not hasattr(chunk, "indices"):
        return chunk.copy()
    return type(chunk)((chunk.data.copy(), chunk.indices, chunk.indptr), shape=chunk.shape)


def _chunk_scaled(chunk, target: float, settings: _Settings, block_info=None):
    from .normalize import _normalize_matrix

    with threads_in_this_thread(task_threads()), _naming_rows(block_info):
        return _normalize_matrix(chunk, params=_params(settings, target), inplace=False).X


def _as_output_type(chunk, dtype):
    return chunk.astype(dtype) if chunk.dtype != dtype else chunk.copy()


def _without_genes(chunk, excluded_mask, dtype):
    """A copy in the output type whose excluded genes are 0: the library's totals of it are the
    totals over the kept genes (adding +0.0 to a float64 sum changes nothing)."""
    work = _as_output_type(chunk, dtype)
    if hasattr(work, "indices"):
        work.data[excluded_mask[work.indices]] = 0
    else:
        work[:, excluded_mask] = 0
    return work


def _chunk_high_genes(chunk, settings: _Settings, dtype, block_info=None):
    """(1, n_genes) mask of the genes some cell of the chunk has above max_fraction of its
    total: the library's rule, (double)value > max_fraction * (double)rounded total."""
    values = _as_output_type(chunk, dtype)
    totals = _chunk_totals(values, settings, block_info).astype(np.float64)
    high = np.zeros((1, chunk.shape[1]), dtype=bool)
    if hasattr(values, "indices"):
        rows = np.repeat(np.arange(values.shape[0]), np.diff(values.indptr))
        above = values.data.astype(np.float64) > settings.max_fraction * totals[rows]
        high[0, values.indices[above]] = True
    else:
        above = values.astype(np.float64) > settings.max_fraction * totals[:, None]
        high[0] = above.any(axis=0)
    return high


def _chunk_kept_totals(chunk, excluded_mask, settings: _Settings, dtype):
    return _chunk_totals(_without_genes(chunk, excluded_mask, dtype), settings)


def _chunk_divided(chunk, totals, target, dtype):
    """The chunk divided by its given totals' size factors, one division in the output type
    as the library does (1 for a zero total): the excluded-genes path, whose totals the
    library cannot be handed."""
    size_factors = np.asarray(totals).reshape(-1) / dtype.type(target)
    size_factors[size_factors == 0] = 1
    values = _as_output_type(chunk, dtype)
    if hasattr(values, "indices"):
        values.data /= np.repeat(size_factors, np.diff(values.indptr))
    else:
        values /= size_factors[:, None]
    return values


def _median_target(totals: np.ndarray) -> float:
    """The median of the positive totals by the library itself: a one-gene matrix whose cells'
    totals are the gathered totals (the same rule, and its error when none is positive)."""
    from .normalize import _make_params, _normalize_matrix

    column = np.ascontiguousarray(totals.reshape(-1, 1))
    # One thread: a selection over one number a cell is milliseconds, less than waking a team
    # of threads on a machine whose cores the workers are using.
    with threads_in_this_thread(1):
        return _normalize_matrix(column, params=_make_params(None, False, 0.05),
                                 inplace=False).target


def _check_target(settings: _Settings, dtype) -> None:
    """A given target_sum is checked by the library on the client, on an empty matrix, so that
    a bad one fails now with its message rather than in every task."""
    from .normalize import _normalize_matrix

    _normalize_matrix(np.zeros((0, 1), dtype), params=_params(settings, settings.target_sum),
                      inplace=False)


def _gather_totals(x, settings: _Settings, dtype) -> np.ndarray:
    totals = x.map_blocks(_chunk_totals, settings, drop_axis=1, dtype=dtype,
                          meta=np.empty((0,), dtype))
    return np.asarray(totals.compute())


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
    dtype = _output_dtype(x.dtype)
    settings = _Settings(None if target_sum is None else float(target_sum), float(max_fraction))
    if target_sum is not None:
        _check_target(settings, dtype)
    if exclude_highly_expressed:
        return _normalize_excluding(x, settings, dtype)
    meta = x._meta.astype(dtype)
    if target_sum is None:
        totals = _gather_totals(x, settings, dtype)
        target = _median_target(totals)
        values = x.map_blocks(_chunk_scaled, target, settings, dtype=dtype, meta=meta)
        return DaskNormalized(values, _size_factors(totals, target, (x.chunks[0],)), target,
                              int(np.count_nonzero(totals == 0)), None)
    # A given target and no exclusion: nothing spans chunks, so nothing is computed now.
    values = x.map_blocks(_chunk_scaled, settings.target_sum, settings, dtype=dtype, meta=meta)
    totals = x.map_blocks(_chunk_totals, settings, drop_axis=1, dtype=dtype,
                          meta=np.empty((0,), dtype))
    return DaskNormalized(values, totals / dtype.type(settings.target_sum), None, 0, None)


def _normalize_excluding(x, settings: _Settings, dtype) -> DaskNormalized:
    """Exclusion: the excluded set is the union of the chunks' sets (a gene is excluded when
    any cell has too much of its total in it); the totals over the kept genes are gathered;
    the division by the size factors is done per chunk in numpy, one division in the output
    type exactly as the library divides."""
    import dask.array as da

    high = x.map_blocks(_chunk_high_genes, settings, dtype, chunks=(1, x.shape[1]),
                        dtype=bool, meta=np.empty((0, 0), bool))
    excluded_mask = np.asarray(high.any(axis=0).compute())
    totals = np.asarray(x.map_blocks(_chunk_kept_totals, excluded_mask, settings, dtype,
                                     drop_axis=1, dtype=dtype,
                                     meta=np.empty((0,), dtype)).compute())
    target = (dtype.type(settings.target_sum) if settings.target_sum is not None
              else _median_target(totals))
    row_chunks = (x.chunks[0],)
    totals_chunks = da.from_array(totals, chunks=row_chunks)
    values = da.map_blocks(_chunk_divided, x, totals_chunks[:, None], float(target), dtype,
                           dtype=dtype, meta=x._meta.astype(dtype))
    return DaskNormalized(values, _size_factors(totals, target, row_chunks), float(target),
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
