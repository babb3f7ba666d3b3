# SPDX-License-Identifier: Apache-2.0
"""`python -m ttshm` prints what `tt-shm-stat --json` prints, on the same
state, for every view and filter, byte for byte (the snapshot time and buffer
ages excepted: the two runs are not at the same instant)."""
import os
import re
import shutil
import signal

import pytest

import ttshm
from conftest import stop

NOW_KEYS = ("time_ns", "time_s", "age_s")


def normalize(value):
    """Drops what depends on the instant of the run."""
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items() if k not in NOW_KEYS}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


def without_now(text):
    return re.sub(r'"(time_ns":"[0-9]+","time_s|age_s)":[0-9.]+,?', "", text)


VIEWS = [
    (),
    ("-b",),
    ("--leaks",),
    ("-b", "--sort", "age"),
    ("-b", "--sort", "address", "--top", "7"),
    ("--top", "5"),
    ("--sort", "size"),
    ("-d", "1,2-3", "-t", "DRAM,l1,5"),
    ("-b", "-t", "TRACE"),
    ("-f", "live_*", "-f", "peak_bytes"),
    ("-b", "-f", "no_such_counter", "-t", "L1"),
]


def both(registry, args, prefix=()):
    """The two documents on the same state: equal, and equal as text."""
    mine, my_rc, my_text, _ = registry.python_json(*args, prefix=prefix)
    theirs, their_rc, their_text = registry.stat_json(*args, text=True, prefix=prefix)
    assert my_rc == their_rc
    assert normalize(mine) == normalize(theirs), args
    assert mine["schema"] == "ttshm.stat/2"
    assert without_now(my_text) == without_now(their_text)
    return mine


@pytest.mark.parametrize("args", VIEWS, ids=lambda a: " ".join(a) or "summary")
def test_live_writers(registry, args):
    registry.sim("-n", 4, "-e", 3000, "--capacity")
    registry.sim("-n", 2, "-e", 1000, "-s", 7, "--profile", "uniform")  # a second writer: totals add up
    doc = both(registry, args)
    assert len(doc["segments"]) == 2


def test_exited_and_died_writers(registry):
    p1, _ = registry.sim("-n", 2, "-e", 1500, "--leak", 4)
    p2, _ = registry.sim("-n", 2, "-e", 1500, "-s", 3)
    stop(p1)
    stop(p2, signal.SIGKILL)
    for args in VIEWS:
        doc = both(registry, args)
        assert sorted(s["state"] for s in doc["segments"]) == ["died", "exited"]


def test_a_taken_over_segment_shows_its_previous_session(registry):
    p, _ = registry.sim("-e", 1000, "--leak", 2)
    stop(p)
    registry.sim("-e", 1000, "-s", 9)
    doc = both(registry, ("-b",))
    assert doc["segments"][0]["previous"]["state"] == "exited"


def test_what_the_writer_binding_records(registry):
    """Device identity, CBs of several owners, bulk frees, capacity, tags past 2^53."""
    with ttshm.Writer(name=registry.name) as w:
        w.publish_device(0, 0xDEADBEEF0123, "wormhole_b0 0000:01:00.0")
        w.publish_capacity(1, "L1", 64 * 1400 * 1024, banks=64)
        for owner in (0, 1, 2):
            w.alloc(0, "CB", 0x9000, 2048 + owner, tag=owner)
        for i in range(20):
            w.alloc(1, "DRAM", 0x100000 * (i + 1), 4096 * (i + 1), tag=(1 << 60) + i)
        w.free_all(1, "DRAM")
        w.alloc(1, "DRAM", 0x4000, 100, tag=(1 << 63) + 5)
        for args in VIEWS:
            both(registry, args)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to read as another user")
def test_as_another_user(registry):
    """Read by uid 65534 (group root): a segment it may read but does not own
    (group-readable), and one it may not open."""
    with ttshm.Writer(name=registry.name, mode=0o640) as shared, ttshm.Writer(name=registry.name) as private:
        shared.alloc(0, "DRAM", 0x1000, 4096)
        private.alloc(1, "L1", 0x2000, 64)
        for args in [(), ("-b",), ("--all-users",), ("-b", "--all-users")]:
            both(registry, args, prefix=("setpriv", "--reuid=65534", "--regid=0", "--clear-groups", "--"))


def test_nothing_found(registry):
    doc = both(registry, ())
    assert doc["segments"] == []
