# SPDX-License-Identifier: Apache-2.0
"""Reading segments through libttshm-reader: ttshm.segments() and ttshm.open()."""
import ctypes
import gc
import struct
import threading
import time

from . import _lib, errors
from .types import (
    Buffer,
    Counters,
    DeviceIdentity,
    MemType,
    SegmentInfo,
    SessionSummary,
    Stats,
    Status,
    WriterState,
)

_MEM_TYPES = tuple(MemType)

# struct ttshm_entry as raw bytes: unpacking a whole snapshot at once is
# several times faster than reading ctypes fields entry by entry.
_ENTRY = struct.Struct("=IIQQQQQII")
assert _ENTRY.size == ctypes.sizeof(_lib.Entry)


def _check(rc, context=None):
    if rc < 0:
        lib = _lib.reader()
        raise errors.from_code(rc, lib.ttshm_strerror(rc).decode(), context)
    return rc


def segments(registry=None, all_users=False):
    """The ttshm segments in /dev/shm, sorted by registry then slot.

    registry: only that registry (None: every one). all_users: every user's
    segments (ttshm_list_flags), else those this user owns (root: every
    user's). Objects this user may not open are listed, flagged unreadable."""
    lib = _lib.reader()
    reg = registry.encode() if registry is not None else None
    if all_users:
        fn = lib.need("ttshm_list_flags")

        def call(out, n, found):
            return fn(reg, _lib.LIST_ALL_USERS, out, n, found)

    else:

        def call(out, n, found):
            return lib.ttshm_list(reg, out, n, found)

    size = 16
    while True:
        out = (_lib.SegmentInfo * size)()
        found = ctypes.c_size_t(0)
        rc = call(out, size, ctypes.byref(found))
        if rc == -errors.NoSuchSegment.code:
            return []  # no /dev/shm at all: nothing found
        _check(rc, "listing segments")
        if found.value <= size:
            return [
                SegmentInfo(
                    name=i.segment.decode(),
                    registry=i.registry.decode(),
                    slot=i.slot,
                    owner_uid=i.owner_uid,
                    unreadable=bool(i.flags & _lib.SEGMENT_UNREADABLE),
                )
                for i in out[: found.value]
            ]
        size = found.value + 16  # more appeared than there was room for


def open(name):  # noqa: A001 - ttshm.open(name) is the API
    """Opens a segment read-only by name (a SegmentInfo or its .name) and validates it."""
    return Segment(name.name if isinstance(name, SegmentInfo) else name)


