"""normot.emd / emd2 / emd_pointclouds: POT's exact EMD, for one problem or a whole batch."""

from __future__ import annotations

import ctypes
import warnings
from dataclasses import dataclass

import numpy as np

from . import _dask
from . import _library as L
from ._buffers import Buffer, to_host
from ._context import context, device_context_for
from ._errors import ShapeMismatchError
from ._torch import (SparsePlans, as_tensor, differentiable_costs, is_tensor, library_view,
                     needs_gradient, torch_dtype_of)

DEFAULT_MAX_ITER = 100000  # POT's default numItermax

# POT's own sentences for a non-optimal problem, per result_code (POT's numbering, kept by the
# C API): the UserWarning text and log["warning"].
_RESULT_MESSAGES = {
    L.EMD_INFEASIBLE: "Problem infeasible. Check that a and b are in the simplex",
    L.EMD_UNBOUNDED: "Problem unbounded",
    L.EMD_MAX_ITER_REACHED: "numItermax reached before optimality. Try to increase numItermax.",
}
_INTEGER_WARNING = ("Input histogram consists of integer. The transport plan will be casted "
                    "accordingly, possibly resulting in a loss of precision. If this behaviour "
                    "is unwanted, please make sure your input histogram consists of floating "
                    "point elements.")
_PROCESSES_WARNING = ("The 'processes' parameter has been deprecated. Multiprocessing should be "
                      "done outside of POT.")
_DIMENSION_MISMATCH = "Dimension mismatch, check dimensions of M with a and b"
_NUM_THREADS_ERROR = 'numThreads should either be "max" or a strictly positive integer'


def result_message(result_code: int) -> str | None:
    """None for an optimal problem, else POT's sentence for it (log['warning'])."""
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


def _buffer(obj, anchor: Buffer | None, name: str) -> Buffer:
    """A Buffer for obj; host data goes next to a device anchor (small weight vectors)."""
    obj = library_view(obj)
    if isinstance(obj, (list, tuple)) or np.isscalar(obj):
        obj = np.asarray(obj, dtype=np.float64)
    try:
        buffer = Buffer(obj)
    except (TypeError, ValueError) as error:
        raise TypeError(f"normot.emd: {name} is not an array normot can read "
                        f"({type(obj).__name__}): {error}") from None
    if buffer.dtype.kind not in "fiub":
        raise TypeError(f"normot.emd: {name} has dtype {buffer.dtype}; expected real numbers")
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
    buffer = _buffer(w, anchor, name)
    shape = tuple(buffer.shape)
    if shape == (size,):
        return buffer, int(batched)
    if batched and shape == (k, size):
        return buffer, 0
    expected = f"({size},) or ({k}, {size})" if batched else f"({size},)"
    hint = "" if batched else " (for a batch, pass M of shape (k, n, m), or (1, n, m) shared)"
    raise ShapeMismatchError(f"{_DIMENSION_MISMATCH}: {name} has shape {shape}, expected "
                             f"{expected} or an empty list for uniform weights{hint}")


def _where(buffer: Buffer) -> str:
    return {L.MEMORY_CUDA: f"on CUDA device {buffer.device_id}",
            L.MEMORY_CUDA_HOST: "in pinned host memory",
            L.MEMORY_CUDA_MANAGED: "in CUDA managed memory"}.get(buffer.memory, "on the host")


def _check_same_memory(anchor: Buffer, anchor_name: str, others) -> None:
    """All inputs on the host, or all on the device of the anchor; the message names them."""
    for name, buffer in others:
        if buffer is not None and _where(buffer) != _where(anchor):
            raise TypeError(f"normot.emd: {name} is {_where(buffer)} but {anchor_name} is "
                            f"{_where(anchor)}; pass every input on the host or every input "
                            "on one GPU")


@dataclass
class _Inputs:
    """The inputs of one library call, as buffers; _problem makes them C-contiguous."""

    k: int
    n: int
    m: int
    anchor: Buffer                  # M, or X for point clouds: its memory decides the backend
    other: Buffer | None            # Y for point clouds
    a: Buffer | None
    a_shared: int
    b: Buffer | None
    b_shared: int
    cost_shared: int
    dtype: np.dtype


