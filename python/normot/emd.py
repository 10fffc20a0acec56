"""normot.emd / emd2 / emd_pointclouds: POT's exact EMD, for one problem or a whole batch."""

from __future__ import annotations

import ctypes
import warnings
from dataclasses import dataclass

import numpy as np

from . import _library as L
from ._buffers import Buffer, to_host
from ._context import context

DEFAULT_MAX_ITER = 100000  # POT's default numItermax

# What a non-optimal problem means, per result_code (POT's numbering, kept by the C API).
_RESULT_MESSAGES = {
    L.EMD_INFEASIBLE: "Problem infeasible: check that a and b are non-negative weights with the "
                      "same total mass",
    L.EMD_UNBOUNDED: "Problem unbounded",
    L.EMD_MAX_ITER_REACHED: "numItermax reached before optimality: the plan is feasible but may "
                            "not be optimal; increase numItermax",
}


def result_message(result_code: int) -> str | None:
    """None for an optimal problem, else the sentence POT users know as log['warning']."""
    return _RESULT_MESSAGES.get(int(result_code))


@dataclass
class _Batch:
    """Raw float64 outputs of one library call, in the memory of the inputs."""

    k: int
    n: int
    m: int
    cost: object
    plan: object | None
    u: object | None
    v: object | None
    status: np.ndarray          # always on the host
    sparse: tuple | None        # (rows, cols, values, counts) when asked for
    on_device: bool


def _is_empty(w) -> bool:
    if w is None:
        return True
    if isinstance(w, (list, tuple)):
        return len(w) == 0
    shape = getattr(w, "shape", None)
    return shape is not None and len(shape) >= 1 and shape[0] == 0 and len(shape) == 1


def _buffer(obj, anchor: Buffer | None) -> Buffer:
    """A Buffer for obj; host data goes next to a device anchor (small weight vectors)."""
    if isinstance(obj, (list, tuple)) or np.isscalar(obj):
        obj = np.asarray(obj, dtype=np.float64)
    buffer = Buffer(obj)
    if anchor is not None and anchor.on_device and not buffer.on_device:
        buffer = Buffer(anchor.copy_from_host(np.ascontiguousarray(buffer.array)))
    return buffer


def _normalized(buffer: Buffer, dtype) -> Buffer:
    """Same data as a C-contiguous array of dtype (no copy when it already is)."""
    if buffer.dtype != dtype:
        buffer = buffer.like(buffer.astype(dtype))
    if not buffer.c_contiguous:
        buffer = buffer.like(buffer.contiguous())
    return buffer


def _value_dtype(buffers) -> np.dtype:
    # float32 only when every input is float32 (the solver works in float64 regardless);
    # any float64 or integer input makes the call float64, as POT converts everything to it.
    dtypes = {np.dtype(b.dtype) for b in buffers if b is not None}
    return np.dtype(np.float32) if dtypes == {np.dtype(np.float32)} else np.dtype(np.float64)


def _weights(w, name: str, size: int, k: int, batched: bool, anchor: Buffer):
    """(buffer or None, shared flag) for a, b given as empty, (size,) or (k, size)."""
    if _is_empty(w):
        return None, 0
    buffer = _buffer(w, anchor)
    shape = tuple(buffer.shape)
    if shape == (size,):
        return buffer, int(batched)
    if batched and shape == (k, size):
        return buffer, 0
    expected = f"({size},) or ({k}, {size})" if batched else f"({size},)"
    hint = "" if batched else " (for a batch, pass M of shape (k, n, m), or (1, n, m) shared)"
    raise ValueError(f"Dimension mismatch: {name} has shape {shape}, expected {expected} or an "
                     f"empty list for uniform weights{hint}")


