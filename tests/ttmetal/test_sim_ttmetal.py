# SPDX-License-Identifier: Apache-2.0
"""tt-shm-sim --profile tt-metal read back with tt-shm-stat: while it runs, every
chip x type equals what TT-Metal's allocator holds (the sim's model: CB bytes =
the CBs of live programs, nothing of the closed mesh, no buffer of chip 10 after
deallocate_buffers, NO_DISPATCH captures absent); after its clean exit,
--leaks finds no leak."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))

from clitest import (Registry, check, compare_counts, eq, one_segment, run_sim,  # noqa: E402
                     run_tests, start_sim, stat, stat_json, stop_sim)

FIELDS = ("live_count", "live_bytes", "allocs", "frees", "alloc_bytes")
MESH0, MESH1, CHIP = range(8), (8, 9), 10


def types_of(report, device):
    return next(d["types"] for d in report["devices"] if d["device"] == device)


def test_steady_state_is_the_allocators():
    with Registry("tm") as reg:
        p, steady = start_sim(reg, "--profile", "tt-metal", "--seed", 7, "--events", 3000)
        check(steady["captured_allocations"] > 0, "the sim ran NO_DISPATCH captures", steady)
        # The cases the profile must contain, as the allocator sees them.
        for c in MESH0:
            check(types_of(steady, c)["CB"]["live_count"] > 0, "chip %d holds CBs" % c)
            eq(types_of(steady, c)["DRAM"], types_of(steady, 0)["DRAM"],
               "mesh buffers are on every chip of the mesh alike (chip %d)" % c)
        for c in MESH1:
            t = types_of(steady, c)
            check(t["DRAM"]["allocs"] > 0, "mesh 1 was used before its close", t)
            eq(sum(x["live_count"] for x in t.values()), 0, "chip %d after its mesh closed" % c)
        t = types_of(steady, CHIP)
        eq(t["DRAM"]["live_count"] + t["L1"]["live_count"], 0,
           "chip 10 buffers after deallocate_buffers")
        check(t["CB"]["live_count"] > 0, "chip 10 programs keep their CBs", t)

        seg = one_segment(stat_json(reg))
        eq(seg["state"], "alive", "writer state while the sim holds")
        compare_counts(seg["devices"], steady, "tt-metal steady state", fields=FIELDS, peak=False)
        got = {d["device"]: d["types"]["CB"]["live_bytes"] for d in seg["devices"]}
        want = {d["device"]: d["types"].get("CB", {}).get("live_bytes", 0)
                for d in steady["devices"]}
        eq(got, want, "CB bytes per chip")
        # A running writer's buffers are no leaks.
        leaks = one_segment(stat_json(reg, "--leaks"))
        eq(leaks.get("buffers", []), [], "--leaks while the writer runs")

        final = stop_sim(p)
        eq(final["_rc"], 0, "exit status of the sim")
        eq(final["final"]["live_count"], 0, "what TT-Metal holds after closing its devices")
        seg = one_segment(stat_json(reg, "--leaks"))
        eq(seg["state"], "exited", "state after a clean exit")
        eq(seg.get("buffers", []), [], "leaks at exit")
        text = stat("--name", reg.name, "--leaks")
        eq(text.returncode, 0, "exit status of --leaks")
        check("No leaks" in text.stdout, "--leaks says there is no leak", text.stdout)
        seg = one_segment(stat_json(reg))
        compare_counts(seg["devices"], final["final"], "tt-metal after exit", fields=FIELDS,
                       peak=False)


def test_other_options_refused():
    with Registry("tmopt") as reg:
        for args in (("--devices", 2), ("--leak", 1), ("--crash",), ("--threads", 2)):
            reps = run_sim(reg, "--profile", "tt-metal", *args, expect_rc=2)
            eq(reps.get("steady"), None, "no run with %s" % (args,))


if __name__ == "__main__":
    run_tests(globals())