def _cost_inputs(a, b, cost, batched) -> _Inputs:
    if hasattr(cost, "tocoo") or (is_tensor(cost) and cost.layout != _strided_layout()):
        raise TypeError("normot.emd: M is a sparse matrix; normot solves dense costs only "
                        "(POT's sparse-cost solver has no counterpart here): pass M dense")
    anchor = _buffer(cost, None, "M")
    ndim = len(anchor.shape)
    if ndim not in (2, 3):
        raise ValueError(f"M must have shape (n, m) or (k, n, m), got {tuple(anchor.shape)}")
    is_batch = ndim == 3 if batched is None else batched
    n, m = (int(s) for s in anchor.shape[-2:])
    k = int(anchor.shape[0]) if ndim == 3 else 1
    # A shared cost (1, n, m) serves every problem of a batch whose size the weights give.
    cost_shared = 0
    if is_batch and k == 1:
        for w in (a, b):
            shape = () if _is_empty(w) else _shape_of(w)
            if len(shape) == 2 and shape[0] != 1:
                k, cost_shared = int(shape[0]), 1
                break
    a_buffer, a_shared = _weights(a, "a", n, k, is_batch, anchor)
    b_buffer, b_shared = _weights(b, "b", m, k, is_batch, anchor)
    return _Inputs(k, n, m, anchor, None, a_buffer, a_shared, b_buffer, b_shared, cost_shared,
                   _value_dtype([anchor, a_buffer, b_buffer]))


def _cloud_inputs(a, b, x, y, metric) -> _Inputs:
    anchor = _buffer(x, None, "X")
    other = _buffer(y, anchor, "Y")
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
    if metric not in L.METRIC_BY_NAME:
        raise ValueError(f"metric must be one of {sorted(L.METRIC_BY_NAME)}, not {metric!r}")
    k = int(anchor.shape[0]) if is_batch else 1
    n, m = int(anchor.shape[-2]), int(other.shape[-2])
    a_buffer, a_shared = _weights(a, "a", n, k, is_batch, anchor)
    b_buffer, b_shared = _weights(b, "b", m, k, is_batch, anchor)
    return _Inputs(k, n, m, anchor, other, a_buffer, a_shared, b_buffer, b_shared, 0,
                   _value_dtype([anchor, other, a_buffer, b_buffer]))


def _strided_layout():
    import torch

    return torch.strided


def _problem(inputs: _Inputs, metric: str) -> L.EmdProblem:
    for field in ("anchor", "other", "a", "b"):
        buffer = getattr(inputs, field)
        if buffer is not None:
            setattr(inputs, field, _normalized(buffer, inputs.dtype))
    _check_same_memory(inputs.anchor, "M" if inputs.other is None else "X",
                       [("Y", inputs.other), ("a", inputs.a), ("b", inputs.b)])
    problem = L.EmdProblem()
    problem.k, problem.n, problem.m = inputs.k, inputs.n, inputs.m
    problem.value_type = L.FLOAT32 if inputs.dtype == np.float32 else L.FLOAT64
    problem.memory = inputs.anchor.memory
    problem.a = inputs.a.pointer if inputs.a is not None else None
    problem.a_shared = inputs.a_shared
    problem.b = inputs.b.pointer if inputs.b is not None else None
    problem.b_shared = inputs.b_shared
    if inputs.other is None:
        problem.cost, problem.cost_shared = inputs.anchor.pointer, inputs.cost_shared
        problem.x = problem.y = None
        problem.dim = 0
    else:
        problem.cost, problem.cost_shared = None, 0
        problem.x, problem.y = inputs.anchor.pointer, inputs.other.pointer
        problem.dim = int(inputs.anchor.shape[-1])
        problem.metric = L.METRIC_BY_NAME[metric]
    return problem


def _params(max_iter, check_marginals, center_dual, solver) -> L.EmdParams:
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
    return params


def _pointer(obj):
    return Buffer(obj).pointer if obj is not None else None


