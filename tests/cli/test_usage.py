# SPDX-License-Identifier: Apache-2.0
"""Exit codes and messages: usage errors exit 2 with a message, nothing found
exits 1, a bad or incompatible segment exits 3, --help and --version exit 0."""
import os
import struct

from clitest import (Registry, check, eq, one_segment, run_sim, run_tests, start_sim, stat,
                     stat_json, stop_sim)
import clitest
import subprocess

BAD_ARGS = [
    ["--bogus"], ["-x"], ["-d"], ["-d", "x"], ["-d", "64"], ["-d", "3-1"], ["-t", "FOO"],
    ["-t", "7"], ["-p", "0"], ["-p", "abc"], ["--sort", "color"], ["--top", "0"],
    ["--top", "-3"], ["--name", "bad.name"], ["--name", "x" * 49], ["--json", "--csv"],
    ["--json", "--prometheus"], ["-b", "--leaks"], ["--list", "-b"], ["--prometheus", "-b"],
    ["--textfile", "/tmp/x.prom", "--json"], ["--list", "--top", "3"], ["-w", "0"],
    ["-w", "0.01"], ["-c", "0"], ["-c", "x"], ["extra"], ["--json=1"], ["--watch=abc"],
]


def test_bad_arguments_exit_2_with_a_message():
    for args in BAD_ARGS:
        p = stat(*args)
        eq(p.returncode, 2, "exit status of tt-shm-stat %s" % " ".join(args))
        check(p.stderr.startswith("tt-shm-stat: ") and "--help" in p.stderr,
              "message for %s" % " ".join(args), p.stderr)
        eq(p.stdout, "", "stdout of a usage error (%s)" % " ".join(args))


def test_bad_registry_in_environment():
    p = stat(env={"TT_SHM_NAME": "no/slashes"})
    eq(p.returncode, 2, "exit status with a bad TT_SHM_NAME")
    check("TT_SHM_NAME" in p.stderr, "message names TT_SHM_NAME", p.stderr)


def test_help_and_version():
    p = stat("--help")
    eq(p.returncode, 0, "exit status of --help")
    for opt in ("--buffers", "--sort", "--top", "--leaks", "--list", "--device", "--type",
                "--pid", "--name", "--json", "--csv", "--prometheus", "--textfile", "--watch",
                "--count", "--version", "NO_COLOR", "Exit status"):
        check(opt in p.stdout, "--help does not mention %s" % opt)
    p = stat("-h")
    eq(p.returncode, 0, "exit status of -h")
    p = stat("--version")
    eq(p.returncode, 0, "exit status of --version")
    check(p.stdout.startswith("tt-shm-stat (ttshm) 0."), "--version output", p.stdout)


def test_help_fits_80_columns():
    p = stat("--help")
    wide = [l for l in p.stdout.splitlines() if len(l) > 80]
    eq(wide, [], "--help lines wider than 80 columns")
    for opt in ("--listen", "--all-users", "127.0.0.1:10140"):
        check(opt in p.stdout, "--help does not mention %s" % opt)


def test_empty_filter_values_are_refused():
    for args in (("-d", ""), ("-t", ""), ("-p", ""), ("--device=",), ("-d", ","),
                 ("--type", " ")):
        p = stat(*args)
        eq(p.returncode, 2, "exit status of %r" % (args,))
        check("empty" in p.stderr, "the message says the value is empty", p.stderr)


def test_default_view_fits_80_columns():
    with Registry("narrow") as reg:
        p, steady = start_sim(reg, "--devices", 2, "--events", 8000, "--capacity")
        for args in ((), ("--list",), ("-b", "--top", "5")):
            out = stat("--name", reg.name, *args)
            eq(out.returncode, 0, "exit status of %r" % (args,))
            wide = [l for l in out.stdout.splitlines() if len(l) > 80]
            eq(wide, [], "lines wider than 80 columns in %r" % (args,))
        stop_sim(p)


def test_nothing_found_exits_1():
    with Registry("none") as reg:
        for args in ((), ("--json",), ("-b",), ("--leaks",), ("--list",), ("--csv",),
                     ("--prometheus",)):
            p = stat("--name", reg.name, *args)
            eq(p.returncode, 1, "exit status with no segment (%s)" % " ".join(args))
        p = stat("--name", reg.name)
        check("No ttshm segments found" in p.stdout, "message", p.stdout)
        # A segment exists, but not for that pid.
        reps = run_sim(reg, "--devices", 1, "--events", 100)
        pid = reps["final"]["pid"]
        p = stat("--name", reg.name, "-p", pid + 1000000)
        eq(p.returncode, 1, "unknown pid")
        check("No ttshm writer with the selected pid in registry" in p.stdout,
              "the message names the pid filter, not 'no segments'", p.stdout)
        eq(stat("--name", reg.name, "-p", pid).returncode, 0, "known pid")
        eq(stat("--name", reg.name).returncode, 0, "registry with a segment")
        # TT_SHM_NAME selects the registry when --name is not given.
        p = stat("--json", env={"TT_SHM_NAME": reg.name})
        eq(p.returncode, 0, "exit status with TT_SHM_NAME")
        check(reg.name in p.stdout, "TT_SHM_NAME selects the registry", p.stdout[:300])


