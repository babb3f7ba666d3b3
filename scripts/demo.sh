#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make demo: a simulated Llama run on 8 devices watched with tt-shm-stat, a
# clean exit with leaks, a crash and a restart. Usage: scripts/demo.sh BUILD_DIR
# Runs by itself in well under a minute and removes its segments at the end.
set -euo pipefail

BUILD=${1:-build}
SIM_DIR=$BUILD/sim
STAT_DIR=$BUILD/reader/stat
if [ ! -x "$SIM_DIR/tt-shm-sim" ] || [ ! -x "$STAT_DIR/tt-shm-stat" ]; then
    echo "demo: $SIM_DIR/tt-shm-sim or $STAT_DIR/tt-shm-stat is missing; run 'make build' first" >&2
    exit 1
fi
# Commands are shown as a user would type them.
PATH="$(cd "$SIM_DIR" && pwd):$(cd "$STAT_DIR" && pwd):$PATH"

# A registry of the demo's own: it sees only its own writers and cleans only
# its own segments. Writers and tt-shm-stat both take it from TT_SHM_NAME.
export TT_SHM_NAME="demo$$"
TMP=$(mktemp -d)
SIM_PID=

cleanup() {
    if [ -n "$SIM_PID" ] && kill -0 "$SIM_PID" 2>/dev/null; then
        kill "$SIM_PID" 2>/dev/null || true
        wait "$SIM_PID" 2>/dev/null || true
    fi
    rm -f /dev/shm/ttshm."$TT_SHM_NAME".*
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
    B=$'\033[1m' D=$'\033[2m' R=$'\033[0m'
else
    B='' D='' R=''
fi
title() { printf '\n%s== %s%s\n' "$B" "$*" "$R"; }
note() { printf '%s%s%s\n' "$D" "$*" "$R"; }
show() {
    printf '%s$ %s%s\n' "$B" "$*" "$R"
    "$@"
}

# Waits until the sim's report says its events are done (its buffers are live).
wait_steady() {
    for _ in $(seq 300); do
        grep -q '"phase":"steady"' "$1" 2>/dev/null && return 0
        kill -0 "$SIM_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "demo: tt-shm-sim did not start; its messages:" >&2
    cat "$TMP"/*.err >&2 || true
    exit 1
}

start=$SECONDS
title "1. A Llama-like runtime on 8 devices, in the background"
note "export TT_SHM_NAME=$TT_SHM_NAME   # the demo's own registry"
printf '%s$ tt-shm-sim --profile llama --devices 8 --capacity --hold 5 --leak 3 &%s\n' "$B" "$R"
tt-shm-sim --profile llama --devices 8 --capacity --hold 5 --leak 3 \
    >"$TMP/run1.json" 2>"$TMP/run1.err" &
SIM_PID=$!
wait_steady "$TMP/run1.json"
cat "$TMP/run1.err"

title "2. From another shell: what is allocated where (devices 0-1; drop -d for all 8)"
show tt-shm-stat -d 0-1

title "3. The 10 largest live buffers"
show tt-shm-stat --top 10

title "4. For scripts and monitoring: --json (excerpt) and --prometheus"
printf '%s$ tt-shm-stat --json | python3 -m json.tool   # device 0 DRAM shown%s\n' "$B" "$R"
tt-shm-stat --json | python3 -c '
import json, sys
doc = json.load(sys.stdin)
seg = doc["segments"][0]
dev0 = seg["devices"][0]
excerpt = {"schema": doc["schema"], "segments": [{
    "name": seg["name"], "pid": seg["pid"], "generation": seg["generation"],
    "state": seg["state"], "previous": seg["previous"],
    "devices": [{"device": dev0["device"], "types": {"DRAM": dev0["types"]["DRAM"]}},
                "... %d more devices" % (len(seg["devices"]) - 1)]}],
    "totals": "{...}"}
print(json.dumps(excerpt, indent=2))'
printf '%s$ tt-shm-stat --prometheus | grep -E "^ttshm_(info|live_bytes)" | head -4%s\n' "$B" "$R"
tt-shm-stat --prometheus | grep -E '^ttshm_(info|live_bytes)' | head -4

title "5. The runtime exits cleanly, 3 buffers still allocated: leaks"
note "(waiting for tt-shm-sim to end its 5 s hold)"
wait "$SIM_PID"
SIM_PID=
tail -n 1 "$TMP/run1.err"
show tt-shm-stat --leaks

title "6. A runtime crashes (SIGKILL) with buffers allocated"
printf '%s$ tt-shm-sim --profile llama --devices 8 --capacity --events 20000 --crash%s\n' "$B" "$R"
tt-shm-sim --profile llama --devices 8 --capacity --events 20000 --crash >"$TMP/run2.json" 2>"$TMP/run2.err" &
SIM_PID=$!
wait "$SIM_PID" 2>/dev/null || true
SIM_PID=
cat "$TMP/run2.err"
note "It took over the slot of the run that exited: generation 2. Its buffers are stale, not leaks:"
show tt-shm-stat -d 0
show tt-shm-stat --leaks --top 5

title "7. The runtime restarts: same slot, generation + 1, the crash summarised"
printf '%s$ tt-shm-sim --profile llama --devices 8 --capacity --hold 2 &%s\n' "$B" "$R"
tt-shm-sim --profile llama --devices 8 --capacity --hold 2 >"$TMP/run3.json" 2>"$TMP/run3.err" &
SIM_PID=$!
wait_steady "$TMP/run3.json"
show tt-shm-stat --list
show tt-shm-stat -d 0 -t DRAM,L1
wait "$SIM_PID"
SIM_PID=

title "Done in $((SECONDS - start)) s"
rm -f /dev/shm/ttshm."$TT_SHM_NAME".*
left=$(find /dev/shm -maxdepth 1 -name "ttshm.$TT_SHM_NAME.*" | wc -l)
echo "segments of registry $TT_SHM_NAME left in /dev/shm: $left"
