# SPDX-License-Identifier: Apache-2.0
"""The JSON document of `tt-shm-stat --json`, built from the Python bindings.

Every part of the schema lives in this module, so that it follows
reader/stat/out_json.c (and reader/stat/collect.c: what is read, filtered,
summed and sorted, and the exit status) in one place; docs/tt-shm-stat.md
documents the schema, "ttshm.stat/2": times, tags and chip ids as decimal
strings with exact seconds beside the times, snapshot time, buffer ages,
segment owner and skipped slots, segments that could not be read, device
identity, other users' segments counted (or shown with all_users); buffers in
table order unless sorted.
"""
import dataclasses
import fnmatch
import os
import time

from . import errors
from .reader import open as open_segment
from .reader import segments
from .types import CLOCK_MONOTONIC_COARSE, ZERO_COUNTERS, DeviceIdentity, MemType, WriterState

SCHEMA = "ttshm.stat/2"

# Counter fields in the order out_json.c prints them.
COUNTER_FIELDS = ("live_bytes", "live_count", "peak_bytes", "allocs", "frees", "alloc_bytes",
                  "unknown_frees", "duplicate_allocs", "dropped", "bulk_freed", "capacity_bytes")

# A segment a writer keeps busy (taking it over) is retried this far apart,
# for this long per segment, and this long per refresh.
BUSY_PAUSE_S = 0.005
SEGMENT_BUDGET_S = 0.1
REFRESH_BUDGET_S = 1.0

EXIT_OK, EXIT_NOTHING, EXIT_BAD = 0, 1, 3


class Seconds(float):
    """A time in seconds that is written as exact decimal text (ns / 1e9 with
    nine decimals), as tt-shm-stat writes *_s fields; a float to programs."""

    def __new__(cls, ns):
        obj = super().__new__(cls, ns / 1e9)
        obj.ns = ns
        return obj


@dataclasses.dataclass
class Filters:
    """tt-shm-stat's selection options: None selects everything."""

    devices: object = None  # set of device numbers
    types: object = None  # set of MemType
    pids: object = None  # set of pids
    counters: object = None  # -f: glob patterns of the counters shown

    def device(self, d):
        return d < 64 and (self.devices is None or d in self.devices)

    def type(self, t):
        return self.types is None or t in self.types

    def counter(self, name):
        return self.counters is None or any(fnmatch.fnmatchcase(name, g) for g in self.counters)


@dataclasses.dataclass
class _Read:
    """One segment as collect.c keeps it."""

    info: object
    status: object
    stats: object
    buffers: list
    skipped: int


def _status_word(state):
    return {WriterState.EXITED: "leaked", WriterState.DIED: "stale"}.get(state, "live")


def _devices(filters, table, identity):
    """table[device][type] -> Counters; identity[device] -> DeviceIdentity."""
    out = []
    for d, dev in enumerate(table):
        if not filters.device(d) or not any(filters.type(t) and dev[t].active for t in MemType):
            continue
        ident = identity[d] if d < len(identity) else DeviceIdentity(0, "")
        entry = {
            "device": d,
            "unique_id": f"0x{ident.unique_id:016x}" if ident.unique_id else None,
            "name": ident.name or None,
        }
        shown = [f for f in COUNTER_FIELDS if filters.counter(f)]
        entry["types"] = {t.name: {f: getattr(dev[t], f) for f in shown} for t in MemType if filters.type(t)}
        out.append(entry)
    return out


def _previous(p):
    if p is None:
        return None
    return {"generation": p.generation, "pid": p.pid, "state": p.state.label,
            "live_count": p.live_count, "live_bytes": p.live_bytes}


def _totals(filters, live):
    """Sums over live writers, as collect.c's sum_live(): counters per device x
    type, and per device the identity of the first writer that published one."""
    fields = [f.name for f in dataclasses.fields(ZERO_COUNTERS)]
    totals = [[dict.fromkeys(fields, 0) for _ in MemType] for _ in range(64)]
    identity = [DeviceIdentity(0, "")] * 64
    for stats in live:
        for d in range(stats.device_count):
            if not filters.device(d):
                continue
            if not identity[d].unique_id and not identity[d].name:
                identity[d] = stats.identity[d]
            for t in MemType:
                if not filters.type(t):
                    continue
                c, x = stats.devices[d][t], totals[d][t]
                # Capacity is the largest published; every other field adds up.
                for f in fields:
                    if f not in ("capacity_bytes", "capacity_banks", "reserved"):
                        x[f] += getattr(c, f)
                if c.capacity_bytes > x["capacity_bytes"]:
                    x["capacity_bytes"], x["capacity_banks"] = c.capacity_bytes, c.capacity_banks
    table = [[dataclasses.replace(ZERO_COUNTERS, **x) for x in dev] for dev in totals]
    return table, identity


def _sort_key(sort):
    def tail(seg, b):
        return (b.device, int(b.type), b.address, seg, b.tag, b.timestamp_ns)

    if sort == "size":
        return lambda row: (-row[1].size,) + tail(*row)
    if sort == "age":
        return lambda row: (row[1].timestamp_ns,) + tail(*row)
    return lambda row: tail(*row)


