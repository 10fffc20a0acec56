"""normot: exact, fast normalize_total (scanpy) and batched exact EMD (POT), on libnormot.

    import normot
    normot.normalize_total(adata)                 # like sc.pp.normalize_total(adata)
    plans = normot.emd(a, b, M)                   # M (n, m) like ot.emd, or (k, n, m): a batch
    costs = normot.emd2(a, b, M)
    costs = normot.emd_pointclouds(X, Y)          # no cost tensor stored

The C library is found at $NORMOT_LIBRARY, else inside the package (put there by
`pip install`), else in the source tree's build/ folder.
"""

from __future__ import annotations

from . import _library
from ._context import get_backend, get_num_threads, set_backend, set_num_threads
from ._errors import (NormotError, NotImplementedInLibraryError, ShapeMismatchError,
                      UnbalancedError)
from .emd import emd, emd2, emd_pointclouds
from .normalize import normalize_total

__all__ = [
    "NormotError",
    "NotImplementedInLibraryError",
    "ShapeMismatchError",
    "UnbalancedError",
    "emd",
    "emd2",
    "emd_pointclouds",
    "get_backend",
    "get_num_threads",
    "info",
    "library_version",
    "normalize_total",
    "set_backend",
    "set_num_threads",
]

__version__ = "0.1.0"


def library_version() -> str:
    """The version of the loaded libnormot, "MAJOR.MINOR.PATCH"."""
    return _library.load().normot_version_string().decode()


def info() -> dict:
    """What this installation can do: versions, library path, backends, CUDA devices, threads."""
    lib = _library.load()
    return {
        "version": __version__,
        "library_version": library_version(),
        "library_path": str(_library.library_path()),
        "backends": [name for name, code in _library.BACKEND_BY_NAME.items()
                     if code != _library.BACKEND_AUTO and lib.normot_backend_available(code)],
        "cuda_devices": int(lib.normot_cuda_device_count()),
        "backend": get_backend(),
        "threads": get_num_threads(),
    }
