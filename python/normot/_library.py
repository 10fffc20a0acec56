"""Finding and loading libnormot, and the ctypes mirror of include/normot/normot.h.

The structures below must match the C header field for field: same order, same C types. The
test suite compiles a small C program that prints sizeof/offsetof of every structure and
compares them with these definitions.
"""

from __future__ import annotations

import ctypes
import glob
import os
from pathlib import Path

# ---- status codes and enums (values are part of the C ABI) -----------------------------------

SUCCESS = 0
ERROR_NULL_POINTER = 1
ERROR_INVALID_SIZE = 2
ERROR_INVALID_INDPTR = 3
ERROR_INDEX_OUT_OF_RANGE = 4
ERROR_NONFINITE_VALUE = 5
ERROR_INVALID_MAX_FRACTION = 6
ERROR_INVALID_TARGET_SUM = 7
ERROR_INVALID_LOG_BASE = 8
ERROR_UNSUPPORTED_TYPE = 9
ERROR_BACKEND_UNAVAILABLE = 10
ERROR_NO_POSITIVE_TOTAL = 11
ERROR_OUT_OF_MEMORY = 12
ERROR_NOT_IMPLEMENTED = 13
ERROR_CUDA = 14
ERROR_INVALID_MEMORY = 15
ERROR_INVALID_ARGUMENT = 16
ERROR_NEGATIVE_WEIGHT = 17
ERROR_UNBALANCED = 18
ERROR_ZERO_MASS = 19
ERROR_INTERNAL = 99

BACKEND_AUTO, BACKEND_CPU, BACKEND_CUDA = 0, 1, 2
BACKEND_BY_NAME = {"auto": BACKEND_AUTO, "cpu": BACKEND_CPU, "cuda": BACKEND_CUDA}

MEMORY_AUTO, MEMORY_HOST, MEMORY_CUDA, MEMORY_CUDA_HOST, MEMORY_CUDA_MANAGED = 0, 1, 2, 3, 13

FLOAT32, FLOAT64, INT32, INT64, UINT16, UINT32 = 0, 1, 2, 3, 4, 5
INDEX_INT32, INDEX_INT64 = 0, 1
LAYOUT_CSR, LAYOUT_CSC, LAYOUT_DENSE = 0, 1, 2

METRIC_SQEUCLIDEAN, METRIC_EUCLIDEAN = 0, 1
METRIC_BY_NAME = {"sqeuclidean": METRIC_SQEUCLIDEAN, "euclidean": METRIC_EUCLIDEAN}

EMD_SOLVER_BY_NAME = {"auto": 0, "network_simplex": 1, "assignment": 2, "auction": 3,
                      "multiscale": 4}

EMD_INFEASIBLE, EMD_OPTIMAL, EMD_UNBOUNDED, EMD_MAX_ITER_REACHED = 0, 1, 2, 3
EMD_FLAG_CPU_FALLBACK = 1

_c_enum = ctypes.c_int  # every enum of the header has int size and alignment with GCC/Clang


class Matrix(ctypes.Structure):
    _fields_ = [
        ("layout", _c_enum),
        ("n_rows", ctypes.c_int64),
        ("n_cols", ctypes.c_int64),
        ("nnz", ctypes.c_int64),
        ("indptr", ctypes.c_void_p),
        ("indices", ctypes.c_void_p),
        ("index_type", _c_enum),
        ("values", ctypes.c_void_p),
        ("value_type", _c_enum),
        ("ld", ctypes.c_int64),
        ("memory", _c_enum),
    ]


class NormalizeParams(ctypes.Structure):
    _fields_ = [
        ("has_target_sum", ctypes.c_int),
        ("target_sum", ctypes.c_double),
        ("exclude_highly_expressed", ctypes.c_int),
        ("max_fraction", ctypes.c_double),
        ("log1p", ctypes.c_int),
        ("log_base", ctypes.c_double),
        ("check_values", ctypes.c_int),
    ]


