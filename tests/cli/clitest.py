# SPDX-License-Identifier: Apache-2.0
"""Helpers for the tt-shm-stat / tt-shm-sim CLI tests.

Each test script runs tt-shm-sim in a registry of its own (so ctest -j is
safe), reads the sim's JSON report lines and checks tt-shm-stat against them.
Segments are removed at the start and at the end of every test.
"""
import glob
import json
import os
import select
import signal
import subprocess
import sys
import time
import traceback

BIN = os.environ.get("TTSHM_TEST_BIN_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build")
SRC = os.environ.get("TTSHM_TEST_SRC_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
SIM = os.path.join(BIN, "sim", "tt-shm-sim")
STAT = os.path.join(BIN, "reader", "stat", "tt-shm-stat")
TYPES = ["DRAM", "L1", "SYSTEM_MEMORY", "L1_SMALL", "TRACE", "CB", "KERNEL"]


class Failure(Exception):
    pass


def check(cond, msg, *detail):
    if not cond:
        extra = "".join("\n    " + str(d)[:2000] for d in detail)
        raise Failure(msg + extra)


def _short(v):
    r = repr(v)
    return r if len(r) <= 600 else r[:600] + "...(%d chars)" % len(r)


def eq(got, want, msg):
    check(got == want, "%s: got %s, want %s" % (msg, _short(got), _short(want)))


def clean_env():
    env = dict(os.environ)
    # The tests choose registries explicitly; an inherited name or switch must not interfere.
    env.pop("TT_SHM_NAME", None)
    env.pop("TT_SHM_TRACKING", None)
    env.pop("NO_COLOR", None)
    return env


class Registry:
    """A registry name unique to this test process, cleaned before and after."""

    def __init__(self, tag):
        self.name = "cli%d_%s" % (os.getpid(), tag)
        self.procs = []

    def segments(self):
        return sorted(glob.glob("/dev/shm/ttshm.%s.*" % self.name))

    def clean(self):
        for p in self.segments():
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass

    def __enter__(self):
        self.clean()
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.clean()
        return False


def read_reports(text):
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            rep = json.loads(line)
            out[rep["phase"]] = rep
    return out


def run_sim(reg, *args, expect_rc=0, timeout=60):
    """Runs the sim to the end; returns its reports by phase."""
    p = subprocess.run([SIM, "--name", reg.name, "--quiet"] + [str(a) for a in args],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, env=clean_env())
    if expect_rc is not None:
        check(p.returncode == expect_rc, "tt-shm-sim %s exited %d, want %d" %
              (" ".join(map(str, args)), p.returncode, expect_rc), p.stderr)
    reps = read_reports(p.stdout)
    reps["_rc"] = p.returncode
    return reps


def start_sim(reg, *args, timeout=60):
    """Starts the sim with --hold; returns (process, steady report) once it holds."""
    p = subprocess.Popen([SIM, "--name", reg.name, "--quiet", "--hold", "120"] +
                         [str(a) for a in args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=clean_env())
    reg.procs.append(p)
    deadline = time.time() + timeout
    buf = ""
    while time.time() < deadline:
        r, _, _ = select.select([p.stdout], [], [], 0.5)
        if r:
            line = p.stdout.readline()
            if not line:
                break
            buf += line
            reps = read_reports(buf)
            if "steady" in reps:
                return p, reps["steady"]
        elif p.poll() is not None:
            break
    raise Failure("tt-shm-sim did not reach its steady state: rc=%r stderr=%s" %
                  (p.poll(), p.stderr.read() if p.poll() is not None else ""))


def stop_sim(p, sig=signal.SIGTERM, timeout=30):
    """Ends the hold (SIGTERM: clean exit); returns the remaining reports."""
    p.send_signal(sig)
    out, err = p.communicate(timeout=timeout)
    reps = read_reports(out)
    reps["_rc"] = p.returncode
    reps["_stderr"] = err
    return reps


def stat(*args, env=None, timeout=60):
    e = clean_env()
    if env:
        e.update(env)
    return subprocess.run([STAT] + [str(a) for a in args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout, env=e)


def stat_json(reg, *args, expect_rc=0):
    p = stat("--name", reg.name, "--json", *args)
    check(p.returncode == expect_rc, "tt-shm-stat --json %s exited %d, want %d" %
          (" ".join(map(str, args)), p.returncode, expect_rc), p.stderr, p.stdout)
    try:
        return json.loads(p.stdout)
    except ValueError as ex:
        raise Failure("tt-shm-stat --json output does not parse: %s\n%s" % (ex, p.stdout[:500]))


def one_segment(doc):
    eq(len(doc["segments"]), 1, "segments in the document")
    return doc["segments"][0]


def device_map(devices):
    """[{"device":d,"types":{T:{...}}}] -> {(d, T): {...}}"""
    out = {}
    for dev in devices:
        for t, c in dev["types"].items():
            out[(dev["device"], t)] = c
    return out


FIELDS = ("live_count", "live_bytes", "allocs", "frees", "alloc_bytes")


def compare_counts(stat_devices, sim_report, what, fields=FIELDS, peak=True):
    """Every device x type the sim touched must match the reader exactly, and
    the reader must show no activity the sim did not cause."""
    got = device_map(stat_devices)
    want = device_map(sim_report["devices"])
    check(want, "%s: the sim reported no activity" % what)
    for key, w in want.items():
        g = got.get(key)
        check(g is not None, "%s: device %d type %s missing from tt-shm-stat" % ((what,) + key))
        for f in fields:
            eq(g[f], w[f], "%s: device %d %s %s" % (what, key[0], key[1], f))
        if peak and "peak_bytes" in w:
            eq(g["peak_bytes"], w["peak_bytes"], "%s: device %d %s peak_bytes" %
               (what, key[0], key[1]))
        eq(g["capacity_bytes"], w["capacity_bytes"], "%s: device %d %s capacity_bytes" %
           (what, key[0], key[1]))
        for f in ("unknown_frees", "duplicate_allocs", "dropped"):
            eq(g[f], 0, "%s: device %d %s %s" % (what, key[0], key[1], f))
    for key, g in got.items():
        if key not in want:
            check(g["allocs"] == 0 and g["live_count"] == 0 and g["capacity_bytes"] == 0,
                  "%s: tt-shm-stat shows activity on device %d %s the sim never caused" %
                  ((what,) + key), g)


def run_tests(namespace):
    for exe in (SIM, STAT):
        if not os.access(exe, os.X_OK):
            print("missing %s: build the project first (TTSHM_TEST_BIN_DIR=%s)" % (exe, BIN))
            sys.exit(1)
    tests = [(n, f) for n, f in namespace.items() if n.startswith("test_") and callable(f)]
    failed = 0
    for name, fn in tests:
        t0 = time.time()
        try:
            fn()
            print("PASS %s (%.1fs)" % (name, time.time() - t0), flush=True)
        except Exception as ex:  # report every failure, then go on
            failed += 1
            print("FAIL %s: %s" % (name, ex), flush=True)
            if not isinstance(ex, Failure):
                traceback.print_exc()
    if not tests:
        print("no tests ran")
        sys.exit(1)
    print("%d of %d passed" % (len(tests) - failed, len(tests)))
    sys.exit(1 if failed else 0)
