# SPDX-License-Identifier: Apache-2.0
"""tt-shm-sim itself: the Llama mix, determinism, thread layouts, tracking off."""
import subprocess

import clitest
from clitest import Registry, check, device_map, eq, run_sim, run_tests, stat


def counts(rep, fields=("allocs", "frees", "alloc_bytes", "live_count")):
    return {k: tuple(v[f] for f in fields) for k, v in device_map(rep["devices"]).items()}


def test_llama_mix():
    with Registry("mix") as reg:
        rep = run_sim(reg, "--devices", 1, "--threads", 1, "--profile", "llama")["final"]
        eq(rep["events"], 83416, "default event count (the Llama run)")
        c = device_map(rep["devices"])
        buffers = sum(c[(0, t)]["allocs"] for t in ("DRAM", "L1", "TRACE"))
        eq(buffers, 83416, "DRAM + L1 + TRACE allocations")
        dram = c[(0, "DRAM")]["allocs"] / buffers
        l1 = c[(0, "L1")]["allocs"] / buffers
        check(abs(dram - 49158 / 83416) < 0.01, "DRAM share %.3f" % dram)
        check(abs(l1 - 34250 / 83416) < 0.01, "L1 share %.3f" % l1)
        check(1 <= c[(0, "TRACE")]["allocs"] <= 40, "a few TRACE buffers", c[(0, "TRACE")])
        check(c[(0, "CB")]["allocs"] > 1000, "CBs per program", c[(0, "CB")])
        check(1 <= c[(0, "KERNEL")]["allocs"] <= 24, "a few kernel binaries", c[(0, "KERNEL")])
        for key, v in c.items():
            eq(v["live_count"], 0, "live after a clean exit, %r" % (key,))
            eq(v["frees"], v["allocs"], "every buffer freed, %r" % (key,))
        res = rep["results"]
        eq((res["duplicate"], res["unknown"], res["dropped"], res["off"]), (0, 0, 0, 0),
           "writer outcomes other than recorded")
        check(res["recorded"] > 2 * buffers, "allocs and frees recorded", res)
        check(not any(k[1] in ("SYSTEM_MEMORY", "L1_SMALL") for k in c),
              "llama has no SYSTEM_MEMORY / L1_SMALL", sorted(c))


def test_uniform_uses_every_buffer_type():
    with Registry("unif") as reg:
        rep = run_sim(reg, "--devices", 1, "--events", 5000, "--profile", "uniform")["final"]
        types = {t for (_, t) in device_map(rep["devices"])}
        eq(types, {"DRAM", "L1", "SYSTEM_MEMORY", "L1_SMALL", "TRACE", "CB", "KERNEL"},
           "types of the uniform profile")


def test_same_seed_same_run_whatever_the_threads():
    with Registry("seed") as reg:
        a = run_sim(reg, "--devices", 4, "--threads", 1, "--events", 8000, "--seed", 5)["steady"]
        b = run_sim(reg, "--devices", 4, "--threads", 4, "--events", 8000, "--seed", 5)["steady"]
        c = run_sim(reg, "--devices", 4, "--threads", 2, "--events", 8000, "--seed", 6)["steady"]
        eq(counts(a), counts(b), "per-device counts of seed 5 with 1 and 4 threads")
        check(counts(a) != counts(c), "another seed gives another run")
        eq(a["generation"] + 1, b["generation"], "each run took the registry's slot over")


def test_tracking_off():
    with Registry("off") as reg:
        env = clitest.clean_env()
        env["TT_SHM_TRACKING"] = "0"
        p = subprocess.run([clitest.SIM, "--name", reg.name, "--quiet", "--events", "500"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                           timeout=60)
        eq(p.returncode, 0, "exit status with TT_SHM_TRACKING=0")
        rep = clitest.read_reports(p.stdout)["final"]
        eq(rep["segment"], None, "segment with tracking off")
        check(rep["results"]["off"] > 0 and rep["results"]["recorded"] == 0,
              "recording calls with tracking off", rep["results"])
        eq(reg.segments(), [], "segments created with tracking off")
        eq(stat("--name", reg.name).returncode, 1, "tt-shm-stat finds nothing")


run_tests(globals())
