"""Exceptions raised when libnormot reports a failure."""

from __future__ import annotations

from . import _library as L


class NormotError(ValueError):
    """A call into libnormot failed.

    ``status`` is the library's status code (see include/normot/normot.h), ``status_name`` its
    short description, and the message is the library's own sentence for the failure.
    """

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = int(status)

    def __reduce__(self):
        # Rebuilt with both arguments when unpickled, as when a worker process (Dask's
        # multiprocessing scheduler, plain pickle) sends it to the client, which then raises it
        # with the library's message and status.
        return type(self), (str(self), self.status)

    @property
    def status_name(self) -> str:
        return status_string(self.status)


class UnbalancedError(NormotError, AssertionError):
    """The marginals a and b do not have the same mass.

    Also an AssertionError, because that is what POT's ot.emd raises in this case, so that code
    written for POT keeps catching it.
    """


class ShapeMismatchError(ValueError, AssertionError):
    """Arrays whose shapes do not fit together (a weight vector of the wrong length).

    Also an AssertionError, because that is what POT's ot.emd raises for a dimension mismatch,
    and a ValueError like every other bad argument of normot.
    """


class NotImplementedInLibraryError(NormotError, NotImplementedError):
    """The chosen backend does not implement this operation (yet)."""


def status_string(status: int) -> str:
    return L.load().normot_status_string(int(status)).decode()


def error_for(status: int, message: str) -> NormotError:
    """The exception for a failed status, carrying the library's message."""
    name = status_string(status)
    text = f"{message} [normot: {name}]" if message else f"normot: {name}"
    if status == L.ERROR_UNBALANCED:
        return UnbalancedError(text, status)
    if status == L.ERROR_NOT_IMPLEMENTED:
        return NotImplementedInLibraryError(text, status)
    return NormotError(text, status)
