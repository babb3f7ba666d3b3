# SPDX-License-Identifier: Apache-2.0
"""The few writer calls of libttshm, so Python tests and tools can play a
runtime in-process (a real runtime links libttshm itself)."""
import ctypes

from . import _lib, errors
from .types import MemType, Result


class Writer:
    """A writer session on the first free slot of a registry.

    name: registry (None: $TT_SHM_NAME, else "u<uid>"). Use as a context
    manager or close() it: closing marks the segment exited, so buffers still
    live become leaks at exit."""

    def __init__(self, name=None, initial_slots=0, mode=0, report_errors=False):
        self._lib = _lib.writer()
        config = _lib.WriterConfig(
            struct_size=ctypes.sizeof(_lib.WriterConfig),
            name=name.encode() if name is not None else None,
            initial_slots=initial_slots,
            mode=mode,
            report_errors=1 if report_errors else 0,
        )
        handle = ctypes.c_void_p()
        rc = self._lib.ttshm_writer_open(ctypes.byref(config), ctypes.byref(handle))
        if rc < 0:
            raise errors.from_code(rc, self._lib.ttshm_strerror(rc).decode(), f"opening a writer on {name or 'the default registry'}")
        self._handle = handle
        self.segment_name = self._lib.ttshm_writer_segment_name(handle).decode()
        self.generation = self._lib.ttshm_writer_generation(handle)

    def _h(self):
        if self._handle is None:
            raise ValueError(f"writer {self.segment_name} is closed")
        return self._handle

    def close(self):
        if self._handle is not None:
            self._lib.ttshm_writer_close(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<ttshm.Writer {self.segment_name} generation {self.generation}>"

    def alloc(self, device, type, address, size, tag=0):  # noqa: A002
        """Records a live buffer; for CB the tag is the CB's owner."""
        return Result(self._lib.ttshm_record_alloc(self._h(), device, int(MemType.parse(type)), address, size, tag))

    def free(self, device, type, address):  # noqa: A002
        return Result(self._lib.ttshm_record_free(self._h(), device, int(MemType.parse(type)), address))

    def free_cb(self, device, address, owner):
        """Frees the CB of owner at address (others' CBs there stay live)."""
        return Result(self._lib.need("ttshm_record_free_cb")(self._h(), device, address, owner))

    def free_cbs(self, device):
        """Frees every CB of a device, whatever its owner."""
        return Result(self._lib.ttshm_record_free_cbs(self._h(), device))

    def free_all(self, device, type=None):  # noqa: A002
        """Frees every live buffer of a device: of one type, or of all when type is None."""
        t = _lib.ALL_TYPES if type is None else int(MemType.parse(type))
        return Result(self._lib.need("ttshm_record_free_all")(self._h(), device, t))

    def publish_capacity(self, device, type, total_bytes, banks=0):  # noqa: A002
        return Result(self._lib.ttshm_publish_capacity(self._h(), device, int(MemType.parse(type)), total_bytes, banks))

    def publish_device(self, device, unique_id, name=None):
        fn = self._lib.need("ttshm_publish_device")
        return Result(fn(self._h(), device, unique_id, name.encode() if name else None))
