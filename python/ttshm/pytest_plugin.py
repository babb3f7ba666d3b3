# SPDX-License-Identifier: Apache-2.0
"""pytest plugin: fails a test that leaks device memory.

Off unless `--ttshm-leaks` (or ini `ttshm_leaks = true`). Around each test's
call it reads this process's own writer segments (those whose writer pid is
this process: the runtime's default writer, or writers the test opened) and
fails the test that leaves live buffers it allocated, listing them. Under
pytest-xdist every worker is its own writer process, so each checks its own.

Registered through the pytest11 entry point; from a source tree use
`-p ttshm.pytest_plugin`. See docs/python.md.
"""
import gc
import os
import re
import threading
import time

import pytest

import ttshm
from ttshm.types import CLOCK_MONOTONIC_COARSE

DEFAULT_IGNORED = "CB,KERNEL"  # program caches keep them on purpose
SAMPLE_PERIOD_S = 0.001

_state_key = pytest.StashKey()
_failure_key = pytest.StashKey()
# The running test's ttshm_limit_memory markers (_Limit), in its item's stash:
# what the sampler has seen so far is in their .sampled.
limits_key = pytest.StashKey()

_UNITS = {
    "": 1, "B": 1,
    "K": 1 << 10, "KIB": 1 << 10, "M": 1 << 20, "MIB": 1 << 20,
    "G": 1 << 30, "GIB": 1 << 30, "T": 1 << 40, "TIB": 1 << 40,
    "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
}


def parse_size(value):
    """Bytes from an int or a text such as "1 GiB", "512MiB", "1.5 GB" (K/M/G/T
    and KiB.. are powers of 1024; KB, MB.. powers of 1000)."""
    if isinstance(value, int):
        return value
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", str(value))
    if not m or m.group(2).upper() not in _UNITS:
        raise ValueError(f"invalid memory size {value!r} (e.g. 1 GiB, 512 MiB, 100 MB, 4096)")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def format_size(n):
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _bool_ini(value):
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def pytest_addoption(parser):
    group = parser.getgroup("ttshm", "device-memory leak checks (ttshm)")
    group.addoption("--ttshm-leaks", action="store_true", default=None,
                    help="fail tests that leave live device buffers they allocated (ini: ttshm_leaks)")
    group.addoption("--ttshm-ignore-types", default=None, metavar="TYPES",
                    help=f"memory types never counted as leaks (default {DEFAULT_IGNORED}; '' for none)")
    group.addoption("--ttshm-warmup", type=int, default=None, metavar="N",
                    help="the first N tests may fill caches: their leftover buffers do not fail them")
    parser.addini("ttshm_leaks", "fail tests that leak device buffers (true/false)", default="false")
    parser.addini("ttshm_ignore_types", "memory types never counted as leaks", default=DEFAULT_IGNORED)
    parser.addini("ttshm_warmup", "tests allowed to fill caches first", default="0")


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "ttshm_allow_leaks(max_buffers=None, types=None): allow leaks of these memory types, "
        "and at most max_buffers others (no argument: allow every leak)",
    )
    config.addinivalue_line(
        "markers",
        'ttshm_limit_memory(limit, device=None, type="DRAM"): fail when the peak of live bytes '
        "of that type on that device (None: on each device) passes limit (e.g. \"1 GiB\")",
    )
    enabled = config.getoption("ttshm_leaks")
    if enabled is None:
        enabled = _bool_ini(config.getini("ttshm_leaks"))
    if not enabled:
        return
    try:
        ttshm.load()
    except ttshm.Error as e:
        raise pytest.UsageError(f"--ttshm-leaks: {e}") from None
    ignore = config.getoption("ttshm_ignore_types")
    if ignore is None:
        ignore = config.getini("ttshm_ignore_types")
    warmup = config.getoption("ttshm_warmup")
    if warmup is None:
        warmup = int(config.getini("ttshm_warmup"))
    config.stash[_state_key] = _State(
        ignored={ttshm.MemType.parse(t) for t in ignore.split(",") if t.strip()},
        warmup=warmup,
    )


class _State:
    def __init__(self, ignored, warmup):
        self.ignored = ignored
        self.warmup = warmup
        self.tests_run = 0
        self.warmup_kept = []  # (nodeid, count, bytes) left by warm-up tests


