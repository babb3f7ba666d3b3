#!/usr/bin/env bash
# Installs what the build needs on Debian when run as root; otherwise says
# exactly what to install. Extra packages (e.g. clang for the fuzzer) may be
# passed as arguments.
set -euo pipefail
# python3-pytest*, -setuptools, -wheel, -pip, -venv: the Python package (python/), its tests and
# its offline install (pip install --no-build-isolation ./python).
need=(cmake make gcc g++ pkg-config liburcu-dev libcunit1-dev libmicrohttpd-dev python3
      python3-pytest python3-pytest-xdist python3-setuptools python3-wheel python3-pip python3-venv "$@")
missing=()
for p in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "missing packages: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi
