# SPDX-License-Identifier: Apache-2.0
"""How long segments() + buffers() take from Python for N live buffers
(docs/python.md quotes it). Not a test: it prints a figure, checks nothing.

    PYTHONPATH=python TTSHM_READER_LIB=build/reader/libttshm-reader.so.0 \\
    TTSHM_WRITER_LIB=build/core/libttshm.so.0 python3 tests/python/measure_buffers.py [N] [RUNS]
"""
import os
import statistics
import sys
import time

import ttshm


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    registry = f"pymeasure{os.getpid()}"
    with ttshm.Writer(name=registry) as w:
        for i in range(n):
            w.alloc(i % 8, ttshm.MemType.DRAM if i % 3 else ttshm.MemType.L1, 0x1000 * (i + 1), 4096, tag=i)
        times = {"segments": [], "buffers": [], "total": []}
        for _ in range(runs):
            t0 = time.perf_counter()
            infos = ttshm.segments(registry)
            t1 = time.perf_counter()
            with ttshm.open(infos[0]) as seg:
                bufs = seg.buffers()
            t2 = time.perf_counter()
            assert len(bufs) == n
            times["segments"].append(t1 - t0)
            times["buffers"].append(t2 - t1)
            times["total"].append(t2 - t0)
    for path in os.listdir("/dev/shm"):
        if path.startswith(f"ttshm.{registry}."):
            os.unlink(os.path.join("/dev/shm", path))
    print(f"{n} live buffers, median of {runs} runs: " + ", ".join(
        f"{k} {statistics.median(v) * 1000:.1f} ms" for k, v in times.items()))


if __name__ == "__main__":
    main()