def _read(info, want_buffers, budget_s):
    """Reads a segment, again while a writer holds it busy or starting, within
    budget_s (one try at least); a segment still starting then is shown so."""
    deadline = time.monotonic() + budget_s
    while True:
        try:
            with open_segment(info.name) as seg:
                st = seg.status()
                stats = seg.stats()
                bufs = seg.buffers() if want_buffers else []
                r = _Read(info, st, stats, bufs, seg.skipped if want_buffers else 0)
            if st.state != WriterState.STARTING:
                return r
        except errors.Busy:
            if time.monotonic() + BUSY_PAUSE_S > deadline:
                raise
        else:
            if time.monotonic() + BUSY_PAUSE_S > deadline:
                return r
        time.sleep(BUSY_PAUSE_S)


def build(registry=None, buffers=False, leaks=False, sort=None, top=0, filters=None, all_users=False,
          warn=None):
    """Returns (document, exit status) as `tt-shm-stat --json` would, with
    --name registry, -b/--buffers, --leaks, --sort (None, "size", "age" or
    "address"), --top, --all-users and the filters. warn(message) gets what
    tt-shm-stat prints on stderr."""
    filters = filters or Filters()
    warn = warn or (lambda msg: None)
    want_buffers = buffers or leaks or top > 0 or sort is not None  # --top/--sort alone: -b
    if sort is None and top:
        sort = "size"  # --top N: the N largest
    now_mono = time.clock_gettime_ns(CLOCK_MONOTONIC_COARSE)
    now_real = time.clock_gettime_ns(time.CLOCK_REALTIME)

    read, problems, unreadable, others, bad = [], [], 0, 0, False
    me = os.geteuid()
    t0 = time.monotonic()
    # Every user's segments: the others' are counted, or shown with all_users.
    for info in segments(registry, all_users=True):
        if info.unreadable:
            unreadable += 1
            continue
        if not all_users and me != 0 and info.owner_uid != me:
            others += 1
            continue
        budget = max(0.0, min(SEGMENT_BUDGET_S, REFRESH_BUDGET_S - (time.monotonic() - t0)))
        try:
            r = _read(info, want_buffers, budget)
        except errors.NoSuchSegment:
            continue  # removed since it was listed
        except errors.AccessDenied:
            unreadable += 1
            continue
        except errors.Error as e:
            warn(f"tt-shm-stat: {info.name}: {e.strerror or e}")
            bad = True
            problems.append({"name": info.name, "owner_uid": info.owner_uid, "error": e.strerror or str(e)})
            continue
        if filters.pids is not None and r.status.pid not in filters.pids:
            continue
        if leaks and r.status.state not in (WriterState.EXITED, WriterState.DIED):
            r.buffers, r.skipped = [], 0  # a running writer may still free its own
        r.buffers = [b for b in r.buffers if filters.device(b.device) and filters.type(b.type)]
        read.append(r)

    rows = None
    if want_buffers and sort is not None:
        rows = sorted(((i, b) for i, r in enumerate(read) for b in r.buffers), key=_sort_key(sort))
        if top:
            rows = rows[:top]

    doc_segments = []
    for i, r in enumerate(read):
        st = r.status
        seg = {"name": r.info.name, "registry": r.info.registry, "slot": r.info.slot, "owner_uid": r.info.owner_uid,
               "pid": st.pid, "generation": st.generation, "state": st.state.label}
        seg.update(_time("started", st.started_ns))
        seg.update(_time("ended", st.ended_ns))
        seg["previous"] = _previous(st.previous)
        seg["devices"] = _devices(filters, r.stats.devices, r.stats.identity)
        if want_buffers:
            mine = r.buffers if rows is None else [b for j, b in rows if j == i]
            seg["buffers"] = [_buffer(b, _status_word(st.state), now_mono) for b in mine]
        seg["skipped"] = r.skipped
        doc_segments.append(seg)

    table, identity = _totals(filters, [r.stats for r in read if r.status.state == WriterState.ALIVE])
    doc = {"schema": SCHEMA, **_time("time", now_real), "segments": doc_segments, "errors": problems,
           "unreadable": unreadable, "other_users": others, "totals": {"devices": _devices(filters, table, identity)}}
    if not read and not bad:
        warn("tt-shm-stat: no ttshm segments found" + (f" in registry {registry}" if registry else "")
             + (" readable by this user" if unreadable else ""))
    status = EXIT_BAD if bad else (EXIT_OK if read else EXIT_NOTHING)
    return doc, status


def _time(name, ns):
    """64-bit times as decimal strings (JavaScript and jq lose digits past
    2^53), with exact seconds beside them."""
    return {f"{name}_ns": str(ns), f"{name}_s": Seconds(ns)}


def _buffer(b, word, now_mono):
    return {
        "device": b.device,
        "type": b.type.name if isinstance(b.type, MemType) else "?",
        "address": b.address,
        "size": b.size,
        "generation": b.generation,
        "tid": b.tid,
        "timestamp_ns": str(b.timestamp_ns),
        "age_s": Seconds(b.age_ns(now_mono)),
        "tag": str(b.tag),
        "status": word,
    }


def _string(s):
    """A JSON string as tt-shm-stat's json_string() writes it: every byte
    outside printable ASCII as \\u00XX."""
    out = ['"']
    for byte in s.encode("utf-8"):
        if byte in (0x22, 0x5C):
            out.append("\\" + chr(byte))
        elif byte < 0x20 or byte >= 0x7F:
            out.append(f"\\u{byte:04x}")
        else:
            out.append(chr(byte))
    out.append('"')
    return "".join(out)


def dumps(value):
    """One line, no spaces, as tt-shm-stat prints it (Seconds exact)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{_string(k)}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Seconds):
        return f"{value.ns // 10**9}.{value.ns % 10**9:09d}"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    raise TypeError(f"not in a tt-shm-stat document: {value!r}")
