# SPDX-License-Identifier: Apache-2.0
"""Filters (-d, -t, -p, --name) keep exactly what they name, in every view;
--sort and --top order and cut the buffers; several writers add up per device."""
import re

from clitest import (TYPES, Registry, check, device_map, eq, one_segment, run_tests, start_sim,
                     stat, stat_json, stop_sim)


def buffers(doc):
    """The buffers of a document, less their age (it grows from one run to the next)."""
    return [{k: v for k, v in b.items() if k != "age_s"}
            for s in doc["segments"] for b in s["buffers"]]


def test_device_type_and_pid_filters():
    with Registry("filt") as reg, Registry("filtother") as other:
        p, a = start_sim(reg, "--devices", 4, "--events", 12000, "--profile", "uniform")
        q, b = start_sim(reg, "--devices", 2, "--events", 4000, "--seed", 9)  # same registry
        r, c = start_sim(other, "--devices", 1, "--events", 1000)

        doc = stat_json(reg)
        eq(sorted(s["pid"] for s in doc["segments"]), sorted([a["pid"], b["pid"]]),
           "--name keeps the registry's writers only")
        # Totals over live writers add the two writers up, device by device.
        tot = device_map(doc["totals"]["devices"])
        sims = [device_map(a["devices"]), device_map(b["devices"])]
        for key in set(sims[0]) | set(sims[1]):
            for f in ("live_count", "live_bytes", "allocs", "frees"):
                want = sum(s[key][f] for s in sims if key in s)
                eq(tot[key][f], want, "total %s of device %d %s" % (f, key[0], key[1]))

        doc = stat_json(reg, "-p", b["pid"])
        eq([s["pid"] for s in doc["segments"]], [b["pid"]], "-p keeps one writer")
        doc = stat_json(reg, "-p", "%d,%d" % (a["pid"], b["pid"]))
        eq(len(doc["segments"]), 2, "-p with a list")

        doc = stat_json(reg, "-d", "1,3")
        for s in doc["segments"] + [doc["totals"]]:
            check({d["device"] for d in s["devices"]} <= {1, 3}, "-d 1,3 devices",
                  [d["device"] for d in s["devices"]])
        eq({d["device"] for d in doc["segments"][0]["devices"]} |
           {d["device"] for d in doc["segments"][1]["devices"]}, {1, 3}, "devices kept by -d")
        doc = stat_json(reg, "-d", "0-2")
        eq({d["device"] for s in doc["segments"] for d in s["devices"]}, {0, 1, 2}, "-d 0-2")

        doc = stat_json(reg, "-t", "dram,5")
        for s in doc["segments"]:
            for d in s["devices"]:
                eq(set(d["types"]), {"DRAM", "CB"}, "-t dram,5 types")

        doc = stat_json(reg, "-b", "-d", "2", "-t", "L1")
        bufs = buffers(doc)
        check(bufs, "-b -d 2 -t L1 found buffers")
        eq({(x["device"], x["type"]) for x in bufs}, {(2, "L1")}, "-b -d 2 -t L1")
        eq(len(bufs), device_map(a["devices"])[(2, "L1")]["live_count"], "L1 buffers of device 2")

        # Text output is filtered the same way.
        out = stat("--name", reg.name, "-d", "1", "-t", "L1").stdout
        rows = [l.split() for l in out.splitlines() if re.match(r"\s*\d+\s+[A-Z_0-9]+\s", l)]
        check(rows, "rows in the filtered table", out)
        eq({(x[0], x[1]) for x in rows}, {("1", "L1")}, "rows of -d 1 -t L1")

        # Another registry's writer is listed only without --name.
        every = stat("--json")
        check(str(c["pid"]) in every.stdout and str(a["pid"]) in every.stdout,
              "no --name: every registry", every.stdout[:300])
        eq(stat("--name", reg.name, "-p", c["pid"]).returncode, 1, "-p of another registry")
        for proc in (p, q, r):
            stop_sim(proc)


