# SPDX-License-Identifier: Apache-2.0
"""python -m ttshm: what `tt-shm-stat --json` prints, from the Python bindings
(the two cross-check). Same options for the JSON view, same exit status."""
import argparse
import os
import sys

from . import errors, statjson
from .types import MemType


def _device_list(text):
    out = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise argparse.ArgumentTypeError(f"invalid device list '{text}'")
        a, b = int(lo), int(hi or lo)
        if a > b or b >= 64:
            raise argparse.ArgumentTypeError(f"invalid device list '{text}'")
        out.update(range(a, b + 1))
    return out


def _type_list(text):
    try:
        return {MemType.parse(t) for t in text.split(",")}
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _pid_list(text):
    try:
        return {int(p) for p in text.split(",")}
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid pid list '{text}'") from None


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m ttshm", description=__doc__)
    p.add_argument("--json", action="store_true", help="JSON (the only output; accepted for tt-shm-stat's command line)")
    p.add_argument("-b", "--buffers", action="store_true", help="live buffers, one per entry")
    p.add_argument("--leaks", action="store_true", help="buffers left by exited (leaks) and died (stale) writers")
    p.add_argument("--sort", choices=("size", "age", "address"), help="order buffers (default: table order)")
    p.add_argument("--top", type=int, default=0, help="only the first N buffers (implies -b)")
    p.add_argument("-d", "--device", type=_device_list, help="devices, e.g. 0 or 0,2-3")
    p.add_argument("-t", "--type", type=_type_list, help="memory types, names or numbers")
    p.add_argument("-p", "--pid", type=_pid_list, help="writer process ids")
    p.add_argument("-f", "--fields", action="append", metavar="GLOB",
                   help="only the counters whose name matches (repeatable; e.g. 'live_*')")
    p.add_argument("--all-users", action="store_true", help="every user's segments, with their owners")
    p.add_argument("--name", default=os.environ.get("TT_SHM_NAME") or None, help="only this registry (default $TT_SHM_NAME, else all)")
    a = p.parse_args(argv)
    filters = statjson.Filters(devices=a.device, types=a.type, pids=a.pid, counters=a.fields)
    try:
        doc, status = statjson.build(
            registry=a.name, buffers=a.buffers, leaks=a.leaks, sort=a.sort, top=a.top,
            filters=filters, all_users=a.all_users, warn=lambda msg: print(msg, file=sys.stderr),
        )
    except errors.Error as e:
        print(f"python -m ttshm: {e}", file=sys.stderr)
        return statjson.EXIT_NOTHING
    print(statjson.dumps(doc))
    return status


if __name__ == "__main__":
    sys.exit(main())
