# SPDX-License-Identifier: Apache-2.0
"""--textfile replaces its file atomically; --watch refreshes on a terminal and
keeps writing frames in a pipe; CSV is RFC 4180 with one header per run;
colour follows the terminal, NO_COLOR and TERM=dumb; write errors exit 1."""
import json
import os
import pty
import re
import select
import subprocess
import tempfile
import threading
import time

import clitest
from clitest import (STAT, Registry, check, clean_env, eq, run_sim, run_tests, start_sim, stat,
                     stop_sim)

SGR = re.compile(r"\x1b\[[0-9;]*m")
CLEAR = "\x1b[H\x1b[2J"


def test_textfile_is_written_atomically():
    with Registry("tf") as reg, tempfile.TemporaryDirectory() as d:
        p, steady = start_sim(reg, "--devices", 2, "--events", 3000, "--capacity")
        path = os.path.join(d, "ttshm.prom")
        out = stat("--name", reg.name, "--textfile", path)
        eq(out.returncode, 0, "exit status of --textfile")
        eq(out.stdout, "", "--textfile prints nothing on stdout")
        text = open(path).read()
        check(text.startswith("# HELP ttshm_info") and text.endswith("\n"), "textfile content",
              text[:200])
        check('pid="%d"' % steady["pid"] in text, "textfile has the writer", text[:400])
        eq(os.stat(path).st_mode & 0o777, 0o644, "textfile mode (readable by an exporter)")
        eq(os.listdir(d), ["ttshm.prom"], "files left in the directory")

        # Refreshing: every write is a new file renamed over the old one, so a
        # reader holding the old file never sees it change or shrink.
        old = open(path)
        # Inode numbers may be reused once a replaced file is gone, so count
        # changes between reads rather than distinct numbers.
        changes, torn, stop = [0, None], [], threading.Event()

        def reader():
            while not stop.is_set():
                try:
                    with open(path) as f:
                        ino = os.fstat(f.fileno()).st_ino
                        if changes[1] is not None and ino != changes[1]:
                            changes[0] += 1
                        changes[1] = ino
                        t = f.read()
                except FileNotFoundError:
                    torn.append("missing")
                    continue
                if not (t.startswith("# HELP ttshm_info") and
                        t.rstrip("\n").split("\n")[-1].startswith("ttshm_segments_unreadable ")):
                    torn.append(t[-100:])

        th = threading.Thread(target=reader)
        th.start()
        w = stat("--name", reg.name, "--textfile", path, "-w", "0.1", "-c", "15")
        stop.set()
        th.join()
        eq(w.returncode, 0, "exit status of --textfile -w -c")
        check(not torn, "a concurrent reader saw %d partial or missing textfiles" % len(torn),
              torn[:1])
        check(changes[0] >= 3, "each refresh replaces the file (file changes seen: %d)" %
              changes[0])
        eq(old.read(), text, "the replaced file keeps its old content")
        old.close()
        eq(sorted(os.listdir(d)), ["ttshm.prom"], "temporary files left behind")

        bad = stat("--name", reg.name, "--textfile", os.path.join(d, "nodir", "x.prom"))
        eq(bad.returncode, 1, "exit status when the textfile cannot be written")
        check("--textfile" in bad.stderr, "message for an unwritable textfile", bad.stderr)
        stop_sim(p)


def run_on_pty(args, env_extra=None, timeout=20):
    """Runs tt-shm-stat with stdout on a pseudo-terminal; returns its output."""
    master, slave = pty.openpty()
    env = clitest.clean_env()
    env["TERM"] = "xterm"
    if env_extra:
        env.update(env_extra)
    p = subprocess.Popen([clitest.STAT] + [str(a) for a in args], stdout=slave,
                         stderr=subprocess.PIPE, env=env)
    os.close(slave)
    chunks, deadline = [], time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the other side is closed
                break
            if not data:
                break
            chunks.append(data)
        elif p.poll() is not None:
            break
    os.close(master)
    p.wait(timeout=5)
    return p.returncode, b"".join(chunks).decode(errors="replace")


def test_watch_refreshes_on_a_terminal_with_colour():
    with Registry("watch") as reg:
        run_sim(reg, "--devices", 1, "--events", 500, "--leak", 1)
        rc, out = run_on_pty(["--name", reg.name, "-w", "0.2", "-c", "3"])
        eq(rc, 0, "exit status of -w -c 3 on a terminal")
        eq(out.count(CLEAR), 3, "screen redraws for -c 3")
        eq(out.count("tt-shm-stat: every 0.2s"), 3, "watch headers")
        check(SGR.search(out), "colour on a terminal", out[:300])

        rc, out = run_on_pty(["--name", reg.name, "-w", "0.2", "-c", "2"], {"NO_COLOR": "1"})
        eq(rc, 0, "exit status with NO_COLOR")
        eq(out.count(CLEAR), 2, "screen redraws with NO_COLOR")
        eq(SGR.findall(out), [], "colour codes with NO_COLOR set")

        rc, out = run_on_pty(["--name", reg.name, "-w", "0.2", "-c", "2"], {"TERM": "dumb"})
        eq(rc, 0, "exit status with TERM=dumb")
        check("\x1b" not in out, "no escape at all with TERM=dumb", repr(out[:300]))
        eq(out.count("ttshm.%s.0" % reg.name), 2, "frames with TERM=dumb")

        rc, out = run_on_pty(["--name", reg.name])
        eq(out.count(CLEAR), 0, "a one-shot view does not clear the screen")
        check(SGR.search(out), "colour in a one-shot view on a terminal", out[:200])


