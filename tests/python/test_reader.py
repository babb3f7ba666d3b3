# SPDX-License-Identifier: Apache-2.0
"""The reader bindings against live writers (tt-shm-sim and the writer
binding): status, stats, buffers and lookup equal what tt-shm-stat --json
says on the same state; died writers' buffers are stale, exited ones' leaks."""
import signal

import pytest

import ttshm
from conftest import stop


def only_segment(reg):
    infos = ttshm.segments(reg.name)
    assert len(infos) == 1, infos
    return infos[0]


def stat_counters(doc_devices):
    return {(d["device"], t): c for d in doc_devices for t, c in d["types"].items()}


def test_segments_lists_the_registry(registry):
    p, steady = registry.sim("-n", 2, "-e", 2000)
    info = only_segment(registry)
    assert info.name == steady["segment"] == f"ttshm.{registry.name}.0"
    assert (info.registry, info.slot, info.unreadable) == (registry.name, 0, False)
    assert ttshm.segments("no_such_registry_here") == []


def test_status_stats_buffers_equal_tt_shm_stat(registry):
    p, steady = registry.sim("-n", 3, "-e", 3000, "--capacity")
    doc, rc = registry.stat_json("-b")
    assert rc == 0
    (sdoc,) = doc["segments"]
    with ttshm.open(only_segment(registry)) as seg:
        st = seg.status()
        stats = seg.stats()
        bufs = seg.buffers()
    assert st.state == ttshm.WriterState.ALIVE and st.pid == p.pid == sdoc["pid"]
    # int(): the JSON gives 64-bit times and tags as decimal strings
    assert (st.generation, st.started_ns, st.ended_ns) == (sdoc["generation"], int(sdoc["started_ns"]), int(sdoc["ended_ns"]))
    assert st.registry == registry.name and st.previous is None
    assert st.abi_major == ttshm.ABI_MAJOR
    want = stat_counters(sdoc["devices"])
    got = {
        (d, t.name): stats[d, t]
        for d in range(stats.device_count)
        for t in ttshm.MemType
        if any(stats.devices[d][x].active for x in ttshm.MemType)
    }
    assert set(got) == set(want)
    for key, c in got.items():
        for field, value in want[key].items():
            assert getattr(c, field) == value, (key, field)
    # The sim's own report of what it recorded agrees too.
    for d in steady["devices"]:
        for t, c in d["types"].items():
            assert stats[d["device"], t].live_count == c["live_count"]
            assert stats[d["device"], t].live_bytes == c["live_bytes"]
    rows = {(b["device"], b["type"], b["address"]): b for b in sdoc["buffers"]}
    assert len(bufs) == len(rows) == sum(c.live_count for c in got.values())
    for b in bufs:
        r = rows[(b.device, b.type.name, b.address)]
        assert (b.size, b.tag, b.tid, b.generation, b.timestamp_ns) == (
            r["size"], int(r["tag"]), r["tid"], r["generation"], int(r["timestamp_ns"]))
        assert r["status"] == "live"


def test_lookup_finds_every_live_buffer(registry):
    registry.sim("-n", 2, "-e", 2000)
    with ttshm.open(only_segment(registry).name) as seg:
        bufs = seg.buffers()
        assert bufs
        for b in bufs:
            if b.type == ttshm.MemType.CB and b.tag != 0:
                continue  # another owner's CB: lookup_cb names the owner
            assert seg.lookup(b.device, b.type, b.address) == b
        with pytest.raises(ttshm.NotFound):
            seg.lookup(0, "DRAM", 1)  # no buffer sits at an odd address
        with pytest.raises(ttshm.InvalidArgument):
            seg.lookup(ttshm.MAX_DEVICES, "DRAM", 0)


def test_foreach_visits_what_buffers_lists(registry):
    registry.sim("-e", 1500)
    with ttshm.open(only_segment(registry).name) as seg:
        seen = []
        assert seg.foreach(seen.append) is None
        assert sorted(seen, key=lambda b: (b.device, b.type, b.address)) == sorted(
            seg.buffers(), key=lambda b: (b.device, b.type, b.address))
        assert seg.skipped == 0
        first = seg.foreach(lambda b: b)  # a true value stops the walk
        assert isinstance(first, ttshm.Buffer)
        with pytest.raises(ZeroDivisionError):
            seg.foreach(lambda b: 1 / 0)  # raised out of the callback, not lost


