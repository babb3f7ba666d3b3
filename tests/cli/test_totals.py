# SPDX-License-Identifier: Apache-2.0
"""tt-shm-stat shows exactly what tt-shm-sim recorded: per device x type live
count and bytes, allocs, frees, capacity, in every format, while the writer
runs and after it exits."""
import csv
import io
import re

from clitest import (Registry, check, compare_counts, device_map, eq, one_segment, run_tests,
                     start_sim, stat, stat_json, stop_sim)


def check_running_and_exited(tag, *sim_args, peak=True):
    with Registry(tag) as reg:
        p, steady = start_sim(reg, *sim_args)
        doc = stat_json(reg)
        seg = one_segment(doc)
        eq(seg["name"], steady["segment"], "segment name")
        eq(seg["pid"], steady["pid"], "writer pid")
        eq(seg["state"], "alive", "state while the sim holds")
        eq(seg["generation"], 1, "generation of a new registry")
        eq(seg["previous"], None, "previous session of a new registry")
        compare_counts(seg["devices"], steady, "alive", peak=peak)
        # One live writer: the per-device totals are its counters.
        compare_counts(doc["totals"]["devices"], steady, "totals", peak=peak)
        check(sum(c["live_count"] for c in device_map(seg["devices"]).values()) ==
              steady["live_count"] > 0, "live buffers in all", steady["live_count"])

        final = stop_sim(p)
        eq(final["_rc"], 0, "sim exit status after SIGTERM")
        doc = stat_json(reg)
        seg = one_segment(doc)
        eq(seg["state"], "exited", "state after a clean exit")
        check(int(seg["ended_ns"]) >= int(seg["started_ns"]) > 0, "ended_ns after started_ns", seg)
        compare_counts(seg["devices"], final["final"], "exited", peak=peak)
        for key, c in device_map(seg["devices"]).items():
            eq(c["live_count"], 0, "live buffers after a clean exit without leaks, %r" % (key,))
        eq(doc["totals"]["devices"], [], "totals with no live writer")


def test_llama_one_thread_per_device():
    check_running_and_exited("llama", "--devices", 4, "--threads", 4, "--events", 30000,
                             "--capacity", "--profile", "llama")


def test_llama_threads_drive_several_devices():
    check_running_and_exited("llama2", "--devices", 5, "--threads", 2, "--events", 20000,
                             "--profile", "llama", "--seed", 7)


def test_uniform_threads_share_devices():
    # 5 threads on 2 devices: concurrent writers on one device (peaks are not comparable).
    check_running_and_exited("uniform", "--devices", 2, "--threads", 5, "--events", 30000,
                             "--profile", "uniform", peak=False)


def test_text_and_csv_agree_with_json():
    with Registry("formats") as reg:
        p, steady = start_sim(reg, "--devices", 2, "--events", 8000, "--capacity")
        doc = stat_json(reg)
        seg = one_segment(doc)
        counters = device_map(seg["devices"])

        text = stat("--name", reg.name)
        eq(text.returncode, 0, "exit status of the default view")
        lines = text.stdout.splitlines()
        header = lines[0]
        for want in (steady["segment"], "pid %d" % steady["pid"], "alive", "generation 1"):
            check(want in header, "header line lacks %r" % want, header)
        check(any("All live writers (1)" in l for l in lines), "per-device total section missing",
              text.stdout)
        # Each active device x type is a row, with its live count and allocs.
        for (d, t), c in counters.items():
            if c["allocs"] == 0:
                continue
            row = [l for l in lines if re.match(r"\s*%d\s+%s\s" % (d, t), l)]
            eq(len(row), 2, "rows for device %d %s (process + total)" % (d, t))
            cells = row[0].split()
            check("{:,}".format(c["live_count"]) in cells and "{:,}".format(c["allocs"]) in cells,
                  "row for device %d %s lacks its numbers" % (d, t), row[0], c)
        dram = [l for l in lines if re.match(r"\s*0\s+DRAM\s", l)][0]
        check(re.search(r"\d+\.\d% of 12\.0 GiB", dram), "DRAM capacity use not shown", dram)

        out = stat("--name", reg.name, "--csv")
        eq(out.returncode, 0, "exit status of --csv")
        rows = list(csv.DictReader(io.StringIO(out.stdout)))
        seg_rows = [r for r in rows if r["segment"] == steady["segment"]]
        total_rows = [r for r in rows if r["segment"] == "total"]
        active = {k: c for k, c in counters.items() if c["allocs"] or c["capacity_bytes"]}
        eq(len(seg_rows), len(active), "CSV rows of the segment")
        eq(len(total_rows), len(active), "CSV total rows")
        for r in seg_rows:
            c = counters[(int(r["device"]), r["type"])]
            for f in ("live_bytes", "live_count", "allocs", "frees", "alloc_bytes",
                      "capacity_bytes", "peak_bytes"):
                eq(int(r[f]), c[f], "CSV %s of device %s %s" % (f, r["device"], r["type"]))
            eq(r["state"], "alive", "CSV state")
            eq(int(r["pid"]), steady["pid"], "CSV pid")

        lst = stat("--name", reg.name, "--list")
        eq(lst.returncode, 0, "exit status of --list")
        row = [l for l in lst.stdout.splitlines() if l.startswith(steady["segment"])]
        eq(len(row), 1, "--list rows for the segment")
        cells = row[0].split()
        check(steady["segment"] in cells and str(steady["pid"]) in cells and "alive" in cells and
              "{:,}".format(steady["live_count"]) in cells, "--list row", row[0], steady)
        stop_sim(p)


run_tests(globals())
