# SPDX-License-Identifier: Apache-2.0
"""A writer that dies leaves stale buffers, never leaks; the next writer on the
registry takes its slot over with generation + 1 and a previous-session summary."""
import collections
import resource
import signal
import subprocess

import clitest
from clitest import (Registry, check, compare_counts, eq, one_segment, run_sim, run_tests,
                     start_sim, stat, stat_json, stop_sim)


def no_core():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def crash_then_restart(tag, how):
    with Registry(tag) as reg:
        args = [clitest.SIM, "--name", reg.name, "--quiet", "--devices", "3", "--events",
                "9000", "--capacity", "--crash=" + how]
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=60, env=clitest.clean_env(), preexec_fn=no_core)
        want_sig = signal.SIGKILL if how == "kill" else signal.SIGABRT
        eq(p.returncode, -want_sig, "the sim's fate")
        crash = clitest.read_reports(p.stdout)["crash"]
        check(crash["live_count"] > 0, "the sim died with buffers live", crash)

        doc = stat_json(reg, "-b")
        seg = one_segment(doc)
        eq(seg["state"], "died", "state of a writer that died")
        eq(seg["pid"], crash["pid"], "pid of the dead writer")
        eq(seg["generation"], 1, "generation")
        compare_counts(seg["devices"], crash, "died")
        bufs = seg["buffers"]
        eq(len(bufs), crash["live_count"], "buffers of the dead writer")
        eq({b["status"] for b in bufs}, {"stale"}, "status of a dead writer's buffers")
        per = collections.Counter((b["device"], b["type"]) for b in bufs)
        for dev in crash["devices"]:
            for t, c in dev["types"].items():
                eq(per.get((dev["device"], t), 0), c["live_count"],
                   "stale buffers of device %d %s" % (dev["device"], t))
        eq(doc["totals"]["devices"], [], "a dead writer is not in the live totals")

        doc = stat_json(reg, "--leaks")
        seg = one_segment(doc)
        eq(sum(b["status"] == "leaked" for b in seg["buffers"]), 0, "leaks after a crash")
        eq(sum(b["status"] == "stale" for b in seg["buffers"]), crash["live_count"],
           "stale buffers in --leaks")
        text = stat("--name", reg.name, "--leaks")
        eq(text.returncode, 0, "exit status of --leaks")
        check("Stale buffers (the writer died; not leaks)" in text.stdout, "stale section title",
              text.stdout)
        check(text.stdout.strip().splitlines()[-1].startswith("No leaks;"),
              "--leaks verdict after a crash", text.stdout)
        check("Leaks at exit" not in text.stdout, "a crash is not a leak", text.stdout)
        summary = stat("--name", reg.name)
        check("died" in summary.stdout.splitlines()[0], "state in the header line",
              summary.stdout)
        check("stale" in summary.stdout and "not leaks" in summary.stdout,
              "summary says the buffers are stale", summary.stdout)

        # The next writer on the registry takes the dead writer's slot over.
        p2, steady = start_sim(reg, "--devices", 2, "--events", 3000)
        eq(steady["segment"], crash["segment"], "the restarted writer's segment")
        eq(steady["generation"], 2, "generation reported by the restarted writer")
        doc = stat_json(reg)
        seg = one_segment(doc)
        eq(seg["generation"], 2, "generation after the restart")
        eq(seg["state"], "alive", "state after the restart")
        eq(seg["pid"], steady["pid"], "pid after the restart")
        prev = seg["previous"]
        check(prev is not None, "previous-session summary missing")
        eq(prev["generation"], 1, "previous generation")
        eq(prev["pid"], crash["pid"], "previous pid")
        eq(prev["state"], "died", "previous state")
        eq(prev["live_count"], crash["live_count"], "previous live_count")
        eq(prev["live_bytes"], crash["live_bytes"], "previous live_bytes")
        # The new session starts empty: none of the dead writer's buffers are its own.
        compare_counts(seg["devices"], steady, "restarted")
        text = stat("--name", reg.name)
        lines = text.stdout.splitlines()
        check("generation 2" in lines[0] and "alive" in lines[0], "header after restart",
              lines[0])
        check("previous session: generation 1, pid %d, died" % crash["pid"] in lines[1],
              "previous-session line", text.stdout)
        lst = stat("--name", reg.name, "--list")
        check("gen 1 pid %d died" % crash["pid"] in lst.stdout, "--list shows the previous "
              "session", lst.stdout)
        stop_sim(p2)

        # A clean exit after that: generation 3 records generation 2 as exited.
        run_sim(reg, "--devices", 1, "--events", 100, "--leak", 2)
        seg = one_segment(stat_json(reg))
        eq(seg["generation"], 3, "generation after a second restart")
        eq((seg["previous"]["generation"], seg["previous"]["state"],
            seg["previous"]["live_count"]), (2, "exited", 0), "previous session of generation 3")


def test_sigkill_then_restart():
    crash_then_restart("kill", "kill")


def test_abort_then_restart():
    crash_then_restart("abort", "abort")


run_tests(globals())
