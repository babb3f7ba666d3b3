# SPDX-License-Identifier: Apache-2.0
"""The pytest plugin, run on small test files with pytest's own pytester:
a leaking test fails with its leaks listed, a clean one passes, CBs are
ignored by default, and the allow and limit markers work."""
import textwrap

import pytest

HEADER = """
import time
import pytest
import ttshm

MiB = 1 << 20

@pytest.fixture(scope="module")
def w():
    with ttshm.Writer(name={reg!r}) as writer:
        yield writer
"""


@pytest.fixture
def run(pytester, registry, monkeypatch):
    """run(body, *args): writes body as a test file (fixture w: a writer in
    the test's registry) and runs pytest on it with the plugin from the source
    tree. Entry points are not loaded, so an installed copy cannot clash."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")

    def go(body, *args, subprocess=False):
        pytester.makepyfile(test_inner=HEADER.format(reg=registry.name) + textwrap.dedent(body))
        argv = ("-p", "ttshm.pytest_plugin") + args
        if subprocess:
            return pytester.runpytest_subprocess(*argv, timeout=300)
        return pytester.runpytest(*argv)

    return go


LEAK_AND_CLEAN = """
def test_leaks(w):
    w.alloc(0, "DRAM", 0x100000, 3 * MiB, tag=41)
    w.alloc(2, "L1", 0x2000, 4096, tag=42)

def test_clean(w):
    w.alloc(0, "DRAM", 0x200000, MiB)
    w.free(0, "DRAM", 0x200000)

def test_frees_an_earlier_buffer(w):
    w.free(0, "DRAM", 0x100000)  # test_leaks's: not this test's leak, nor its allocation
"""


def test_a_leaking_test_fails_with_its_leaks_listed(run):
    r = run(LEAK_AND_CLEAN, "--ttshm-leaks")
    r.assert_outcomes(passed=2, failed=1)
    r.stdout.fnmatch_lines([
        "*test_leaks*",
        "*ttshm: 2 device buffers (3.0 MiB) allocated by this test still live after it:",
        "*SEGMENT*DEV*TYPE*ADDRESS*SIZE*THREAD*TAG*AGE*",
        "*.0 * 0  DRAM *0x100000 * 3.0 MiB * 41 *s",
        "*.0 * 2  L1 *0x2000 * 4.0 KiB * 42 *s",
        "FAILED test_inner.py::test_leaks*",
    ])


def test_off_unless_asked(run):
    run(LEAK_AND_CLEAN).assert_outcomes(passed=3)


def test_ini_switches_it_on(run, pytester):
    pytester.makeini("[pytest]\nttshm_leaks = true\n")
    run(LEAK_AND_CLEAN).assert_outcomes(passed=2, failed=1)


CB_AND_KERNEL = """
def test_program_cache(w):
    w.alloc(0, "CB", 0x1000, 2048, tag=7)
    w.alloc(0, "KERNEL", 0x8000, 8192)
"""


def test_cbs_and_kernels_are_ignored_by_default(run):
    run(CB_AND_KERNEL, "--ttshm-leaks").assert_outcomes(passed=1)


def test_ignored_types_can_be_changed(run):
    r = run(CB_AND_KERNEL, "--ttshm-leaks", "--ttshm-ignore-types", "KERNEL")
    r.assert_outcomes(failed=1)
    r.stdout.fnmatch_lines(["*1 device buffer (2.0 KiB) allocated by this test*", "* 0  CB *0x1000*"])


def test_a_failing_test_gets_its_leaks_added(run):
    r = run("""
def test_fails_and_leaks(w):
    w.alloc(1, "DRAM", 0x5000, 100)
    assert False, "the test's own failure"
""", "--ttshm-leaks")
    r.assert_outcomes(failed=1)
    r.stdout.fnmatch_lines(["*the test's own failure*", "*ttshm: 1 device buffer (100 B)*"])


def test_allow_marker(run):
    r = run("""
@pytest.mark.ttshm_allow_leaks
def test_allows_everything(w):
    w.alloc(0, "DRAM", 0x1000, 100)

@pytest.mark.ttshm_allow_leaks(types=["L1"])
def test_allows_l1(w):
    w.alloc(0, "L1", 0x1000, 100)

@pytest.mark.ttshm_allow_leaks(types="L1")
def test_allows_l1_not_dram(w):
    w.alloc(0, "L1", 0x2000, 100)
    w.alloc(0, "DRAM", 0x2000, 100)

@pytest.mark.ttshm_allow_leaks(max_buffers=2)
def test_allows_two(w):
    w.alloc(1, "DRAM", 0x1000, 100)
    w.alloc(1, "DRAM", 0x2000, 100)

@pytest.mark.ttshm_allow_leaks(max_buffers=2)
def test_three_are_too_many(w):
    for a in (0x3000, 0x4000, 0x5000):
        w.alloc(1, "DRAM", a, 100)
""", "--ttshm-leaks")
    r.assert_outcomes(passed=3, failed=2)
    r.stdout.fnmatch_lines([
        "FAILED test_inner.py::test_allows_l1_not_dram*",
        "FAILED test_inner.py::test_three_are_too_many*",
    ])
    r.stdout.fnmatch_lines(["*1 device buffer (100 B)*allowed: {'types': 'L1'}*"])


def test_limit_marker(run):
    r = run("""
