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


def scaled(rows: Rows, chunk, params, cell_totals: np.ndarray):
    """A new chunk of the chunk's kind: its values divided by the size factors of the given
    totals (params holds the target as target_sum)."""
    out = np.empty(rows.values.shape, rows.out_dtype)
    output = L.NormalizeOutput()
    output.values = out.ctypes.data
    output.value_type = _FLOAT_CODES[rows.out_dtype]
    ctx = context()
    ctx.check(L.load().normot_normalize_block_scale(
        ctx.handle, ctypes.byref(rows.matrix), ctypes.byref(params),
        np.ascontiguousarray(cell_totals, np.float64).ctypes.data, ctypes.byref(output)))
    if not rows.is_sparse:
        return out
    return type(chunk)((out, rows.indices.copy(), rows.indptr.copy()), shape=rows.shape)
