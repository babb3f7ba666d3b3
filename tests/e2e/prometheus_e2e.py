#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""make e2e: a real Prometheus server scrapes `tt-shm-stat --listen` while a
tt-shm-sim writer holds its buffers, and Prometheus' query API must give the
numbers `tt-shm-stat --json` gives. Also `promtool check metrics` on what the
endpoint serves.

Usage: prometheus_e2e.py BUILD_DIR. Installs the Debian package `prometheus`
when run as root; otherwise, without it, says why and skips (exit 0, SKIPPED).
Bounded (every wait has a deadline; DEADLINE_S in all) and cleans up every
process it started and the segments of its registry."""
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

DEADLINE_S = 240
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STAT = os.path.join(BUILD, "reader", "stat", "tt-shm-stat")
SIM = os.path.join(BUILD, "sim", "tt-shm-sim")
REG = "e2e%d" % os.getpid()
T0 = time.time()


def say(msg):
    print("e2e: %s" % msg, flush=True)


def fail(msg):
    say("FAIL: " + msg)
    sys.exit(1)


def left():
    return DEADLINE_S - (time.time() - T0)


def ensure_prometheus():
    if shutil.which("prometheus") and shutil.which("promtool"):
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("installing the Debian package prometheus")
        r = subprocess.run([os.path.join(SRC, "scripts", "deps.sh"), "prometheus"],
                           timeout=max(10, left() - 120))
        return r.returncode == 0 and shutil.which("prometheus") and shutil.which("promtool")
    return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def wait_for(what, fn, timeout):
    end = time.time() + min(timeout, left())
    last = None
    while time.time() < end:
        try:
            v = fn()
            if v is not None:
                return v
        except (OSError, ValueError) as ex:
            last = ex
        time.sleep(0.5)
    fail("timed out waiting for %s (last error: %s)" % (what, last))


def query(prom_port, promql):
    url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (prom_port, urllib.parse.quote(promql))
    doc = json.loads(http_get(url))
    if doc.get("status") != "success":
        raise ValueError("query %s: %s" % (promql, doc))
    return doc["data"]["result"]


def main():
    for exe in (STAT, SIM):
        if not os.access(exe, os.X_OK):
            fail("missing %s: run make build first" % exe)
    if not ensure_prometheus():
        say("SKIPPED: the prometheus and promtool binaries are not installed and this user "
            "cannot install them (run as root, or: sudo apt-get install prometheus)")
        return
    if "--listen" not in subprocess.run([STAT, "--help"], stdout=subprocess.PIPE,
                                        text=True).stdout:
        fail("tt-shm-stat has no --listen (built without libmicrohttpd-dev?)")
    env = dict(os.environ)
    env.pop("TT_SHM_TRACKING", None)
    env["TT_SHM_NAME"] = REG
    work = tempfile.mkdtemp(prefix="ttshm-e2e.")
    procs = []

    def start(args, **kw):
        p = subprocess.Popen(args, env=env, start_new_session=True, **kw)
        procs.append(p)
        return p

    try:
        sim = start([SIM, "--devices", "2", "--events", "6000", "--capacity", "--quiet",
                     "--hold", str(DEADLINE_S)], stdout=subprocess.PIPE, text=True)
        steady = wait_for("the sim's steady state",
                          lambda: json.loads(sim.stdout.readline()) if sim.poll() is None
                          else fail("tt-shm-sim exited %d" % sim.returncode), 60)
        say("tt-shm-sim pid %d holds %d buffers in registry %s" %
            (sim.pid, steady["live_count"], REG))

        exporter_port, prom_port = free_port(), free_port()
        listen = "127.0.0.1:%d" % exporter_port
        start([STAT, "--listen", listen], stderr=open(os.path.join(work, "stat.log"), "w"))
        say("exporter: tt-shm-stat --listen %s (TT_SHM_NAME=%s)" % (listen, REG))
        metrics = wait_for("the exporter", lambda: http_get("http://%s/metrics" % listen), 30)

        check = subprocess.run(["promtool", "check", "metrics"], input=metrics, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        if check.returncode != 0:
            fail("promtool check metrics:\n" + check.stdout)
        say("promtool check metrics: ok (%d lines)" % metrics.count("\n"))

        with open(os.path.join(work, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: ttshm\n    static_configs:\n"
                    "      - targets: ['%s']\n" % listen)
        start(["prometheus", "--config.file=" + os.path.join(work, "prometheus.yml"),
               "--storage.tsdb.path=" + os.path.join(work, "data"),
               "--web.listen-address=127.0.0.1:%d" % prom_port, "--log.level=warn"],
              stdout=open(os.path.join(work, "prometheus.log"), "w"), stderr=subprocess.STDOUT)
        say("prometheus on 127.0.0.1:%d scraping %s every 1s" % (prom_port, listen))

        promql = 'sum(ttshm_live_bytes{job="ttshm",device="0"})'
        got = wait_for("a scrape in Prometheus",
                       lambda: query(prom_port, promql) or None, 90)
        value = int(float(got[0]["value"][1]))
        up = query(prom_port, 'up{job="ttshm"}')
        if not up or up[0]["value"][1] != "1":
            fail("up{job=\"ttshm\"} is %r" % up)

        doc = json.loads(subprocess.run([STAT, "--json"], env=env, stdout=subprocess.PIPE,
                                        text=True, timeout=60).stdout)
        dev0 = [d for d in doc["totals"]["devices"] if d["device"] == 0]
        want = sum(c["live_bytes"] for c in dev0[0]["types"].values()) if dev0 else None
        sim_want = sum(c["live_bytes"] for d in steady["devices"] if d["device"] == 0
                       for c in d["types"].values())
        say("PromQL %s = %d; tt-shm-stat --json: %s; tt-shm-sim: %d" %
            (promql, value, want, sim_want))
        if value != want or want != sim_want:
            fail("Prometheus, tt-shm-stat --json and the sim disagree")
        per_type = query(prom_port, 'ttshm_device_live_buffers{job="ttshm",device="1"}')
        want_types = {t: c["live_count"] for d in doc["totals"]["devices"] if d["device"] == 1
                      for t, c in d["types"].items() if c["live_count"] or c["allocs"]}
        got_types = {r["metric"]["type"]: int(float(r["value"][1])) for r in per_type}
        if got_types != want_types:
            fail("ttshm_device_live_buffers of device 1: %r, want %r" % (got_types, want_types))
        say("PASS (%.1f s)" % (time.time() - T0))
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        for path in glob.glob("/dev/shm/ttshm.%s.*" % REG):
            os.unlink(path)
        shutil.rmtree(work, ignore_errors=True)


main()
