# SPDX-License-Identifier: Apache-2.0
"""`python -m ttshm` prints what `tt-shm-stat --json` prints, on the same
state, for every view and filter (times excepted: a view computed from
"now" may differ between the two runs)."""
import json
import signal
import subprocess
import sys

import pytest

from conftest import stop


def normalize(value):
    """Drops times and ages (keys ending in _ns, or naming an age)."""
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items() if not (k.endswith("_ns") or "age" in k)}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


def python_json(registry, *args):
    p = subprocess.run([sys.executable, "-m", "ttshm", "--json", "--name", registry.name] + [str(a) for a in args],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    return json.loads(p.stdout), p.returncode


VIEWS = [
    (),
    ("-b",),
    ("--leaks",),
    ("-b", "--sort", "age"),
    ("-b", "--sort", "address", "--top", "7"),
    ("--top", "5"),
    ("-d", "1,2-3", "-t", "DRAM,l1,5"),
    ("-b", "-t", "TRACE"),
]


def both(registry, args):
    mine, my_rc = python_json(registry, *args)
    theirs, their_rc = registry.stat_json(*args)
    assert my_rc == their_rc
    assert normalize(mine) == normalize(theirs), args
    return mine


@pytest.mark.parametrize("args", VIEWS, ids=lambda a: " ".join(a) or "summary")
def test_live_writers(registry, args):
    registry.sim("-n", 4, "-e", 3000, "--capacity")
    registry.sim("-n", 2, "-e", 1000, "-s", 7, "--profile", "uniform")  # a second writer: totals add up
    doc = both(registry, args)
    assert doc["schema"] == "ttshm.stat/1" and len(doc["segments"]) == 2


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


def test_nothing_found(registry):
    doc = both(registry, ())
    assert doc["segments"] == []