@pytest.mark.ttshm_limit_memory("1 MiB")
def test_over(w):
    w.alloc(0, "DRAM", 0x100000, 2 * MiB)
    w.free(0, "DRAM", 0x100000)

@pytest.mark.ttshm_limit_memory("1 MiB", device=0)
def test_under_on_device_0(w):
    w.alloc(0, "DRAM", 0x100000, 512 * 1024)
    w.alloc(1, "DRAM", 0x100000, 8 * MiB)
    w.free(0, "DRAM", 0x100000)
    w.free(1, "DRAM", 0x100000)

@pytest.mark.ttshm_limit_memory("1 MiB", type="L1")
def test_other_type_only(w):
    w.alloc(0, "L1", 0x100000, 100)
    w.alloc(0, "DRAM", 0x100000, 32 * MiB)
    w.free(0, "L1", 0x100000)
    w.free(0, "DRAM", 0x100000)

@pytest.mark.ttshm_limit_memory("4 MiB", device=3, type="L1")
def test_over_on_device_3_l1(w):
    w.alloc(3, "L1", 0x100000, 5 * MiB)
    w.free(3, "L1", 0x100000)
""", "--ttshm-leaks")
    r.assert_outcomes(passed=2, failed=2)
    r.stdout.fnmatch_lines([
        "*ttshm: device 0 DRAM: peak 2.0 MiB (2097152 bytes, exact) passes the limit of 1.0 MiB (1048576 bytes)*",
        "*ttshm: device 3 L1: peak 5.0 MiB (5242880 bytes, exact) passes the limit of 4.0 MiB*",
        "FAILED test_inner.py::test_over *",
        "FAILED test_inner.py::test_over_on_device_3_l1 *",
    ])


def test_limit_below_an_earlier_peak(run):
    """An earlier test set a higher session peak: the test's own peak is then
    sampled while it runs."""
    r = run("""
def test_earlier_peak(w):
    w.alloc(0, "DRAM", 0x100000, 64 * MiB)
    w.free(0, "DRAM", 0x100000)

def held_until_sampled(request, live):  # until the plugin's sampler has seen live bytes
    from ttshm.pytest_plugin import limits_key
    (limit,) = request.node.stash[limits_key]
    give_up = time.monotonic() + 120  # a sampler that never samples fails the outcome check below
    while limit.sampled.get(0, 0) < live and time.monotonic() < give_up:
        time.sleep(0.001)

@pytest.mark.ttshm_limit_memory("1 MiB")
def test_over_while_held(w, request):
    w.alloc(0, "DRAM", 0x100000, 2 * MiB)
    held_until_sampled(request, 2 * MiB)
    w.free(0, "DRAM", 0x100000)

@pytest.mark.ttshm_limit_memory("1 MiB")
def test_under(w, request):
    w.alloc(0, "DRAM", 0x100000, 512 * 1024)
    held_until_sampled(request, 512 * 1024)
    w.free(0, "DRAM", 0x100000)
""", "--ttshm-leaks")
    r.assert_outcomes(passed=2, failed=1)
    r.stdout.fnmatch_lines(["*device 0 DRAM: peak 2.0 MiB (2097152 bytes, sampled every 1 ms)*"])


def test_a_writer_closed_with_buffers_live_leaks(run, registry):
    r = run(f"""
def test_own_writer():
    with ttshm.Writer(name={registry.name!r}) as mine:
        mine.alloc(0, "TRACE", 0x7000, 4096)
""", "--ttshm-leaks")
    r.assert_outcomes(failed=1)
    r.stdout.fnmatch_lines(["* 0  TRACE *0x7000*"])


def test_warmup(run):
    r = run("""
def test_fills_a_cache(w):
    w.alloc(0, "DRAM", 0x1000, 100)

def test_leaks(w):
    w.alloc(0, "DRAM", 0x2000, 100)
""", "--ttshm-leaks", "--ttshm-warmup", "1")
    r.assert_outcomes(passed=1, failed=1)
    r.stdout.fnmatch_lines([
        "*ttshm warm-up*",
        "test_inner.py::test_fills_a_cache: kept 1 buffers (100 B) as warm-up (not failed)",
        "FAILED test_inner.py::test_leaks*",
    ])


def test_under_xdist_each_worker_checks_its_own_writer(run):
    pytest.importorskip("xdist", reason="python3-pytest-xdist is not installed")
    body = "".join(f"""
def test_leaks_{i}(w):
    w.alloc(0, "DRAM", 0x1000 * {i + 1}, 100)

def test_clean_{i}(w):
    w.alloc(0, "DRAM", 0x100000 + {i}, 100)
    w.free(0, "DRAM", 0x100000 + {i})
""" for i in range(4))
    r = run(body, "-p", "xdist.plugin", "-n", "2", "--ttshm-leaks", subprocess=True)
    r.assert_outcomes(passed=4, failed=4)
    assert r.stdout.str().count("allocated by this test still live after it") == 4
