# SPDX-License-Identifier: Apache-2.0
"""Loading libttshm-reader / libttshm and the ctypes mirror of their structs.

The structs below mirror include/ttshm/reader.h and writer.h field by field.
They are checked against the loaded library (ttshm_reader_abi_version and
ttshm_reader_struct_size) when it is loaded, so a library built for another
ABI is refused with a clear message instead of reading garbage.

Libraries are found by SONAME, the way NVML's bindings find theirs: the
dynamic loader's search (LD_LIBRARY_PATH, ld.so.cache), then
ctypes.util.find_library. TTSHM_READER_LIB and TTSHM_WRITER_LIB name an exact
file instead. Loading happens at first use, not at import, so that importing
the package (pytest loads the plugin in every run) never fails.
"""
import ctypes
import ctypes.util
import os
import threading

from . import errors

# The segment ABI major these bindings mirror (reader.h's structs).
ABI_MAJOR = 3

MAX_DEVICES = 64
MEM_TYPE_COUNT = 7
DEVICE_NAME_MAX = 47
SEGMENT_UNREADABLE = 1
LIST_ALL_USERS = 1
ALL_TYPES = -1

u32 = ctypes.c_uint32
u64 = ctypes.c_uint64


class SegmentInfo(ctypes.Structure):
    _fields_ = [
        ("struct_size", u32),
        ("segment", ctypes.c_char * 64),
        ("registry", ctypes.c_char * 64),
        ("slot", u32),
        ("owner_uid", u32),
        ("flags", u32),
    ]


class SessionSummary(ctypes.Structure):
    _fields_ = [
        ("generation", u64),
        ("pid", u32),
        ("state", u32),
        ("started_ns", u64),
        ("ended_ns", u64),
        ("live_count", u64),
        ("live_bytes", u64),
        ("device_live_count", u64 * MAX_DEVICES),
        ("device_live_bytes", u64 * MAX_DEVICES),
    ]


class Status(ctypes.Structure):
    _fields_ = [
        ("struct_size", u32),
        ("state", u32),
        ("generation", u64),
        ("pid", u32),
        ("uid", u32),
        ("instance_id", u64),
        ("started_ns", u64),
        ("ended_ns", u64),
        ("registry", ctypes.c_char * 64),
        ("slot", u32),
        ("abi_major", u32),
        ("abi_minor", u32),
        ("table_slots", u64),
        ("migrating_slots", u64),
        ("dropped_global", u64),
        ("shm_bytes", u64),
        ("previous", SessionSummary),
        ("tables_created", u64),
        ("table_bytes_created", u64),
    ]


class Counters(ctypes.Structure):
    _fields_ = [
        ("live_bytes", u64),
        ("live_count", u64),
        ("peak_bytes", u64),
        ("allocs", u64),
        ("frees", u64),
        ("alloc_bytes", u64),
        ("unknown_frees", u64),
        ("duplicate_allocs", u64),
        ("dropped", u64),
        ("capacity_bytes", u64),
        ("capacity_banks", u32),
        ("reserved", u32),
        ("bulk_freed", u64),
    ]


class DeviceIdentity(ctypes.Structure):
    _fields_ = [
        ("unique_id", u64),
        ("name", ctypes.c_char * (DEVICE_NAME_MAX + 1)),
    ]


class Stats(ctypes.Structure):
    _fields_ = [
        ("struct_size", u32),
        ("device_count", u32),
        ("generation", u64),
        ("dev", (Counters * MEM_TYPE_COUNT) * MAX_DEVICES),
        ("identity", DeviceIdentity * MAX_DEVICES),
    ]


class Entry(ctypes.Structure):
    _fields_ = [
        ("device", u32),
        ("type", u32),
        ("address", u64),
        ("size", u64),
        ("tag", u64),
        ("timestamp_ns", u64),
        ("generation", u64),
        ("tid", u32),
        ("reserved", u32),
    ]


class WriterConfig(ctypes.Structure):
    _fields_ = [
        ("struct_size", u32),
        ("name", ctypes.c_char_p),
        ("initial_slots", u64),
        ("mode", u32),
        ("report_errors", ctypes.c_int),
    ]


# The structs whose size the reader library reports, by their C name.
CHECKED_STRUCTS = {
    "ttshm_segment_info": SegmentInfo,
    "ttshm_session_summary": SessionSummary,
    "ttshm_status": Status,
    "ttshm_counters": Counters,
    "ttshm_device_identity": DeviceIdentity,
    "ttshm_stats": Stats,
    "ttshm_entry": Entry,
}

ENTRY_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(Entry), ctypes.c_void_p)

_P = ctypes.POINTER
_VP = ctypes.c_void_p