def _solve(a, b, *, cost=None, x=None, y=None, metric="sqeuclidean", max_iter=DEFAULT_MAX_ITER,
           center_dual=True, check_marginals=True, want_plan=True, want_duals=True,
           want_sparse=False, batched=None, solver="auto") -> _Batch:
    """One call of normot_emd. `batched` None: decided by the number of dimensions."""
    if cost is not None:
        anchor = _buffer(cost, None)
        ndim = len(anchor.shape)
        if ndim not in (2, 3):
            raise ValueError(f"M must have shape (n, m) or (k, n, m), got {tuple(anchor.shape)}")
        is_batch = ndim == 3 if batched is None else batched
        n, m = (int(s) for s in anchor.shape[-2:])
        k = int(anchor.shape[0]) if ndim == 3 else 1
        other = None
    else:
        anchor = _buffer(x, None)
        other = _buffer(y, anchor)
        if len(anchor.shape) not in (2, 3) or len(other.shape) != len(anchor.shape):
            raise ValueError("X and Y must both have shape (n, d) or (k, n, d); got "
                             f"{tuple(anchor.shape)} and {tuple(other.shape)}")
        is_batch = len(anchor.shape) == 3
        if anchor.shape[-1] != other.shape[-1]:
            raise ValueError(f"X and Y must have the same number of dimensions, got "
                             f"{anchor.shape[-1]} and {other.shape[-1]}")
        if is_batch and anchor.shape[0] != other.shape[0]:
            raise ValueError(f"X and Y hold different numbers of problems: {anchor.shape[0]} "
                             f"and {other.shape[0]}")
        k = int(anchor.shape[0]) if is_batch else 1
        n, m = int(anchor.shape[-2]), int(other.shape[-2])
        if metric not in L.METRIC_BY_NAME:
            raise ValueError(f"metric must be one of {sorted(L.METRIC_BY_NAME)}, not {metric!r}")

    # A shared cost (1, n, m) serves every problem of a batch whose size the weights give.
    cost_shared = 0
    if cost is not None and is_batch and k == 1:
        for w in (a, b):
            if not _is_empty(w):
                shape = getattr(w, "shape", None) or np.shape(w)
                if len(shape) == 2 and shape[0] != 1:
                    k, cost_shared = int(shape[0]), 1
                    break
    a_buffer, a_shared = _weights(a, "a", n, k, is_batch, anchor)
    b_buffer, b_shared = _weights(b, "b", m, k, is_batch, anchor)

    dtype = _value_dtype([anchor, other, a_buffer, b_buffer])
    anchor = _normalized(anchor, dtype)
    other = _normalized(other, dtype) if other is not None else None
    a_buffer = _normalized(a_buffer, dtype) if a_buffer is not None else None
    b_buffer = _normalized(b_buffer, dtype) if b_buffer is not None else None
    for buffer in (other, a_buffer, b_buffer):
        if buffer is not None and buffer.on_device != anchor.on_device:
            raise TypeError("normot.emd: inputs must all be on the host or all on one GPU")

    problem = L.EmdProblem()
    problem.k, problem.n, problem.m = k, n, m
    problem.value_type = L.FLOAT32 if dtype == np.float32 else L.FLOAT64
    problem.memory = anchor.memory
    problem.a = a_buffer.pointer if a_buffer is not None else None
    problem.a_shared = a_shared
    problem.b = b_buffer.pointer if b_buffer is not None else None
    problem.b_shared = b_shared
    if cost is not None:
        problem.cost, problem.cost_shared = anchor.pointer, cost_shared
        problem.x = problem.y = None
        problem.dim = 0
    else:
        problem.cost, problem.cost_shared = None, 0
        problem.x, problem.y = anchor.pointer, other.pointer
        problem.dim = int(anchor.shape[-1])
        problem.metric = L.METRIC_BY_NAME[metric]

    params = L.EmdParams()
    L.load().normot_emd_params_init(ctypes.byref(params))
    max_iter = int(max_iter)
    if max_iter < 0:
        raise ValueError("numItermax must be >= 0")
    params.max_iter = max_iter
    params.check_marginals = int(bool(check_marginals))
    params.center_duals = int(bool(center_dual))
    if solver not in L.EMD_SOLVER_BY_NAME:
        raise ValueError(f"solver must be one of {sorted(L.EMD_SOLVER_BY_NAME)}")
    params.solver = L.EMD_SOLVER_BY_NAME[solver]

    f64 = np.float64
    cost_out = anchor.empty((k,), f64)
    plan = anchor.empty((k, n, m), f64) if want_plan else None
    u = anchor.empty((k, n), f64) if want_duals else None
    v = anchor.empty((k, m), f64) if want_duals else None
    status = anchor.empty((k,), np.int32)
    sparse = None
    if want_sparse:
        width = n + m - 1
        sparse = (anchor.empty((k, width), np.int64), anchor.empty((k, width), np.int64),
                  anchor.empty((k, width), f64), anchor.empty((k,), np.int64))

    result = L.EmdResult()
    pointer = lambda obj: Buffer(obj).pointer if obj is not None else None  # noqa: E731
    result.cost = pointer(cost_out)
    result.plan = pointer(plan)
    result.u, result.v = pointer(u), pointer(v)
    result.status = pointer(status)
    if sparse is not None:
        result.sparse_row, result.sparse_col, result.sparse_value, result.sparse_count = (
            pointer(s) for s in sparse)

    ctx = context(on_device=anchor.on_device, device_id=anchor.device_id, stream=anchor.stream())
    ctx.check(L.load().normot_emd(ctx.handle, ctypes.byref(problem), ctypes.byref(params),
                                  ctypes.byref(result)))
    return _Batch(k=k, n=n, m=m, cost=cost_out, plan=plan, u=u, v=v,
                  status=np.asarray(to_host(status)), sparse=sparse,
                  on_device=anchor.on_device)