def _solve(a, b, *, cost=None, x=None, y=None, metric="sqeuclidean", max_iter=DEFAULT_MAX_ITER,
           center_dual=True, check_marginals=True, want_plan=True, want_duals=True,
           want_sparse=False, batched=None, solver="auto", threads=None) -> _Batch:
    """One call of normot_emd. `batched` None: decided by the number of dimensions; `threads`
    None: the count of set_num_threads."""
    inputs = (_cost_inputs(a, b, cost, batched) if cost is not None
              else _cloud_inputs(a, b, x, y, metric))
    problem = _problem(inputs, metric)
    params = _params(max_iter, check_marginals, center_dual, solver)
    k, n, m, anchor = inputs.k, inputs.n, inputs.m, inputs.anchor
    ctx = device_context_for(anchor, "M" if inputs.other is None else "X", "normot.emd")

    f64 = np.float64
    batch = _Batch(k=k, n=n, m=m, cost=anchor.empty((k,), f64),
                   plan=anchor.empty((k, n, m), f64) if want_plan else None,
                   u=anchor.empty((k, n), f64) if want_duals else None,
                   v=anchor.empty((k, m), f64) if want_duals else None,
                   status=anchor.empty((k,), np.int32), sparse=None,
                   on_device=anchor.on_device)
    result = L.EmdResult()
    result.cost, result.plan = _pointer(batch.cost), _pointer(batch.plan)
    result.u, result.v, result.status = _pointer(batch.u), _pointer(batch.v), _pointer(batch.status)
    if want_sparse:
        width = n + m - 1
        batch.sparse = (anchor.empty((k, width), np.int64), anchor.empty((k, width), np.int64),
                        anchor.empty((k, width), f64), anchor.empty((k,), np.int64))
        result.sparse_row, result.sparse_col, result.sparse_value, result.sparse_count = (
            _pointer(s) for s in batch.sparse)

    if threads is not None:
        ctx.set_threads(threads)
    ctx.check(L.load().normot_emd(ctx.handle, ctypes.byref(problem), ctypes.byref(params),
                                  ctypes.byref(result)))
    batch.status = np.asarray(to_host(batch.status))
    return batch


_FLOAT64 = np.dtype(np.float64)


def _is_plain_host_problem(a, b, M) -> bool:
    """Whether (a, b, M) is one problem given as C-contiguous float64 numpy arrays of shapes
    (n,), (m,) and (n, m), n, m >= 1: the common case, which _solve_plain hands to the library
    directly, since the general path would convert nothing. Anything else (lists, other dtypes
    or kinds of array, empty weights, batches, wrong shapes) takes the general path, which
    raises the errors."""
    if type(M) is not np.ndarray or type(a) is not np.ndarray or type(b) is not np.ndarray:
        return False
    if M.ndim != 2 or a.ndim != 1 or b.ndim != 1 or M.size == 0:
        return False
    return (a.shape[0] == M.shape[0] and b.shape[0] == M.shape[1]
            and M.dtype == _FLOAT64 and a.dtype == _FLOAT64 and b.dtype == _FLOAT64
            and M.flags.c_contiguous and a.flags.c_contiguous and b.flags.c_contiguous)


@dataclass
class _Plain:
    """The outputs of _solve_plain: one problem's, on the host."""

    cost: float
    status: int
    plan: np.ndarray | None     # (n, m)
    u: np.ndarray | None        # (n,)
    v: np.ndarray | None        # (m,)

    def warn(self, stacklevel: int) -> None:
        if self.status != L.EMD_OPTIMAL:
            _warn_results(np.array([self.status], np.int32), stacklevel + 1)

    def log(self) -> dict:
        return {"cost": self.cost, "u": self.u, "v": self.v,
                "warning": result_message(self.status), "result_code": self.status}


def _address(array: np.ndarray) -> int:
    """The address of a numpy array's data: ctypes reads it through the buffer protocol in a
    third of the time numpy's ``.ctypes.data`` takes, which counts at n = 100; a read-only
    array lends no writable buffer and takes numpy's way."""
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(array))
    except TypeError:
        return array.ctypes.data


