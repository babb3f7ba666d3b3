# SPDX-License-Identifier: Apache-2.0
"""--prometheus is valid text exposition format (checked by a strict parser
here), uses idiomatic names, and carries the same numbers as --json: live
memory only for running writers, leaked for exited ones, stale for dead
ones, the pid only on ttshm_info."""
import math
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request

from clitest import (STAT, Registry, check, clean_env, device_map, eq, run_sim, run_tests,
                     start_sim, stat, stat_json, stop_sim)

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\\n]|\\[\\"n])*)"\s*(,|$)')


def parse_value(text, line):
    if text in ("NaN", "+Inf", "-Inf", "Inf"):
        return float(text.replace("Inf", "inf"))
    check(re.match(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$", text), "bad value %r" % text, line)
    return float(text)


def parse_labels(text, line):
    labels = {}
    pos = 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        check(m is not None, "bad label syntax at %r" % text[pos:], line)
        name, value = m.group(1), m.group(2)
        check(not name.startswith("__"), "reserved label name %r" % name, line)
        check(name not in labels, "label %r twice" % name, line)
        labels[name] = re.sub(r"\\(.)", lambda x: "\n" if x.group(1) == "n" else x.group(1),
                              value)
        pos = m.end()
    return labels


def parse_exposition(text):
    """Returns {name: {"type", "help", "samples": [(labels, value)]}}; fails on
    anything the text format 0.0.4 forbids."""
    check(text.endswith("\n"), "exposition must end with a newline")
    families = {}
    order = []  # metric names in the order their groups appear
    seen_series = set()
    for line in text.split("\n")[:-1]:
        check(line.strip() != "" or line == "", "whitespace-only line", line)
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                check(NAME.match(name), "bad metric name in %s" % parts[1], line)
                fam = families.setdefault(name, {"type": None, "help": None, "samples": []})
                if parts[1] == "TYPE":
                    check(fam["type"] is None, "second TYPE for %s" % name, line)
                    check(not fam["samples"], "TYPE after samples of %s" % name, line)
                    check(len(parts) == 4 and parts[3] in
                          ("counter", "gauge", "histogram", "summary", "untyped"),
                          "bad TYPE", line)
                    fam["type"] = parts[3]
                else:
                    check(fam["help"] is None, "second HELP for %s" % name, line)
                    fam["help"] = parts[3] if len(parts) == 4 else ""
                if not order or order[-1] != name:
                    check(name not in order, "metric %s is not one group" % name, line)
                    order.append(name)
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$", line)
        check(m is not None, "bad sample line", line)
        name = m.group(1)
        labels = parse_labels(m.group(3) or "", line)
        value = parse_value(m.group(4), line)
        fam = families.setdefault(name, {"type": None, "help": None, "samples": []})
        if not order or order[-1] != name:
            check(name not in order, "metric %s is not one group" % name, line)
            order.append(name)
        series = (name, tuple(sorted(labels.items())))
        check(series not in seen_series, "duplicate series", line)
        seen_series.add(series)
        fam["samples"].append((labels, value))
    return families


def test_parser_rejects_what_it_must():
    # The checks below are only worth what this parser catches.
    bad = ["ttshm_x{a=\"1\"} notanumber\n", "ttshm x 1\n", "ttshm_x{a=1} 1\n",
           "ttshm_x 1\nttshm_y 1\nttshm_x 2\n", "# TYPE ttshm_x gauge\n# TYPE ttshm_x gauge\n",
           "ttshm_x 1\n# TYPE ttshm_x gauge\n", "ttshm_x{a=\"1\"} 1\nttshm_x{a=\"1\"} 2\n",
           "ttshm_x{a=\"b\\q\"} 1\n", "ttshm_x 1"]
    for text in bad:
        try:
            parse_exposition(text)
        except Exception:
            continue
        raise AssertionError("parser accepted %r" % text)
    fams = parse_exposition('# HELP a_b x\n# TYPE a_b gauge\na_b{l="q\\"\\\\"} 1.5e3\n')
    eq(fams["a_b"]["samples"], [({"l": 'q"\\'}, 1500.0)], "parsed sample")


def test_exposition_is_valid_and_matches_json():
    with Registry("prom") as reg:
        p, steady = start_sim(reg, "--devices", 3, "--events", 9000, "--capacity")  # slot 0
        done = run_sim(reg, "--devices", 2, "--events", 2000, "--leak", 3)  # slot 1, exited
        out = stat("--name", reg.name, "--prometheus")
        eq(out.returncode, 0, "exit status of --prometheus")
        fams = parse_exposition(out.stdout)
        doc = stat_json(reg)

        for name, fam in fams.items():
            check(name.startswith("ttshm_"), "metric without the ttshm_ prefix: %s" % name)
            check(fam["type"] in ("counter", "gauge"), "%s has no TYPE" % name)
            check(fam["help"], "%s has no HELP" % name)
            eq(name.endswith("_total"), fam["type"] == "counter",
               "%s: _total exactly on counters" % name)
            check(not re.search(r"_(bytes|byte)_", name.replace("_bytes_total", "_bytes")),
                  "unit in the middle of %s" % name)
        for want in ("ttshm_info", "ttshm_live_bytes", "ttshm_live_buffers", "ttshm_leaked_bytes",
                     "ttshm_allocations_total", "ttshm_frees_total", "ttshm_capacity_bytes",
                     "ttshm_device_live_bytes"):
            check(want in fams and fams[want]["samples"], "metric %s missing" % want)

        info = fams["ttshm_info"]["samples"]
        eq(len(info), 2, "ttshm_info series (one per segment)")
        for labels, value in info:
            eq(value, 1.0, "ttshm_info value")
            for k in ("pid", "generation", "version", "state"):
                check(k in labels, "ttshm_info lacks label %s" % k, labels)
        by_pid = {l["pid"]: l for l, _ in info}
        eq(by_pid[str(steady["pid"])]["generation"], "1", "generation label of the live writer")
        eq(by_pid[str(steady["pid"])]["state"], "alive", "state label of the live writer")
        eq(by_pid[str(done["final"]["pid"])]["state"], "exited", "state label of the exited one")
        pid_of = {l["segment"]: l["pid"] for l, _ in info}
        alive = {pid_of[l["segment"]]: v for l, v in fams["ttshm_writer_alive"]["samples"]}
        eq(alive, {str(steady["pid"]): 1.0, str(done["final"]["pid"]): 0.0}, "ttshm_writer_alive")
        for name, fam in fams.items():
            if name != "ttshm_info":
                for labels, _ in fam["samples"]:
                    check("pid" not in labels, "only ttshm_info has a pid label", name, labels)

        segs = {s["name"]: device_map(s["devices"]) for s in doc["segments"]}
        states = {s["name"]: s["state"] for s in doc["segments"]}
        # metric: (counter field, states of the writers it covers)
        metric_field = {"ttshm_live_bytes": ("live_bytes", {"alive"}),
                        "ttshm_live_buffers": ("live_count", {"alive"}),
                        "ttshm_leaked_bytes": ("live_bytes", {"exited"}),
                        "ttshm_leaked_buffers": ("live_count", {"exited"}),
                        "ttshm_allocations_total": ("allocs", {"alive", "exited"}),
                        "ttshm_frees_total": ("frees", {"alive", "exited"}),
                        "ttshm_allocated_bytes_total": ("alloc_bytes", {"alive", "exited"}),
                        "ttshm_peak_live_bytes": ("peak_bytes", {"alive", "exited"})}
        for metric, (field, covered) in metric_field.items():
            series = fams[metric]["samples"]
            want_n = sum(1 for name, d in segs.items() for c in d.values()
                         if states[name] in covered and (c["allocs"] or c["capacity_bytes"]))
            eq(len(series), want_n, "%s series" % metric)
            for labels, value in series:
                eq(set(labels), {"segment", "device", "type"}, "%s labels" % metric)
                c = segs[labels["segment"]][(int(labels["device"]), labels["type"])]
                eq(value, float(c[field]), "%s%r" % (metric, labels))
        eq(fams["ttshm_leaked_buffers"]["samples"] and
           sum(v for _, v in fams["ttshm_leaked_buffers"]["samples"]), 3.0,
           "the exited writer's 3 leaks")
        eq(fams["ttshm_stale_bytes"]["samples"], [], "no writer died: no stale series")
        totals = device_map(doc["totals"]["devices"])
        for labels, value in fams["ttshm_device_live_bytes"]["samples"]:
            check("pid" not in labels, "per-device series carry no pid", labels)
            eq(value, float(totals[(int(labels["device"]), labels["type"])]["live_bytes"]),
               "ttshm_device_live_bytes%r" % labels)
        caps = {(int(l["device"]), l["type"]): v for l, v in fams["ttshm_capacity_bytes"]["samples"]}
        eq(caps, {(d, t): float(12 << 30 if t == "DRAM" else 64 * 1332 * 1024)
                  for d in range(3) for t in ("DRAM", "L1")}, "published capacities")
        for labels, value in fams["ttshm_writer_start_time_seconds"]["samples"]:
            check(math.isfinite(value) and value > 1e9, "start time in seconds", value)
        stop_sim(p)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, method="GET"):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as ex:
        return ex.code, ex.headers.get("Content-Type"), ""


def test_listen_serves_metrics():
    if "--listen" not in stat("--help").stdout:
        print("SKIP test_listen_serves_metrics: built without libmicrohttpd")
        return
    with Registry("listen") as reg:
        p, steady = start_sim(reg, "--devices", 2, "--events", 3000)
        port = free_port()
        env = clean_env()
        env["TT_SHM_NAME"] = reg.name
        srv = subprocess.Popen([STAT, "--listen", "127.0.0.1:%d" % port], env=env,
                               stderr=subprocess.PIPE, text=True)
        reg.procs.append(srv)
        url = "http://127.0.0.1:%d" % port
        deadline = time.time() + 30
        while True:
            try:
                status, ctype, body = http(url + "/metrics")
                break
            except OSError:
                check(time.time() < deadline and srv.poll() is None, "the server did not start")
                time.sleep(0.1)
        eq(status, 200, "GET /metrics")
        check(ctype.startswith("text/plain; version=0.0.4"), "content type", ctype)
        fams = parse_exposition(body)
        direct = parse_exposition(stat("--name", reg.name, "--prometheus").stdout)
        for name in ("ttshm_live_bytes", "ttshm_device_live_buffers", "ttshm_allocations_total"):
            eq(sorted(map(repr, fams[name]["samples"])), sorted(map(repr, direct[name]["samples"])),
               "%s over HTTP and on stdout" % name)
        eq(http(url + "/other")[0], 404, "another path")
        eq(http(url + "/metrics", "POST")[0], 405, "POST")
        srv.terminate()
        eq(srv.wait(timeout=30), 0, "exit status after SIGTERM")
        check("serving http://127.0.0.1:%d/metrics" % port in srv.stderr.read(), "start line")
        stop_sim(p)


run_tests(globals())
