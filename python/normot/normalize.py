"""normot.normalize_total: scanpy's sc.pp.normalize_total on libnormot."""

from __future__ import annotations

import ctypes
import logging
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from . import _dask
from . import _library as L
from ._buffers import Buffer, to_host
from ._context import device_context_for

logger = logging.getLogger("normot")

_FLOAT_CODES = {np.dtype(np.float32): L.FLOAT32, np.dtype(np.float64): L.FLOAT64}
# Integer types the library reads directly (out of place, into float32 like scanpy).
_INT_CODES = {np.dtype(np.int32): L.INT32, np.dtype(np.int64): L.INT64,
              np.dtype(np.uint16): L.UINT16, np.dtype(np.uint32): L.UINT32}
_INDEX_CODES = {np.dtype(np.int32): L.INDEX_INT32, np.dtype(np.int64): L.INDEX_INT64}


@dataclass
class _Normalized:
    X: object               # the normalized matrix (the input object itself when in place)
    totals: object          # per-cell totals as used, in the output dtype
    target: float
    n_zero_cells: int
    n_excluded_genes: int

    @property
    def size_factors(self):
        # Divided here rather than in C so that the column is exactly scanpy's
        # `counts_per_cell / target_sum` in the output dtype, zero for empty cells.
        return self.totals / self.totals.dtype.type(self.target) if isinstance(
            self.totals, np.ndarray) else self.totals / self.target


def _is_anndata(obj) -> bool:
    return any(cls.__name__ == "AnnData" and cls.__module__.startswith("anndata")
               for cls in type(obj).__mro__)


def _sparse_format(obj) -> str | None:
    """'csr'/'csc' for scipy.sparse and cupyx.scipy.sparse matrices and torch sparse tensors."""
    fmt = getattr(obj, "format", None)
    if isinstance(fmt, str) and hasattr(obj, "indptr") and hasattr(obj, "indices"):
        return fmt
    layout = getattr(obj, "layout", None)
    if layout is not None and type(obj).__module__.startswith("torch"):
        name = str(layout)
        if name == "torch.sparse_csr":
            return "torch_csr"
        if name == "torch.sparse_csc":
            return "torch_csc"
        if name == "torch.sparse_coo":
            return "torch_coo"
    return None


def _sparse_parts(obj, fmt):
    if fmt.startswith("torch_"):
        if fmt == "torch_csr":
            return obj.crow_indices(), obj.col_indices(), obj.values()
        if fmt == "torch_csc":
            return obj.ccol_indices(), obj.row_indices(), obj.values()
        raise TypeError("normot.normalize_total takes CSR or CSC sparse tensors, not COO")
    return obj.indptr, obj.indices, obj.data


def _rebuild_sparse(obj, fmt, data, indices, indptr):
    """A new sparse matrix of the input's kind with new values and copied structure."""
    if fmt.startswith("torch_"):
        import torch

        make = torch.sparse_csr_tensor if fmt == "torch_csr" else torch.sparse_csc_tensor
        return make(indptr.clone(), indices.clone(), data, size=tuple(obj.shape))
    return type(obj)((data, indices.copy(), indptr.copy()), shape=obj.shape)


def _value_code(dtype) -> int | None:
    return _FLOAT_CODES.get(np.dtype(dtype), _INT_CODES.get(np.dtype(dtype)))


def _check_dtype(dtype) -> None:
    dtype = np.dtype(dtype)
    if dtype in _FLOAT_CODES or np.issubdtype(dtype, np.integer):
        return
    raise TypeError(f"normot.normalize_total needs float32, float64 or integer values, "
                    f"not {dtype}")


def _normalize_matrix(x, *, params: L.NormalizeParams, inplace: bool) -> _Normalized:
    """Normalizes one matrix. inplace: float input is overwritten and returned as is; integer
    input (and inplace=False) gives a new float matrix of the same kind."""
    fmt = _sparse_format(x)
    if fmt is None and hasattr(x, "tocsr"):  # scipy/cupyx COO, DIA, LIL, ...
        raise TypeError(f"normot.normalize_total takes CSR or CSC sparse matrices, not "
                        f"{str(getattr(x, 'format', type(x).__name__)).upper()}; convert "
                        "with .tocsr()")
    if fmt == "torch_coo":
        raise TypeError("normot.normalize_total takes CSR or CSC sparse tensors, not COO; "
                        "convert with .to_sparse_csr()")
    if fmt is not None:
        return _normalize_sparse(x, fmt, params=params, inplace=inplace)
    return _normalize_dense(x, params=params, inplace=inplace)