class _Snapshot:
    """This process's writer segments: (name, instance_id) -> (status, stats, buffers)."""

    def __init__(self, with_buffers=True):
        pid = os.getpid()
        self.segments = {}
        for info in ttshm.segments():
            def read(name=info.name):
                with ttshm.open(name) as seg:
                    st = seg.status()
                    if st.pid != pid or st.state not in (ttshm.WriterState.ALIVE, ttshm.WriterState.EXITED):
                        return None
                    return st, seg.stats(), seg.buffers() if with_buffers else []

            try:
                got = ttshm.retry_busy(read)
            except (ttshm.NoSuchSegment, ttshm.AccessDenied):
                continue  # gone, or another user's
            except ttshm.Error:
                continue  # unreadable (corrupt, incompatible): not one this process writes into
            if got is not None:
                self.segments[(info.name, got[0].instance_id)] = got

    def keys(self):
        return {_key(seg, inst, b) for (seg, inst), (_, _, bufs) in self.segments.items() for b in bufs}

    def live_bytes(self, device, mtype):
        return sum(stats[device, mtype].live_bytes for (_, stats, _) in self.segments.values())


def _key(seg, instance_id, b):
    """Identity of a buffer record: a buffer freed and allocated again at the
    same address during the test is a new one."""
    return (seg, instance_id, b.device, b.type, b.address, b.size, b.tag, b.timestamp_ns, b.tid)


def _new_buffers(before, after, ignored):
    known = before.keys()
    return [
        (seg, b)
        for (seg, inst), (_, _, bufs) in after.segments.items()
        for b in bufs
        if b.type not in ignored and _key(seg, inst, b) not in known
    ]


def _allowed(item, leaks):
    """The leaks left once the ttshm_allow_leaks marker has taken its share
    (none when it allows them all)."""
    marker = item.get_closest_marker("ttshm_allow_leaks")
    if marker is None:
        return leaks
    max_buffers = marker.kwargs.get("max_buffers")
    types = marker.kwargs.get("types")
    if max_buffers is None and types is None:
        return []
    if types is not None:
        if isinstance(types, (str, int)):
            types = [types]
        allowed = {ttshm.MemType.parse(t) for t in types}
        leaks = [(s, b) for (s, b) in leaks if b.type not in allowed]
    if len(leaks) <= (max_buffers or 0):
        return []
    return leaks


def _leak_report(leaks, allowance):
    now = time.clock_gettime_ns(CLOCK_MONOTONIC_COARSE)
    total = sum(b.size for _, b in leaks)
    lines = [
        f"ttshm: {len(leaks)} device buffer{'s' if len(leaks) != 1 else ''} ({format_size(total)}) "
        f"allocated by this test still live after it{allowance}:",
        f"  {'SEGMENT':<20} {'DEV':>3}  {'TYPE':<13} {'ADDRESS':>18} {'SIZE':>10} {'THREAD':>8} {'TAG':>10} {'AGE':>8}",
    ]
    for seg, b in sorted(leaks, key=lambda x: (x[1].device, int(x[1].type), x[1].address)):
        lines.append(
            f"  {seg:<20} {b.device:>3}  {getattr(b.type, 'name', '?'):<13} {b.address:#18x} {format_size(b.size):>10} "
            f"{b.tid:>8} {b.tag:>10} {b.age_ns(now) / 1e9:>7.3f}s"
        )
    return "\n".join(lines)