class NormalizeOutput(ctypes.Structure):
    _fields_ = [
        ("values", ctypes.c_void_p),
        ("value_type", _c_enum),
        ("size_factors", ctypes.c_void_p),
        ("totals", ctypes.c_void_p),
        ("target", ctypes.c_double),
        ("n_zero_cells", ctypes.c_int64),
        ("n_excluded_genes", ctypes.c_int64),
    ]


class EmdProblem(ctypes.Structure):
    _fields_ = [
        ("k", ctypes.c_int64),
        ("n", ctypes.c_int64),
        ("m", ctypes.c_int64),
        ("value_type", _c_enum),
        ("memory", _c_enum),
        ("a", ctypes.c_void_p),
        ("a_shared", ctypes.c_int),
        ("b", ctypes.c_void_p),
        ("b_shared", ctypes.c_int),
        ("cost", ctypes.c_void_p),
        ("cost_shared", ctypes.c_int),
        ("x", ctypes.c_void_p),
        ("y", ctypes.c_void_p),
        ("dim", ctypes.c_int64),
        ("metric", _c_enum),
    ]


class EmdParams(ctypes.Structure):
    _fields_ = [
        ("max_iter", ctypes.c_int64),
        ("check_marginals", ctypes.c_int),
        ("marginal_tol", ctypes.c_double),
        ("center_duals", ctypes.c_int),
        ("solver", _c_enum),
    ]


class EmdResult(ctypes.Structure):
    # Every member is a typed pointer in C; void* has the same size and alignment, and the
    # addresses come from numpy/CuPy/PyTorch buffers, so c_void_p keeps the calls simple.
    _fields_ = [
        ("cost", ctypes.c_void_p),
        ("plan", ctypes.c_void_p),
        ("sparse_row", ctypes.c_void_p),
        ("sparse_col", ctypes.c_void_p),
        ("sparse_value", ctypes.c_void_p),
        ("sparse_count", ctypes.c_void_p),
        ("u", ctypes.c_void_p),
        ("v", ctypes.c_void_p),
        ("status", ctypes.c_void_p),
        ("iterations", ctypes.c_void_p),
        ("flags", ctypes.c_void_p),
    ]


class EmdSparseProblem(ctypes.Structure):
    _fields_ = [
        ("n", ctypes.c_int64),
        ("m", ctypes.c_int64),
        ("nnz", ctypes.c_int64),
        ("value_type", _c_enum),
        ("a", ctypes.c_void_p),
        ("b", ctypes.c_void_p),
        ("indptr", ctypes.c_void_p),
        ("indices", ctypes.c_void_p),
        ("index_type", _c_enum),
        ("values", ctypes.c_void_p),
        ("memory", _c_enum),
    ]


STRUCTS = {
    "normot_matrix": Matrix,
    "normot_normalize_params": NormalizeParams,
    "normot_normalize_output": NormalizeOutput,
    "normot_emd_problem": EmdProblem,
    "normot_emd_params": EmdParams,
    "normot_emd_result": EmdResult,
    "normot_emd_sparse_problem": EmdSparseProblem,
}

# ---- locating the shared library --------------------------------------------------------------

_PACKAGE_DIR = Path(__file__).resolve().parent
# python/normot/ -> the repository root, when the package is used from a source checkout.
_SOURCE_ROOT = _PACKAGE_DIR.parent.parent


def candidate_paths() -> list[Path]:
    """Where the library is looked for, in order of preference."""
    candidates: list[Path] = []
    from_env = os.environ.get("NORMOT_LIBRARY")
    if from_env:
        candidates.append(Path(from_env))
    bundled = sorted(glob.glob(str(_PACKAGE_DIR / "_lib" / "libnormot.so*")), key=len)
    candidates.extend(Path(p) for p in bundled)
    for build_dir in ("build", "build-cpu"):
        candidates.append(_SOURCE_ROOT / build_dir / "libnormot.so")
    return candidates