def _run(values: Buffer, matrix: L.Matrix, params, out_values, out_dtype) -> _Normalized:
    # The context first: a device array no backend can read fails here, before allocating.
    ctx = device_context_for(values, "X", "normot.normalize_total")
    totals = values.empty((matrix.n_rows,), out_dtype)
    totals_buffer = Buffer(totals)
    output = L.NormalizeOutput()
    output.values = out_values
    output.value_type = _FLOAT_CODES[np.dtype(out_dtype)]
    output.size_factors = None
    output.totals = totals_buffer.pointer
    ctx.check(L.load().normot_normalize_total(ctx.handle, ctypes.byref(matrix),
                                              ctypes.byref(params), ctypes.byref(output)))
    return _Normalized(X=None, totals=totals, target=output.target,
                       n_zero_cells=int(output.n_zero_cells),
                       n_excluded_genes=int(output.n_excluded_genes))


def _prepare_values(values: Buffer, inplace: bool):
    """Returns (values to read, whether the library may write into them): the caller's own
    float values only when normalizing in place, or a private converted/contiguous copy."""
    _check_dtype(values.dtype)
    if values.dtype not in _FLOAT_CODES and values.dtype not in _INT_CODES:
        # Other integer widths: scanpy's own cast to float32, then normalized in place.
        return values.like(values.astype(np.float32)), True
    if not values.c_contiguous:
        return values.like(values.contiguous()), values.dtype in _FLOAT_CODES
    return values, inplace and values.dtype in _FLOAT_CODES


def _normalize_sparse(x, fmt, *, params, inplace) -> _Normalized:
    indptr, indices, data = _sparse_parts(x, fmt)
    values = Buffer(data)
    on_device = values.on_device
    if inplace and values.dtype in _FLOAT_CODES and not values.writeable:
        raise ValueError("normot.normalize_total: the matrix's values are read-only; use "
                         "inplace=False")
    work, may_write = _prepare_values(values, inplace)
    index_buffers = [Buffer(indptr), Buffer(indices)]
    if (index_buffers[0].dtype != index_buffers[1].dtype
            or index_buffers[0].dtype not in _INDEX_CODES
            or not all(b.c_contiguous for b in index_buffers)):
        index_buffers = [b.like(b.astype(np.int64)) for b in index_buffers]
        index_buffers = [b if b.c_contiguous else b.like(b.contiguous()) for b in index_buffers]
    if on_device and any(not b.on_device for b in index_buffers):
        raise TypeError("normot.normalize_total: values on the GPU but indices on the host")

    n_rows, n_cols = (int(s) for s in x.shape)
    matrix = L.Matrix()
    matrix.layout = L.LAYOUT_CSR if fmt in ("csr", "torch_csr") else L.LAYOUT_CSC
    matrix.n_rows, matrix.n_cols = n_rows, n_cols
    matrix.nnz = int(work.shape[0])
    matrix.indptr = index_buffers[0].pointer
    matrix.indices = index_buffers[1].pointer
    matrix.index_type = _INDEX_CODES[index_buffers[0].dtype]
    matrix.values = work.pointer
    matrix.value_type = _value_code(work.dtype)
    matrix.memory = work.memory

    out_dtype = work.dtype if work.dtype in _FLOAT_CODES else np.dtype(np.float32)
    if may_write:
        result = _run(work, matrix, params, None, out_dtype)
        if work is values:
            result.X = x
        elif inplace and values.dtype in _FLOAT_CODES and not fmt.startswith("torch_"):
            x.data = work.result  # the same dtype, now contiguous: still the caller's object
            result.X = x
        else:
            result.X = _rebuild_sparse(x, fmt, work.result, indices, indptr)
    else:
        out = work.empty((matrix.nnz,), out_dtype)
        result = _run(work, matrix, params, Buffer(out).pointer, out_dtype)
        result.X = _rebuild_sparse(x, fmt, out, indices, indptr)
    return result