def write_shm(path, data):
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    os.write(fd, data)
    os.close(fd)


def test_corrupt_segment_exits_3():
    with Registry("bad") as reg:
        path = "/dev/shm/ttshm.%s.0" % reg.name
        cases = {
            "garbage": os.urandom(8192),
            "zeros": bytes(8192),
            "short": b"TTSH",
            # Right magic, impossible ABI and sizes.
            "bad abi": struct.pack("<QIIIIIIIIII", 0x3147455348535454, 99, 0, 8, 1, 64, 64, 8,
                                   0, 0, 8192) + bytes(8192),
            "bad sizes": struct.pack("<QIIIIIIIIII", 0x3147455348535454, 1, 0, 8, 7, 3, 64, 8,
                                     0xffffff, 0xffffff, 8192) + bytes(8192),
        }
        for what, data in cases.items():
            write_shm(path, data)
            for args in ((), ("--json",), ("--csv",), ("--prometheus",), ("--list",), ("-b",),
                         ("--leaks",)):
                p = stat("--name", reg.name, *args)
                eq(p.returncode, 3, "exit status with a %s segment (%s)" % (what, " ".join(args)))
                check(("ttshm.%s.0" % reg.name) in p.stderr, "the bad segment is named",
                      p.stderr)
                check("No ttshm segments found" not in p.stdout, "a bad segment is not "
                      "'nothing found'", p.stdout)
        os.unlink(path)


def test_good_segment_shown_next_to_a_bad_one():
    with Registry("mixed") as reg:
        reps = run_sim(reg, "--devices", 1, "--events", 200, "--leak", 2)  # slot 0
        write_shm("/dev/shm/ttshm.%s.1" % reg.name, os.urandom(4096))
        doc = stat_json(reg, expect_rc=3)
        eq(one_segment(doc)["name"], reps["final"]["segment"], "the good segment is shown")
        eq([e["name"] for e in doc["errors"]], ["ttshm.%s.1" % reg.name],
           "the bad segment is named in errors")
        p = stat("--name", reg.name, "--leaks")
        eq(p.returncode, 3, "exit status of --leaks with a bad neighbour")
        check("2 leaked buffers" in p.stdout, "the good segment's leaks are shown", p.stdout)


def test_busy_segments_do_not_hide_a_good_one():
    """Empty objects held locked look like writers stopped mid-start: each one
    is reported busy (after a bounded wait), the good segment is shown."""
    import fcntl
    with Registry("busy") as reg:
        reps = run_sim(reg, "--devices", 1, "--events", 200, "--leak", 1)  # slot 0
        fds = []
        try:
            for slot in range(1, 101):
                fd = os.open("/dev/shm/ttshm.%s.%d" % (reg.name, slot), os.O_CREAT | os.O_RDWR,
                             0o600)
                fcntl.lockf(fd, fcntl.LOCK_EX)
                fds.append(fd)
            doc = stat_json(reg, expect_rc=3)
            eq(one_segment(doc)["name"], reps["final"]["segment"], "the good segment is shown")
            eq(len(doc["errors"]), 100, "every busy object is named")
            p = stat("--name", reg.name, "--leaks")
            eq(p.returncode, 3, "exit status of --leaks next to busy objects")
            check("1 leaked buffer (" in p.stdout, "the good segment's leak", p.stdout)
        finally:
            for fd in fds:
                os.close(fd)


def test_sim_usage():
    for args in (["--bogus"], ["--devices", "0"], ["--devices", "65"], ["--profile", "gpt"],
                 ["--crash=maybe"], ["--leak", "3", "--crash"], ["--hold", "-1"],
                 ["--name", "a.b"], ["--events", "x"], ["extra"]):
        p = subprocess.run([clitest.SIM] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=clitest.clean_env(), timeout=30)
        eq(p.returncode, 2, "exit status of tt-shm-sim %s" % " ".join(args))
        check("tt-shm-sim" in p.stderr and "--help" in p.stderr, "sim usage message", p.stderr)
    p = subprocess.run([clitest.SIM, "--help"], stdout=subprocess.PIPE, text=True, timeout=30)
    eq(p.returncode, 0, "exit status of tt-shm-sim --help")
    for opt in ("--devices", "--threads", "--events", "--profile", "--capacity", "--hold",
                "--leak", "--crash", "--seed", "--name"):
        check(opt in p.stdout, "tt-shm-sim --help does not mention %s" % opt)


run_tests(globals())
