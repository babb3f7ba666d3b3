# SPDX-License-Identifier: Apache-2.0
"""--json parses with a real JSON parser and holds schema ttshm.stat/2 exactly:
the documented keys, no others, with the documented types and values (values
that may pass 2^53 as decimal strings, times also as seconds)."""
import json

from clitest import (TYPES, Registry, check, eq, run_sim, run_tests, start_sim, stat, stat_json,
                     stop_sim)

COUNTERS = {"live_bytes", "live_count", "peak_bytes", "allocs", "frees", "alloc_bytes",
            "unknown_frees", "duplicate_allocs", "dropped", "bulk_freed", "capacity_bytes"}
SEGMENT = {"name", "registry", "slot", "owner_uid", "pid", "generation", "state", "started_ns",
           "started_s", "ended_ns", "ended_s", "previous", "devices", "skipped"}
PREVIOUS = {"generation", "pid", "state", "live_count", "live_bytes"}
BUFFER = {"device", "type", "address", "size", "generation", "tid", "timestamp_ns", "age_s",
          "tag", "status"}
STRINGS = {"timestamp_ns", "tag", "started_ns", "ended_ns", "time_ns"}


def u64(v, what):
    check(type(v) is int and 0 <= v < 2 ** 64, "%s is not an unsigned 64-bit integer: %r" %
          (what, v))


def u64_string(v, what):
    check(type(v) is str and v.isdigit() and int(v) < 2 ** 64,
          "%s is not a decimal string of an unsigned 64-bit integer: %r" % (what, v))


def seconds(s, ns, what):
    """An *_s number is the matching *_ns string in seconds, to float precision."""
    check(type(s) in (int, float) and s >= 0, "%s is not a number of seconds: %r" % (what, s))
    check(abs(s - int(ns) / 1e9) <= 1e-6 * max(1.0, s), "%s = %r, not %s ns" % (what, s, ns))


def check_devices(devices, what):
    check(isinstance(devices, list), "%s: devices is not a list" % what)
    seen = []
    for dev in devices:
        eq(set(dev), {"device", "unique_id", "name", "types"}, "%s: keys of a device" % what)
        for k in ("unique_id", "name"):
            check(dev[k] is None or isinstance(dev[k], str), "%s: %s" % (what, k), dev[k])
        u64(dev["device"], what + " device")
        check(dev["device"] < 64, "%s: device number" % what)
        seen.append(dev["device"])
        check(isinstance(dev["types"], dict) and dev["types"], "%s: types" % what)
        for t, c in dev["types"].items():
            check(t in TYPES, "%s: unknown type name %r" % (what, t))
            eq(set(c), COUNTERS, "%s: counters of %s" % (what, t))
            for k, v in c.items():
                u64(v, "%s %s.%s" % (what, t, k))
            check(c["live_count"] <= c["allocs"], "%s: live_count <= allocs" % what, c)
            eq(c["live_count"], c["allocs"] - c["frees"], "%s: live_count = allocs - frees" % what)
    eq(seen, sorted(set(seen)), "%s: devices in order, once each" % what)