def _warn_results(status: np.ndarray, stacklevel: int) -> None:
    for code in (L.EMD_INFEASIBLE, L.EMD_UNBOUNDED, L.EMD_MAX_ITER_REACHED):
        count = int(np.count_nonzero(status == code))
        if count == 0:
            continue
        message = _RESULT_MESSAGES[code]
        if status.shape[0] > 1:
            message += f" ({count} of {status.shape[0]} problems)"
        warnings.warn(message, UserWarning, stacklevel=stacklevel + 1)


def _type_as(a, b, M):
    """POT's rule for the dtype of the results: a's, else b's, else M's."""
    for w in (a, b, M):
        if not _is_empty(w):
            dtype = getattr(w, "dtype", None)
            if dtype is None:
                return np.dtype(np.float64)  # a list
            try:
                return np.dtype(dtype)
            except TypeError:  # a torch dtype
                return np.dtype(str(dtype).replace("torch.", ""))
    return np.dtype(np.float64)


def _cast(obj, dtype):
    if obj is None:
        return None
    dtype = np.dtype(dtype)
    if isinstance(obj, np.ndarray):
        return obj if obj.dtype == dtype else obj.astype(dtype)
    buffer = Buffer(obj)
    return obj if buffer.dtype == dtype else buffer.astype(dtype)


def _warn_integer_type(dtype, stacklevel):
    if not np.issubdtype(dtype, np.floating):
        warnings.warn("Input histogram consists of integers: the transport plan is cast to "
                      "that type and may lose precision; pass floating-point weights to avoid "
                      "it.", UserWarning, stacklevel=stacklevel + 1)


def _warn_ignored(numThreads=1, processes=1, stacklevel=2):
    """POT warns about these deprecated parameters; they are ignored here as well."""
    if numThreads != 1:
        warnings.warn("numThreads is ignored: normot spreads a batch over the threads set by "
                      "normot.set_num_threads", DeprecationWarning, stacklevel=stacklevel + 1)
    if processes != 1:
        warnings.warn("processes is ignored: pass a batch to solve many problems in parallel",
                      DeprecationWarning, stacklevel=stacklevel + 1)