def _solve_plain(a, b, M, *, max_iter, center_dual, check_marginals, want_plan, want_duals,
                 threads) -> _Plain:
    """One normot_emd call for a problem that _is_plain_host_problem accepts: the same problem
    and parameters as _solve would pass, without its buffers. The library checks the values
    (weights, NaN, magnitudes) and reports the same errors either way."""
    params = _params(max_iter, check_marginals, center_dual, "auto")
    n, m = M.shape
    problem = L.EmdProblem()
    problem.k, problem.n, problem.m = 1, n, m
    problem.value_type, problem.memory = L.FLOAT64, L.MEMORY_HOST
    problem.a, problem.b, problem.cost = _address(a), _address(b), _address(M)
    cost, status = ctypes.c_double(), ctypes.c_int32()
    result = L.EmdResult()
    result.cost, result.status = ctypes.addressof(cost), ctypes.addressof(status)
    plan = np.empty((n, m)) if want_plan else None
    u, v = (np.empty(n), np.empty(m)) if want_duals else (None, None)
    if want_plan:
        result.plan = plan.ctypes.data
    if want_duals:
        result.u, result.v = u.ctypes.data, v.ctypes.data
    ctx = context()
    if threads is not None:
        ctx.set_threads(threads)
    ctx.check(L.load().normot_emd(ctx.handle, ctypes.byref(problem), ctypes.byref(params),
                                  ctypes.byref(result)))
    return _Plain(cost.value, status.value, plan, u, v)


def _warn_results(status: np.ndarray, stacklevel: int) -> None:
    """POT's UserWarning per kind of non-optimal outcome; a batch says how many problems."""
    for code in (L.EMD_INFEASIBLE, L.EMD_UNBOUNDED, L.EMD_MAX_ITER_REACHED):
        count = int(np.count_nonzero(status == code))
        if count == 0:
            continue
        message = _RESULT_MESSAGES[code]
        if status.shape[0] > 1:
            message += f" ({count} of {status.shape[0]} problems)"
        warnings.warn(message, UserWarning, stacklevel=stacklevel + 1)


def _threads(numThreads):
    """POT's numThreads, honoured: None keeps set_num_threads' count, "max" uses every core,
    an integer k >= 1 uses k threads for this call; anything else fails as in POT."""
    if numThreads is None:
        return None
    if isinstance(numThreads, str) and numThreads.lower() == "max":
        return 0
    if isinstance(numThreads, bool) or not isinstance(numThreads, (int, np.integer)) \
            or numThreads < 1:
        raise ValueError(_NUM_THREADS_ERROR)
    return int(numThreads)


def _lists_to_arrays(*arrays):
    """As POT: lists become float64 arrays (an empty one means uniform weights)."""
    return [np.asarray(x, dtype=np.float64) if isinstance(x, (list, tuple)) else x
            for x in arrays]


def _shape_of(x) -> tuple:
    """The shape of an array of any supported kind, DLPack-only producers included."""
    x = library_view(x)
    shape = getattr(x, "shape", None)
    if shape is not None:
        return tuple(shape)
    if isinstance(x, (list, tuple)) or np.isscalar(x):
        return np.shape(x)
    return tuple(Buffer(x).shape)


def _is_batched_cost(M) -> bool:
    return len(_shape_of(M)) == 3


class _ResultKind:
    """What results look like, by POT's rule: the array kind and dtype of a (if not empty),
    else of b, else of M; tensors (on that tensor's device) when any input is a tensor."""

    def __init__(self, a, b, M):
        reference = next((w for w in (a, b) if not _is_empty(w)), M)
        self.torch = any(is_tensor(x) for x in (a, b, M))
        self.dtype = _numpy_dtype(reference)
        if self.torch:
            device_source = reference if is_tensor(reference) else next(
                x for x in (M, a, b) if is_tensor(x))
            self.torch_dtype = torch_dtype_of(reference)
            self.device = device_source.device

    @property
    def floating(self) -> bool:
        return np.issubdtype(self.dtype, np.floating)

    def array(self, values):
        """values (numpy, CuPy or torch) as the caller's kind and dtype."""
        if values is None:
            return None
        if self.torch:
            return as_tensor(values, self.torch_dtype, self.device)
        if isinstance(values, np.ndarray):
            return values if values.dtype == self.dtype else values.astype(self.dtype)
        buffer = Buffer(values)
        return values if buffer.dtype == self.dtype else buffer.astype(self.dtype)


def _numpy_dtype(reference) -> np.dtype:
    dtype = getattr(reference, "dtype", None)
    if dtype is None:
        return np.dtype(np.float64)
    if is_tensor(reference):
        return np.dtype(str(dtype).replace("torch.", ""))
    return np.dtype(dtype)