def check_document(doc, with_buffers):
    check(isinstance(doc, dict), "document is not an object")
    eq(set(doc), {"schema", "time_ns", "time_s", "segments", "errors", "unreadable",
                  "other_users", "totals"}, "top-level keys")
    eq(doc["schema"], "ttshm.stat/2", "schema")
    u64_string(doc["time_ns"], "time_ns")
    seconds(doc["time_s"], doc["time_ns"], "time_s")
    eq(doc["errors"], [], "errors")
    u64(doc["unreadable"], "unreadable")
    u64(doc["other_users"], "other_users")
    eq(set(doc["totals"]), {"devices"}, "keys of totals")
    check_devices(doc["totals"]["devices"], "totals")
    for seg in doc["segments"]:
        want = SEGMENT | ({"buffers"} if with_buffers else set())
        eq(set(seg), want, "keys of a segment")
        check(isinstance(seg["name"], str) and seg["name"].startswith("ttshm."), "name", seg)
        for k in ("slot", "owner_uid", "pid", "generation", "skipped"):
            u64(seg[k], k)
        for k in ("started", "ended"):
            u64_string(seg[k + "_ns"], k + "_ns")
            seconds(seg[k + "_s"], seg[k + "_ns"], k + "_s")
        check(seg["state"] in ("alive", "exited", "died"), "state %r" % seg["state"])
        if seg["previous"] is not None:
            eq(set(seg["previous"]), PREVIOUS, "keys of previous")
            check(seg["previous"]["state"] in ("exited", "died"), "previous state")
            for k in PREVIOUS - {"state"}:
                u64(seg["previous"][k], "previous " + k)
        check_devices(seg["devices"], seg["name"])
        for b in seg.get("buffers", []):
            eq(set(b), BUFFER, "keys of a buffer")
            check(b["type"] in TYPES, "buffer type %r" % b["type"])
            check(b["status"] in ("live", "leaked", "stale"), "buffer status %r" % b["status"])
            for k in BUFFER - {"type", "status", "age_s"} - STRINGS:
                u64(b[k], "buffer " + k)
            for k in BUFFER & STRINGS:
                u64_string(b[k], "buffer " + k)
            check(type(b["age_s"]) in (int, float) and b["age_s"] >= 0, "buffer age_s", b)
            # Allocated after the writer started (the monotonic clock is coarse: 10 ms slack).
            check(b["age_s"] <= doc["time_s"] - seg["started_s"] + 0.01,
                  "buffer older than its writer", b, seg["started_s"], doc["time_s"])
            check(b["size"] > 0, "buffer size", b)


def test_schema_in_every_view():
    with Registry("schema") as reg:
        run_sim(reg, "--devices", 2, "--events", 3000, "--leak", 4)  # slot 0: exited, leaks
        p, steady = start_sim(reg, "--devices", 3, "--events", 6000, "--capacity")  # slot 0 again
        q, other = start_sim(reg, "--devices", 1, "--events", 2000)  # slot 1
        for args, with_buffers in (((), False), (("-b",), True), (("--leaks",), True),
                                   (("-b", "--top", "5"), True), (("--list",), False),
                                   (("-d", "1", "-t", "DRAM,L1"), False)):
            doc = stat_json(reg, *args)
            check_document(doc, with_buffers)
            eq(len(doc["segments"]), 2, "segments with %r" % (args,))
        doc = stat_json(reg, "-b")
        eq(sum(len(s["buffers"]) for s in doc["segments"]),
           steady["live_count"] + other["live_count"], "buffers of both writers")
        doc = stat_json(reg)
        eq([s["generation"] for s in doc["segments"]], [2, 1], "generations by slot")
        check(doc["segments"][0]["previous"]["live_count"] == 4, "previous summary keeps leaks",
              doc["segments"][0]["previous"])
        # Filters shape the devices: only device 1, only the named types.
        doc = stat_json(reg, "-d", "1", "-t", "DRAM,L1")
        for seg in doc["segments"] + [doc["totals"]]:
            for dev in seg["devices"]:
                eq(dev["device"], 1, "filtered device")
                eq(set(dev["types"]), {"DRAM", "L1"}, "filtered types")
        stop_sim(p)
        stop_sim(q)


def test_empty_registry_is_a_valid_document():
    with Registry("empty") as reg:
        doc = stat_json(reg, expect_rc=1)
        check_document(doc, False)
        eq(doc["segments"], [], "segments of an empty registry")


def test_watch_frames_are_one_document_per_line():
    with Registry("lines") as reg:
        run_sim(reg, "--devices", 1, "--events", 500)
        p = stat("--name", reg.name, "--json", "-w", "0.1", "-c", "3")
        eq(p.returncode, 0, "exit status")
        lines = p.stdout.splitlines()
        eq(len(lines), 3, "documents for -c 3")
        for line in lines:
            check_document(json.loads(line), False)


run_tests(globals())