def _single_log(batch: _Batch, dtype, index: int = 0) -> dict:
    code = int(batch.status[index])
    return {
        "cost": float(to_host(batch.cost[index:index + 1])[0]),
        "u": _cast(batch.u[index], dtype),
        "v": _cast(batch.v[index], dtype),
        "warning": result_message(code),
        "result_code": code,
    }


def _batch_log(batch: _Batch) -> dict:
    return {
        "cost": batch.cost,
        "u": batch.u,
        "v": batch.v,
        "warning": [result_message(c) for c in batch.status],
        "result_code": batch.status.astype(np.int64),
    }


def _is_scipy_sparse(M) -> bool:
    """A scipy.sparse matrix or array (scipy is only imported when it is installed)."""
    try:
        import scipy.sparse
    except ImportError:
        return False
    return scipy.sparse.issparse(M)


def _emd_sparse(a, b, M, max_iter, center_dual, check_marginals):
    """POT's ot.emd on a scipy.sparse cost: stored entries are the only allowed edges. Returns
    the plan as a scipy.sparse.coo_array of its positive entries and POT's log."""
    import scipy.sparse

    csr = scipy.sparse.csr_array(M)
    n, m = (int(s) for s in csr.shape)
    dtype = _type_as(a, b, csr)
    weights = []
    for w, name, length in ((a, "a", n), (b, "b", m)):
        if _is_empty(w):
            weights.append(None)
            continue
        w = np.ascontiguousarray(to_host(w) if not isinstance(w, (list, tuple)) else w,
                                 dtype=np.float64)
        if w.shape != (length,):
            raise ValueError(f"Dimension mismatch: {name} has shape {w.shape}, expected "
                             f"({length},) for M of shape {csr.shape}")
        weights.append(w)
    indptr = np.ascontiguousarray(csr.indptr, dtype=np.int64)
    indices = np.ascontiguousarray(csr.indices, dtype=np.int64)
    values = np.ascontiguousarray(csr.data, dtype=np.float64)

    problem = L.EmdSparseProblem()
    problem.n, problem.m, problem.nnz = n, m, int(values.shape[0])
    problem.value_type, problem.memory = L.FLOAT64, L.MEMORY_HOST
    problem.a = weights[0].ctypes.data if weights[0] is not None else None
    problem.b = weights[1].ctypes.data if weights[1] is not None else None
    problem.indptr, problem.indices = indptr.ctypes.data, indices.ctypes.data
    problem.index_type, problem.values = L.INDEX_INT64, values.ctypes.data

    params = L.EmdParams()
    L.load().normot_emd_params_init(ctypes.byref(params))
    if int(max_iter) < 0:
        raise ValueError("numItermax must be >= 0")
    params.max_iter = int(max_iter)
    params.check_marginals = int(bool(check_marginals))
    params.center_duals = int(bool(center_dual))

    width = n + m - 1
    cost, count = np.zeros(1), np.zeros(1, np.int64)
    u, v, status = np.zeros(n), np.zeros(m), np.zeros(1, np.int32)
    rows, cols = np.zeros(width, np.int64), np.zeros(width, np.int64)
    flows = np.zeros(width)
    result = L.EmdResult()
    result.cost, result.u, result.v, result.status = (cost.ctypes.data, u.ctypes.data,
                                                      v.ctypes.data, status.ctypes.data)
    result.sparse_row, result.sparse_col = rows.ctypes.data, cols.ctypes.data
    result.sparse_value, result.sparse_count = flows.ctypes.data, count.ctypes.data
    ctx = context(on_device=False, device_id=0, stream=None)
    ctx.check(L.load().normot_emd_sparse(ctx.handle, ctypes.byref(problem),
                                         ctypes.byref(params), ctypes.byref(result)))
    _warn_results(status, stacklevel=3)
    kept = int(count[0])
    plan = scipy.sparse.coo_array((flows[:kept].astype(dtype), (rows[:kept], cols[:kept])),
                                  shape=(n, m))
    code = int(status[0])
    log = {"cost": float(cost[0]), "u": _cast(u, dtype), "v": _cast(v, dtype),
           "warning": result_message(code), "result_code": code}
    return plan, log


