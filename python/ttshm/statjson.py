# SPDX-License-Identifier: Apache-2.0
"""The JSON document of `tt-shm-stat --json`, built from the Python bindings.

Every part of the schema lives in this module, so that it follows
reader/stat/out_json.c (and reader/stat/collect.c for what is collected and
how it is filtered, summed and sorted) in one place. Schema "ttshm.stat/1":

{"schema","segments":[{"name","pid","generation","state","started_ns","ended_ns",
  "previous":{...}|null,"devices":[{"device","types":{"DRAM":{...},...}}],
  "buffers":[...] (with buffers=True or leaks=True)}],"totals":{"devices":[...]}}
"""
import dataclasses
import json
import sys

from . import errors
from .reader import open as open_segment
from .reader import retry_busy, segments
from .types import ZERO_COUNTERS, MemType, WriterState

SCHEMA = "ttshm.stat/1"

# Counter fields in the order out_json.c prints them.
COUNTER_FIELDS = (
    "live_bytes", "live_count", "peak_bytes", "allocs", "frees", "alloc_bytes",
    "unknown_frees", "duplicate_allocs", "dropped", "capacity_bytes",
)
SUMMED_FIELDS = COUNTER_FIELDS[:-1]  # capacity is the largest published, not a sum

# Errors that make tt-shm-stat exit 3 (a bad or incompatible segment).
BAD = (errors.BadMagic, errors.VersionMismatch, errors.CorruptSegment, errors.InsecureSegment)

EXIT_OK, EXIT_NOTHING, EXIT_BAD = 0, 1, 3


@dataclasses.dataclass
class Filters:
    """tt-shm-stat's selection options: None selects everything."""

    devices: object = None  # set of device numbers
    types: object = None  # set of MemType
    pids: object = None  # set of pids

    def device(self, d):
        return d < 64 and (self.devices is None or d in self.devices)

    def type(self, t):
        return self.types is None or t in self.types


def _status_word(state):
    return {WriterState.EXITED: "leaked", WriterState.DIED: "stale"}.get(state, "live")


def _counters(c):
    return {f: getattr(c, f) for f in COUNTER_FIELDS}


def _active(filters, dev_counters):
    return any(filters.type(t) and dev_counters[t].active for t in MemType)


def _devices(filters, table):
    """table: sequence over devices of sequences over types of Counters."""
    out = []
    for d, dev in enumerate(table):
        if not filters.device(d) or not _active(filters, dev):
            continue
        out.append({"device": d, "types": {t.name: _counters(dev[t]) for t in MemType if filters.type(t)}})
    return out


def _previous(p):
    if p is None:
        return None
    return {
        "generation": p.generation,
        "pid": p.pid,
        "state": p.state.label,
        "live_count": p.live_count,
        "live_bytes": p.live_bytes,
    }


def _totals(filters, live):
    """Sum over live writers, as collect.c's sum_live()."""
    totals = [[dict.fromkeys(COUNTER_FIELDS, 0) for _ in MemType] for _ in range(64)]
    for stats in live:
        for d in range(stats.device_count):
            if not filters.device(d):
                continue
            for t in MemType:
                if not filters.type(t):
                    continue
                c, x = stats.devices[d][t], totals[d][t]
                for f in SUMMED_FIELDS:
                    x[f] += getattr(c, f)
                x["capacity_bytes"] = max(x["capacity_bytes"], c.capacity_bytes)
    zero = _counters(ZERO_COUNTERS)
    return [[dataclasses.replace(ZERO_COUNTERS, **x) if x != zero else ZERO_COUNTERS for x in dev] for dev in totals]


def _sort_key(sort):
    tail = lambda b: (b.device, int(b.type), b.address)  # noqa: E731
    if sort == "size":
        return lambda row: (-row[1].size,) + tail(row[1]) + (row[0],)
    if sort == "age":
        return lambda row: (row[1].timestamp_ns,) + tail(row[1]) + (row[0],)
    return lambda row: tail(row[1]) + (row[0],)


def build(registry=None, buffers=False, leaks=False, sort="size", top=0, filters=None, warn=None):
    """Returns (document, exit status) as `tt-shm-stat --json` would, with
    --name registry, -b/--buffers, --leaks, --sort, --top and the filters.
    warn(message) gets what tt-shm-stat prints on stderr."""
    filters = filters or Filters()
    warn = warn or (lambda msg: None)
    want_buffers = buffers or leaks or top > 0
    bad = False
    read = []  # (info, status, stats, buffers)
    for info in segments(registry):

        def read_one():
            with open_segment(info.name) as seg:
                st = seg.status()
                stats = seg.stats()
                bufs = seg.buffers() if want_buffers else []
                return st, stats, bufs

        try:
            st, stats, bufs = retry_busy(read_one)
        except errors.NoSuchSegment:
            continue  # removed since it was listed
        except errors.Error as e:
            warn(f"tt-shm-stat: {e}")
            bad = bad or isinstance(e, BAD)
            continue
        if filters.pids is not None and st.pid not in filters.pids:
            continue
        has_rows = (not leaks) or st.state in (WriterState.EXITED, WriterState.DIED)
        bufs = [b for b in bufs if has_rows and filters.device(b.device) and filters.type(b.type)]
        read.append((info, st, stats, bufs))

    rows = []
    if want_buffers:
        for i, (_, st, _, bufs) in enumerate(read):
            rows.extend((i, b) for b in bufs)
        rows.sort(key=_sort_key(sort))
        if top:
            rows = rows[:top]

    doc_segments = []
    for i, (info, st, stats, _) in enumerate(read):
        seg = {
            "name": info.name,
            "pid": st.pid,
            "generation": st.generation,
            "state": st.state.label,
            "started_ns": st.started_ns,
            "ended_ns": st.ended_ns,
            "previous": _previous(st.previous),
            "devices": _devices(filters, stats.devices),
        }
        if want_buffers:
            word = _status_word(st.state)
            seg["buffers"] = [
                {
                    "device": b.device,
                    "type": MemType(b.type).name,
                    "address": b.address,
                    "size": b.size,
                    "generation": b.generation,
                    "tid": b.tid,
                    "timestamp_ns": b.timestamp_ns,
                    "tag": b.tag,
                    "status": word,
                }
                for j, b in rows
                if j == i
            ]
        doc_segments.append(seg)

    live = [stats for (_, st, stats, _) in read if st.state == WriterState.ALIVE]
    doc = {"schema": SCHEMA, "segments": doc_segments, "totals": {"devices": _devices(filters, _totals(filters, live))}}
    if not read and not bad:
        warn("tt-shm-stat: no ttshm segments found" + (f" in registry {registry}" if registry else ""))
    status = EXIT_BAD if bad else (EXIT_OK if read else EXIT_NOTHING)
    return doc, status


def dumps(doc):
    """One line, as tt-shm-stat prints it (ASCII, no spaces)."""
    return json.dumps(doc, separators=(",", ":"))


def write(doc, out=sys.stdout):
    out.write(dumps(doc) + "\n")
