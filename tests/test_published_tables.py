"""Published score tables, no Stage 1 at all (issue 19 item 4): `karma-build scores TABLE
--columns ...` on a leaderboard in the schema of the Open LLM Leaderboard's `contents` table
(tests/leaderboard_fixture.py), as a parquet or CSV file and as a Hub dataset on the local Hub
emulator; every mapping error is one line, exit 2; then binarize on a pool of some of its
models, the unmatched ones named in one warning."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli import assert_fails, karma_build, snapshot
from hub_emulator import Commit, HubEmulator
from leaderboard_fixture import COLUMNS, FILE, MODELS, REPO, write_csv, write_parquet

from karma_plugin.cli import main
from karma_plugin.core.score_table import read_scores

TOKEN = "hf_emulator_token"
SIX = ("ifeval", "mmlu_pro", "bbh", "math_lvl_5", "gpqa", "musr")


@pytest.fixture(scope="module")
def leaderboard(tmp_path_factory) -> Path:
    return write_parquet(tmp_path_factory.mktemp("lb") / "contents.parquet")


def check_table(path: Path) -> None:
    table = read_scores(path)
    # One row per model (the second precision of model-b is dropped), the six benchmarks:
    # the paper's two first, then the leaderboard's, in the order --columns gave them.
    assert table.models == (
        "org/model-a",
        "org/model-b",
        "org/model-c",
        "org/model-d",
        "org/model-e",
    )
    assert table.benchmarks == SIX
    row = dict(zip(table.benchmarks, table.values[1], strict=True))
    assert row == pytest.approx(
        {
            "ifeval": 0.70,
            "bbh": 0.45,
            "math_lvl_5": 0.20,
            "gpqa": 0.30,
            "musr": 0.40,
            "mmlu_pro": 0.40,
        }
    )


@pytest.mark.parametrize("form", ["parquet", "csv"])
def test_a_leaderboard_file_becomes_a_score_table(leaderboard, tmp_path, form):
    table = leaderboard if form == "parquet" else write_csv(tmp_path / "contents.csv")
    out = tmp_path / "scores.csv"
    result = karma_build("scores", table, "--columns", COLUMNS, "-o", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    check_table(out)
    assert f"read {table}" in result.stderr
    assert "1 rows repeat a model (org/model-b); the first row of each is used" in result.stderr
    kin = karma_build("kinship", "--scores", out, "--benchmarks", "bbh,gpqa,musr", cwd=tmp_path)
    assert kin.returncode == 0, kin.stderr
    assert "3 benchmarks" in kin.stdout


def test_normalised_columns_stderr_and_names(leaderboard, tmp_path):
    out = tmp_path / "scores.csv"
    result = karma_build(
        "scores", leaderboard, "-o", out,
        "--columns", "model=eval_name,IFEval=IFEval,BBH=BBH,bbh_stderr=#19,MMLU-Pro=mmlu-pro",
        "--name", "org_model-a_bfloat16=model-a", "--name", "org_nope_bfloat16=x",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    table = read_scores(out)
    # eval_name is unique: both precisions of model-b stay; the leaderboard's 0-100 scores.
    assert len(table.models) == len(MODELS) and table.models[0] == "model-a"
    assert table.benchmarks == ("ifeval", "mmlu_pro", "bbh")
    assert table.values[0, 0] == pytest.approx(80.0)
    # #19 is the 19th column ("IFEval Raw"), read as the standard error of bbh.
    assert table.stderr is not None
    assert table.stderr[0, 2] == pytest.approx(0.80)
    assert "--name: " in result.stderr and "has no model 'org_nope_bfloat16'" in result.stderr


def seed(hub: HubEmulator, files: dict[str, bytes]) -> str:
    repo = hub.state.create_repo(REPO)
    parent = repo.refs["main"]
    oid = hub.state.new_oid(REPO)
    stored = {**repo.commits[parent].files, **files}
    repo.commits[oid] = Commit(oid, parent, "seeded", stored, {FILE})
    repo.refs["main"] = oid
    return oid


@pytest.fixture
def hub_env(tmp_path):
    with HubEmulator(TOKEN) as hub:
        hf = [k for k in os.environ if k.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_"))]
        yield (
            hub,
            {
                **dict.fromkeys(hf),
                "HF_HUB_OFFLINE": None,
                "HF_ENDPOINT": hub.endpoint,
                "HF_HUB_DISABLE_XET": "1",
                "HF_TOKEN": TOKEN,
                "HF_HOME": str(tmp_path / "hf_home"),
                "HF_UPDATE_DOWNLOAD_COUNTS": "0",
                "KARMA_HUB_RETRY_WAIT": "0.01",
                "NO_PROXY": "127.0.0.1,localhost",
            },
        )


def test_a_hub_leaderboard_is_read_at_one_commit(leaderboard, hub_env, tmp_path):
    hub, env = hub_env
    head = seed(hub, {FILE: leaderboard.read_bytes()})
    out = tmp_path / "scores.csv"
    result = karma_build("scores", REPO, "--columns", COLUMNS, "-o", out, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    check_table(out)
    assert f"read {REPO}@{head}" in result.stderr
    reads = [p for _, p in hub.state.requests if "/resolve/" in p]
    assert reads and all(f"/resolve/{head}/" in p for p in reads), reads
    # A revision is resolved to its commit as well; one that does not exist is input.
    pinned = karma_build("scores", f"{REPO}@{head}", "--columns", COLUMNS, env=env, cwd=tmp_path)
    assert pinned.returncode == 0, pinned.stderr
    missing = karma_build("scores", f"{REPO}@nope", "--columns", COLUMNS, env=env, cwd=tmp_path)
    assert_fails(missing, 2, REPO, "no such revision")
    repo = karma_build("scores", "nobody/no-board", "--columns", COLUMNS, env=env, cwd=tmp_path)
    assert_fails(repo, 2, "nobody/no-board")


@pytest.mark.parametrize(
    ("columns", "fragments"),
    [
        ("ifeval=IFEval Raw", ["--columns: no model=COLUMN given"]),
        ("model=fullname", ["--columns: map at least one benchmark"]),
        (
            "model=fullname,ifeval=IFEval Rwa",
            ["--columns ifeval=IFEval Rwa", "has no column", "'IFEval Raw'"],
        ),
        ("model=fullname,ifeval=#99", ["--columns ifeval=#99", "has 35 columns"]),
        ("model=fullname,ifeval=Type", ["non-numeric ifeval", "org/model-a"]),
        ("model=fullname,ifeval=MoE", ["true/false ifeval"]),
        ("model=fullname,ifeval", ["'ifeval' is not KEY=COLUMN"]),
        ("model=fullname,ifeval=BBH,IFEval=GPQA", ["benchmark 'ifeval' is given twice"]),
        ("model=fullname,ifeval=BBH,ifeval=GPQA", ["'ifeval' is given twice"]),
        ("model=fullname,??=BBH", ["'??' is not a benchmark name"]),
        ("model=fullname,bbh_stderr=BBH", ["bbh_stderr without bbh=COLUMN"]),
        ("model=fullname,ifeval=IFEval", ["--name: two models", "'org/model-b'"]),
    ],
)
def test_mapping_errors_are_one_line(leaderboard, tmp_path, runner, columns, fragments):
    out = tmp_path / "scores.csv"
    before = snapshot(tmp_path)
    args = ["--name", "org/model-a=org/model-b"]
    result = runner.invoke(
        main, ["scores", str(leaderboard), "--columns", columns, "-o", str(out), *args]
    )
    one_line_error(result, *fragments)
    assert snapshot(tmp_path) == before


def one_line_error(result, *fragments: str) -> None:
    """In process (CliRunner, the same click entry point): exit 2, one stderr line."""
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("karma-build: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["a.parquet", "b.parquet"], ["--columns reads one table, got 2 paths"]),
        (["missing.parquet"], ["score table 'missing.parquet' not found"]),
        (["./org/name"], ["not found"]),
        (["."], ["is a folder"]),
        (["notes.txt"], ["expected a .csv or .parquet file"]),
    ],
)
def test_table_errors_are_one_line(tmp_path, runner, monkeypatch, args, fragments):
    (tmp_path / "notes.txt").write_text("x\n")
    monkeypatch.chdir(tmp_path)
    one_line_error(runner.invoke(main, ["scores", *args, "--columns", COLUMNS]), *fragments)


def test_lm_eval_options_are_refused_with_columns(leaderboard, tmp_path):
    result = karma_build(
        "scores", leaderboard, "--columns", COLUMNS, "--metric", "ifeval=acc,none", cwd=tmp_path
    )
    assert_fails(result, 2, "--metric and --benchmark read lm-eval results")


# --- the route without Stage 1: a leaderboard, a pool of some of its models, binarize -------


def pool_rows() -> list[dict]:
    """The long layout: a row per (instruction, model, response); model-z is not on the
    leaderboard, model-c goes by another name in the pool."""
    models = ["org/model-a", "org/model-b", "org/c-renamed", "org/model-d", "org/model-z"]
    return [
        {"instruction": f"Question {i}?", "model": m, "response": f"{m} answers {i}."}
        for i in range(12)
        for m in models
    ]


def test_binarize_on_a_leaderboard_names_the_unmatched_pool_models(leaderboard, tmp_path):
    scores = tmp_path / "scores.csv"
    made = karma_build("scores", leaderboard, "--columns", COLUMNS, "-o", scores, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(r) + "\n" for r in pool_rows()), encoding="utf-8")
    common = ("binarize", "--dataset", pool, "--scores", scores, "--strategy", "k_score,k_sim")
    result = karma_build(*common, "--out", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "pool's" in line]
    assert warnings == [
        "karma-build: warning: 2 of the pool's 5 models are not in the score table, so their "
        "answers are left out (answers per model): org/c-renamed (12), org/model-z (12); "
        "--name POOL_MODEL=TABLE_MODEL matches a model the table names otherwise"
    ]
    renamed = karma_build(
        *common, "--name", "org/c-renamed=org/model-c", "--out", tmp_path / "out2", cwd=tmp_path
    )
    assert renamed.returncode == 0, renamed.stderr
    assert "1 of the pool's 5 models are not in the score table" in renamed.stderr
    doc = json.loads((tmp_path / "out2" / "kinship.json").read_text(encoding="utf-8"))
    assert doc["dropped_completions"]["unknown_model"] == {"org/model-z": 12}
    assert doc["benchmarks"] == list(SIX)
    assert doc["counts"]["k_score"]["pairs"] == 12
