# SPDX-License-Identifier: Apache-2.0
"""Finding and checking the library: a clear error when it is missing, and a
library of another ABI (or with other struct sizes) refused at load."""
import ctypes
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import ttshm
from ttshm import _lib


def run_python(code, **env):
    e = dict(os.environ)
    e.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=60, env=e)


def test_importing_needs_no_library():
    p = run_python("import ttshm, ttshm.pytest_plugin; print('ok')", TTSHM_READER_LIB="/nonexistent/libttshm-reader.so.0")
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr


def test_a_missing_override_says_which():
    p = run_python("""
        import ttshm
        try:
            ttshm.segments()
        except ttshm.LibraryNotFound as e:
            print(e)
    """, TTSHM_READER_LIB="/nonexistent/libttshm-reader.so.0")
    assert p.returncode == 0, p.stderr
    assert "TTSHM_READER_LIB=/nonexistent/libttshm-reader.so.0" in p.stdout


def test_not_installed_names_the_soname_and_the_override():
    env = {k: v for k, v in os.environ.items() if k not in ("TTSHM_READER_LIB", "LD_LIBRARY_PATH")}
    code = textwrap.dedent("""
        import ctypes.util, ttshm
        ctypes.util.find_library = lambda name: None  # as on a machine without it installed
        try:
            ttshm.open("ttshm.x.0")
        except ttshm.LibraryNotFound as e:
            print(e)
        else:
            print("loaded")
    """)
    p = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60, env=env)
    assert p.returncode == 0, p.stderr
    if p.stdout.strip() == "loaded":
        pytest.skip("libttshm-reader.so.0 is installed system-wide on this machine")
    assert "libttshm-reader.so.0 not found" in p.stdout and "TTSHM_READER_LIB" in p.stdout


def fake_library(tmp_path, abi, stats_size):
    """A shared object answering the two version questions: ABI abi, struct
    ttshm_stats of stats_size bytes, every other struct its true size."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("no C compiler to build the fake library (cmake builds need one)")
    sizes = dict((n, ctypes.sizeof(s)) for n, s in _lib.CHECKED_STRUCTS.items())
    sizes["ttshm_stats"] = stats_size
    src = tmp_path / "fake.c"
    src.write_text(
        "#include <stddef.h>\n#include <stdint.h>\n#include <string.h>\n"
        f"uint32_t ttshm_reader_abi_version(void) {{ return {abi}u; }}\n"
        "size_t ttshm_reader_struct_size(const char *name) {\n"
        + "".join(f'    if (strcmp(name, "{n}") == 0) return {v};\n' for n, v in sizes.items())
        + "    return 0;\n}\n"
    )
    so = tmp_path / "libfake.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(so), str(src)], check=True)
    return str(so)


def test_another_abi_is_refused(tmp_path):
    other = ttshm.ABI_MAJOR + 1
    so = fake_library(tmp_path, (other << 16) | 1, ctypes.sizeof(_lib.Stats))
    p = run_python("""
        import ttshm
        try:
            ttshm.load()
        except ttshm.AbiMismatch as e:
            print(e)
    """, TTSHM_READER_LIB=so)
    assert p.returncode == 0, p.stderr
    assert f"reads segment ABI {other}.1" in p.stdout and f"mirror ABI {ttshm.ABI_MAJOR}" in p.stdout


def test_another_struct_size_is_refused(tmp_path):
    so = fake_library(tmp_path, ttshm.ABI_MAJOR << 16, ctypes.sizeof(_lib.Stats) + 8)
    p = run_python("""
        import ttshm
        try:
            ttshm.segments()
        except ttshm.AbiMismatch as e:
            print(e)
    """, TTSHM_READER_LIB=so)
    assert p.returncode == 0, p.stderr
    assert f"struct ttshm_stats is {ctypes.sizeof(_lib.Stats) + 8} bytes" in p.stdout


def test_the_build_library_matches_these_bindings():
    lib = _lib.reader()
    assert lib.ttshm_reader_abi_version() >> 16 == ttshm.ABI_MAJOR
    for name, struct in _lib.CHECKED_STRUCTS.items():
        assert lib.ttshm_reader_struct_size(name.encode()) == ctypes.sizeof(struct), name


def test_error_classes_cover_every_code():
    lib = _lib.reader()
    for code in range(1, 15):
        exc = ttshm.errors.from_code(-code, lib.ttshm_strerror(-code).decode())
        assert type(exc) is not ttshm.Error and exc.code == code
