"""Library contexts: one per thread and backend/device, created on first use.

The C library asks for one context per thread (contexts share nothing mutable), and a context
keeps scratch memory between calls, so each Python thread keeps its own small set of contexts
for the life of the thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading

from . import _library as L
from ._errors import error_for

_settings = {"backend": "auto", "threads": 0}
_per_thread = threading.local()


class Context:
    """An owned normot_context handle."""

    def __init__(self, backend: int, device_id: int = 0):
        lib = L.load()
        handle = ctypes.c_void_p()
        status = lib.normot_context_create(ctypes.byref(handle), backend, device_id)
        if status != L.SUCCESS:
            names = {v: k for k, v in L.BACKEND_BY_NAME.items()}
            raise error_for(
                status, f"could not create a normot context on backend "
                f"{names.get(backend, backend)!r}, device {device_id}")
        self._lib = lib
        self.handle = handle
        # What this handle was last set to: prepare() runs before every call, and skipping the
        # library calls that would change nothing keeps a small problem's call short.
        self._threads = None
        self._stream = None

    def __del__(self):
        handle = getattr(self, "handle", None)
        if handle is not None and handle.value:
            try:
                self._lib.normot_context_destroy(handle)
            except Exception:  # interpreter shutdown: the library may already be gone
                pass
            self.handle = None

    @property
    def backend(self) -> str:
        return L.load().normot_backend_name(self._lib.normot_context_backend(self.handle)).decode()

    def check(self, status: int) -> None:
        """Raises the exception for a failed status, with the context's last message."""
        if status != L.SUCCESS:
            message = self._lib.normot_context_last_error(self.handle) or b""
            raise error_for(status, message.decode(errors="replace"))

    def prepare(self, stream: int = 0) -> None:
        threads = getattr(_per_thread, "threads", None)
        if threads is None:
            threads = _settings["threads"]
        self.set_threads(threads)
        stream = stream or None
        if stream != self._stream:
            self.check(self._lib.normot_context_set_stream(self.handle, ctypes.c_void_p(stream)))
            self._stream = stream

    def set_threads(self, threads: int) -> None:
        """The CPU threads of this handle's next calls (0: OpenMP's default)."""
        threads = int(threads)
        if threads != self._threads:
            self._threads = None  # unknown until the library accepted it
            self.check(self._lib.normot_context_set_threads(self.handle, threads))
            self._threads = threads


def context(on_device: bool = False, device_id: int = 0, stream: int = 0) -> Context:
    """This thread's context for host data (the configured backend) or for CUDA device data."""
    if on_device and _settings["backend"] != "cpu":
        backend, device = L.BACKEND_CUDA, int(device_id)
    else:
        backend, device = L.BACKEND_BY_NAME[_settings["backend"]], 0
    contexts = getattr(_per_thread, "contexts", None)
    if contexts is None:
        contexts = _per_thread.contexts = {}
    key = (backend, device)
    if key not in contexts:
        contexts[key] = Context(backend, device)
    ctx = contexts[key]
    ctx.prepare(stream)
    return ctx


def device_context_for(buffer, name: str, operation: str) -> Context:
    """The context for a call whose data lie where `buffer` does. Device memory needs the CUDA
    backend; pinned and managed memory, which the host can read as well, go to the CPU backend
    when CUDA is unavailable or "cpu" was chosen. The errors name the array and its type."""
    if buffer.memory == L.MEMORY_HOST:
        return context()
    cuda_usable = (_settings["backend"] != "cpu"
                   and L.load().normot_backend_available(L.BACKEND_CUDA))
    if cuda_usable:
        return context(on_device=True, device_id=buffer.device_id, stream=buffer.stream())
    if buffer.memory != L.MEMORY_CUDA:
        return context()
    what = f"{operation}: {name} (a {type(buffer.owner).__name__}) lives in CUDA device memory"
    if _settings["backend"] == "cpu":
        raise error_for(L.ERROR_INVALID_MEMORY,
                        f"{what}, which the CPU backend chosen by set_backend('cpu') cannot "
                        "read; copy it to the host or choose the CUDA backend")
    raise error_for(L.ERROR_BACKEND_UNAVAILABLE,
                    f"{what}, but this libnormot has no usable CUDA backend (built without it, "
                    "or no device visible); copy it to the host")


def set_backend(name: str) -> None:
    """Chooses the backend for data in host memory: "auto" (CUDA when available, else CPU),
    "cpu" or "cuda". Arrays that live on a GPU always go to the CUDA backend unless "cpu" is
    chosen, which then refuses them."""
    if name not in L.BACKEND_BY_NAME:
        raise ValueError(f"backend must be one of {sorted(L.BACKEND_BY_NAME)}, not {name!r}")
    if name == "cuda" and not L.load().normot_backend_available(L.BACKEND_CUDA):
        raise error_for(L.ERROR_BACKEND_UNAVAILABLE,
                        "the CUDA backend is not compiled in or no CUDA device is visible")
    _settings["backend"] = name
    _per_thread.contexts = {}


def get_backend() -> str:
    return _settings["backend"]


def set_num_threads(n: int) -> None:
    """CPU threads per call; 0 means OpenMP's default (omp_get_max_threads(): OMP_NUM_THREADS,
    the affinity mask). Results never depend on it."""
    n = int(n)
    if n < 0:
        raise ValueError("the number of threads must be >= 0 (0 means OpenMP's default)")
    _settings["threads"] = n


@contextlib.contextmanager
def threads_in_this_thread(n: int):
    """Calls made by this Python thread inside the block use n CPU threads, whatever
    set_num_threads says: a Dask task sizes its calls to its worker's share of the cores without
    changing the setting of the other threads of the process."""
    previous = getattr(_per_thread, "threads", None)
    _per_thread.threads = int(n)
    try:
        yield
    finally:
        _per_thread.threads = previous


def get_num_threads() -> int:
    """The thread count a call on the CPU backend uses now."""
    ctx = context()
    return L.load().normot_context_threads(ctx.handle)