def _is_batched_cost(M) -> bool:
    return len(np.shape(M) if isinstance(M, (list, tuple)) else M.shape) == 3


def emd(a, b, M, numItermax=DEFAULT_MAX_ITER, log=False, center_dual=True, numThreads=1,
        check_marginals=True, potentials_init=None):
    """Exact optimal transport plan(s), as POT's ``ot.emd``.

    One problem: ``a`` (n,), ``b`` (m,) (empty lists mean uniform weights), ``M`` (n, m);
    returns the plan (n, m) in the dtype of ``a`` (else ``b``, else ``M``), and with
    ``log=True`` also ``{"cost", "u", "v", "warning", "result_code"}`` like POT.

    A batch: ``M`` (k, n, m), or (1, n, m) shared by every problem; ``a`` (k, n), (n,) shared,
    or empty; likewise ``b``. Returns plans (k, n, m) (float64), and with ``log=True`` a dict
    of arrays: cost (k,), u (k, n), v (k, m), warning (list of k), result_code (k,).

    ``numThreads`` (a DeprecationWarning when not 1, as in POT) and ``potentials_init`` are
    accepted for compatibility and ignored: the batch is spread over the threads set by
    :func:`normot.set_num_threads`, and an exact solver needs no warm start.
    """
    del potentials_init
    _warn_ignored(numThreads=numThreads)
    if _is_scipy_sparse(M):
        plan, info = _emd_sparse(a, b, M, numItermax, center_dual, check_marginals)
        return (plan, info) if log else plan
    if _is_batched_cost(M):
        batch = _solve(a, b, cost=M, max_iter=numItermax, center_dual=center_dual,
                       check_marginals=check_marginals, want_duals=log)
        _warn_results(batch.status, stacklevel=2)
        return (batch.plan, _batch_log(batch)) if log else batch.plan
    dtype = _type_as(a, b, M)
    batch = _solve(a, b, cost=M, max_iter=numItermax, center_dual=center_dual,
                   check_marginals=check_marginals, want_duals=log, batched=False)
    _warn_results(batch.status, stacklevel=2)
    _warn_integer_type(dtype, stacklevel=2)
    plan = _cast(batch.plan[0], dtype)
    return (plan, _single_log(batch, dtype)) if log else plan