class _Limit:
    """One ttshm_limit_memory marker: the peak of live bytes of a type on a
    device (or on each device) while the test runs."""

    def __init__(self, marker):
        if not marker.args:
            raise pytest.UsageError("ttshm_limit_memory needs a limit, e.g. ttshm_limit_memory(\"1 GiB\")")
        self.limit = parse_size(marker.args[0])
        self.device = marker.kwargs.get("device")
        self.type = ttshm.MemType.parse(marker.kwargs.get("type", "DRAM"))
        self.sampled = {}  # device -> highest live bytes seen by the sampler

    def devices(self, *snaps):
        if self.device is not None:
            return [self.device]
        n = max((stats.device_count for s in snaps for (_, stats, _) in s.segments.values()), default=0)
        return list(range(n))

    def needs_sampling(self, before):
        """The session peak tells the test's peak only when the test raises it;
        when an earlier peak is already over the limit, sample live bytes."""
        return any(
            sum(stats[d, self.type].peak_bytes for (_, stats, _) in before.segments.values()) > self.limit
            for d in self.devices(before)
        )

    def sample(self, snap):
        for d in self.devices(snap):
            self.sampled[d] = max(self.sampled.get(d, 0), snap.live_bytes(d, self.type))

    def failures(self, before, after):
        out = []
        for d in self.devices(before, after):
            counters = [(stats[d, self.type], before.segments.get(key)) for key, (_, stats, _) in after.segments.items()]
            # A session's peak counter is the test's peak when the session
            # started during the test or its peak rose during it; otherwise
            # the test stayed at or under that earlier peak.
            upper = sum(c.peak_bytes for c, _ in counters)
            if all(prior is None or c.peak_bytes > prior[1][d, self.type].peak_bytes for c, prior in counters):
                peak, how = upper, "exact"
            elif upper <= self.limit:
                continue
            else:
                live = sum(c.live_bytes for c, _ in counters)
                peak = max(self.sampled.get(d, 0), before.live_bytes(d, self.type), live)
                how = "sampled every 1 ms"
            if peak > self.limit:
                out.append(
                    f"ttshm: device {d} {self.type.name}: peak {format_size(peak)} ({peak} bytes, {how}) "
                    f"passes the limit of {format_size(self.limit)} ({self.limit} bytes)"
                )
        return out


class _Sampler(threading.Thread):
    def __init__(self, limits):
        super().__init__(name="ttshm-limit-sampler", daemon=True)
        self.limits = limits
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            snap = _Snapshot(with_buffers=False)
            for limit in self.limits:
                limit.sample(snap)
            self.stop.wait(SAMPLE_PERIOD_S)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    state = item.config.stash.get(_state_key, None)
    if state is None:
        yield
        return
    limits = [_Limit(m) for m in item.iter_markers("ttshm_limit_memory")]
    item.stash[limits_key] = limits
    gc.collect()
    before = _Snapshot()
    sampling = [lim for lim in limits if lim.needs_sampling(before)]
    sampler = None
    if sampling:
        for lim in sampling:
            lim.sample(before)
        sampler = _Sampler(sampling)
        sampler.start()
    try:
        yield
    finally:
        if sampler is not None:
            sampler.stop.set()
            sampler.join()
    gc.collect()  # buffers held by garbage cycles are freed before the check
    after = _Snapshot()
    state.tests_run += 1
    problems = []
    for lim in limits:
        problems.extend(lim.failures(before, after))
    leaks = _new_buffers(before, after, state.ignored)
    if leaks and state.tests_run <= state.warmup:
        state.warmup_kept.append((item.nodeid, len(leaks), sum(b.size for _, b in leaks)))
    elif leaks:
        left = _allowed(item, leaks)
        if left:
            marker = item.get_closest_marker("ttshm_allow_leaks")
            allowance = f" (allowed: {marker.kwargs})" if marker else ""
            problems.append(_leak_report(left, allowance))
    if problems:
        item.stash[_failure_key] = "\n".join(problems)


class _FailureRepr:
    """A failure report: the text, whose first line is the one-line summary
    (pytest's "FAILED test - ...")."""

    class _Crash:
        def __init__(self, message):
            self.message = message

    def __init__(self, text):
        self.text = text
        self.reprcrash = self._Crash(text.splitlines()[0])

    def toterminal(self, tw):
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self):
        return self.text


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.when != "call":
        return
    message = item.stash.get(_failure_key, None)
    if message is None:
        return
    report = outcome.get_result()
    if report.passed:
        report.outcome = "failed"
        report.longrepr = _FailureRepr(message)
    else:
        report.sections.append(("ttshm", message))


def pytest_terminal_summary(terminalreporter, config):
    state = config.stash.get(_state_key, None)
    if state is None or not state.warmup_kept:
        return
    tr = terminalreporter
    tr.section("ttshm warm-up")
    for nodeid, count, size in state.warmup_kept:
        tr.write_line(f"{nodeid}: kept {count} buffers ({format_size(size)}) as warm-up (not failed)")
