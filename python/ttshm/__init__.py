# SPDX-License-Identifier: Apache-2.0
"""ttshm: read the live registry of device-buffer allocations that ttshm
writers (TT-Metal runtimes) keep in POSIX shared memory.

    import ttshm
    for info in ttshm.segments():
        with ttshm.open(info.name) as seg:
            print(seg.status().state.label, len(seg.buffers()))

Standard library only (ctypes over libttshm-reader.so.0); see docs/python.md.
"""
from . import _lib, errors
from ._lib import ABI_MAJOR, MAX_DEVICES
from .errors import *  # noqa: F401,F403 - the exception classes are API
from .reader import Segment, open, retry_busy, segments  # noqa: A004
from .types import (
    Buffer,
    Counters,
    DeviceIdentity,
    MemType,
    Result,
    SegmentInfo,
    SessionSummary,
    Stats,
    Status,
    WriterState,
)
from .writer import Writer

__version__ = "0.3.0"


def load():
    """Loads and checks libttshm-reader now (it is otherwise loaded at first
    use); raises LibraryNotFound or AbiMismatch. Returns the library's path."""
    return _lib.reader().path


__all__ = [
    "ABI_MAJOR", "MAX_DEVICES", "Segment", "open", "retry_busy", "segments", "Buffer", "Counters",
    "DeviceIdentity", "MemType", "Result", "SegmentInfo", "SessionSummary", "Stats", "Status",
    "WriterState", "Writer", "load",
] + errors.__all__
