"""The benchmarks run where the scripts put them and leave nothing behind (issue 16 item 15):
`binarize_speed.py` spills and writes only in its work folder (removed at the end) and caches
its pool under the project's cache folder, never the system temp folder; `eval_cost.py --smoke`
runs in the test environment."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


def _bench(name: str, *args: str, tmp: Path, env: dict[str, str] | None = None):
    """``python benchmarks/NAME.py ARGS`` with the system temp folder moved to ``tmp/tmp``."""
    (tmp / "tmp").mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / f"{name}.py"), *args],
        cwd=tmp,
        env={**os.environ, "TMPDIR": str(tmp / "tmp"), "HF_HUB_OFFLINE": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_binarize_speed_caches_its_pool_in_the_project_cache_and_cleans_up(tmp_path):
    cache = tmp_path / "cache"
    env = {"KARMA_CACHE_DIR": str(cache)}
    out = _bench("binarize_speed", "--rows", "300", "--repeat", "1", tmp=tmp_path, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "K_sim pair selection alone" in out.stdout
    # The pool is kept for the next run, under KARMA_CACHE_DIR/bench; nothing else anywhere.
    assert sorted(p.name for p in (cache / "bench").iterdir()) == ["pool-300.parquet"]
    assert f"kept for the next run: {cache / 'bench' / 'pool-300.parquet'}" in out.stdout
    assert list((tmp_path / "tmp").iterdir()) == []
    again = _bench("binarize_speed", "--rows", "300", "--repeat", "1", "--clean", tmp=tmp_path,
                   env=env)  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert "generating" not in again.stdout  # the cached pool was reused
    assert list((cache / "bench").iterdir()) == [] and list((tmp_path / "tmp").iterdir()) == []


def test_the_in_memory_selection_spills_into_the_work_folder_and_removes_it(tmp_path, monkeypatch):
    """The part that left a 106 MB .karma-spill-* folder in /tmp: the benchmark's own read of
    the pool (spilling at a few KB here, as the 64k pool spills at 256 MB)."""
    import binarize_speed

    from karma_plugin.pools import store

    monkeypatch.setattr(store, "SPILL_BYTES", 20_000)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    (tmp_path / "work").mkdir()
    binarize_speed.make_pool(tmp_path / "pool.parquet", 200)
    ours, loop = binarize_speed.selection_only(tmp_path / "pool.parquet", tmp_path / "work")
    assert ours > 0 and loop > 0
    assert list((tmp_path / "tmp").iterdir()) == []
    assert list((tmp_path / "work").iterdir()) == []  # the spill folder is gone


@pytest.mark.slow  # a tiny model through lm-eval's hf backend: about 20 s on 2 cores
def test_eval_cost_smoke_runs_in_the_test_environment(tmp_path):
    out = _bench("eval_cost", "--smoke", "--tasks", "karma_arc_easy", "--max-gen-toks", "4",
                 tmp=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    (row,) = [line for line in out.stdout.splitlines() if line.startswith("karma_arc_easy ")]
    items, budget = row.split()[1:3]
    assert (items, budget) == ("2", "4")
    assert list((tmp_path / "tmp").iterdir()) == []  # its work folder is removed
