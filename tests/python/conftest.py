# SPDX-License-Identifier: Apache-2.0
"""Fixtures of the Python package's tests.

The package is imported from the source tree (python/) and finds the
libraries of the build tree through TTSHM_READER_LIB / TTSHM_WRITER_LIB, set
here from TTSHM_TEST_BIN_DIR (ctest sets it; default: build/). Every test
records into a registry of its own, removed before and after it, so the suite
runs in parallel with the other suites.
"""
import glob
import itertools
import json
import os
import select
import signal
import subprocess
import sys
import time

import pytest

SRC = os.environ.get("TTSHM_TEST_SRC_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("TTSHM_TEST_BIN_DIR") or os.path.join(SRC, "build")
SIM = os.path.join(BIN, "sim", "tt-shm-sim")
STAT = os.path.join(BIN, "reader", "stat", "tt-shm-stat")
PYTHON_SRC = os.path.join(SRC, "python")

os.environ.setdefault("TTSHM_READER_LIB", os.path.join(BIN, "reader", "libttshm-reader.so.0"))
os.environ.setdefault("TTSHM_WRITER_LIB", os.path.join(BIN, "core", "libttshm.so.0"))
os.environ.pop("TT_SHM_NAME", None)
os.environ.pop("TT_SHM_TRACKING", None)
# Subprocesses (python -m ttshm, pytester runs) import the same source tree.
os.environ["PYTHONPATH"] = PYTHON_SRC + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
if PYTHON_SRC not in sys.path:
    sys.path.insert(0, PYTHON_SRC)

import ttshm  # noqa: E402

if not os.path.abspath(ttshm.__file__).startswith(PYTHON_SRC + os.sep):
    raise ImportError(f"these tests must import ttshm from {PYTHON_SRC}, not {ttshm.__file__} "
                      f"(put {PYTHON_SRC} first on PYTHONPATH)")

pytest_plugins = ["pytester"]

_names = itertools.count()


class Registry:
    """A registry name unique to this test; its segments removed before and after."""

    def __init__(self):
        self.name = f"py{os.getpid()}_{next(_names)}"
        self.procs = []

    def paths(self):
        return sorted(glob.glob(f"/dev/shm/ttshm.{self.name}.*"))

    def clean(self):
        for p in self.paths():
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass

    def sim(self, *args, hold=True, timeout=120):
        """Starts tt-shm-sim in this registry. With hold, returns (process,
        steady report) once its buffers are live; else runs it to the end and
        returns (process, reports by phase)."""
        cmd = [SIM, "--name", self.name, "--quiet"] + [str(a) for a in args]
        if not hold:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
            return p, _reports(p.stdout)
        p = subprocess.Popen(cmd + ["--hold", "300"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        deadline = time.monotonic() + timeout
        out = ""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([p.stdout], [], [], 0.5)
            if ready:
                line = p.stdout.readline()
                if not line:
                    break
                out += line
                reports = _reports(out)
                if "steady" in reports:
                    return p, reports["steady"]
            elif p.poll() is not None:
                break
        raise AssertionError(f"tt-shm-sim did not reach its steady state: rc={p.poll()} {p.stderr.read() if p.poll() is not None else ''}")

    def stat_json(self, *args, text=False, prefix=()):
        """tt-shm-stat --json on this registry: (document, exit status[, text]).
        prefix: a command that runs it (e.g. setpriv as another user)."""
        p = subprocess.run(list(prefix) + [STAT, "--json", "--name", self.name] + [str(a) for a in args],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        return (json.loads(p.stdout), p.returncode) + ((p.stdout,) if text else ())

    def python_json(self, *args, prefix=()):
        """python -m ttshm on this registry: (document, exit status, text, stderr)."""
        p = subprocess.run(list(prefix) + [sys.executable, "-m", "ttshm", "--json", "--name", self.name]
                           + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        return json.loads(p.stdout), p.returncode, p.stdout, p.stderr

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.communicate()
        self.clean()


def _reports(text):
    return {r["phase"]: r for r in (json.loads(l) for l in text.splitlines() if l.startswith("{"))}


def stop(p, sig=signal.SIGTERM):
    """Ends a holding sim (SIGTERM: clean exit); returns its exit status."""
    p.send_signal(sig)
    p.communicate(timeout=60)
    return p.returncode


@pytest.fixture
def registry():
    reg = Registry()
    reg.clean()
    yield reg
    reg.close()
