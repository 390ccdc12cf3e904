"""`karma-build pool`: Stage-0 (karmagen_*) samples of real lm-eval runs -> one pool in
UltraFeedback's schema, read back by `binarize`; and every bad input refused in one line, with
nothing written.

The runs are real `lm_eval` CLI runs (`--model karma-scripted`, canned answers) of the task that
`karma-build responses-task` writes for the 20-prompt fixture, so the samples files have the
layout of the lm-eval this suite runs under (0.4.11 in the test environment, 0.4.13 in latest).
Marked `lmeval`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from cli import assert_fails, karma_build, snapshot
from lmeval_helpers import offline_env
from lmeval_samples import mc_doc, mc_lines

from karma_plugin.core.prompts import prompt_id
from karma_plugin.pools.schema import PROVENANCE_KEY

pytestmark = pytest.mark.lmeval

TESTS = Path(__file__).parent
PROMPTS = TESTS / "fixtures" / "responses" / "prompts.jsonl"
PROMPT_TEXTS = [json.loads(line)["text"] for line in PROMPTS.read_text("utf-8").splitlines()]
# model -> {prompt substring: response}; anything else gets the scripted default
ANSWERS = {
    "scripted-a": {"haiku": "Waves fold into foam.", "spider": "   ", "octopuses": "Three hearts."},
    "scripted-b": {"haiku": "Blue water sings.", "spider": "", "Australia": "Canberra."},
    "scripted-c": {"haiku": "Salt wind, grey gulls.", "spider": "Eight.", "日本": "東京です。"},
}
DEFAULT = "I am not sure."  # tests/scripted_lm.py
SCORES = "model,ifeval,mmlu_pro,arc_easy\nalpha,0.9,0.6,0.8\nbeta,0.5,0.4,0.7\ngamma,0.2,0.5,0.3\n"


def _lm_eval(args: list[str], cwd: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(TESTS / "lmeval_launcher.py"), *args],
        capture_output=True,
        text=True,
        env=offline_env(),
        timeout=600,
        cwd=cwd,
    )
    assert out.returncode == 0, (out.stdout[-2000:], out.stderr[-4000:])


@pytest.fixture(scope="module")
def stage0(tmp_path_factory) -> Path:
    """The responses task for the fixture prompts, and three scripted models' runs of it."""
    root = tmp_path_factory.mktemp("stage0")
    made = karma_build(
        "responses-task", "--dataset", PROMPTS, "--column", "text", "--out", "task", cwd=root
    )
    assert made.returncode == 0, made.stderr
    for model, answers in ANSWERS.items():
        (root / f"{model}.json").write_text(json.dumps(answers), encoding="utf-8")
        # scripted-c writes with --output_path ending in .json: no model folder
        output = "flat/run.json" if model == "scripted-c" else "runs"
        _lm_eval(
            [
                "--model",
                "karma-scripted",
                "--model_args",
                f"answers={model}.json,pretrained={model}",
                "--tasks",
                "karmagen_prompts",  # responses-task's default name for prompts.jsonl
                "--include_path",
                "task",
                "--output_path",
                output,
                "--log_samples",
            ],
            root,
        )
    return root


def copy_run(stage0: Path, model: str, to: Path) -> Path:
    """A copy of one run's folder (its samples and results files)."""
    source = stage0 / "flat" if model == "scripted-c" else stage0 / "runs" / model
    shutil.copytree(source, to)
    return to


def samples_file(folder: Path) -> Path:
    (path,) = folder.glob("samples_karmagen_prompts_*.jsonl")
    return path


def runs_args(stage0: Path) -> list[str]:
    return [str(stage0 / "runs"), str(stage0 / "flat")]


def read_pool(path: Path):
    table = pq.read_table(path)
    return table, json.loads(table.schema.metadata[PROVENANCE_KEY])


# --- the pool ---------------------------------------------------------------------------------


