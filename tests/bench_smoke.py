#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Smoke test of tt-shm-bench: runs it with tiny sizes and checks that every
design and section ran and produced sane numbers. Never a timing threshold:
a slow or loaded machine must not fail this test, only a broken bench.

usage: bench_smoke.py TT_SHM_BENCH WORKDIR
"""
import json
import math
import os
import re
import shutil
import subprocess
import sys

DESIGNS = {"none", "floor", "ttshm", "socket", "counters", "cds_lfht", "mutex"}
REUSE_DESIGNS = {"none", "floor", "ttshm", "counters", "mutex"}  # the reuse pass's default
TARGET_KEYS = {"cpu_vs_floor", "cpu_vs_mutex", "cpu_vs_floor_reuse", "cpu_vs_mutex_reuse",
               "tables_steady", "snapshot_1m_ms", "lookup_1m_ns", "bytes_per_entry_1m",
               "bytes_per_entry_10k_churn", "empty_writer_kib", "growth_worst_unpreempted_ms",
               "stat_b_1m_s", "stat_b_1m_rss_mb", "scaling_16", "readers_wall"}
# Targets this run must judge (10k live is the targets' size); the others are
# at sizes the smoke run is too small for, and must say so.
MEASURED = {"cpu_vs_floor", "cpu_vs_mutex", "cpu_vs_floor_reuse", "cpu_vs_mutex_reuse",
            "bytes_per_entry_10k_churn", "empty_writer_kib"}
NOT_MEASURED = {"snapshot_1m_ms", "lookup_1m_ns", "bytes_per_entry_1m",
                "growth_worst_unpreempted_ms", "stat_b_1m_s", "stat_b_1m_rss_mb"}

EVENTS, LIVE, REPS, BATCH, REUSE = 4000, 10000, 2, 500, 50
THREADS = [1, 3]
READERS = 2
SIZES = [500, 3000]
GROWTH_FROM, GROWTH_TO, GROWTH_REPS = 1000, 6000, 1

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def positive(x, what):
    return check(isinstance(x, (int, float)) and not isinstance(x, bool)
                 and math.isfinite(x) and x > 0, f"{what} = {x!r}, expected a positive number")


def summary_ok(s, what, n=None):
    if not check(isinstance(s, dict), f"{what}: missing"):
        return
    for k in ("min", "median", "p99", "max"):
        positive(s.get(k), f"{what}.{k}")
    if all(isinstance(s.get(k), (int, float)) for k in ("min", "median", "p99", "max")):
        check(s["min"] <= s["median"] <= s["p99"] <= s["max"],
              f"{what}: order statistics out of order: {s}")
    if n is not None:
        check(s.get("n") == n, f"{what}.n = {s.get('n')}, expected {n}")


def check_pass(designs, reuse, mach):
    """One comparison pass: every design ran, saw what the stream did, and
    reported its cost (wall and process CPU) and its ratios to the floor."""
    batches = (EVENTS + BATCH - 1) // BATCH * REPS
    per_rep = LIVE + EVENTS + LIVE
    for name, d in designs.items():
        if not check(d.get("ran") is True, f"{name}/{reuse} did not run: {d.get('error')}"):
            continue
        check(d.get("check_ok") is True,
              f"{name}/{reuse}: its own state disagrees with the stream")
        summary_ok(d.get("ns_per_event"), f"{name}/{reuse}.ns_per_event", REPS)
        summary_ok(d.get("batch_ns_per_event"), f"{name}/{reuse}.batch_ns_per_event", batches)
        positive(d.get("ratio_to_ttshm"), f"{name}/{reuse}.ratio_to_ttshm")
        check(d.get("events_per_rep") == EVENTS, f"{name}/{reuse}.events_per_rep")
        # What the design saw must be what the stream did, field by field.
        es, ss = d.get("expected_steady", {}), d.get("seen_steady", {})
        ee, se = d.get("expected_empty", {}), d.get("seen_empty", {})
        check(es.get("live_count") == LIVE, f"{name}/{reuse}: expected steady live count")
        warm = d.get("warmup_passes", 0)
        check(warm >= 1, f"{name}/{reuse}: no warm-up pass")
        check(es.get("events") == (warm + REPS - 1) * per_rep + LIVE + EVENTS,
              f"{name}/{reuse}: expected events")
        check(ee.get("events") == (warm + REPS) * per_rep,
              f"{name}/{reuse}: expected events at the end")
        for k in ("live_count", "live_bytes", "events"):
            if k in ss:
                check(ss[k] == es.get(k), f"{name}/{reuse}: steady {k} {ss[k]} != {es.get(k)}")
            if k in se:
                check(se[k] == ee.get(k, 0),
                      f"{name}/{reuse}: final {k} {se[k]} != {ee.get(k, 0)}")
        check(ss.get("anomalies") == 0 and se.get("anomalies") == 0, f"{name}/{reuse}: anomalies")
        check(any(k in ss for k in ("live_count", "live_bytes")),
              f"{name}/{reuse}: reported nothing to check")
    if "ttshm" in designs and designs["ttshm"].get("ran"):
        check(abs(designs["ttshm"].get("ratio_to_ttshm", 0) - 1) < 1e-9, "ttshm ratio is not 1")
    if "socket" in designs and designs["socket"].get("ran"):
        summary_ok(designs["socket"].get("end_to_end_ns_per_event"), "socket.end_to_end", REPS)
    for name, d in designs.items():
        if not d.get("ran"):
            continue
        summary_ok(d.get("process_cpu_ns_per_event"), f"{name}/{reuse}.process_cpu_ns_per_event",
                   REPS)
        positive(d.get("ratio_to_floor"), f"{name}/{reuse}.ratio_to_floor")
        positive(d.get("cpu_ratio_to_floor"), f"{name}/{reuse}.cpu_ratio_to_floor")
        if mach.get("cores_allowed", 0) >= 2:
            # Pinned: the threads a design starts (ttshm's background threads,
            # cds_lfht's workers) must be kept off the timed CPU.
            on = d.get("design_threads_on_timed_cpu")
            check(on == 0, f"{name}/{reuse}: {on} of its threads may run on the timed CPU")
    fl = designs.get("floor", {})
    if fl.get("ran"):
        check(abs(fl.get("cpu_ratio_to_floor", 0) - 1) < 1e-9, "floor's ratio to itself is not 1")
    tt = designs.get("ttshm", {})
    if tt.get("ran"):
        tables = tt.get("tables_created")
        if isinstance(tables, dict):
            # A writer with a table made at least one; the timed ones are a part.
            check(tables.get("whole_run", 0) >= 1, f"ttshm/{reuse}: no table ever created")
            check(0 <= tables.get("timed", -1) <= tables.get("whole_run", 0),
                  f"ttshm/{reuse}: tables created {tables}")
            check(sum(tables.get("timed_per_rep", [])) == tables.get("timed")
                  and len(tables.get("timed_per_rep", [])) == REPS,
                  f"ttshm/{reuse}: tables per repetition {tables}")


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    bench, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    out_json = os.path.join(work, "bench.json")
    plot_dir = os.path.join(work, "plots")
    cmd = [bench, "--events", str(EVENTS), "--live", str(LIVE), "--reps", str(REPS),
           "--batch", str(BATCH), "--devices", "4", "--warmup", "0",
           "--threads", ",".join(map(str, THREADS)), "--scaling-events", "4000",
           "--scaling-reps", "2", "--readers", str(READERS), "--reader-seconds", "0.05",
           "--reader-reps", "1", "--snapshot-sizes", ",".join(map(str, SIZES)),
           "--snapshot-reps", "2", "--lookups", "2000", "--growth-from", str(GROWTH_FROM),
           "--growth-to", str(GROWTH_TO), "--growth-reps", str(GROWTH_REPS),
           "--reuse", str(REUSE), "--json", out_json, "--plot", plot_dir]
    print("running:", " ".join(cmd), flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=280)
    sys.stdout.write(p.stdout)
    sys.stdout.write(p.stderr)
    check(p.returncode == 0, f"tt-shm-bench exited with {p.returncode}")
    check("== Cost per event" in p.stdout and "== Targets" in p.stdout,
          "the human table is missing sections")

    m = re.search(r"registry prefix (\S+)", p.stderr)
    if check(m is not None, "the bench did not name its registry prefix"):
        prefix = m.group(1)
        left = [f for f in os.listdir("/dev/shm")
                if f.startswith(f"ttshm.{prefix}_") or f.startswith(f"{prefix}_")]
        check(not left, f"shared-memory objects left behind: {left}")

    try:
        with open(out_json) as f:
            r = json.load(f)
    except (OSError, ValueError) as e:
        failures.append(f"cannot read the JSON: {e}")
        return report()

    check(r.get("schema") == "tt-shm-bench/2", "schema field")
    check(r.get("failures") == 0, f"bench reported {r.get('failures')} failed sections")
    mach = r.get("machine", {})
    check(bool(mach.get("cpu_model")), "machine.cpu_model")
    check(bool(mach.get("kernel")), "machine.kernel")
    positive(mach.get("cores_online"), "machine.cores_online")
    with open("/proc/cpuinfo") as f:
        x86 = "cpu family" in f.read()
    for k in ("cpu_family", "cpu_model_id", "cpu_stepping") if x86 else ():
        check(isinstance(mach.get(k), int), f"machine.{k} = {mach.get(k)!r}")

    passes = {0: {}, REUSE: {}}
    for d in r.get("designs", []):
        if check(d.get("reuse_pct") in passes, f"{d.get('name')}: reuse_pct {d.get('reuse_pct')}"):
            passes[d["reuse_pct"]][d.get("name")] = d
    check(set(passes[0]) == DESIGNS, f"designs {sorted(passes[0])} != {sorted(DESIGNS)}")
    check(set(passes[REUSE]) == REUSE_DESIGNS,
          f"reuse pass {sorted(passes[REUSE])} != {sorted(REUSE_DESIGNS)}")
    for reuse, designs in passes.items():
        check_pass(designs, reuse, mach)

    scaling = r.get("scaling", [])
    check(len(scaling) == 2 * len(THREADS), f"scaling has {len(scaling)} points")
    for s in scaling:
        what = f"scaling[{s.get('threads')},{s.get('devices')}]"
        check(s.get("threads") in THREADS and s.get("devices") in ("distinct", "one"), what)
        positive(s.get("mevents_per_s"), f"{what}.mevents_per_s")
        positive(s.get("speedup"), f"{what}.speedup")
        positive(s.get("process_cpu_ns_per_event"), f"{what}.process_cpu_ns_per_event")
        check(s.get("not_recorded") == 0, f"{what}: events not recorded")
        check(s.get("events_per_rep") == s.get("threads", 0) * 4000, f"{what}.events_per_rep")

    readers = r.get("readers", [])
    if check(len(readers) == 2, "readers: two configurations"):
        check(readers[0].get("readers") == 0 and readers[1].get("readers") == READERS,
              "reader counts")
        for x in readers:
            positive(x.get("mevents_per_s_wall"), "readers.mevents_per_s_wall")
            positive(x.get("mevents_per_cpu_s"), "readers.mevents_per_cpu_s")
            check(x.get("reader_errors") == 0, "reader errors")
        check(readers[0].get("reader_scans") == 0, "scans with no readers")
        positive(readers[1].get("reader_scans"), "scans by the readers")

    empty = r.get("empty_segment", {})
    positive(empty.get("shm_bytes"), "empty_segment.shm_bytes")
    positive(empty.get("resident_bytes"), "empty_segment.resident_bytes")

    sizes = r.get("reader", [])
    check([x.get("live") for x in sizes] == SIZES, "reader sizes")
    for x in sizes:
        what = f"reader[{x.get('live')}]"
        check(x.get("snapshot_entries") == x.get("live"), f"{what}: snapshot count")
        summary_ok(x.get("snapshot_ms"), f"{what}.snapshot_ms", 2)
        summary_ok(x.get("foreach_ms"), f"{what}.foreach_ms", 2)
        positive(x.get("lookup_hit_ns"), f"{what}.lookup_hit_ns")
        positive(x.get("lookup_miss_ns"), f"{what}.lookup_miss_ns")
        check(x.get("lookup_errors") == 0, f"{what}: lookups gave wrong answers")
        check(x.get("table_slots", 0) >= x.get("live", 1), f"{what}: table smaller than live")
        positive(x.get("shm_bytes_per_entry"), f"{what}.shm_bytes_per_entry")
        positive(x.get("resident_bytes_per_entry"), f"{what}.resident_bytes_per_entry")

    g = r.get("growth", {})
    check(g.get("from") == GROWTH_FROM and g.get("to") == GROWTH_TO, "growth range")
    summary_ok(g.get("op_ns"), "growth.op_ns", (GROWTH_TO - GROWTH_FROM) * GROWTH_REPS)
    positive(g.get("worst_ns"), "growth.worst_ns")
    check(g.get("not_recorded") == 0, "growth: allocs not recorded")
    check(0 <= g.get("preempted_bins", -1) <= g.get("bins_total", -1), "growth: preempted bins")
    check(g.get("worst_unpreempted_ns", -1) <= g.get("worst_ns", 0), "growth: unpreempted worst")
    bins = g.get("bins", [])
    check(len(bins) > 0 and bins[-1][0] == GROWTH_TO, "growth bins end at the final size")
    check(all(b[1] >= b[2] > 0 for b in bins), "growth bins: max >= median > 0")

    st = r.get("tt_shm_stat", {})
    check(st.get("ran") is True, f"tt-shm-stat did not run: {st.get('error')}")
    check(st.get("live") == max(SIZES), "tt-shm-stat ran on the largest reader size")
    for k in ("buffers_seconds", "buffers_max_rss_mb", "json_buffers_seconds",
              "json_buffers_max_rss_mb"):
        positive(st.get(k), f"tt_shm_stat.{k}")

    targets = r.get("targets", {})
    if not check(isinstance(targets, dict) and set(targets) == TARGET_KEYS,
                 f"targets {sorted(targets) if isinstance(targets, dict) else targets!r}"):
        targets = {}
    for k, t in targets.items():
        status = t.get("status")
        check(status in ("met", "not met", "not measured"), f"target {k}: status {status!r}")
        check((status != "not measured") == (t.get("measured") is True), f"target {k}: measured")
        check((status == "met") == (t.get("met") is True), f"target {k}: met")
        if status == "not measured":
            check(bool(t.get("reason")), f"target {k} not measured and no reason given")
        else:
            check(isinstance(t.get("value"), (int, float)) and math.isfinite(t["value"]),
                  f"target {k}: value {t.get('value')!r}")
    for k in MEASURED:
        check(targets.get(k, {}).get("measured") is True, f"target {k} not measured")
    for k in NOT_MEASURED:
        check(targets.get(k, {}).get("measured") is False, f"target {k} judged at a smoke size")
    if mach.get("cores_allowed", 0) < 16:
        for k in ("scaling_16", "readers_wall"):
            check("cores" in targets.get(k, {}).get("reason", ""),
                  f"target {k}: not measured for want of cores, and not said so")
    tables = passes[0].get("ttshm", {}).get("tables_created")
    if isinstance(tables, dict):
        check(targets.get("tables_steady", {}).get("measured") is True,
              "tables counted but the target not judged")
    else:
        check(str(tables).startswith("unavailable"), f"ttshm tables_created {tables!r}")

    if shutil.which("gnuplot"):
        for png in ("designs.png", "scaling.png", "growth.png"):
            path = os.path.join(plot_dir, png)
            check(os.path.exists(path) and os.path.getsize(path) > 1000, f"plot {png}")
    else:
        check("gnuplot not found" in p.stderr, "no gnuplot, and no word about it")
        check(os.path.exists(os.path.join(plot_dir, "plots.gp")), "plot script without gnuplot")
    return report()


def report():
    if failures:
        for f in failures:
            print("FAIL:", f)
        print(f"bench_smoke: {len(failures)} checks failed")
        return 1
    print("bench_smoke: every design and section ran and gave sane numbers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
