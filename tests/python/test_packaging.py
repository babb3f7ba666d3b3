# SPDX-License-Identifier: Apache-2.0
"""`pip install ./python` works offline (Debian's setuptools, no download)
into a venv that sees the system packages, and the installed pytest11 entry
point loads the plugin without -p."""
import os
import shutil
import subprocess
import sys
import textwrap

from conftest import PYTHON_SRC


def test_offline_install_and_entry_point(tmp_path, registry):
    src = tmp_path / "src"
    shutil.copytree(PYTHON_SRC, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=300)
    py = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")}
    env["PIP_NO_INDEX"] = "1"  # offline: any download attempt fails the install
    p = subprocess.run([py, "-m", "pip", "install", "--no-build-isolation", "--no-index", str(src)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600, env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stdout
    p = subprocess.run([py, "-c", "import ttshm; print(ttshm.__file__)"], stdout=subprocess.PIPE, text=True,
                       env=env, cwd=tmp_path, check=True)
    assert p.stdout.startswith(str(venv))

    tests = tmp_path / "suite"
    tests.mkdir()
    (tests / "test_leaky.py").write_text(textwrap.dedent(f"""
        import ttshm

        def test_leaks():
            w = ttshm.Writer(name={registry.name!r})
            w.alloc(0, "DRAM", 0x1000, 4096)
            w.close()
    """))
    p = subprocess.run([py, "-m", "pytest", "-p", "no:cacheprovider", "--ttshm-leaks", str(tests)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=300, env=env, cwd=tmp_path)
    assert p.returncode == 1, p.stdout
    assert "ttshm: 1 device buffer (4.0 KiB) allocated by this test still live after it" in p.stdout
