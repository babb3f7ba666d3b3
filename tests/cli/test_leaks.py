# SPDX-License-Identifier: Apache-2.0
"""--leaks lists exactly the buffers a writer left live at a clean exit, in
every format, and calls nothing a leak while the writer runs."""
import csv
import io

from clitest import (TYPES, Registry, check, eq, one_segment, run_sim, run_tests, start_sim, stat,
                     stat_json, stop_sim)


def key(b):
    return (b["device"], b["type"], b["address"], b["size"])


def test_leaks_are_exactly_those_left():
    with Registry("leak") as reg:
        reps = run_sim(reg, "--devices", 3, "--events", 12000, "--leak", 7, "--seed", 3)
        final = reps["final"]
        eq(len(final["leaked"]), 7, "buffers the sim reports leaking")
        eq(final["live_count"], 7, "live buffers the sim left")
        want = sorted(key(b) for b in final["leaked"])

        doc = stat_json(reg, "--leaks")
        seg = one_segment(doc)
        eq(seg["state"], "exited", "state of a writer that exited cleanly")
        got = sorted(key(b) for b in seg["buffers"])
        eq(got, want, "leaked buffers in --leaks --json")
        eq({b["status"] for b in seg["buffers"]}, {"leaked"}, "status of leaked buffers")
        eq({b["generation"] for b in seg["buffers"]}, {seg["generation"]},
           "generation of leaked buffers")
        tags = sorted(int(b["tag"]) for b in seg["buffers"])
        eq(tags, sorted(b["tag"] for b in final["leaked"]), "tags of leaked buffers")

        text = stat("--name", reg.name, "--leaks")
        eq(text.returncode, 0, "exit status of --leaks")
        rows = [l for l in text.stdout.splitlines()
                if len(l.split()) > 2 and l.split()[0].isdigit() and l.split()[1] in TYPES]
        eq(len(rows), 7, "rows in the --leaks table")
        for b in final["leaked"]:
            addr = "0x%08x" % b["address"]
            check(any(addr in r.split() and b["type"] in r.split() for r in rows),
                  "leaked %s at %s not listed" % (b["type"], addr), text.stdout)
        check("Leaks at exit" in text.stdout and "7 leaked buffers" in text.stdout,
              "--leaks summary", text.stdout)
        check("stale" not in text.stdout.lower(), "a clean exit has no stale buffers",
              text.stdout)

        out = stat("--name", reg.name, "--leaks", "--csv")
        rows = list(csv.DictReader(io.StringIO(out.stdout)))
        eq(sorted((int(r["device"]), r["type"], int(r["address"], 16), int(r["size"]))
                  for r in rows), want, "leaked buffers in --leaks --csv")
        eq({r["status"] for r in rows}, {"leaked"}, "CSV status")

        # --top cuts the list: the 3 largest leaks.
        doc = stat_json(reg, "--leaks", "--top", 3)
        sizes = [b["size"] for b in one_segment(doc)["buffers"]]
        eq(sizes, sorted((b["size"] for b in final["leaked"]), reverse=True)[:3],
           "--leaks --top 3 sizes")


def test_leaks_of_non_cb_types_when_few_are_live():
    # More leaks asked than buffers live in steady state: the sim adds some.
    with Registry("leakmore") as reg:
        reps = run_sim(reg, "--devices", 1, "--events", 50, "--leak", 300)
        eq(len(reps["final"]["leaked"]), 300, "leaked buffers reported by the sim")
        check(all(b["type"] != "CB" for b in reps["final"]["leaked"]), "CBs are never leaked")
        doc = stat_json(reg, "--leaks")
        eq(len(one_segment(doc)["buffers"]), 300, "leaked buffers in --leaks --json")


def test_no_leaks_after_a_clean_exit():
    with Registry("noleak") as reg:
        run_sim(reg, "--devices", 2, "--events", 5000)
        doc = stat_json(reg, "--leaks")
        eq(one_segment(doc)["buffers"], [], "buffers of a writer that freed everything")
        text = stat("--name", reg.name, "--leaks")
        eq(text.returncode, 0, "exit status")
        check("no leaks" in text.stdout.lower(), "--leaks says there are none", text.stdout)


def test_running_writer_has_no_leaks():
    with Registry("alive") as reg:
        p, steady = start_sim(reg, "--devices", 2, "--events", 5000)
        check(steady["live_count"] > 0, "the sim holds live buffers")
        doc = stat_json(reg, "--leaks")
        seg = one_segment(doc)
        eq(seg["state"], "alive", "state")
        eq(seg["buffers"], [], "a running writer's buffers are not leaks")
        text = stat("--name", reg.name, "--leaks")
        check("No leaks" in text.stdout and "still running" in text.stdout,
              "--leaks with a running writer", text.stdout)
        # The same buffers are listed as live by -b.
        doc = stat_json(reg, "-b")
        bufs = one_segment(doc)["buffers"]
        eq(len(bufs), steady["live_count"], "live buffers listed by -b")
        eq({b["status"] for b in bufs}, {"live"}, "status of a running writer's buffers")
        stop_sim(p)


run_tests(globals())
