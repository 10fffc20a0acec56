"""normalize_total on one host chunk of whole rows at a time, by the library's block calls.

A Dask task holds one chunk (a numpy array or a scipy CSR matrix of some cells), never the
matrix. The block calls do the whole-matrix arithmetic on such a chunk: the rounded totals of
its cells, its highly-expressed genes, the target of the gathered totals, and the scaling of
the chunk by totals it is handed, so that no task computes the totals twice and every value
has the bytes of an in-memory call.
"""

from __future__ import annotations

import ctypes

import numpy as np

from . import _library as L
from ._context import context

_FLOAT_CODES = {np.dtype(np.float32): L.FLOAT32, np.dtype(np.float64): L.FLOAT64}
_VALUE_CODES = {**_FLOAT_CODES, np.dtype(np.int32): L.INT32, np.dtype(np.int64): L.INT64,
                np.dtype(np.uint16): L.UINT16, np.dtype(np.uint32): L.UINT32}
_INDEX_CODES = {np.dtype(np.int32): L.INDEX_INT32, np.dtype(np.int64): L.INDEX_INT64}


def output_dtype(dtype) -> np.dtype:
    """The type of the normalized values: a float input's own, float32 for integers (scanpy)."""
    return np.dtype(dtype) if np.dtype(dtype) in _FLOAT_CODES else np.dtype(np.float32)


def params_for(target_sum, max_fraction: float) -> L.NormalizeParams:
    params = L.NormalizeParams()
    L.load().normot_normalize_params_init(ctypes.byref(params))
    if target_sum is not None:
        params.has_target_sum = 1
        params.target_sum = float(target_sum)
    params.max_fraction = float(max_fraction)
    return params


class Rows:
    """A chunk as the library reads it: the normot_matrix, and the arrays it points into
    (kept referenced here for as long as the matrix is used)."""

    def __init__(self, chunk):
        self.is_sparse = hasattr(chunk, "indptr")
        self.shape = tuple(int(s) for s in chunk.shape)
        self.values = _readable_values(chunk.data if self.is_sparse else np.asarray(chunk))
        self.out_dtype = output_dtype(self.values.dtype)
        matrix = L.Matrix()
        matrix.n_rows, matrix.n_cols = self.shape
        matrix.values = self.values.ctypes.data
        matrix.value_type = _VALUE_CODES[self.values.dtype]
        matrix.memory = L.MEMORY_HOST
        if self.is_sparse:
            self.indptr, self.indices = _index_arrays(chunk.indptr, chunk.indices)
            matrix.layout = L.LAYOUT_CSR
            matrix.nnz = int(self.values.shape[0])
            matrix.indptr, matrix.indices = self.indptr.ctypes.data, self.indices.ctypes.data
            matrix.index_type = _INDEX_CODES[self.indptr.dtype]
        else:
            matrix.layout = L.LAYOUT_DENSE
            matrix.index_type = L.INDEX_INT64
            matrix.ld = self.shape[1]
        self.matrix = matrix


def _readable_values(values: np.ndarray) -> np.ndarray:
    """The values in a type the library reads (other integer widths: float32, as scanpy casts
    them), C-contiguous."""
    if values.dtype not in _VALUE_CODES:
        values = values.astype(np.float32)
    return np.ascontiguousarray(values)


def _index_arrays(indptr, indices):
    """indptr and indices of one index type the library reads, C-contiguous."""
    if indptr.dtype != indices.dtype or indptr.dtype not in _INDEX_CODES:
        indptr, indices = indptr.astype(np.int64), indices.astype(np.int64)
    return np.ascontiguousarray(indptr), np.ascontiguousarray(indices)


def _pointer(array):
    return None if array is None else array.ctypes.data


def totals(rows: Rows, params, excluded=None) -> np.ndarray:
    """The cells' totals (float64 holding values rounded to the output type), over the genes
    not flagged in `excluded` (uint8 per gene) when it is given."""
    ctx, lib = context(), L.load()
    sums = np.zeros(rows.shape[0], np.float64)
    code = _FLOAT_CODES[rows.out_dtype]
    ctx.check(lib.normot_normalize_block_sums(ctx.handle, ctypes.byref(rows.matrix),
                                              ctypes.byref(params), code, _pointer(excluded),
                                              sums.ctypes.data))
    ctx.check(lib.normot_normalize_block_totals(ctx.handle, ctypes.byref(params), code,
                                                sums.shape[0], sums.ctypes.data))
    return sums


