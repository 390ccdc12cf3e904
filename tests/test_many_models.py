"""A leaderboard-sized score table (thousands of models) against the shipped sample pool (a
handful): through the real CLI, within a time and memory budget, with bounded kinship.json and
card, the full matrix in a parquet file, and the same pairs as with the pool's models alone."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from synthetic_pool import UF_MODELS
from synthetic_scores import synthetic_score_csv

from karma_plugin.cli import main
from karma_plugin.core.kinship import MAX_LISTED_MODELS, compute_kinship
from karma_plugin.core.score_table import read_scores

MODELS = 4_000
# Generous for two shared cores: it takes a few seconds now; the O(M^2) Python loops and
# M x M rank matrices this replaced took about a minute and several GB at this size.
WALL_BUDGET_S = 30.0
RSS_BUDGET_MIB = 1_024


# Run by a fresh, small Python: the peak RSS of a child counts the memory of the process it was
# forked from, and this test process holds datasets, pyarrow and more.
_MEASURE = """
import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[2:]).returncode
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as report:
    report.write(f"{wall} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
sys.exit(code)
"""


def measured(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run ``python -m karma_plugin ARGS``: the result, wall seconds and peak RSS (MiB)."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "usage"
        result = subprocess.run(
            [sys.executable, "-c", _MEASURE, report, sys.executable, "-m", "karma_plugin", *args],
            cwd=cwd,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
            capture_output=True,
            text=True,
            timeout=600,
        )
        wall, peak_kib = report.read_text().split()
    return result, float(wall), int(peak_kib) / 1024


@pytest.fixture(scope="module")
def big_table(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scores") / "leaderboard.csv"
    path.write_text(synthetic_score_csv(MODELS, seed=0), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def big_kinship(big_table: Path):
    return compute_kinship(read_scores(big_table))


def _sample_pool_models() -> list[str]:
    """The models of the shipped sample pool that the authors' table scores."""
    return [m for m in UF_MODELS if m != "ultralm-65b"]


def _assert_matrix_file(path: Path, kin) -> None:
    """The file holds the in-memory matrix exactly, labelled both ways, for pandas and pyarrow."""
    frame = pd.read_parquet(path)
    assert frame.shape == (len(kin.models), len(kin.models))
    assert list(frame.index) == list(kin.models) == list(frame.columns)
    assert frame.index.name == "model"
    np.testing.assert_array_equal(frame.to_numpy(), kin.kinship)
    table = pq.read_table(path, columns=["model", kin.models[7]])
    assert table.column("model").to_pylist() == list(kin.models)
    np.testing.assert_array_equal(table.column(kin.models[7]).to_numpy(), kin.kinship[:, 7])


def test_binarize_thousands_of_models_fast_small_and_loadable(big_table, big_kinship, tmp_path):
    out = tmp_path / "out"
    result, wall, peak = measured(
        "binarize", "--scores", str(big_table), "--out", str(out), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert wall < WALL_BUDGET_S, f"binarize took {wall:.1f} s with {MODELS} models"
    assert peak < RSS_BUDGET_MIB, f"binarize peaked at {peak:.0f} MiB with {MODELS} models"

    doc = json.loads((out / "kinship.json").read_text())
    assert (out / "kinship.json").stat().st_size < 100_000
    assert (out / "README.md").stat().st_size < 50_000
    pool = _sample_pool_models()
    assert sorted(doc["models"]) == sorted(pool)
    assert sorted(doc["kinship"]) == sorted(pool)
    assert doc["all_models"]["count"] == len(big_kinship.models) == MODELS - 1
    assert doc["all_models"]["listed"] == f"the {len(pool)} models that occur in the pool"
    assert doc["all_models"]["pairs_below_tau"] == big_kinship.count_below_tau()
    assert doc["all_models"]["kinship_matrix"] == "kinship_matrix.parquet"
    assert all(c["pairs"] > 0 for c in doc["counts"].values())

    card = (out / "README.md").read_text()
    assert f"The score table holds {MODELS - 1} models" in card
    assert "`kinship_matrix.parquet`" in card
    assert "org-" not in card  # none of the models outside the pool is listed
    _assert_matrix_file(out / "kinship_matrix.parquet", big_kinship)

    # The matrix beside the configs is pushed with them, and not taken for a data split.
    import datasets

    from karma_plugin.outputs.hub_folder import folder_files

    paths, configs = folder_files(out)
    assert "kinship_matrix.parquet" in paths and configs == sorted(doc["files"])

    assert sorted(datasets.get_dataset_config_names(str(out))) == sorted(doc["files"])
    k_sim = datasets.load_dataset(str(out), "k_sim")
    assert k_sim.num_rows == doc["splits"]["k_sim"]


def test_kinship_json_thousands_of_models(big_table, big_kinship, tmp_path):
    result, wall, peak = measured(
        "kinship", "--scores", str(big_table), "--json", "k.json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert wall < WALL_BUDGET_S, f"kinship --json took {wall:.1f} s with {MODELS} models"
    assert peak < RSS_BUDGET_MIB, f"kinship --json peaked at {peak:.0f} MiB"
    # The terminal gets the top of the table, not a 4,000-column matrix.
    lines = result.stdout.splitlines()
    assert len(lines) < 2 * MAX_LISTED_MODELS + 20
    assert max(map(len, lines)) < 300
    assert f"shown: the {MAX_LISTED_MODELS} models with the highest S_pref" in lines[0]
    assert f"Pairs below tau=0.1: {big_kinship.count_below_tau()} of " in result.stdout
    assert lines[-1] == "wrote k.json and k_matrix.parquet"

    doc = json.loads((tmp_path / "k.json").read_text())
    assert (tmp_path / "k.json").stat().st_size < 100_000
    best = sorted(
        range(len(big_kinship.models)),
        key=lambda i: (-big_kinship.s_pref[i], big_kinship.models[i]),
    )[:MAX_LISTED_MODELS]
    assert doc["models"] == [big_kinship.models[i] for i in sorted(best)]
    assert doc["all_models"]["kinship_matrix"] == "k_matrix.parquet"
    _assert_matrix_file(tmp_path / "k_matrix.parquet", big_kinship)


def test_kinship_without_json_says_how_to_get_every_model(big_table, tmp_path):
    result = CliRunner().invoke(main, ["kinship", "--scores", str(big_table)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith(f"All {MODELS - 1} models: --json FILE")
    assert not list(tmp_path.iterdir())


def test_listing_starts_above_the_threshold(tmp_path):
    """The authors' 16 complete rows plus synthetic ones: 30 models are listed whole (no
    matrix file), 31 are not."""
    runner = CliRunner()
    for models, large in ((MAX_LISTED_MODELS + 1, False), (MAX_LISTED_MODELS + 2, True)):
        table = tmp_path / f"s{models}.csv"
        table.write_text(synthetic_score_csv(models, seed=3), encoding="utf-8")
        out = tmp_path / f"k{models}.json"
        result = runner.invoke(main, ["kinship", "--scores", str(table), "--json", str(out)])
        assert result.exit_code == 0, result.output
        doc = json.loads(out.read_text())
        assert ("all_models" in doc) is large
        assert len(doc["models"]) == MAX_LISTED_MODELS
        assert (tmp_path / f"k{models}_matrix.parquet").exists() is large


def _pair_files(out: Path) -> dict[str, str]:
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.glob("*/*.parquet"))
    }


def test_pairs_are_the_same_with_thousands_of_extra_models(tmp_path):
    """Extra models whose every score lies inside the authors' models' range leave their
    normalisation, S_pref and kinship as they are: the pairs must be the same, byte for byte,
    although the orders now come from a table of 3,000 models."""
    table = tmp_path / "inside.csv"
    table.write_text(synthetic_score_csv(3_000, seed=1, inside_paper_range=True), "utf-8")
    runner = CliRunner()
    small, big = tmp_path / "paper", tmp_path / "big"
    for scores, out in (("paper", small), (str(table), big)):
        result = runner.invoke(main, ["binarize", "--scores", scores, "--out", str(out)])
        assert result.exit_code == 0, result.output
    assert len(compute_kinship(read_scores(table)).models) == 2_999
    files = _pair_files(small)
    assert len(files) == 16
    assert _pair_files(big) == files
    small_doc = json.loads((small / "kinship.json").read_text())
    big_doc = json.loads((big / "kinship.json").read_text())
    assert big_doc["counts"] == small_doc["counts"]
    assert big_doc["s_pref"] == small_doc["s_pref"]
    assert big_doc["kinship"] == small_doc["kinship"]
    assert "all_models" in big_doc and "all_models" not in small_doc
    assert not (small / "kinship_matrix.parquet").exists()


def test_matrix_file_with_a_model_called_model_and_an_asymmetric_matrix(tmp_path):
    """The label column steps aside for a model named "model" (as pandas itself does), and a
    matrix that is not symmetric (no cosine is, but a sample-level one could be) is written
    column by column, not row by row."""
    from karma_plugin.outputs.matrix import write_matrix

    names = ("a", "model", "b, with a comma")
    matrix = np.arange(9, dtype=float).reshape(3, 3) / 10.0
    path = write_matrix(tmp_path / "m.parquet", names, matrix)
    frame = pd.read_parquet(path)
    assert list(frame.index) == list(names) == list(frame.columns)
    assert frame.index.name == "model"
    np.testing.assert_array_equal(frame.to_numpy(), matrix)
    assert frame.loc["a", "model"] == matrix[0, 1]
    assert pq.read_schema(path).names[0] == "__index_level_0__"
    assert [p.name for p in tmp_path.iterdir()] == ["m.parquet"]  # no temporary file left


# --- issue 16, items 6 and 11b: a table too large for memory ------------------------------------
def _wide_table(path: Path, n: int) -> Path:
    import random

    rng = random.Random(0)
    header = "model,ifeval,mmlu_stem,mmlu_pro,hellaswag,arc_easy,arc_challenge\n"
    rows = (
        f"org-{i:06d}/model-{i:06d}-instruct,"
        + ",".join(f"{rng.random() * 100:.4f}" for _ in range(6))
        for i in range(n)
    )
    path.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_a_leaderboard_of_418k_models_is_read_in_linear_time_then_refused(tmp_path: Path) -> None:
    """A 37 MB table: the duplicate-name check is linear (the quadratic one ran for over ten
    minutes), then the 1.3 TB matrix is refused before it is computed, in one line."""
    from cli import assert_fails, karma_build

    _wide_table(tmp_path / "big.csv", 418_000)
    start = time.monotonic()
    result = karma_build("kinship", "--scores", "big.csv", cwd=tmp_path, timeout=180)
    assert_fails(result, 1, "the kinship matrix of 418,000 models needs 1.3 TB of memory")
    assert time.monotonic() - start < 120


def test_running_out_of_memory_is_one_line(tmp_path: Path) -> None:
    """Under `ulimit -v` a 20,000-model matrix (3.2 GB) cannot be allocated: MemoryError is one
    line saying what ran out, exit 1."""
    import resource

    from cli import assert_fails

    _wide_table(tmp_path / "s.csv", 20_000)
    limit = 2_500 * 2**20

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = {k: v for k, v in os.environ.items() if k != "KARMA_TEST_HUB_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "karma_plugin", "kinship", "--scores", "s.csv"],
        cwd=tmp_path, env={**env, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True,
        timeout=300, preexec_fn=cap,
    )  # fmt: skip
    assert_fails(result, 1, "out of memory (MemoryError)", "ulimit -v", "smaller score table")
