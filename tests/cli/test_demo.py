# SPDX-License-Identifier: Apache-2.0
"""make demo's script: finishes by itself in under a minute, tells the whole
story (live view, leaks at exit, crash, restart) and leaves no segment behind."""
import glob
import os
import re
import subprocess
import time

import clitest
from clitest import check, eq, run_tests


def test_demo_runs_and_cleans_up():
    script = os.path.join(clitest.SRC, "scripts", "demo.sh")
    t0 = time.time()
    p = subprocess.run([script, clitest.BIN], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=90, env=clitest.clean_env())
    took = time.time() - t0
    eq(p.returncode, 0, "exit status of demo.sh (stderr: %s)" % p.stderr[-500:])
    check(took < 60, "the demo took %.0f s" % took)
    out = p.stdout
    m = re.search(r"export TT_SHM_NAME=(demo\d+)", out)
    check(m, "the demo names its registry", out[:300])
    eq(glob.glob("/dev/shm/ttshm.%s.*" % m.group(1)), [], "segments left by the demo")
    for n in range(1, 8):
        check(re.search(r"^== %d\. " % n, out, re.M), "section %d missing" % n, out[-2000:])
    for want in ("alive  generation 1", "largest first", '"schema": "ttshm.stat/2"',
                 "ttshm_live_bytes{", "Leaks at exit", "3 leaked buffers",
                 "died  generation 2", "Stale buffers (the writer died; not leaks)",
                 "No leaks;", "alive  generation 3",
                 "previous session: generation 2", "segments of registry %s left in /dev/shm: 0"
                 % m.group(1)):
        check(want in out, "demo output lacks %r" % want, out[-3000:])
    check("\x1b[" not in out, "escape codes in the demo's output to a pipe")


run_tests(globals())