def _single_log(batch: _Batch, kind: _ResultKind, index: int = 0) -> dict:
    code = int(batch.status[index])
    return {
        "cost": float(to_host(batch.cost[index:index + 1])[0]),
        "u": kind.array(batch.u[index]),
        "v": kind.array(batch.v[index]),
        "warning": result_message(code),
        "result_code": code,
    }


def _batch_log(batch: _Batch, kind: _ResultKind) -> dict:
    return {
        "cost": kind.array(batch.cost),
        "u": kind.array(batch.u),
        "v": kind.array(batch.v),
        "warning": [result_message(c) for c in batch.status],
        "result_code": batch.status.astype(np.int64),
    }


def _sparse_entries(batch: _Batch):
    """The plans' positive entries on the host, problem by problem, each problem's sorted by
    row then column: (problem, rows, cols, values, counts per problem)."""
    rows, cols, values, counts = (np.asarray(to_host(s)) for s in batch.sparse)
    counts = counts.astype(np.int64)
    keep = np.arange(rows.shape[1])[None, :] < counts[:, None]
    problem = np.repeat(np.arange(batch.k), counts)
    return problem, rows[keep], cols[keep], values[keep], counts


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
    kind = _ResultKind(a, b, M)
    weights = []
    for w, name, length in ((a, "a", n), (b, "b", m)):
        if _is_empty(w):
            weights.append(None)
            continue
        w = np.ascontiguousarray(to_host(library_view(w)), dtype=np.float64)
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

    params = _params(max_iter, check_marginals, center_dual, "auto")

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
    plan = scipy.sparse.coo_array((flows[:kept].astype(kind.dtype), (rows[:kept], cols[:kept])),
                                  shape=(n, m))
    code = int(status[0])
    log = {"cost": float(cost[0]), "u": kind.array(u), "v": kind.array(v),
           "warning": result_message(code), "result_code": code}
    return plan, log


def _sparse_plans(batch: _Batch, kind: _ResultKind, layout):
    """The plans' positive entries (at most n + m - 1 per problem, sorted by row then column):
    layout True, a list of one COO matrix per problem (scipy.sparse.coo_matrix, or
    torch.sparse_coo_tensor for tensors); "batch", one (k, n, m) COO array of them all."""
    problem, rows, cols, values, counts = _sparse_entries(batch)
    values = kind.array(values)
    if layout == "batch":
        return _coo(kind, (problem, rows, cols), values, (batch.k, batch.n, batch.m))
    ends = np.cumsum(counts)
    starts = ends - counts
    return [_coo(kind, (rows[s:e], cols[s:e]), values[s:e], (batch.n, batch.m))
            for s, e in zip(starts, ends)]


def _coo(kind: _ResultKind, indices, values, shape):
    if kind.torch:
        import torch

        index = torch.as_tensor(np.stack(indices), device=kind.device)
        return torch.sparse_coo_tensor(index, values, size=shape, is_coalesced=True,
                                       check_invariants=False)
    from scipy import sparse

    if len(shape) == 2:
        return sparse.coo_matrix((values, indices), shape=shape)
    return sparse.coo_array((values, indices), shape=shape)


def _dask_options(max_iter, center_dual, check_marginals) -> _dask.EmdOptions:
    """The options of a Dask batch, checked on the client before any task runs."""
    _params(max_iter, check_marginals, center_dual, "auto")
    return _dask.EmdOptions(int(max_iter), bool(center_dual), bool(check_marginals))


def _check_sparse(sparse) -> None:
    if sparse not in (False, True, "batch"):
        raise ValueError(f"sparse must be False, True or 'batch', not {sparse!r}")


