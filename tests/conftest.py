"""Shared fixtures. Test helper modules live beside this file (tests/ is on sys.path); the
synthetic data generators live in benchmarks/ (appended, so the installed karma_plugin, not the
source tree, is what the tests import)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1] / "benchmarks"))

import pytest
from click.testing import CliRunner

# The caches that datasets and huggingface_hub fill while tests load local folders go to a
# folder of this run, removed at its end, not to the user's ~/.cache/huggingface. Set before
# any test module imports them (they read HF_HOME once); scripts/test.sh gives its own
# (KARMA_TEST_TMP, removed with everything else of the run).
if "KARMA_TEST_TMP" not in os.environ:
    import atexit
    import shutil
    import tempfile

    _HF_HOME = tempfile.mkdtemp(prefix="karma-tests-hf-home-")
    os.environ["HF_HOME"] = _HF_HOME
    atexit.register(shutil.rmtree, _HF_HOME, ignore_errors=True)


@pytest.fixture(autouse=True)
def _environment_restored():
    """Undo whatever a test (or a library it drives) left in os.environ.

    The in-process Axolotl tokenization tests were seen to leave HF_HUB_OFFLINE and friends
    set although they set them through monkeypatch; a later Hub test then ran offline.
    """
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def sample_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`karma-build binarize --out OUT` with every default (the shipped sample pool, the
    authors' table, all four strategies), run once per test session (per xdist worker) for the
    modules that only read such a folder: treat it as read-only, copy it to change it."""
    from cli import karma_build

    out = tmp_path_factory.mktemp("sample-binarize") / "karma-out"
    result = karma_build("binarize", "--out", out, cwd=out.parent)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def write_jsonl(tmp_path: Path):
    """Write rows to a .jsonl file under tmp_path and return its path."""

    def write(rows: list[dict], name: str = "pool.jsonl") -> Path:
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return path

    return write
