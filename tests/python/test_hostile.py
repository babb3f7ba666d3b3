# SPDX-License-Identifier: Apache-2.0
"""Hostile segments: a file in /dev/shm named like a segment but holding junk
or a damaged header gives the right exception, never a crash."""
import ast
import os
import struct
import subprocess
import sys
import textwrap

import pytest

import ttshm

# Offsets in the header object (core/layout.h, docs/format.md).
OFF_ABI_MAJOR = 8
OFF_HEADER_SIZE = 20


@pytest.fixture
def exited_segment(registry):
    """A real segment left by a writer that exited with buffers live: (path, bytes)."""
    with ttshm.Writer(name=registry.name) as w:
        for i in range(50):
            w.alloc(i % 3, ttshm.MemType(i % 5), 0x10000 * (i + 1), 4096 + i, tag=i)
        name = w.segment_name
    path = f"/dev/shm/{name}"
    with open(path, "rb") as f:
        return path, f.read()


def rewrite(path, data):
    with open(path, "r+b") as f:
        f.truncate(0)
        f.write(data)


def read_all(name):
    with ttshm.open(name) as seg:
        return seg.status(), seg.stats(), seg.buffers()


CASES = [
    ("random bytes", lambda orig: os.urandom(len(orig)), ttshm.BadMagic),
    ("zeros", lambda orig: bytes(len(orig)), ttshm.BadMagic),
    ("empty", lambda orig: b"", ttshm.BadMagic),
    ("text", lambda orig: b"not a segment\n" * 10, ttshm.BadMagic),
    ("another ABI major", lambda orig: orig[:OFF_ABI_MAJOR] + struct.pack("<I", ttshm.ABI_MAJOR + 1) + orig[OFF_ABI_MAJOR + 4:], ttshm.VersionMismatch),
    ("wrong header size", lambda orig: orig[:OFF_HEADER_SIZE] + struct.pack("<I", 12345) + orig[OFF_HEADER_SIZE + 4:], ttshm.CorruptSegment),
    ("truncated header", lambda orig: orig[:100], ttshm.CorruptSegment),
]


@pytest.mark.parametrize("damage,expected", [(d, e) for _, d, e in CASES], ids=[c[0] for c in CASES])
def test_damaged_header_raises(exited_segment, damage, expected):
    path, orig = exited_segment
    rewrite(path, damage(orig))
    with pytest.raises(expected) as e:
        read_all(os.path.basename(path))
    assert isinstance(e.value, ttshm.Error) and e.value.code == expected.code


def test_a_junk_file_lists_and_fails_like_tt_shm_stat(registry):
    """python -m ttshm and tt-shm-stat agree on a bad segment: exit 3, same document."""
    with open(f"/dev/shm/ttshm.{registry.name}.0", "wb") as f:
        f.write(os.urandom(4096))
    os.chmod(f"/dev/shm/ttshm.{registry.name}.0", 0o600)
    (info,) = ttshm.segments(registry.name)
    with pytest.raises(ttshm.BadMagic):
        ttshm.open(info)
    theirs, their_rc = registry.stat_json()
    mine, my_rc, _, stderr = registry.python_json()
    assert their_rc == my_rc == 3
    assert "bad magic" in stderr
    for doc in (mine, theirs):
        doc.pop("time_ns", None), doc.pop("time_s", None)
    assert mine == theirs


def test_random_corruption_never_crashes(exited_segment):
    """Thousands of damaged copies read in a child interpreter: each gives
    data or a ttshm.Error; a crash would show as a signal exit."""
    path, _ = exited_segment
    child = textwrap.dedent(f"""
        import os, random, ttshm
        path = {path!r}
        orig = open(path, "rb").read()
        rng = random.Random(1)
        outcomes = {{}}
        for i in range(2000):
            data = bytearray(orig)
            for _ in range(rng.choice((1, 4, 32))):
                pos = rng.randrange(len(data)) if rng.random() < 0.5 else rng.randrange(min(len(data), 4096))
                data[pos] = rng.randrange(256)
            if rng.random() < 0.1:
                data = data[: rng.randrange(len(data))]
            with open(path, "r+b") as f:
                f.truncate(0)
                f.write(data)
            try:
                with ttshm.open(os.path.basename(path)) as seg:
                    seg.status(); seg.stats(); seg.buffers()
                    try:
                        seg.lookup(0, "DRAM", 0x10000)
                    except ttshm.NotFound:
                        pass
                kind = "read"
            except ttshm.Error as e:
                kind = type(e).__name__
            outcomes[kind] = outcomes.get(kind, 0) + 1
        print(sorted(outcomes.items()))
    """)
    p = subprocess.run([sys.executable, "-c", child], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    outcomes = dict(ast.literal_eval(p.stdout))
    assert sum(outcomes.values()) == 2000
    assert "read" in outcomes and len(outcomes) > 1, outcomes  # both damage that passes and damage that is refused