def high_genes(rows: Rows, params, cell_totals: np.ndarray) -> np.ndarray:
    """uint8 per gene: 1 where some cell of the chunk has a value above max_fraction times its
    total."""
    ctx = context()
    flags = np.zeros(rows.shape[1], np.uint8)
    ctx.check(L.load().normot_normalize_block_exclusion(
        ctx.handle, ctypes.byref(rows.matrix), ctypes.byref(params),
        _FLOAT_CODES[rows.out_dtype], cell_totals.ctypes.data, flags.ctypes.data))
    return flags


def target(all_totals: np.ndarray, params, out_dtype) -> float:
    """target_sum rounded to the output type, or the median of the positive totals."""
    ctx = context()
    found = ctypes.c_double()
    column = np.ascontiguousarray(all_totals, np.float64)
    ctx.check(L.load().normot_normalize_block_target(
        ctx.handle, ctypes.byref(params), _FLOAT_CODES[np.dtype(out_dtype)], column.shape[0],
        column.ctypes.data, ctypes.byref(found)))
    return found.value


def _unchecked(params) -> L.NormalizeParams:
    copy = L.NormalizeParams.from_buffer_copy(params)
    copy.check_values = 0
    return copy


def values_checked(params) -> L.NormalizeParams:
    """params for a call on a chunk whose values a call of this task has just checked (a block
    sums call with check_values): the same, without reading every value again for the check."""
    return _unchecked(params)


def _results_finite(out: np.ndarray) -> bool:
    """Whether every value of `out` (the chunk's normalized values) is finite, from one
    vectorized read: numpy's sum of them is finite only then (a NaN or an infinity makes it NaN
    or infinite). A sum that overflows on finite values says no as well, which only sends the
    chunk through the checked call. (The library's block sums would add non-integer values in
    one dependent chain: as slow as the scaling.)"""
    return bool(np.isfinite(np.sum(out)))


def _new_chunk(rows: Rows, chunk, out: np.ndarray):
    """The normalized chunk of the input's kind. A sparse one shares the input's indices and
    indptr: Dask chunks are never modified, and two copies of the structure per chunk cost as
    much as the scaling (their pages are faulted in on first touch)."""
    if not rows.is_sparse:
        return out
    return type(chunk)((out, rows.indices, rows.indptr), shape=rows.shape)


def _checked_after(params, call) -> np.ndarray:
    """call(params) writes the chunk's results into a new array and returns it. With
    check_values, it runs unchecked (the fast path, one read of the chunk), the results are then
    checked to be finite, and only when one is not is the call run again with the checks, for the
    library's own error (the input values that are not finite, or the row whose results
    overflow), or, after a sum that overflowed on finite values, the same results. The same
    bytes either way; the checks only decide whether there is an error."""
    if not params.check_values:
        return call(params)
    out = call(_unchecked(params))
    if _results_finite(out):
        return out
    return call(params)  # raises the checked call's error


def _output_for(rows: Rows):
    """(a new array for the chunk's results, the library's output pointing into it)."""
    out = np.empty(rows.values.shape, rows.out_dtype)
    output = L.NormalizeOutput()
    output.values = out.ctypes.data
    output.value_type = _FLOAT_CODES[rows.out_dtype]
    return out, output


def normalized(rows: Rows, chunk, params):
    """A new chunk of the chunk's kind: the whole-matrix call to a known target (params holds
    it), which sums each row and scales it while it is in cache."""
    ctx, lib = context(), L.load()

    def call(call_params):
        out, output = _output_for(rows)
        ctx.check(lib.normot_normalize_total(ctx.handle, ctypes.byref(rows.matrix),
                                             ctypes.byref(call_params), ctypes.byref(output)))
        return out

    return _new_chunk(rows, chunk, _checked_after(params, call))


def scaled(rows: Rows, chunk, params, cell_totals: np.ndarray):
    """A new chunk of the chunk's kind: its values divided by the size factors of the given
    totals (params holds the target as target_sum)."""
    ctx, lib = context(), L.load()
    column = np.ascontiguousarray(cell_totals, np.float64)

    def call(call_params):
        out, output = _output_for(rows)
        ctx.check(lib.normot_normalize_block_scale(ctx.handle, ctypes.byref(rows.matrix),
                                                   ctypes.byref(call_params),
                                                   column.ctypes.data, ctypes.byref(output)))
        return out

    return _new_chunk(rows, chunk, _checked_after(params, call))