def _declare(lib: ctypes.CDLL) -> None:
    """Gives every entry point its C prototype, so that ctypes converts and checks arguments."""
    c_int, c_uint, c_char_p, c_void_p = ctypes.c_int, ctypes.c_uint, ctypes.c_char_p, ctypes.c_void_p
    prototypes = {
        "normot_version_string": (c_char_p, []),
        "normot_version_number": (c_uint, []),
        "normot_status_string": (c_char_p, [c_int]),
        "normot_backend_available": (c_int, [c_int]),
        "normot_cuda_device_count": (c_int, []),
        "normot_backend_name": (c_char_p, [c_int]),
        "normot_context_create": (c_int, [ctypes.POINTER(c_void_p), c_int, c_int]),
        "normot_context_destroy": (None, [c_void_p]),
        "normot_context_backend": (c_int, [c_void_p]),
        "normot_context_set_threads": (c_int, [c_void_p, c_int]),
        "normot_context_threads": (c_int, [c_void_p]),
        "normot_context_set_stream": (c_int, [c_void_p, c_void_p]),
        "normot_context_stream": (c_void_p, [c_void_p]),
        "normot_context_last_error": (c_char_p, [c_void_p]),
        "normot_normalize_params_init": (None, [ctypes.POINTER(NormalizeParams)]),
        "normot_normalize_total": (
            c_int,
            [c_void_p, ctypes.POINTER(Matrix), ctypes.POINTER(NormalizeParams),
             ctypes.POINTER(NormalizeOutput)],
        ),
        "normot_normalize_block_sums": (
            c_int,
            [c_void_p, ctypes.POINTER(Matrix), ctypes.POINTER(NormalizeParams), c_int,
             c_void_p, c_void_p],
        ),
        "normot_normalize_block_totals": (
            c_int, [c_void_p, ctypes.POINTER(NormalizeParams), c_int, ctypes.c_int64, c_void_p],
        ),
        "normot_normalize_block_exclusion": (
            c_int,
            [c_void_p, ctypes.POINTER(Matrix), ctypes.POINTER(NormalizeParams), c_int,
             c_void_p, c_void_p],
        ),
        "normot_normalize_block_target": (
            c_int,
            [c_void_p, ctypes.POINTER(NormalizeParams), c_int, ctypes.c_int64, c_void_p,
             ctypes.POINTER(ctypes.c_double)],
        ),
        "normot_normalize_block_scale": (
            c_int,
            [c_void_p, ctypes.POINTER(Matrix), ctypes.POINTER(NormalizeParams), c_void_p,
             ctypes.POINTER(NormalizeOutput)],
        ),
        "normot_emd_params_init": (None, [ctypes.POINTER(EmdParams)]),
        "normot_emd": (
            c_int,
            [c_void_p, ctypes.POINTER(EmdProblem), ctypes.POINTER(EmdParams),
             ctypes.POINTER(EmdResult)],
        ),
        "normot_emd_sparse": (
            c_int,
            [c_void_p, ctypes.POINTER(EmdSparseProblem), ctypes.POINTER(EmdParams),
             ctypes.POINTER(EmdResult)],
        ),
    }
    for name, (restype, argtypes) in prototypes.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes


_lib: ctypes.CDLL | None = None
_lib_path: Path | None = None


def load() -> ctypes.CDLL:
    """The loaded library (loaded on first use). Raises ImportError naming every place tried."""
    global _lib, _lib_path
    if _lib is not None:
        return _lib
    tried = []
    for path in candidate_paths():
        if not path.exists():
            tried.append(f"{path} (absent)")
            continue
        try:
            lib = ctypes.CDLL(str(path))
            _declare(lib)
        except (OSError, AttributeError) as error:
            tried.append(f"{path} ({error})")
            if os.environ.get("NORMOT_LIBRARY") and path == Path(os.environ["NORMOT_LIBRARY"]):
                break  # an explicit choice that fails must not silently fall back
            continue
        _lib, _lib_path = lib, path
        return lib
    raise ImportError(
        "normot could not load libnormot.so; tried: " + "; ".join(tried)
        + ". Install the package with `pip install ./python` (which builds the library), build"
        " the repository with CMake, or set NORMOT_LIBRARY to the library's path."
    )


def library_path() -> Path:
    load()
    assert _lib_path is not None
    return _lib_path