def test_sort_and_top():
    with Registry("sort") as reg:
        p, steady = start_sim(reg, "--devices", 2, "--events", 5000)
        everything = buffers(stat_json(reg, "-b"))
        eq(len(everything), steady["live_count"], "-b lists every live buffer")

        top = buffers(stat_json(reg, "-b", "--top", 10))
        eq([x["size"] for x in top], sorted((x["size"] for x in everything), reverse=True)[:10],
           "--top 10: the ten largest, largest first")
        top = buffers(stat_json(reg, "--top", 4))
        eq(len(top), 4, "--top alone implies -b")

        by_addr = buffers(stat_json(reg, "-b", "--sort", "address"))
        keys = [(x["device"], TYPES.index(x["type"]), x["address"]) for x in by_addr]
        eq(keys, sorted(keys), "--sort address")
        by_age = buffers(stat_json(reg, "-b", "--sort", "age"))
        ts = [int(x["timestamp_ns"]) for x in by_age]
        eq(ts, sorted(ts), "--sort age: oldest first")
        eq(sorted(map(str, by_age)), sorted(map(str, everything)), "sorting loses nothing")

        out = stat("--name", reg.name, "-b", "--top", 3)
        eq(out.returncode, 0, "exit status")
        lines = out.stdout.splitlines()
        eq(len(lines), 5, "header, 3 rows, footer")
        check(lines[-1].startswith("3 of ") and "buffers, largest first" in lines[-1], "footer",
              lines[-1])
        stop_sim(p)


def test_query_format_and_field_globs():
    with Registry("query") as reg:
        p, steady = start_sim(reg, "--devices", 2, "--events", 3000, "--capacity")
        counters = device_map(one_segment(stat_json(reg))["devices"])
        active = {k: c for k, c in counters.items() if c["allocs"] or c["capacity_bytes"]}

        out = stat("--name", reg.name, "--query", "segment,device,type,live_bytes,allocs",
                   "--format", "csv,nounits")
        eq(out.returncode, 0, "exit status of --query")
        lines = out.stdout.splitlines()
        eq(lines[0], "segment,device,type,live_bytes,allocs", "--query header")
        rows = [l.split(",") for l in lines[1:] if not l.startswith("total,")]
        eq(len(rows), len(active), "--query rows of the segment")
        for seg, d, t, live, allocs in rows:
            c = counters[(int(d), t)]
            eq((int(live), int(allocs)), (c["live_bytes"], c["allocs"]), "--query %s %s" % (d, t))

        out = stat("--name", reg.name, "--query", "device,live_bytes,capacity_use",
                   "--format", "csv,noheader", "-d", "0", "-t", "DRAM")
        eq(out.stdout.splitlines()[0].split(",")[0], "0", "noheader: the first line is a row")
        check(out.stdout.splitlines()[0].endswith(" %") and "iB," in out.stdout,
              "units by default", out.stdout)

        doc = stat_json(reg, "-f", "live_*", "-f", "allocs")
        for dev in one_segment(doc)["devices"]:
            for t, c in dev["types"].items():
                eq(set(c), {"live_bytes", "live_count", "allocs"}, "-f keeps the matching counters")
        header = stat("--name", reg.name, "--csv", "-f", "live_*").stdout.splitlines()[0]
        check(header.endswith(",type,live_bytes,live_count"), "-f in the CSV columns", header)
        prom = stat("--name", reg.name, "--prometheus", "-f", "live_bytes").stdout
        families = {l.split()[2] for l in prom.splitlines() if l.startswith("# TYPE")}
        check("ttshm_live_bytes" in families and "ttshm_allocations_total" not in families,
              "-f on Prometheus families", families)

        eq(stat("--query", "nosuch").returncode, 2, "unknown --query field")
        eq(stat("--format", "json").returncode, 2, "--format other than csv")
        eq(stat("--query", "device", "--json").returncode, 2, "--query with --json")
        listed = stat("--list-fields")
        eq(listed.returncode, 0, "--list-fields")
        for name in ("live_bytes", "capacity_use", "chip_id", "time"):
            check(name in listed.stdout, "--list-fields lacks %s" % name)
        stop_sim(p)


run_tests(globals())