def test_writer_binding_round_trip(registry):
    with ttshm.Writer(name=registry.name) as w:
        assert w.segment_name == f"ttshm.{registry.name}.0" and w.generation == 1
        assert w.alloc(0, ttshm.MemType.DRAM, 0x1000, 4096, tag=7) == ttshm.Result.RECORDED
        assert w.alloc(1, "L1", 0x2000, 512, tag=8) == ttshm.Result.RECORDED
        assert w.alloc(0, "DRAM", 0x1000, 4096) == ttshm.Result.DUPLICATE
        assert w.free(1, "L1", 0x9999) == ttshm.Result.UNKNOWN
        assert w.alloc(ttshm.MAX_DEVICES, "DRAM", 0, 1) == ttshm.Result.DROPPED
        assert w.publish_capacity(0, "DRAM", 1 << 30, banks=12) == ttshm.Result.RECORDED
        with ttshm.open(w.segment_name) as seg:
            st = seg.stats()
            assert st[0, "DRAM"].live_count == 1 and st[0, "DRAM"].duplicate_allocs == 1
            assert st[0, "DRAM"].capacity_bytes == 1 << 30 and st[0, "DRAM"].capacity_banks == 12
            assert st[1, "L1"].unknown_frees == 1
            assert seg.status().dropped_global == 1
            assert seg.lookup(1, "L1", 0x2000).tag == 8
            assert w.free(1, "L1", 0x2000) == ttshm.Result.RECORDED
            with pytest.raises(ttshm.NotFound):
                seg.lookup(1, "L1", 0x2000)
    with pytest.raises(ValueError):
        w.alloc(0, "DRAM", 0, 1)  # closed
    with ttshm.open(f"ttshm.{registry.name}.0") as seg:
        assert seg.status().state == ttshm.WriterState.EXITED
        assert [b.address for b in seg.buffers()] == [0x1000]


def test_exited_writer_buffers_are_leaks(registry):
    p, steady = registry.sim("-n", 2, "-e", 2000, "--leak", 3)
    assert stop(p) == 0
    doc, rc = registry.stat_json("--leaks")
    (sdoc,) = doc["segments"]
    with ttshm.open(only_segment(registry).name) as seg:
        st = seg.status()
        bufs = [b for b in seg.buffers() if b.type != ttshm.MemType.CB]  # --leak N: N non-CB buffers
    assert st.state == ttshm.WriterState.EXITED and st.state.label == sdoc["state"] == "exited"
    assert st.ended_ns >= st.started_ns > 0
    assert len(bufs) == 3
    leaked = {(b["device"], b["type"], b["address"]) for b in sdoc["buffers"] if b["status"] == "leaked"}
    assert {(b.device, b.type.name, b.address) for b in bufs} <= leaked


def test_died_writer_buffers_are_stale(registry):
    p, steady = registry.sim("-n", 2, "-e", 2000)
    assert stop(p, signal.SIGKILL) == -signal.SIGKILL
    with ttshm.open(only_segment(registry).name) as seg:
        st = seg.status()
        n = len(seg.buffers())
    assert st.state == ttshm.WriterState.DIED and st.ended_ns == 0
    doc, rc = registry.stat_json("--leaks")
    (sdoc,) = doc["segments"]
    assert sdoc["state"] == "died"
    assert len(sdoc["buffers"]) == n > 0 and {b["status"] for b in sdoc["buffers"]} == {"stale"}


def test_takeover_keeps_the_previous_session(registry):
    p, _ = registry.sim("-e", 1000, "--leak", 2)
    stop(p)
    with ttshm.Writer(name=registry.name) as w:
        assert w.generation == 2
        with ttshm.open(w.segment_name) as seg:
            prev = seg.status().previous
    assert prev is not None and prev.state == ttshm.WriterState.EXITED and prev.pid == p.pid
    assert prev.generation == 1 and prev.live_count >= 2


def test_closed_segment_refuses_calls(registry):
    with ttshm.Writer(name=registry.name) as w:
        seg = ttshm.open(w.segment_name)
        seg.close()
        seg.close()  # twice is harmless
        with pytest.raises(ValueError):
            seg.status()


def test_missing_segment_raises_no_such_segment(registry):
    with pytest.raises(ttshm.NoSuchSegment) as e:
        ttshm.open(f"ttshm.{registry.name}.0")
    assert e.value.code == 2 and isinstance(e.value, ttshm.Error)


def test_threads_share_a_segment(registry):
    """A reader serves one call at a time: the Segment serialises its calls."""
    import threading

    with ttshm.Writer(name=registry.name) as w:
        for i in range(2000):
            w.alloc(i % 4, "DRAM", 0x1000 * (i + 1), 64 + i)
        with ttshm.open(w.segment_name) as seg:
            want = sorted(seg.buffers(), key=lambda b: (b.device, b.address))
            results, failures = [], []

            def reader():
                try:
                    for _ in range(10):
                        got = sorted(seg.buffers(), key=lambda b: (b.device, b.address))
                        assert seg.stats()[0, "DRAM"].live_count == 500
                        assert seg.lookup(1, "DRAM", 0x2000).size == 65
                        results.append(got == want)
                except Exception as e:  # noqa: BLE001 - reported below
                    failures.append(e)

            threads = [threading.Thread(target=reader) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    assert failures == [] and results == [True] * 40


def test_foreach_callback_may_not_call_the_same_segment(registry):
    with ttshm.Writer(name=registry.name) as w:
        w.alloc(0, "DRAM", 0x1000, 64)
        with ttshm.open(w.segment_name) as seg:
            with pytest.raises(ttshm.Busy):
                seg.foreach(lambda b: seg.lookup(b.device, b.type, b.address))
            with ttshm.open(w.segment_name) as other:  # another reader is fine
                assert seg.foreach(lambda b: other.lookup(b.device, b.type, b.address)) == other.lookup(0, "DRAM", 0x1000)