def test_watch_keeps_writing_in_a_pipe():
    """Like nvidia-smi -l: -w loops whatever stdout is; piped, frames follow
    one another with no escapes, and SIGTERM ends the loop cleanly."""
    with Registry("pipe") as reg:
        run_sim(reg, "--devices", 1, "--events", 500)
        env = clean_env()
        p = subprocess.Popen([STAT, "--name", reg.name, "-w", "0.2"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        frames, buf, deadline = 0, "", time.time() + 30
        while frames < 3 and time.time() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            buf += line
            frames = buf.count("ttshm.%s.0" % reg.name)
        p.terminate()
        rest, _ = p.communicate(timeout=30)
        buf += rest
        check(frames >= 3, "-w in a pipe keeps writing frames", buf[-500:])
        eq(p.returncode, 0, "exit status of -w ended by SIGTERM")
        check(CLEAR not in buf and not SGR.search(buf), "no escapes in a pipe")

        p = stat("--name", reg.name, "-w", "0.1", "-c", "3")
        eq(p.stdout.count("ttshm.%s.0" % reg.name), 3, "frames printed by -c 3 in a pipe")


def test_csv_header_once_and_crlf():
    with Registry("csv") as reg:
        run_sim(reg, "--devices", 1, "--events", 500)
        p = subprocess.run([STAT, "--name", reg.name, "--csv", "-w", "0.1", "-c", "3"],
                           stdout=subprocess.PIPE, timeout=60, env=clean_env())
        eq(p.returncode, 0, "exit status")
        out = p.stdout.decode()  # bytes: text mode would translate the line ends
        check("\n" not in out.replace("\r\n", ""), "every line ends in CRLF (RFC 4180)",
              repr(out[:300]))
        lines = out.split("\r\n")[:-1]
        eq(sum(1 for line in lines if line.startswith("time,")), 1, "header rows in 3 frames")
        times = {line.split(",")[0] for line in lines[1:]}
        eq(len(times), 3, "a time column that tells the 3 frames apart")


def test_wait_for_a_writer():
    with Registry("wait") as reg:
        t0 = time.time()
        p = stat("--name", reg.name, "--wait=0.5")
        eq(p.returncode, 1, "exit status when no writer came")
        check("no live writer appeared within 0.5s" in p.stderr, "message", p.stderr)
        check(time.time() - t0 < 30, "--wait=0.5 is bounded")
        waiter = subprocess.Popen([STAT, "--name", reg.name, "--wait=60", "--json"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=clean_env())
        reg.procs.append(waiter)
        time.sleep(0.5)
        check(waiter.poll() is None, "--wait returned before any writer", waiter.stderr)
        sim, steady = start_sim(reg, "--devices", 1, "--events", 500)
        out, err = waiter.communicate(timeout=60)
        eq(waiter.returncode, 0, "exit status once a writer came")
        eq([s["pid"] for s in json.loads(out)["segments"]], [steady["pid"]], "the writer shown")
        stop_sim(sim)


def test_watch_shows_rates_from_the_second_frame():
    with Registry("rates") as reg:
        sim, steady = start_sim(reg, "--devices", 1, "--events", 500)
        p = stat("--name", reg.name, "-w", "0.2", "-c", "2")
        eq(p.returncode, 0, "exit status")
        eq(p.stdout.count("Rates over the last"), 1, "rates only once there is a previous frame")
        check("ALLOCS/S" in p.stdout and "DRAM" in p.stdout.split("Rates over the last")[1],
              "a rate row per device and type", p.stdout[-600:])
        stop_sim(sim)


def test_stdout_write_error_exits_1():
    with Registry("full") as reg:
        run_sim(reg, "--devices", 1, "--events", 500)
        with open("/dev/full", "w") as full:
            p = subprocess.run([STAT, "--name", reg.name], stdout=full, stderr=subprocess.PIPE,
                               text=True, timeout=60, env=clean_env())
        eq(p.returncode, 1, "exit status when stdout cannot be written")
        check("cannot write" in p.stderr, "a message says so", p.stderr)


run_tests(globals())
