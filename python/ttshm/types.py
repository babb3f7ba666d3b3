# SPDX-License-Identifier: Apache-2.0
"""Values handed out by the bindings: enums mirroring include/ttshm/types.h
and reader.h, and frozen dataclasses for what a segment holds."""
import dataclasses
import enum
import time
from typing import Optional, Tuple

# CLOCK_MONOTONIC_COARSE (Linux: 6) stamps every buffer; Python names it on
# some builds only.
CLOCK_MONOTONIC_COARSE = getattr(time, "CLOCK_MONOTONIC_COARSE", 6)


class MemType(enum.IntEnum):
    """Memory types, numbered as TT-Metal's BufferType (enum ttshm_mem_type)."""

    DRAM = 0
    L1 = 1
    SYSTEM_MEMORY = 2
    L1_SMALL = 3
    TRACE = 4
    CB = 5
    KERNEL = 6

    @classmethod
    def parse(cls, value):
        """A MemType from a MemType, a number or a name (any case)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, int):
            return cls(value)
        text = str(value).strip()
        if text.isdigit():
            return cls(int(text))
        try:
            return cls[text.upper()]
        except KeyError:
            raise ValueError(f"unknown memory type {value!r} (one of {', '.join(t.name for t in cls)})") from None


class WriterState(enum.IntEnum):
    """Writer state as a reader sees it (enum ttshm_writer_state)."""

    NONE = 0
    ALIVE = 1
    EXITED = 2  # closed cleanly: buffers left are leaks at exit
    DIED = 3  # gone without closing: buffers left are stale
    STARTING = 4

    @property
    def label(self):
        """"alive", "exited", ... as ttshm_state_name() and tt-shm-stat say."""
        return self.name.lower()


class Result(enum.IntEnum):
    """Outcome of one writer call (enum ttshm_result)."""

    RECORDED = 0
    DUPLICATE = 1
    UNKNOWN = 2
    DROPPED = 3
    OFF = 4


@dataclasses.dataclass(frozen=True)
class SegmentInfo:
    name: str  # e.g. "ttshm.u1000.0": open it with ttshm.open(name)
    registry: str
    slot: int
    owner_uid: int
    unreadable: bool  # listed, but this user may not open it


@dataclasses.dataclass(frozen=True)
class SessionSummary:
    """The previous session of a segment, kept by the writer that took over."""

    generation: int
    pid: int
    state: WriterState
    started_ns: int
    ended_ns: int  # 0 when unknown (died)
    live_count: int
    live_bytes: int
    device_live_count: Tuple[int, ...]
    device_live_bytes: Tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Status:
    state: WriterState
    generation: int
    pid: int
    uid: int
    instance_id: int
    started_ns: int  # CLOCK_REALTIME
    ended_ns: int  # CLOCK_REALTIME; 0 unless exited
    registry: str
    slot: int
    abi_major: int
    abi_minor: int
    table_slots: int
    migrating_slots: int
    dropped_global: int
    shm_bytes: int
    previous: Optional[SessionSummary]
    tables_created: int
    table_bytes_created: int


@dataclasses.dataclass(frozen=True)
class Counters:
    """Counters of one device x memory type."""

    live_bytes: int
    live_count: int
    peak_bytes: int
    allocs: int
    frees: int
    alloc_bytes: int
    unknown_frees: int
    duplicate_allocs: int
    dropped: int
    capacity_bytes: int  # 0 when not published
    capacity_banks: int
    bulk_freed: int

    @property
    def active(self):
        """True when tt-shm-stat lists it: any activity or a published capacity."""
        return bool(
            self.allocs or self.frees or self.unknown_frees or self.duplicate_allocs
            or self.dropped or self.capacity_bytes or self.live_count
        )


@dataclasses.dataclass(frozen=True)
class DeviceIdentity:
    unique_id: int  # 0 when not published
    name: str  # "" when not published


@dataclasses.dataclass(frozen=True)
class Stats:
    """Counters per device x type, all of one generation."""

    generation: int
    device_count: int  # 1 + the highest device with activity; 0 if none
    devices: Tuple[Tuple[Counters, ...], ...]  # devices[device][type], device < device_count
    identity: Tuple[DeviceIdentity, ...]  # identity[device], device < device_count

    def __getitem__(self, key):
        """stats[device, type] (type: MemType, number or name); zero counters
        for a device at or past device_count."""
        device, mtype = key
        mtype = MemType.parse(mtype)
        if device < self.device_count:
            return self.devices[device][mtype]
        return ZERO_COUNTERS


ZERO_COUNTERS = Counters(*([0] * len(dataclasses.fields(Counters))))


@dataclasses.dataclass(frozen=True)
class Buffer:
    """One live buffer record."""

    device: int
    type: MemType
    address: int
    size: int
    tag: int  # the caller's tag; for CB the owner (program id)
    timestamp_ns: int  # CLOCK_MONOTONIC_COARSE at the alloc, whole milliseconds
    generation: int
    tid: int

    def age_ns(self, now_ns=None):
        """Nanoseconds since the alloc (the writer's clock is this host's)."""
        if now_ns is None:
            now_ns = time.clock_gettime_ns(CLOCK_MONOTONIC_COARSE)
        return max(0, now_ns - self.timestamp_ns)
