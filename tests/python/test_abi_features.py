# SPDX-License-Identifier: Apache-2.0
"""The features segment ABI 2 added, through the bindings: device identity,
CB owners and lookup_cb, bulk frees, table statistics, listing every user's
segments. Each test needs functions that a library may lack while they are
being implemented; it is skipped, naming the function, when the library has
none."""
import os

import pytest

import ttshm
from ttshm import _lib


def _has(name):
    try:
        return name not in _lib.reader().missing and name not in _lib.writer().missing
    except ttshm.Error:
        return False


def needs_all(*names):
    missing = [n for n in names if not _has(n)]
    return pytest.mark.skipif(bool(missing), reason=f"not in the built libraries yet: {', '.join(missing)}")


@needs_all("ttshm_publish_device")
def test_device_identity(registry):
    long_name = "x" * 60
    with ttshm.Writer(name=registry.name) as w:
        assert w.publish_device(0, 0x1234_5678_9ABC, "wormhole_b0 0000:01:00.0") == ttshm.Result.RECORDED
        assert w.publish_device(2, 7, long_name) == ttshm.Result.RECORDED
        assert w.publish_device(ttshm.MAX_DEVICES, 1, "x") == ttshm.Result.DROPPED
        with ttshm.open(w.segment_name) as seg:
            st = seg.stats()
    assert st.device_count == 3
    assert st.identity[0] == ttshm.DeviceIdentity(0x1234_5678_9ABC, "wormhole_b0 0000:01:00.0")
    assert st.identity[1] == ttshm.DeviceIdentity(0, "")
    assert st.identity[2] == ttshm.DeviceIdentity(7, "x" * 47)  # cut at TTSHM_DEVICE_NAME_MAX


@needs_all("ttshm_record_free_cb", "ttshm_reader_lookup_cb")
def test_cb_owners(registry):
    with ttshm.Writer(name=registry.name) as w:
        w.alloc(0, "CB", 0x4000, 256, tag=1)
        w.alloc(0, "CB", 0x4000, 512, tag=2)  # another program's CB at the same address
        w.alloc(0, "CB", 0x4000, 128)  # owner 0
        with ttshm.open(w.segment_name) as seg:
            assert seg.lookup(0, "CB", 0x4000, owner=1).size == 256
            assert seg.lookup(0, "CB", 0x4000, owner=2).size == 512
            assert seg.lookup(0, "CB", 0x4000).size == 128  # owner 0, as ttshm_reader_lookup
            assert w.free_cb(0, 0x4000, 1) == ttshm.Result.RECORDED
            with pytest.raises(ttshm.NotFound):
                seg.lookup(0, "CB", 0x4000, owner=1)
            assert seg.lookup(0, "CB", 0x4000, owner=2).size == 512
            assert w.free_cb(0, 0x4000, 1) == ttshm.Result.UNKNOWN
            assert sorted(b.tag for b in seg.buffers()) == [0, 2]
            w.free_cbs(0)  # every owner's
            assert seg.buffers() == []


@needs_all("ttshm_record_free_all")
def test_bulk_frees(registry):
    with ttshm.Writer(name=registry.name) as w:
        for i in range(10):
            w.alloc(0, "DRAM", 0x1000 * (i + 1), 100)
            w.alloc(0, "L1", 0x1000 * (i + 1), 10)
            w.alloc(1, "DRAM", 0x1000 * (i + 1), 100)
        assert w.free_all(0, "DRAM") == ttshm.Result.RECORDED
        with ttshm.open(w.segment_name) as seg:
            st = seg.stats()
            assert (st[0, "DRAM"].live_count, st[0, "DRAM"].bulk_freed, st[0, "DRAM"].frees) == (0, 10, 10)
            assert st[0, "L1"].live_count == 10 and st[1, "DRAM"].live_count == 10
            assert w.free_all(1) == ttshm.Result.RECORDED  # every type
            st = seg.stats()
            assert st[1, "DRAM"].live_count == 0 and st[1, "DRAM"].bulk_freed == 10
            assert {(b.device, b.type) for b in seg.buffers()} == {(0, ttshm.MemType.L1)}
            with pytest.raises(ttshm.NotFound):
                seg.lookup(0, "DRAM", 0x1000)


@needs_all("ttshm_record_free_all")  # the table statistics came with the bulk frees
def test_table_statistics(registry):
    with ttshm.Writer(name=registry.name, initial_slots=1024) as w:
        for i in range(5000):  # past the first table: a bigger one is made
            w.alloc(0, "DRAM", 0x1000 * (i + 1), 64)
        with ttshm.open(w.segment_name) as seg:
            st = seg.status()
            assert len(seg.buffers()) == 5000
    assert st.tables_created >= 2 and st.table_slots >= 5000
    assert st.table_bytes_created > st.table_slots * 32


@needs_all("ttshm_list_flags")
def test_listing_every_users_segments(registry):
    with ttshm.Writer(name=registry.name) as w:
        (info,) = ttshm.segments(registry.name, all_users=True)
        assert info.name == w.segment_name and info.owner_uid == os.getuid() and not info.unreadable