def test_pool_rows_models_and_provenance(stage0, tmp_path):
    out = tmp_path / "pool.parquet"
    result = karma_build("pool", *runs_args(stage0), "-o", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "20 prompts x 3 models; 1 prompt answered by fewer than 2 models" in result.stdout
    assert "scripted-a: 19 responses, 1 empty (missing)" in result.stdout
    table, meta = read_pool(out)
    assert table.column_names == ["source", "instruction", "models", "completions", "prompt_id"]
    rows = table.to_pylist()
    # One row per prompt, in the prompt set's order, the text exactly as in the file.
    assert [r["instruction"] for r in rows] == PROMPT_TEXTS
    assert [r["prompt_id"] for r in rows] == [prompt_id(t) for t in PROMPT_TEXTS]
    assert prompt_id("Why is the sky blue?") == hashlib.sha256(b"Why is the sky blue?").hexdigest()
    assert {r["source"] for r in rows} == {"prompts.jsonl"}
    by_text = {r["instruction"]: r for r in rows}
    haiku = by_text["Write a haiku about the sea."]
    assert haiku["models"] == ["scripted-a", "scripted-b", "scripted-c"]
    assert [c["response"] for c in haiku["completions"]] == [
        "Waves fold into foam.",
        "Blue water sings.",
        "Salt wind, grey gulls.",
    ]
    # Blank responses are missing: the spider prompt has one response left (kept, counted).
    spider = by_text["How many legs does a spider have?"]
    assert spider["models"] == ["scripted-c"]
    assert by_text["日本の首都はどこですか？"]["completions"][2]["response"] == "東京です。"
    for row in rows:
        assert row["models"] == [c["model"] for c in row["completions"]]
        for c in row["completions"]:
            assert c["overall_score"] is None and c["fine-grained_score"] is None
            assert c["response"].strip()
    assert meta["models"] == ["scripted-a", "scripted-b", "scripted-c"]
    assert meta["rows_with_fewer_than_2_responses"] == 1
    assert meta["missing_responses"] == {"scripted-a": 1, "scripted-b": 1, "scripted-c": 0}
    assert meta["task"] == "karmagen_prompts" and meta["prompts"] == 20
    assert meta["prompt_set"]["dataset_kwargs"]["data_files"]["train"] == str(PROMPTS.resolve())
    assert meta["prompt_set_same_in_every_run"] is True
    for run in meta["runs"]:
        assert run["lm_eval_version"] == version("lm_eval")
        assert run["generation_kwargs"]["max_gen_toks"] == 2048
        assert run["generation_kwargs"]["do_sample"] is False
        assert run["task"]["dataset_kwargs"]["data_files"]["train"] == str(PROMPTS.resolve())
        assert run["task"]["metadata"]["column"] == "text"
        assert Path(run["samples_file"]).is_file() and Path(run["results_file"]).is_file()
    assert [r["lm_eval_model"] for r in meta["runs"]] == list(ANSWERS)


def test_pool_is_the_same_whatever_the_argument_order(stage0, tmp_path):
    one = karma_build("pool", *runs_args(stage0), "-o", "a.parquet", cwd=tmp_path)
    two = karma_build(
        "pool",
        stage0 / "flat",
        stage0 / "runs" / "scripted-b",
        samples_file(stage0 / "runs" / "scripted-a"),
        "-o",
        "b.parquet",
        cwd=tmp_path,
    )
    assert one.returncode == 0 and two.returncode == 0, (one.stderr, two.stderr)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_names_runs_join_by_text_and_binarize_reads_the_pool(stage0, tmp_path):
    # A run of scripted-b on the prompts in reverse order (other doc_ids) joins by text.
    copy_run(stage0, "scripted-b", tmp_path / "later")
    path = samples_file(tmp_path / "later")
    rows = [json.loads(line) for line in reversed(path.read_text("utf-8").splitlines())]
    for doc_id, row in enumerate(rows):
        row["doc_id"] = doc_id
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    args = [
        "pool",
        stage0 / "runs" / "scripted-a",
        tmp_path / "later",
        stage0 / "flat",
        "--name",
        "scripted-a=alpha",
        "--name",
        "later=beta",  # by results folder name
        "--name",
        "scripted-c=gamma",  # by the model lm-eval recorded
        "-o",
        "pool.parquet",
    ]
    result = karma_build(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    table, meta = read_pool(tmp_path / "pool.parquet")
    assert meta["models"] == ["alpha", "beta", "gamma"]
    assert table.column("instruction").to_pylist() == PROMPT_TEXTS
    (tmp_path / "scores.csv").write_text(SCORES, encoding="utf-8")
    out = karma_build(
        "binarize",
        "--dataset",
        "pool.parquet",
        "--scores",
        "scores.csv",
        "--out",
        "data",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    kin = json.loads((tmp_path / "data" / "kinship.json").read_text("utf-8"))
    # 19 prompts have at least two responses; the spider prompt has one.
    for config in ("k_score", "k_sim", "k_score_sim"):
        assert kin["counts"][config]["pairs"] == 19, kin["counts"][config]
        assert kin["counts"][config]["skipped"]["fewer_than_2_usable_completions"] == 1
    # No instance ratings: rlaif is not built (see test_binarize_a_generated_pool).
    assert "rlaif" not in kin["counts"] and "rlaif" in kin["skipped_configs"]
    assert kin["agreement"] == {"k_score": None, "k_sim": None, "k_score_sim": None}
    pairs = pq.read_table(tmp_path / "data" / "k_sim" / "train_prefs-00000-of-00001.parquet")
    expected = {prompt_id(t) for t in PROMPT_TEXTS}
    assert set(pairs.column("prompt_id").to_pylist()) <= expected


def test_binarize_a_generated_pool(stage0, tmp_path):
    """No instance ratings: the three KARMA configs, rlaif left out with its reason (refused
    when asked for by name), and a card that says where the answers came from."""
    import datasets

    made = karma_build("pool", *runs_args(stage0), "-o", "pool.parquet", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    scores = SCORES.replace("alpha", "scripted-a").replace("beta", "scripted-b")
    (tmp_path / "scores.csv").write_text(scores.replace("gamma", "scripted-c"), encoding="utf-8")
    binarize = ["binarize", "--dataset", "pool.parquet", "--scores", "scores.csv"]
    # 20 prompts, 3 models, one blank answer each from scripted-a and scripted-b.
    reason = "the pool has no instance ratings (--rating overall_score: none of its 58 completions"
    result = karma_build(*binarize, "--test-size", "0", "--out", "data", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"  rlaif        not built: {reason}" in result.stdout
    data = tmp_path / "data"
    assert sorted(p.name for p in data.iterdir() if p.is_dir()) == [
        "k_score",
        "k_score_sim",
        "k_sim",
    ]
    kin = json.loads((data / "kinship.json").read_text("utf-8"))
    assert list(kin["counts"]) == ["k_score", "k_sim", "k_score_sim"]
    assert kin["options"]["strategies"] == ["k_score", "k_sim", "k_score_sim"]
    assert kin["skipped_configs"] == {"rlaif": reason + " has one)"}
    provenance = kin["pool_provenance"]
    assert provenance["models"] == list(ANSWERS) and provenance["prompts"] == 20
    assert provenance["task"] == "karmagen_prompts"
    for run in provenance["runs"]:
        assert run["lm_eval_version"] == version("lm_eval")
        assert run["generation_kwargs"]["max_gen_toks"] == 2048
        assert "samples_file" not in run and "results_file" not in run  # local files
    # The prompt file, as published: relative to the folder holding the output.
    prompt_files = provenance["prompt_set"]["dataset_kwargs"]["data_files"]["train"]
    assert not Path(prompt_files).is_absolute()
    assert (tmp_path / prompt_files).resolve() == PROMPTS.resolve()
    card = (data / "README.md").read_text("utf-8")
    assert "## The response pool" in card
    assert "from lm-eval runs of the task\n`karmagen_prompts` on 20 prompts" in card
    run_a = next(line for line in card.splitlines() if line.startswith("| `scripted-a` |"))
    assert run_a.startswith('| `scripted-a` | `scripted-a` | `karma-scripted` | `{"do_sample"')
    assert run_a.endswith(f" | no | `{version('lm_eval')}` | 19 |")
    assert "`rlaif` was not built here: the pool has no instance ratings" in card
    header = card.split("\n---\n", 1)[0]
    assert "ultrafeedback" not in header and "license" not in header
    assert "License: MIT, as UltraFeedback" not in card
    assert str(tmp_path) not in card and str(tmp_path) not in json.dumps(kin)
    # --test-size 0: the empty test splits are not declared, so every config loads.
    assert "`k_sim/test_prefs`" in card
    for config in ("k_score", "k_sim", "k_score_sim"):
        loaded = datasets.load_dataset(str(data), config)
        assert sorted(loaded) == ["train_prefs", "train_sft"]
        assert loaded["train_prefs"].num_rows == 19
    # rlaif by name cannot be built: one line, exit 2, nothing written.
    for strategy in ("rlaif", "k_sim,rlaif"):
        before = snapshot(tmp_path)
        refused = karma_build(*binarize, "--strategy", strategy, "--out", "r", cwd=tmp_path)
        assert_refused(
            refused, "cannot build rlaif", reason, "--strategy", before=before, where=tmp_path
        )


# --- bad input: one line, exit 2, nothing written ----------------------------------------------


def assert_refused(result, *fragments: str, before: dict, where: Path | tuple[Path, ...]) -> str:
    message = assert_fails(result, 2, *fragments)
    assert snapshot(*(where if isinstance(where, tuple) else (where,))) == before
    return message


def test_samples_of_another_task(stage0, tmp_path):
    other = tmp_path / "stage1" / "m"
    other.mkdir(parents=True)
    doc = mc_doc(0, 4, 1)
    lines = mc_lines(0, doc, "B", "B")
    arc = other / "samples_karma_arc_easy_2026-11-27T00-07-13.186587.jsonl"
    arc.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    before = snapshot(tmp_path)
    result = karma_build("pool", arc, stage0 / "runs", "-o", "p.parquet", cwd=tmp_path)
    assert_refused(
        result,
        "task karma_arc_easy, not karmagen (or karmagen_<name>)",
        before=before,
        where=tmp_path,
    )
    result = karma_build("pool", tmp_path / "stage1", "-o", "p.parquet", cwd=tmp_path)
    assert_refused(
        result,
        "no karmagen (or karmagen_<name>) samples",
        "karma_arc_easy",
        before=before,
        where=tmp_path,
    )
    # The same lines under a Stage-0 name: the content gives them away.
    disguised = other / "samples_karmagen_2026-11-27T00-07-13.186587.jsonl"
    arc.rename(disguised)
    before = snapshot(tmp_path)
    result = karma_build("pool", disguised, stage0 / "runs", "-o", "p.parquet", cwd=tmp_path)
    assert_refused(result, "line 1 is not a Stage-0 (karmagen", before=before, where=tmp_path)


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (lambda data: data[: len(data) - 40], "line 20 is not JSON"),
        (lambda data: data.replace(b"Waves fold", b"Waves \xff\xfeold"), "is not UTF-8 text"),
    ],
    ids=["truncated", "not-utf8"],
)
def test_damaged_samples_file(stage0, tmp_path, damage, fragment):
    run = copy_run(stage0, "scripted-a", tmp_path / "a")
    path = samples_file(run)
    path.write_bytes(damage(path.read_bytes()))
    before = snapshot(tmp_path)
    result = karma_build(
        "pool", run, stage0 / "runs" / "scripted-b", "-o", "p.parquet", cwd=tmp_path
    )
    assert_refused(result, fragment, before=before, where=tmp_path)


def test_a_run_whose_model_cannot_be_named(stage0, tmp_path):
    run = copy_run(stage0, "scripted-a", tmp_path / "orphan")
    for results in run.glob("results_*.json"):
        results.unlink()
    before = snapshot(tmp_path)
    result = karma_build("pool", run, stage0 / "flat", "-o", "p.parquet", cwd=tmp_path)
    assert_refused(
        result,
        "cannot tell which model wrote",
        "--name orphan=MODEL",
        before=before,
        where=tmp_path,
    )
    named = karma_build(
        "pool", run, stage0 / "flat", "--name", "orphan=alpha", "-o", "p.parquet", cwd=tmp_path
    )
    assert named.returncode == 0, named.stderr
    assert read_pool(tmp_path / "p.parquet")[1]["models"] == ["alpha", "scripted-c"]


def test_two_runs_claiming_one_model(stage0, tmp_path):
    copy_run(stage0, "scripted-a", tmp_path / "again")
    before = snapshot(tmp_path)
    result = karma_build(
        "pool", stage0 / "runs", tmp_path / "again", "-o", "p.parquet", cwd=tmp_path
    )
    assert_refused(result, "two runs claim model 'scripted-a'", before=before, where=tmp_path)


@pytest.mark.parametrize(
    ("names", "fragment"),
    [
        (["scripted-a=alpha", "scripted-b=ALPHA"], "'alpha' and 'ALPHA' are one model"),
        (["scripted-a=alpha", "scripted-a=beta"], "given as both 'alpha' and 'beta'"),
        (["scripted-z=zeta"], "--name scripted-z= matches no run"),
        (["scripted-a"], "--name expects RUN=MODEL"),
    ],
    ids=["case-insensitive", "twice", "unused", "syntax"],
)
def test_bad_model_names(stage0, tmp_path, names, fragment):
    options = [arg for name in names for arg in ("--name", name)]
    before = snapshot(tmp_path)
    result = karma_build("pool", *runs_args(stage0), *options, "-o", "p.parquet", cwd=tmp_path)
    assert_refused(result, fragment, before=before, where=tmp_path)


def test_mismatched_prompt_sets(stage0, tmp_path):
    # What `--limit 15` leaves: the first 15 documents.
    run = copy_run(stage0, "scripted-b", tmp_path / "short")
    path = samples_file(run)
    path.write_text("".join(path.read_text("utf-8").splitlines(True)[:15]), encoding="utf-8")
    before = snapshot(tmp_path)
    result = karma_build(
        "pool", stage0 / "runs" / "scripted-a", run, "-o", "p.parquet", cwd=tmp_path
    )
    assert_refused(
        result,
        "mismatched prompt sets",
        "scripted-a answered 20 prompts, scripted-b 15",
        before=before,
        where=tmp_path,
    )


def test_prompts_that_differ_only_in_whitespace(stage0, tmp_path):
    runs = [copy_run(stage0, m, tmp_path / m) for m in ("scripted-a", "scripted-b")]
    for run in runs:
        path = samples_file(run)
        rows = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
        rows[1]["doc"]["instruction"] = "Write a haiku about  the sea."
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    before = snapshot(tmp_path)
    result = karma_build("pool", *runs, "-o", "p.parquet", cwd=tmp_path)
    assert_refused(result, "differ only in whitespace", before=before, where=tmp_path)


def test_a_repeated_prompt_is_one_row(stage0, tmp_path):
    runs = [copy_run(stage0, m, tmp_path / m) for m in ("scripted-a", "scripted-b")]
    for run in runs:
        path = samples_file(run)
        rows = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
        rows[1]["doc"]["instruction"] = rows[0]["doc"]["instruction"]  # the haiku prompt, twice
        rows[0]["resps"] = [["  "]]  # blank the first time: the second answer counts
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = karma_build("pool", *runs, "-o", "p.parquet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("karma-build: warning: 1 prompt repeats an earlier one")
    table, meta = read_pool(tmp_path / "p.parquet")
    assert meta["duplicate_prompts"] == 1 and table.num_rows == 19
    first = table.slice(0, 1).to_pylist()[0]
    assert first["instruction"] == PROMPT_TEXTS[0]
    assert [c["response"] for c in first["completions"]] == [DEFAULT, DEFAULT]


def test_text_that_is_not_valid_unicode(stage0, tmp_path):
    run = copy_run(stage0, "scripted-a", tmp_path / "a")
    path = samples_file(run)
    path.write_text(path.read_text("utf-8").replace("Waves fold", "Waves \\ud800fold"), "utf-8")
    before = snapshot(tmp_path)
    result = karma_build("pool", run, stage0 / "flat", "-o", "p.parquet", cwd=tmp_path)
    assert_refused(
        result, "line 1 holds text that is not valid Unicode", before=before, where=tmp_path
    )


def test_a_pool_past_32_bit_offsets_is_still_read_by_binarize(stage0, tmp_path, monkeypatch):
    """Past 2 GiB of responses (or 2**31 completions) the pool switches to 64-bit offsets;
    the limits are lowered here so that this small pool crosses them."""
    from click.testing import CliRunner

    from karma_plugin.cli import main
    from karma_plugin.lmeval import pool as from_lmeval

    monkeypatch.setattr(from_lmeval, "_MAX_STRING_BYTES", 100)
    monkeypatch.setattr(from_lmeval, "_MAX_LIST_ITEMS", 10)
    monkeypatch.chdir(tmp_path)
    names = [
        "--name",
        "scripted-a=alpha",
        "--name",
        "scripted-b=beta",
        "--name",
        "scripted-c=gamma",
    ]
    made = CliRunner().invoke(main, ["pool", *runs_args(stage0), *names, "-o", "big.parquet"])
    assert made.exit_code == 0, made.output
    schema = pq.read_schema(tmp_path / "big.parquet")
    assert str(schema.field("completions").type).startswith("large_list<")
    assert "response: large_string" in str(schema.field("completions").type)
    (tmp_path / "scores.csv").write_text(SCORES, encoding="utf-8")
    out = CliRunner().invoke(
        main, ["binarize", "--dataset", "big.parquet", "--scores", "scores.csv", "--out", "d"]
    )
    assert out.exit_code == 0, out.output
    kin = json.loads((tmp_path / "d" / "kinship.json").read_text("utf-8"))
    assert kin["counts"]["k_sim"]["pairs"] == 19


def test_runs_without_samples(stage0, tmp_path):
    run = copy_run(stage0, "scripted-b", tmp_path / "nosamples")
    samples_file(run).unlink()
    (results,) = run.glob("results_*.json")
    before = snapshot(tmp_path)
    for target in (tmp_path, results):
        result = karma_build(
            "pool", stage0 / "runs" / "scripted-a", target, "-o", "p.parquet", cwd=tmp_path
        )
        assert_refused(
            result, "has no samples file", "--log_samples", before=before, where=tmp_path
        )
    empty = tmp_path / "empty"
    empty.mkdir()
    result = karma_build("pool", empty, "-o", "p.parquet", cwd=tmp_path)
    assert_fails(result, 2, "no lm-eval samples files")


def test_one_model_is_not_a_pool(stage0, tmp_path):
    result = karma_build("pool", stage0 / "runs" / "scripted-a", "-o", "p.parquet", cwd=tmp_path)
    assert_fails(result, 2, "at least 2 models, found scripted-a")
    assert not (tmp_path / "p.parquet").exists()


# --- the output file --------------------------------------------------------------------------


def test_output_is_refused_or_replaced_whole(stage0, tmp_path):
    out = tmp_path / "pool.parquet"
    out.write_bytes(b"my own file")
    before = snapshot(tmp_path)
    result = karma_build("pool", *runs_args(stage0), "-o", out, cwd=tmp_path)
    assert_refused(result, "already exists", "--overwrite", before=before, where=tmp_path)
    for bad, fragment in (("pool.csv", "name it *.parquet"), (".", "name it *.parquet")):
        result = karma_build("pool", *runs_args(stage0), "-o", bad, cwd=tmp_path)
        assert_refused(result, fragment, before=before, where=tmp_path)
    (tmp_path / "dir.parquet").mkdir()
    before = snapshot(tmp_path)
    result = karma_build("pool", *runs_args(stage0), "-o", "dir.parquet", cwd=tmp_path)
    assert_refused(result, "is a folder", before=before, where=tmp_path)
    # Never an input, even with --overwrite (here through a link to a samples file).
    link = tmp_path / "link.parquet"
    link.symlink_to(samples_file(stage0 / "runs" / "scripted-a"))
    before = snapshot(tmp_path, stage0)
    result = karma_build("pool", *runs_args(stage0), "-o", link, "--overwrite", cwd=tmp_path)
    assert_refused(result, "is an input of this run", before=before, where=(tmp_path, stage0))
    # --overwrite replaces the file whole; no temporary file is left beside it.
    result = karma_build("pool", *runs_args(stage0), "-o", out, "--overwrite", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert read_pool(out)[1]["prompts"] == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dir.parquet",
        "link.parquet",
        "pool.parquet",
    ]