def emd(a, b, M, numItermax=DEFAULT_MAX_ITER, log=False, center_dual=True, numThreads=None,
        check_marginals=True, potentials_init=None, sparse=False):
    """Exact optimal transport plan(s), as POT's ``ot.emd``.

    One problem: ``a`` (n,), ``b`` (m,) (empty lists mean uniform weights), ``M`` (n, m);
    returns the plan (n, m) in the kind and dtype of ``a`` (else ``b``, else ``M``): numpy,
    CuPy, or a torch tensor on the same device. With ``log=True`` also
    ``{"cost", "u", "v", "warning", "result_code"}`` like POT.

    A batch: ``M`` (k, n, m), or (1, n, m) shared by every problem; ``a`` (k, n), (n,) shared,
    or empty; likewise ``b``. Returns plans (k, n, m), and with ``log=True`` a dict of arrays:
    cost (k,), u (k, n), v (k, m), warning (list of k), result_code (k,).

    ``sparse=True`` returns the plans' positive entries instead of dense plans: a COO matrix
    (scipy.sparse.coo_matrix, or torch.sparse_coo_tensor for tensors), a list of them for a
    batch; ``sparse="batch"`` returns one (k, n, m) COO array for the whole batch.

    ``numThreads``: None (default) uses :func:`normot.set_num_threads`' count, "max" every
    core, an integer that many threads. ``potentials_init`` is accepted and ignored: an exact
    solver needs no warm start.
    """
    del potentials_init
    _check_sparse(sparse)
    threads = _threads(numThreads)
    if not sparse and _is_plain_host_problem(a, b, M):
        out = _solve_plain(a, b, M, max_iter=numItermax, center_dual=center_dual,
                           check_marginals=check_marginals, want_plan=True, want_duals=log,
                           threads=threads)
        out.warn(stacklevel=2)
        return (out.plan, out.log()) if log else out.plan
    a, b, M = _lists_to_arrays(a, b, M)
    if _is_scipy_sparse(M):
        plan, info = _emd_sparse(a, b, M, numItermax, center_dual, check_marginals)
        return (plan, info) if log else plan
    if _dask.is_dask_array(M):
        _dask.unsupported("log", log)
        _dask.unsupported("sparse", sparse)
        return _dask.emd_batch(a, b, M, _dask_options(numItermax, center_dual, check_marginals),
                               costs_only=False)
    kind = _ResultKind(a, b, M)
    batched = _is_batched_cost(M)
    batch = _solve(a, b, cost=M, max_iter=numItermax, center_dual=center_dual,
                   check_marginals=check_marginals, want_plan=not sparse, want_duals=log,
                   want_sparse=bool(sparse), batched=batched, threads=threads)
    _warn_results(batch.status, stacklevel=2)
    if not kind.floating:
        warnings.warn(_INTEGER_WARNING, UserWarning, stacklevel=2)
    if sparse:
        plans = _sparse_plans(batch, kind, sparse)
        plans = plans[0] if not batched and sparse is True else plans
    else:
        plans = kind.array(batch.plan if batched else batch.plan[0])
    if not log:
        return plans
    return plans, (_batch_log(batch, kind) if batched else _single_log(batch, kind))


