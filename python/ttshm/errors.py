# SPDX-License-Identifier: Apache-2.0
"""Exceptions: one class per TTSHM_E_* code (include/ttshm/types.h), the way
pynvml maps NVML's codes, plus the errors of loading the library."""


class Error(Exception):
    """Base of every ttshm error. code is the TTSHM_E_* number (None when the
    error does not come from the C library); strerror is the C library's
    description of it."""

    code = None
    strerror = None


class LibraryNotFound(Error):
    """libttshm-reader.so.0 (or libttshm.so.0) could not be loaded."""


class AbiMismatch(Error):
    """The loaded library reads another segment ABI, or its structs differ."""


class Unavailable(Error):
    """The loaded library lacks a function these bindings need for this call."""


class InvalidArgument(Error):
    code = 1


class NoSuchSegment(Error):
    code = 2


class AccessDenied(Error):
    code = 3


class NoSpace(Error):
    code = 4


class OutOfMemory(Error):
    code = 5


class SystemCallFailed(Error):
    code = 6


class BadMagic(Error):
    code = 7


class VersionMismatch(Error):
    code = 8


class CorruptSegment(Error):
    code = 9


class Busy(Error):
    code = 10


class InsecureSegment(Error):
    code = 11


class TrackingDisabled(Error):
    code = 12


class RegistryFull(Error):
    code = 13


class NotFound(Error):
    code = 14


__all__ = ["Error", "LibraryNotFound", "AbiMismatch", "Unavailable"] + [
    cls.__name__ for cls in Error.__subclasses__() if cls.code is not None
]

BY_CODE = {cls.code: cls for cls in Error.__subclasses__() if cls.code is not None}


def from_code(rc, message, context=None):
    """The exception for a C return code (sign ignored)."""
    code = abs(rc)
    cls = BY_CODE.get(code, Error)
    text = f"{context}: {message}" if context else message
    exc = cls(text)
    exc.code = code
    exc.strerror = message  # ttshm_strerror()'s text alone
    return exc