def retry_busy(fn, timeout_s=0.2, pause_s=0.005):
    """fn(), again every pause_s while it raises Busy (a writer is taking the
    segment over or switching tables), for up to timeout_s; then Busy."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return fn()
        except errors.Busy:
            if time.monotonic() + pause_s > deadline:
                raise
            time.sleep(pause_s)


def _summary(p):
    return SessionSummary(
        generation=p.generation,
        pid=p.pid,
        state=WriterState(p.state),
        started_ns=p.started_ns,
        ended_ns=p.ended_ns,
        live_count=p.live_count,
        live_bytes=p.live_bytes,
        device_live_count=tuple(p.device_live_count),
        device_live_bytes=tuple(p.device_live_bytes),
    )


def _state(value):
    try:
        return WriterState(value)
    except ValueError:
        return WriterState.NONE  # ttshm_state_name() names any other value "none"


def _mem_type(t):
    return _MEM_TYPES[t] if t < len(_MEM_TYPES) else t


def _buffer(e):
    return Buffer(e.device, _mem_type(e.type), e.address, e.size, e.tag, e.timestamp_ns, e.generation, e.tid)


def _buffers(raw):
    """Buffers from packed struct ttshm_entry records. A frozen dataclass's
    __init__ sets each field through object.__setattr__; filling the instance
    dict directly builds the same objects about twice as fast, and pausing the
    cyclic GC (nothing here makes cycles) saves its passes over 100k new objects."""
    new = object.__new__
    types = _MEM_TYPES
    ntypes = len(types)
    out = []
    append = out.append
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for device, t, address, size, tag, ts, generation, tid, _ in _ENTRY.iter_unpack(raw):
            b = new(Buffer)
            b.__dict__.update(
                device=device, type=types[t] if t < ntypes else t, address=address, size=size,
                tag=tag, timestamp_ns=ts, generation=generation, tid=tid,
            )
            append(b)
    finally:
        if was_enabled:
            gc.enable()
    return out


class Segment:
    """One segment opened read-only. Use as a context manager or close() it.

    A reader caches its mappings between calls, so its calls are serialised
    (threads may share a Segment; open one per thread to read in parallel)."""

    def __init__(self, name):
        self._lib = _lib.reader()
        self.name = name
        self._lock = threading.RLock()  # re-entrant: foreach's fn may call back (and gets Busy)
        handle = ctypes.c_void_p()
        _check(self._lib.ttshm_reader_open(name.encode(), ctypes.byref(handle)), name)
        self._handle = handle

    def _call(self, fn, *args):
        """fn(reader, *args), one call at a time on this reader."""
        with self._lock:
            if self._handle is None:
                raise ValueError(f"segment {self.name} is closed")
            return fn(self._handle, *args)

    def close(self):
        with self._lock:
            if self._handle is not None:
                self._lib.ttshm_reader_close(self._handle)
                self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_handle", None) is not None:
            self.close()

    def __repr__(self):
        return f"<ttshm.Segment {self.name}{' closed' if self._handle is None else ''}>"

    def status(self):
        st = _lib.Status(struct_size=ctypes.sizeof(_lib.Status))
        _check(self._call(self._lib.ttshm_reader_status, ctypes.byref(st)), self.name)
        prev = st.previous
        return Status(
            state=_state(st.state),
            generation=st.generation,
            pid=st.pid,
            uid=st.uid,
            instance_id=st.instance_id,
            started_ns=st.started_ns,
            ended_ns=st.ended_ns,
            registry=st.registry.decode(errors="replace"),
            slot=st.slot,
            abi_major=st.abi_major,
            abi_minor=st.abi_minor,
            table_slots=st.table_slots,
            migrating_slots=st.migrating_slots,
            dropped_global=st.dropped_global,
            shm_bytes=st.shm_bytes,
            previous=None if prev.state == WriterState.NONE else _summary(prev),
            tables_created=st.tables_created,
            table_bytes_created=st.table_bytes_created,
        )

    def stats(self):
        st = _lib.Stats(struct_size=ctypes.sizeof(_lib.Stats))
        _check(self._call(self._lib.ttshm_reader_stats, ctypes.byref(st)), self.name)
        n = min(st.device_count, _lib.MAX_DEVICES)
        devices = tuple(
            tuple(
                Counters(
                    c.live_bytes, c.live_count, c.peak_bytes, c.allocs, c.frees, c.alloc_bytes,
                    c.unknown_frees, c.duplicate_allocs, c.dropped, c.capacity_bytes,
                    c.capacity_banks, c.bulk_freed,
                )
                for c in st.dev[d]
            )
            for d in range(n)
        )
        identity = tuple(
            DeviceIdentity(st.identity[d].unique_id, st.identity[d].name.decode(errors="replace"))
            for d in range(n)
        )
        return Stats(generation=st.generation, device_count=n, devices=devices, identity=identity)

    def buffers(self):
        """Snapshot of every live buffer, as a list (never torn records)."""
        ptr = ctypes.POINTER(_lib.Entry)()
        count = ctypes.c_size_t(0)
        _check(self._call(self._lib.ttshm_reader_snapshot, ctypes.byref(ptr), ctypes.byref(count)), self.name)
        try:
            if count.value == 0:
                return []
            return _buffers(ctypes.string_at(ptr, count.value * _ENTRY.size))
        finally:
            _libc_free(ptr)

    def foreach(self, fn):
        """Calls fn(buffer) for every live buffer without building a list; stops
        early when fn returns a true value (which foreach then returns)."""
        stop = []
        raised = []

        def visit(entry, _ctx):
            try:
                r = fn(_buffer(entry.contents))
            except BaseException as e:  # noqa: BLE001 - re-raised below, out of the C frame
                raised.append(e)
                return 1
            if r:
                stop.append(r)
                return 1
            return 0

        rc = self._call(self._lib.ttshm_reader_foreach, _lib.ENTRY_FN(visit), None)
        if raised:
            raise raised[0]
        if stop:
            return stop[0]
        _check(rc, self.name)
        return None

    def lookup(self, device, type, address, owner=None):  # noqa: A002 - mirrors the C API
        """The live buffer (device, type, address), or raises NotFound. For CB,
        owner names the CB's owner (its tag); None: owner 0, as ttshm_reader_lookup."""
        out = _lib.Entry()
        mtype = MemType.parse(type)
        if owner is not None and mtype == MemType.CB:
            fn = self._lib.need("ttshm_reader_lookup_cb")
            rc = self._call(fn, device, address, owner, ctypes.byref(out))
        else:
            rc = self._call(self._lib.ttshm_reader_lookup, device, int(mtype), address, ctypes.byref(out))
        _check(rc, f"{self.name}: device {device} {mtype.name} {address:#x}")
        return _buffer(out)

    @property
    def skipped(self):
        """Half-written slots the last buffers()/foreach() gave up on."""
        return self._call(self._lib.ttshm_reader_skipped)


_libc = ctypes.CDLL(None)
_libc.free.argtypes = [ctypes.c_void_p]
_libc.free.restype = None


def _libc_free(ptr):
    _libc.free(ctypes.cast(ptr, ctypes.c_void_p))
