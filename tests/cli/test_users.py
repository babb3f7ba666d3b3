# SPDX-License-Identifier: Apache-2.0
"""Segments of other users: by default a user sees their own; one that exists
but may not be read is reported as such, never as "nothing found";
--all-users lists every user's with the owner. Needs root (to run the writer
and tt-shm-stat as other uids with setpriv); skips with a message otherwise."""
import os
import shutil
import subprocess

from clitest import SIM, STAT, Registry, check, clean_env, eq, run_tests

WRITER_UID, OTHER_UID = 1000, 1001


def as_uid(uid, args):
    return subprocess.run(["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups"] +
                          [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=60, env=clean_env())


def test_other_users_segments():
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        print("SKIP test_other_users_segments: needs root and setpriv to switch uids")
        return
    for exe in (SIM, STAT):
        if as_uid(WRITER_UID, [exe, "--version" if exe == STAT else "--help"]).returncode != 0:
            print("SKIP test_other_users_segments: uid %d cannot run %s" % (WRITER_UID, exe))
            return
    with Registry("users") as reg:
        w = as_uid(WRITER_UID, [SIM, "--name", reg.name, "--quiet", "--events", 300,
                                "--leak", 2])
        eq(w.returncode, 0, "the writer as uid %d" % WRITER_UID)

        own = as_uid(WRITER_UID, [STAT, "--name", reg.name, "--list"])
        eq(own.returncode, 0, "the owner sees its segment")
        check("ttshm.%s.0" % reg.name in own.stdout and "OWNER" not in own.stdout,
              "the owner's --list, without an owner column", own.stdout)

        other = as_uid(OTHER_UID, [STAT, "--name", reg.name])
        eq(other.returncode, 1, "exit status for a user who may not read it")
        check("1 ttshm segment of other users exists but is not readable by this user"
              in other.stdout, "the message says it exists", other.stdout)
        other = as_uid(OTHER_UID, [STAT, "--name", reg.name, "--json", "--all-users"])
        check('"unreadable":1' in other.stdout, "JSON counts it", other.stdout)

        root = subprocess.run([STAT, "--name", reg.name, "--list", "--all-users"],
                              stdout=subprocess.PIPE, text=True, timeout=60, env=clean_env())
        eq(root.returncode, 0, "root with --all-users")
        row = [l for l in root.stdout.splitlines() if l.startswith("ttshm.%s.0" % reg.name)]
        eq(len(row), 1, "root lists it")
        eq(row[0].split()[-1], str(WRITER_UID), "with its owner")


run_tests(globals())