def emd2(a, b, M, processes=1, numItermax=DEFAULT_MAX_ITER, log=False, return_matrix=False,
         center_dual=True, numThreads=None, check_marginals=True, potentials_init=None):
    """Exact optimal transport cost(s), as POT's ``ot.emd2``.

    One problem: returns the cost, a float (a 0-d tensor for tensor inputs); ``log=True``
    returns ``[cost, log]`` with the keys of :func:`emd` (and ``"G"``, the plan, when
    ``return_matrix``). As in POT, ``b`` of shape (m, nb) with ``M`` (n, m) solves nb
    problems against the same ``a`` and returns a list.

    A batch (``M`` (k, n, m), or (1, n, m) shared, see :func:`emd`) returns the costs (k,);
    with ``log``/``return_matrix``, ``[costs, log]`` with arrays per problem.

    With torch tensors that require gradients the costs are differentiable as in POT: the
    gradient with respect to ``M`` is the plan, with respect to ``a`` and ``b`` the duals minus
    their mean, for single problems and batches alike.
    """
    del potentials_init
    threads = _threads(numThreads)
    if _is_plain_host_problem(a, b, M):
        out = _solve_plain(a, b, M, max_iter=numItermax, center_dual=center_dual,
                           check_marginals=check_marginals, want_plan=return_matrix,
                           want_duals=log or return_matrix, threads=threads)
        out.warn(stacklevel=2)
        if not (log or return_matrix):
            return out.cost
        info = out.log()
        if return_matrix:
            info["G"] = out.plan
        return [out.cost, info]
    a, b, M = _lists_to_arrays(a, b, M)
    if _dask.is_dask_array(M):
        _dask.unsupported("log", log)
        _dask.unsupported("return_matrix", return_matrix)
        return _dask.emd_batch(a, b, M, _dask_options(numItermax, center_dual, check_marginals),
                               costs_only=True)
    kind = _ResultKind(a, b, M)
    batched = _is_batched_cost(M)
    columns = not batched and not _is_empty(b) and len(_shape_of(b)) == 2
    if columns and processes > 1:
        warnings.warn(_PROCESSES_WARNING, UserWarning, stacklevel=2)
    # POT's (m, nb) targets are nb problems with one shared cost: solved as a batch.
    problem_a, problem_b, problem_M = (a, b.T, M[None]) if columns else (a, b, M)
    grad = needs_gradient(a, b, M)
    # The gradient for M is the plan: kept sparse (n + m - 1 entries per problem) until the
    # backward pass scatters it, unless the dense plans are asked for anyway.
    grad_M = grad and is_tensor(M) and M.requires_grad
    want_log = log or return_matrix
    batch = _solve(problem_a, problem_b, cost=problem_M, max_iter=numItermax,
                   center_dual=center_dual, check_marginals=check_marginals,
                   want_plan=return_matrix, want_duals=want_log or grad,
                   want_sparse=grad_M and not return_matrix,
                   batched=batched or columns, threads=threads)
    _warn_results(batch.status, stacklevel=2)
    if not kind.floating:
        warnings.warn(_INTEGER_WARNING, UserWarning, stacklevel=2)
    costs = _costs(batch, kind, (problem_a, problem_b, problem_M), grad)
    if batched:
        if not want_log:
            return costs
        info = _batch_log(batch, kind)
        info["cost"] = costs
        if return_matrix:
            info["G"] = kind.array(batch.plan)
        return [costs, info]
    results = []
    for i in range(batch.k):
        # Without tensors a cost is a float64 Python float whatever the dtype, as in POT.
        cost = costs[i] if kind.torch else float(to_host(batch.cost)[i])
        if not want_log:
            results.append(cost)
            continue
        info = _single_log(batch, kind, i)
        if kind.torch:
            info["cost"] = cost
        if return_matrix:
            info["G"] = kind.array(batch.plan[i])
        results.append([cost, info])
    return results if columns else results[0]


def _costs(batch: _Batch, kind: _ResultKind, inputs, grad: bool):
    """The costs (k,) in the caller's kind; differentiable when autograd asks for it."""
    costs = kind.array(batch.cost)
    if not grad:
        return costs
    import torch

    def centred(duals):
        # numpy for host duals: small torch reductions wake its thread pool, which costs more
        # than the arithmetic on a busy machine
        if isinstance(duals, np.ndarray):
            return torch.from_numpy(duals - duals.mean(axis=1, keepdims=True))
        return duals - duals.mean(dim=1, keepdim=True)

    a, b, M = inputs
    plan = None
    if batch.sparse is not None:
        plan = SparsePlans(*_sparse_entries(batch)[:4], k=batch.k)
    elif batch.plan is not None:
        plan = torch.as_tensor(batch.plan)
    return differentiable_costs(costs, (a, b, M), (centred(batch.u), centred(batch.v), plan))


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
    a, b = _lists_to_arrays(a, b)
    if _dask.is_dask_array(X) or _dask.is_dask_array(Y):
        _dask.unsupported("log", log)
        _dask.unsupported("return_matrix", return_matrix)
        return _dask.emd_pointclouds_batch(X, Y, a, b, metric, _dask_options(
            numItermax, center_dual, check_marginals))
    batch = _solve(a, b, x=X, y=Y, metric=metric, max_iter=numItermax, center_dual=center_dual,
                   check_marginals=check_marginals, want_plan=False, want_duals=want_log,
                   want_sparse=return_matrix)
    _warn_results(batch.status, stacklevel=2)
    kind = _ResultKind(None, None, np.zeros(0))
    batched = len(_shape_of(X)) == 3
    if not batched:
        cost = float(to_host(batch.cost)[0])
        if not want_log:
            return cost
        info = _single_log(batch, kind)
        if return_matrix:
            info["G"] = _sparse_plans(batch, kind, True)[0]
        return [cost, info]
    if not want_log:
        return batch.cost
    info = _batch_log(batch, kind)
    if return_matrix:
        info["G"] = _sparse_plans(batch, kind, True)
    return [batch.cost, info]


__all__ = ["emd", "emd2", "emd_pointclouds", "result_message"]
