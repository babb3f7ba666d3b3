#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The consumer-project test: install the build tree into a staging prefix,
# then build a project outside ttshm against it the two ways users do
# (find_package(ttshm CONFIG) for a C writer, pkg-config for a C++17 reader),
# run both, and check that the reader sees what the writer recorded.
# Usage: run.sh BUILD_DIR SOURCE_DIR
set -eu
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ttshm-consumer.XXXXXX")
reg="consumer$$"
trap 'rm -rf "$work"; rm -f /dev/shm/ttshm.$reg.*' EXIT INT TERM

step() { echo "== $*"; }

step "staged install (cmake --install --prefix)"
cmake --install "$build" --prefix "$work/stage" >"$work/install.log"
for f in include/ttshm/writer.h include/ttshm/reader.h bin/tt-shm-stat; do
    test -e "$work/stage/$f" || { echo "not installed: $f" >&2; exit 1; }
done
pcdir=$(dirname "$(find "$work/stage" -name ttshm.pc | head -n 1)")
test -f "$pcdir/ttshm-reader.pc" || { echo "ttshm-reader.pc not installed" >&2; exit 1; }

step "C writer: find_package(ttshm CONFIG) -> ttshm::ttshm"
cmake -S "$src/tests/consumer" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/stage" \
    -DCMAKE_BUILD_TYPE=Release >"$work/configure.log" || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/build" >"$work/build.log" || { cat "$work/build.log"; exit 1; }

step "C++17 reader: pkg-config ttshm-reader"
export PKG_CONFIG_PATH="$pcdir"
pkg-config --exists --print-errors ttshm ttshm-reader
echo "ttshm $(pkg-config --modversion ttshm): $(pkg-config --cflags --libs ttshm)"
libdir=$(pkg-config --variable=libdir ttshm-reader)
# shellcheck disable=SC2046 # word splitting of pkg-config output is intended
${CXX:-c++} -std=c++17 -Wall -Wextra -Werror -o "$work/consumer-reader" "$src/tests/consumer/reader.cpp" \
    $(pkg-config --cflags --libs ttshm-reader) -Wl,-rpath,"$libdir"

step "run: writer, then reader"
segment=$(env -u TT_SHM_TRACKING "$work/build/consumer-writer" "$reg")
"$work/consumer-reader" "$segment"
step "installed tt-shm-stat reads it"
"$work/stage/bin/tt-shm-stat" --name "$reg" --leaks | grep -q "2 leaked buffers"
echo "consumer project: ok"