def _dense_leading_dimension(buffer: Buffer) -> int | None:
    """Elements between rows when rows are contiguous (a C array or a row slice), else None."""
    n_rows, n_cols = buffer.shape
    itemsize = buffer.dtype.itemsize
    row_stride, col_stride = buffer.strides
    if n_cols <= 1 or col_stride == itemsize:
        if n_rows <= 1:
            return n_cols
        if row_stride % itemsize == 0 and row_stride // itemsize >= n_cols:
            return row_stride // itemsize
    return None


def _normalize_dense(x, *, params, inplace) -> _Normalized:
    if isinstance(x, np.matrix):
        x = np.asarray(x)
    values = Buffer(x)
    if len(values.shape) != 2:
        raise ValueError(f"normot.normalize_total needs a 2-D cells x genes matrix, got shape "
                         f"{values.shape}")
    _check_dtype(values.dtype)
    n_rows, n_cols = (int(s) for s in values.shape)
    is_float = values.dtype in _FLOAT_CODES
    if inplace and is_float and not values.writeable:
        raise ValueError("normot.normalize_total: the array is read-only; use inplace=False")

    work = values
    if not is_float and values.dtype not in _INT_CODES:
        work = values.like(values.astype(np.float32))
    ld = _dense_leading_dimension(work)
    if ld is None or (ld != n_cols and not (inplace and work is values)):
        work = work.like(work.contiguous())
        ld = n_cols
    out_dtype = work.dtype if work.dtype in _FLOAT_CODES else np.dtype(np.float32)

    matrix = L.Matrix()
    matrix.layout = L.LAYOUT_DENSE
    matrix.n_rows, matrix.n_cols, matrix.nnz = n_rows, n_cols, 0
    matrix.indptr = matrix.indices = None
    matrix.index_type = L.INDEX_INT64
    matrix.values = work.pointer
    matrix.value_type = _value_code(work.dtype)
    matrix.ld = ld
    matrix.memory = work.memory

    writes_in_place = work.dtype in _FLOAT_CODES and (inplace or work is not values)
    if writes_in_place:
        result = _run(work, matrix, params, None, out_dtype)
        if work is values:
            result.X = values.result
        elif inplace and is_float:
            values.owner[...] = work.result  # strided input: normalized copy written back
            result.X = values.result
        else:
            result.X = work.result
    else:
        out = work.empty((n_rows, n_cols), out_dtype)
        result = _run(work, matrix, params, Buffer(out).pointer, out_dtype)
        result.X = out
    return result


def _make_params(target_sum, exclude_highly_expressed, max_fraction) -> L.NormalizeParams:
    params = L.NormalizeParams()
    L.load().normot_normalize_params_init(ctypes.byref(params))
    if target_sum is not None:
        params.has_target_sum = 1
        params.target_sum = float(target_sum)
    params.exclude_highly_expressed = int(bool(exclude_highly_expressed))
    params.max_fraction = float(max_fraction)
    return params


def normalize_total(adata_or_X, target_sum: float | None = None,
                    exclude_highly_expressed: bool = False, max_fraction: float = 0.05,
                    key_added: str | None = None, layer: str | None = None,
                    inplace: bool = True, copy: bool = False):
    """Normalize counts per cell, exactly as ``scanpy.pp.normalize_total``.

    Each cell (row) is divided by ``total / target``, where ``total`` is its sum of counts
    (over the genes that are not highly expressed when ``exclude_highly_expressed``) and
    ``target`` is ``target_sum`` or the median of the positive totals. On count data the
    result is bitwise identical to scanpy's.

    ``adata_or_X`` is an AnnData, a scipy.sparse CSR/CSC matrix or array, a numpy array, or a
    GPU array (CuPy, cupyx.scipy.sparse CSR/CSC, PyTorch dense or sparse CSR/CSC CUDA tensors,
    anything with ``__cuda_array_interface__`` or DLPack), which the CUDA backend normalizes
    where it lies.

    Float32/float64 values are normalized truly in place (no copy, CSC stays CSC); integer
    values give a new float32 matrix, as scanpy does.

    Returns, like scanpy, for an AnnData: None (inplace), the new AnnData (copy=True) or
    ``dict(X=..., norm_factor=...)`` (inplace=False). For a bare matrix: the normalized matrix
    (the same object when it was normalized in place), or the dict when inplace=False.
    ``norm_factor`` / ``adata.obs[key_added]`` hold the size factors ``total / target``.
    """
    if copy:
        if not inplace:
            raise ValueError("`copy=True` cannot be used with `inplace=False`.")
    if not (0 <= max_fraction <= 1):  # also rejects NaN
        raise ValueError("Choose max_fraction between 0 and 1.")
    params = _make_params(target_sum, exclude_highly_expressed, max_fraction)
    started = datetime.now()

    if _is_anndata(adata_or_X):
        adata = adata_or_X.copy() if copy else adata_or_X
        if adata.is_view:
            # Same as scanpy: a view is turned into an actual AnnData before it is modified.
            adata._init_as_actual(adata.copy())
        if layer is None:
            x = adata.X
        else:
            x = adata.layers[layer] if layer in adata.layers else None
        if x is None:
            raise ValueError(f"Layer {layer!r} not found in adata.")
        logger.info("normalizing counts per cell")
        result, excluded = _normalize_any(x, params, inplace, target_sum,
                                          exclude_highly_expressed, max_fraction)
        size_factors = result.size_factors
        _report(result, excluded, adata.var_names, started, key_added)
        if inplace:
            if key_added is not None:
                adata.obs[key_added] = np.asarray(to_host(size_factors))
            if result.X is not x:
                if layer is None:
                    adata.X = result.X
                else:
                    adata.layers[layer] = result.X
            return adata if copy else None
        return dict(X=result.X, norm_factor=size_factors)

    if key_added is not None:
        raise ValueError("key_added needs an AnnData (it names a column of adata.obs)")
    if layer is not None:
        raise ValueError("layer needs an AnnData")
    x = adata_or_X
    if copy:
        x = x.copy()
    logger.info("normalizing counts per cell")
    result, excluded = _normalize_any(x, params, inplace, target_sum, exclude_highly_expressed,
                                      max_fraction)
    _report(result, excluded, None, started, None)
    if inplace:
        return result.X
    return dict(X=result.X, norm_factor=result.size_factors)


def _normalize_any(x, params, inplace, target_sum, exclude_highly_expressed, max_fraction):
    """(result, excluded genes or None): a Dask matrix chunk by chunk (a new lazy array, never
    in place), any other matrix in one call."""
    if _dask.is_dask_array(x):
        result = _dask.normalize(x, target_sum, exclude_highly_expressed, max_fraction)
        return result, result.excluded if logger.isEnabledFor(logging.INFO) else None
    excluded = _excluded_genes(x, max_fraction) if exclude_highly_expressed else None
    return _normalize_matrix(x, params=params, inplace=inplace), excluded


def _excluded_genes(x, max_fraction):
    """The columns scanpy names as highly expressed (some cell has more than max_fraction of
    its total in them), computed only when an INFO record will be emitted: a host matrix is
    read once more; None when nothing will be logged or the matrix lives on a GPU."""
    if not logger.isEnabledFor(logging.INFO) or Buffer(_values_of(x)).on_device:
        return None
    if hasattr(x, "tocoo"):
        entries = x.tocoo()
        rows, cols, values = entries.row, entries.col, entries.data
        totals = np.bincount(rows, weights=values, minlength=x.shape[0])
    else:
        dense = np.asarray(x)
        totals = dense.sum(axis=1, dtype=np.float64)
        rows, cols = np.nonzero(dense)
        values = dense[rows, cols]
    high = values > totals[rows] * max_fraction
    return np.unique(cols[high])


def _values_of(x):
    fmt = _sparse_format(x)
    return _sparse_parts(x, fmt)[2] if fmt is not None and not fmt.endswith("coo") else x


def _report(result: _Normalized, excluded, var_names, started, key_added) -> None:
    """scanpy's messages, as records of the "normot" logger (INFO and DEBUG), and its
    warning for empty cells."""
    if excluded is not None:
        names = (var_names[excluded] if var_names is not None else excluded.astype(str)).tolist()
        logger.info("The following highly-expressed genes are not considered during "
                    "normalization factor computation:\n%s", names)
    if result.n_zero_cells > 0:
        warnings.warn("Some cells have zero counts", UserWarning, stacklevel=3)
    # scanpy prints the elapsed time to the second
    elapsed = timedelta(seconds=int((datetime.now() - started).total_seconds()))
    logger.info("    finished (%s)", elapsed, extra={"time_passed": elapsed})
    if key_added is not None:
        logger.debug("and added %r, counts per cell before normalization (adata.obs)", key_added)