def emd2(a, b, M, processes=1, numItermax=DEFAULT_MAX_ITER, log=False, return_matrix=False,
         center_dual=True, numThreads=1, check_marginals=True, potentials_init=None):
    """Exact optimal transport cost(s), as POT's ``ot.emd2``.

    One problem: returns the cost as a float; ``log=True`` returns ``[cost, log]`` with the
    keys of :func:`emd` (and ``"G"``, the plan, when ``return_matrix``). As in POT, ``b`` of
    shape (m, nb) with ``M`` (n, m) solves nb problems against the same ``a`` and returns a
    list.

    A batch (``M`` (k, n, m), or (1, n, m) shared, see :func:`emd`) returns the costs (k,)
    (float64); with ``log``/``return_matrix``, ``[costs, log]`` with arrays per problem.
    """
    del potentials_init
    _warn_ignored(numThreads=numThreads, processes=processes)
    want_log = log or return_matrix
    if _is_batched_cost(M):
        batch = _solve(a, b, cost=M, max_iter=numItermax, center_dual=center_dual,
                       check_marginals=check_marginals, want_plan=return_matrix,
                       want_duals=want_log)
        _warn_results(batch.status, stacklevel=2)
        if not want_log:
            return batch.cost
        info = _batch_log(batch)
        if return_matrix:
            info["G"] = batch.plan
        return [batch.cost, info]

    b_shape = np.shape(b) if isinstance(b, (list, tuple)) else getattr(b, "shape", ())
    if not _is_empty(b) and len(b_shape) == 2:
        # POT's form: each column of b is a target histogram for the same a and M.
        columns = Buffer(b)
        b_rows = columns.result.T if not columns.on_device else columns.owner.T
        M_shared = M[None] if hasattr(M, "shape") else np.asarray(M, dtype=np.float64)[None]
        batch = _solve(a, b_rows, cost=M_shared, max_iter=numItermax,
                       center_dual=center_dual, check_marginals=check_marginals,
                       want_plan=return_matrix, want_duals=want_log)
        _warn_results(batch.status, stacklevel=2)
        dtype = _type_as(a, b, M)
        costs = [float(c) for c in to_host(batch.cost)]
        if not want_log:
            return costs
        results = []
        for i, c in enumerate(costs):
            info = _single_log(batch, dtype, i)
            if return_matrix:
                info["G"] = _cast(batch.plan[i], dtype)
            results.append([c, info])
        return results

    dtype = _type_as(a, b, M)
    batch = _solve(a, b, cost=M, max_iter=numItermax, center_dual=center_dual,
                   check_marginals=check_marginals, want_plan=return_matrix,
                   want_duals=want_log, batched=False)
    _warn_results(batch.status, stacklevel=2)
    cost = float(to_host(batch.cost)[0])
    if not want_log:
        return cost
    info = _single_log(batch, dtype)
    if return_matrix:
        _warn_integer_type(dtype, stacklevel=2)
        info["G"] = _cast(batch.plan[0], dtype)
    return [cost, info]


def _sparse_plans(batch: _Batch):
    """The basic solutions as scipy.sparse COO matrices (host) or framework COO (device)."""
    rows, cols, values, counts = (to_host(s) for s in batch.sparse)
    from scipy import sparse

    plans = []
    for i in range(batch.k):
        count = int(counts[i])
        plans.append(sparse.coo_matrix((values[i, :count], (rows[i, :count], cols[i, :count])),
                                       shape=(batch.n, batch.m)))
    return plans


def emd_pointclouds(X, Y, a=None, b=None, metric="sqeuclidean", numItermax=DEFAULT_MAX_ITER,
                    log=False, return_matrix=False, center_dual=True, check_marginals=True):
    """Exact EMD between point clouds, without ever storing a cost matrix.

    ``X`` (n, d) and ``Y`` (m, d) for one problem, or (k, n, d) and (k, m, d) for a batch;
    ``metric`` is "sqeuclidean" or "euclidean". Weights as in :func:`emd` (None or empty:
    uniform). Returns the cost (a float), or the costs (k,) for a batch. With ``log`` or
    ``return_matrix``: ``[cost, log]`` with u, v, warning and result_code like :func:`emd2`,
    and "G", the plan as a sparse COO matrix (its at most n + m - 1 positive entries; a list
    of them for a batch), when ``return_matrix``.
    """
    want_log = log or return_matrix
    batch = _solve(a, b, x=X, y=Y, metric=metric, max_iter=numItermax, center_dual=center_dual,
                   check_marginals=check_marginals, want_plan=False, want_duals=want_log,
                   want_sparse=return_matrix)
    _warn_results(batch.status, stacklevel=2)
    batched = len(Buffer(X).shape) == 3 if not isinstance(X, (list, tuple)) else np.ndim(X) == 3
    if not batched:
        cost = float(to_host(batch.cost)[0])
        if not want_log:
            return cost
        info = _single_log(batch, np.float64)
        if return_matrix:
            info["G"] = _sparse_plans(batch)[0]
        return [cost, info]
    if not want_log:
        return batch.cost
    info = _batch_log(batch)
    if return_matrix:
        info["G"] = _sparse_plans(batch)
    return [batch.cost, info]


__all__ = ["emd", "emd2", "emd_pointclouds", "result_message"]