# name: (restype, argtypes). Functions that a library of this ABI may still
# lack (declared ahead of their implementation) are bound when present; using
# a missing one raises errors.Unavailable naming it.
READER_FUNCTIONS = {
    "ttshm_strerror": (ctypes.c_char_p, [ctypes.c_int]),
    "ttshm_state_name": (ctypes.c_char_p, [ctypes.c_int]),
    "ttshm_mem_type_name": (ctypes.c_char_p, [ctypes.c_uint]),
    "ttshm_list": (ctypes.c_int, [ctypes.c_char_p, _P(SegmentInfo), ctypes.c_size_t, _P(ctypes.c_size_t)]),
    "ttshm_list_flags": (
        ctypes.c_int,
        [ctypes.c_char_p, ctypes.c_uint, _P(SegmentInfo), ctypes.c_size_t, _P(ctypes.c_size_t)],
    ),
    "ttshm_reader_open": (ctypes.c_int, [ctypes.c_char_p, _P(_VP)]),
    "ttshm_reader_close": (None, [_VP]),
    "ttshm_reader_status": (ctypes.c_int, [_VP, _P(Status)]),
    "ttshm_reader_stats": (ctypes.c_int, [_VP, _P(Stats)]),
    "ttshm_reader_foreach": (ctypes.c_int, [_VP, ENTRY_FN, _VP]),
    "ttshm_reader_snapshot": (ctypes.c_int, [_VP, _P(_P(Entry)), _P(ctypes.c_size_t)]),
    "ttshm_reader_lookup": (ctypes.c_int, [_VP, u32, ctypes.c_int, u64, _P(Entry)]),
    "ttshm_reader_lookup_cb": (ctypes.c_int, [_VP, u32, u64, u64, _P(Entry)]),
    "ttshm_reader_abi_version": (u32, []),
    "ttshm_reader_struct_size": (ctypes.c_size_t, [ctypes.c_char_p]),
    "ttshm_reader_skipped": (u64, [_VP]),
}

WRITER_FUNCTIONS = {
    "ttshm_writer_open": (ctypes.c_int, [_P(WriterConfig), _P(_VP)]),
    "ttshm_writer_close": (None, [_VP]),
    "ttshm_record_alloc": (ctypes.c_int, [_VP, u32, ctypes.c_int, u64, u64, u64]),
    "ttshm_record_free": (ctypes.c_int, [_VP, u32, ctypes.c_int, u64]),
    "ttshm_record_free_cb": (ctypes.c_int, [_VP, u32, u64, u64]),
    "ttshm_record_free_cbs": (ctypes.c_int, [_VP, u32]),
    "ttshm_record_free_all": (ctypes.c_int, [_VP, u32, ctypes.c_int]),
    "ttshm_publish_capacity": (ctypes.c_int, [_VP, u32, ctypes.c_int, u64, u32]),
    "ttshm_publish_device": (ctypes.c_int, [_VP, u32, u64, ctypes.c_char_p]),
    "ttshm_writer_segment_name": (ctypes.c_char_p, [_VP]),
    "ttshm_writer_generation": (u64, [_VP]),
}


class Library:
    """A loaded shared library with its functions bound (missing ones as None)."""

    def __init__(self, cdll, functions, path):
        self.path = path
        self.missing = []
        for name, (restype, argtypes) in functions.items():
            fn = getattr(cdll, name, None)
            if fn is None:
                self.missing.append(name)
            else:
                fn.restype = restype
                fn.argtypes = argtypes
            setattr(self, name, fn)

    def need(self, name):
        """The bound function, or errors.Unavailable when this library lacks it."""
        fn = getattr(self, name)
        if fn is None:
            raise errors.Unavailable(
                f"{name}() is not in {self.path} (a library older than its header); "
                "rebuild or update libttshm"
            )
        return fn


def _load(env, soname, stem):
    override = os.environ.get(env)
    tried = []
    if override:
        try:
            return ctypes.CDLL(override), override
        except OSError as e:
            raise errors.LibraryNotFound(f"{env}={override}: cannot load it: {e}") from None
    try:
        return ctypes.CDLL(soname), soname
    except OSError as e:
        tried.append(f"{soname}: {e}")
    found = ctypes.util.find_library(stem)
    if found:
        try:
            return ctypes.CDLL(found), found
        except OSError as e:
            tried.append(f"{found}: {e}")
    raise errors.LibraryNotFound(
        f"{soname} not found ({'; '.join(tried)}). Install ttshm (make install), "
        f"or set {env} to the library's path, e.g. {env}=build/{'reader' if 'reader' in stem else 'core'}/{soname}"
    )


def check_abi(lib):
    """Refuses a reader library whose ABI or struct sizes differ from these bindings."""
    version = lib.need("ttshm_reader_abi_version")()
    major, minor = version >> 16, version & 0xFFFF
    if major != ABI_MAJOR:
        raise errors.AbiMismatch(
            f"{lib.path} reads segment ABI {major}.{minor}; these bindings mirror ABI {ABI_MAJOR}. "
            "Install the ttshm Python package of the same ttshm release as the library."
        )
    size_of = lib.need("ttshm_reader_struct_size")
    for cname, struct in CHECKED_STRUCTS.items():
        theirs = size_of(cname.encode())
        if theirs != ctypes.sizeof(struct):
            raise errors.AbiMismatch(
                f"{lib.path}: struct {cname} is {theirs} bytes, these bindings have "
                f"{ctypes.sizeof(struct)} (ABI {major}.{minor}). Install the ttshm Python "
                "package of the same ttshm release as the library."
            )


_lock = threading.Lock()
_reader = None
_writer = None


def reader():
    """libttshm-reader, loaded and checked at first use."""
    global _reader
    with _lock:
        if _reader is None:
            cdll, path = _load("TTSHM_READER_LIB", "libttshm-reader.so.0", "ttshm-reader")
            lib = Library(cdll, READER_FUNCTIONS, path)
            check_abi(lib)
            _reader = lib
        return _reader


def writer():
    """libttshm (the writer), loaded at first use."""
    global _writer
    with _lock:
        if _writer is None:
            cdll, path = _load("TTSHM_WRITER_LIB", "libttshm.so.0", "ttshm")
            _writer = Library(cdll, WRITER_FUNCTIONS, path)
        return _writer
