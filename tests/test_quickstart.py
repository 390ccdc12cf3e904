"""`bash scripts/quickstart.sh`, the README's first command: it runs the main job and then tells
the user how to reach `karma-build`, which lives in the quickstart's environment, not on PATH.

The environment itself (a pip install of several minutes) is stood in for by a folder with the
layout the script expects, whose `karma-build` is the package under test; everything after the
install runs for real.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _demo_venv(cache: Path) -> Path:
    """Where `karma_venv demo` looks under ``cache``, made to look built."""
    hashed = subprocess.run(
        ["bash", "-c", "source scripts/_venv.sh && karma_deps_hash demo"],
        cwd=ROOT,
        env={**os.environ, "KARMA_CACHE_DIR": str(cache)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    venv = cache / f"venv-demo-{hashed}"
    (venv / "bin").mkdir(parents=True)
    scripts = {
        "pip": "#!/bin/sh\nexit 0\n",  # the install of the tree: done already (PYTHONPATH)
        "karma-build": f'#!/bin/sh\nexec "{sys.executable}" -m karma_plugin "$@"\n',
        "python": f'#!/bin/sh\nexec "{sys.executable}" "$@"\n',
        "activate": f'export PATH="{venv / "bin"}:$PATH"\n',
    }
    for name, text in scripts.items():
        (venv / "bin" / name).write_text(text, encoding="utf-8")
        (venv / "bin" / name).chmod(0o755)
    (venv / ".karma-complete").touch()
    return venv


def test_quickstart_says_how_to_get_karma_build_on_path(tmp_path):
    venv = _demo_venv(tmp_path / "cache")
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "quickstart.sh"), str(tmp_path / "karma-out")],
        cwd=tmp_path,
        env={**os.environ, "KARMA_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "karma-out" / "kinship.json").is_file()  # the main job ran
    lines = out.stdout.splitlines()
    activate = f"  source {venv}/bin/activate"
    assert activate in lines, out.stdout[-2000:]
    assert f"{venv}/bin/karma-build --help" in out.stdout
    # The printed line works: after it, `karma-build` is found on PATH.
    found = subprocess.run(
        ["bash", "-c", f"{activate.strip()} && command -v karma-build"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert found.stdout.strip() == f"{venv}/bin/karma-build"
