"""Any benchmarks (issue 19 item 3), through the CLI: score tables with other columns than the
paper's six, --category and --benchmarks over them, and `karma-build scores --benchmark` mapping
any lm-eval task's results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli import assert_fails, karma_build
from test_lmeval_scores import ALL, layout_0413, write_run

from karma_plugin.cli import main
from karma_plugin.core.score_table import read_scores

# Six models, the paper's six benchmarks and two others on the leaderboard's scale (0-100).
TABLE = """model,ifeval,mmlu_stem,mmlu_pro,hellaswag,arc_easy,arc_challenge,BBH,GPQA
a,0.80,0.70,0.60,0.90,0.95,0.90,55,30
b,0.70,0.60,0.40,0.85,0.90,0.80,45,20
c,0.30,0.50,0.20,0.70,0.70,0.60,30,28
d,0.25,0.30,0.15,0.40,0.50,0.35,25,10
e,0.50,0.55,0.30,0.80,0.85,0.70,48,12
f,0.20,0.25,0.10,0.30,0.40,0.30,20,26
"""


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "scores.csv"
    path.write_text(TABLE, encoding="utf-8")
    return path


def kinship_json(runner, table: Path, out: Path, *args: str) -> dict:
    result = runner.invoke(main, ["kinship", "--scores", str(table), "--json", str(out), *args])
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text(encoding="utf-8"))


def test_other_columns_are_benchmarks_and_all_means_all(runner, table, tmp_path):
    doc = kinship_json(runner, table, tmp_path / "k.json")
    assert doc["benchmarks"] == [
        "ifeval",
        "mmlu_stem",
        "mmlu_pro",
        "hellaswag",
        "arc_easy",
        "arc_challenge",
        "bbh",
        "gpqa",
    ]
    assert doc["scores"]["a"]["bbh"] == 55
    assert "categories" not in doc  # none given: the paper's three go unsaid, as before
    only = kinship_json(runner, table, tmp_path / "k2.json", "--benchmarks", "bbh,gpqa")
    assert only["benchmarks"] == ["bbh", "gpqa"]
    # gpqa orders c and f above d and e: another profile, another S_pref ranking.
    assert only["s_pref"]["f"] > only["s_pref"]["d"]
    assert doc["s_pref"]["f"] < doc["s_pref"]["d"]


def test_category_names_a_group_of_any_benchmarks(runner, table, tmp_path):
    doc = kinship_json(
        runner,
        table,
        tmp_path / "k.json",
        "--category",
        "hard=BBH,gpqa",
        "--category",
        "knowledge=mmlu_pro,gpqa",
        "--benchmarks",
        "hard,instruction_following",
    )
    assert doc["benchmarks"] == ["ifeval", "bbh", "gpqa"]
    assert doc["categories"] == {"hard": ["bbh", "gpqa"], "knowledge": ["mmlu_pro", "gpqa"]}
    knowledge = kinship_json(
        runner, table, tmp_path / "k2.json", "--category", "knowledge=mmlu_pro,gpqa"
    )
    assert knowledge["benchmarks"][-2:] == ["bbh", "gpqa"]  # --benchmarks all: every column
    result = runner.invoke(
        main,
        [
            "kinship",
            "--scores",
            str(table),
            "--category",
            "knowledge=mmlu_pro,gpqa",
            "--benchmarks",
            "knowledge",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "2 benchmarks" in result.stdout and "gpqa" in result.stdout


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--category", "hard=bbh,musr"], ["--category hard: 'musr' is not a benchmark"]),
        (["--category", "bbh=gpqa"], ["--category bbh: the score table has a benchmark"]),
        (["--category", "hard="], ["--category expects NAME=B1,B2"]),
        (["--category", "hard=,"], ["--category expects NAME=B1,B2"]),
        (["--category", "h=bbh", "--category", "h=gpqa"], ["--category h is given twice"]),
        (["--benchmarks", "musr"], ["unknown benchmark or category 'musr'", "bbh, gpqa"]),
    ],
)
def test_category_and_benchmark_errors_are_one_line(table, tmp_path, args, fragments):
    result = karma_build("kinship", "--scores", table, *args, cwd=tmp_path)
    assert_fails(result, 2, *fragments)


def test_report_draws_a_dendrogram_per_given_category(runner, table, tmp_path):
    out = tmp_path / "report"
    result = runner.invoke(
        main,
        ["report", "--scores", str(table), "--category", "hard=bbh,gpqa", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert (out / "dendrogram_hard.png").is_file()
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "Categories given: hard = bbh, gpqa." in text
    assert "### hard" in text
    assert (
        "benchmarks: ifeval, mmlu_stem, mmlu_pro, hellaswag, arc_easy, arc_challenge, bbh, gpqa"
        in (text)
    )


def test_binarize_records_and_the_card_shows_the_categories(runner, tmp_path):
    # The authors' table with one more column, for the sample pool's models.
    paper = read_scores("paper")
    lines = ["model,ifeval,mmlu_stem,mmlu_pro,hellaswag,arc_easy,arc_challenge,bbh"]
    for i, (model, row) in enumerate(zip(paper.models, paper.values, strict=True)):
        cells = ["" if v != v else f"{v:g}" for v in row]
        lines.append(",".join([model, *cells, "" if cells[0] == "" else str(20 + 3 * i)]))
    table = tmp_path / "scores.csv"
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "data"
    result = runner.invoke(
        main,
        [
            "binarize",
            "--scores",
            str(table),
            "--category",
            "hard=bbh,mmlu_pro",
            "--benchmarks",
            "hard",
            "--strategy",
            "k_sim",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "kinship.json").read_text(encoding="utf-8"))
    assert doc["benchmarks"] == ["mmlu_pro", "bbh"]
    assert doc["categories"] == {"hard": ["bbh", "mmlu_pro"]}
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "Benchmark categories given with `--category`: hard = bbh, mmlu_pro." in " ".join(
        card.split()
    )
    assert "| model | mmlu_pro | bbh | S_pref |" in card


# --- karma-build scores --benchmark ---------------------------------------------------------


def leaderboard_run(model: str, bbh: float, gpqa: float) -> dict:
    """A results document with the six karma tasks and two tasks of lm-eval's leaderboard."""
    doc = layout_0413(model, ALL)
    doc["results"]["leaderboard_bbh"] = {"acc_norm,none": bbh, "acc_norm_stderr,none": 0.01}
    doc["results"]["leaderboard_gpqa"] = {
        "acc_norm,none": gpqa,
        "acc,none": gpqa - 0.05,
        "acc_norm_stderr,none": 0.02,
    }
    doc["n-samples"] = {
        "leaderboard_bbh": {"original": 5761, "effective": 5761},
        "leaderboard_gpqa": {"original": 1192, "effective": 1192},
    }
    return doc


def test_scores_maps_any_task(tmp_path, runner):
    write_run(tmp_path / "runs", leaderboard_run("org/a", 0.5, 0.3), "2026-01-01T00-00-00.0")
    write_run(tmp_path / "runs", leaderboard_run("org/b", 0.4, 0.35), "2026-01-01T00-00-00.0")
    out = tmp_path / "scores.csv"
    result = runner.invoke(
        main,
        [
            "scores",
            str(tmp_path / "runs"),
            "-o",
            str(out),
            "--benchmark",
            "BBH=leaderboard_bbh",
            "--benchmark",
            "gpqa=leaderboard_gpqa:acc",
            "--benchmark",
            "mmlu_pro=karma_mmlu_pro:exact_match,final-letter",
        ],
    )
    assert result.exit_code == 0, result.output
    table = read_scores(out)
    assert table.benchmarks == (*ALL, "bbh", "gpqa")
    row = dict(zip(table.benchmarks, table.values[1], strict=True))
    assert row["bbh"] == pytest.approx(0.4)  # the task's only metric
    assert row["gpqa"] == pytest.approx(0.30)  # acc, filter none
    assert row["mmlu_pro"] == pytest.approx(0.25)  # final-letter: ALL's 0.2 + 0.05
    kin = runner.invoke(main, ["kinship", "--scores", str(out), "--benchmarks", "bbh,gpqa"])
    assert kin.exit_code == 0, kin.output


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--benchmark", "gpqa=leaderboard_gpqa"], ["leaderboard_gpqa has 2 metrics", "acc,none"]),
        (["--benchmark", "bbh=leaderboard_bbh:exact_match"], ["no numeric 'exact_match,none'"]),
        (["--benchmark", "bbh=:acc"], ["--benchmark: no task in ':acc'"]),
        (["--benchmark", "bbh=leaderboard_bbh:,none"], ["--benchmark: no metric"]),
        (["--benchmark", "??=leaderboard_bbh"], ["'??' is not a benchmark name"]),
        (["--benchmark", "bbh=x", "--benchmark", "BBH=y"], ["--benchmark bbh is given twice"]),
        (["--benchmark", "bbh"], ["--benchmark expects NAME=TASK"]),
        (
            [
                "--benchmark",
                "arc_easy=karma_arc_easy:exact_match,answer-is",
                "--metric",
                "arc_easy=exact_match,final-letter",
            ],
            ["--metric and --benchmark both name arc_easy"],
        ),
    ],
)
def test_scores_mapping_errors_are_one_line(tmp_path, args, fragments):
    write_run(tmp_path / "runs", leaderboard_run("org/a", 0.5, 0.3), "2026-01-01T00-00-00.0")
    out = tmp_path / "scores.csv"
    result = karma_build("scores", tmp_path / "runs", "-o", out, *args, cwd=tmp_path)
    assert_fails(result, 2, *fragments)
    assert not out.exists()


def test_a_full_task_and_its_karmalite_twin_in_one_file_are_refused(tmp_path):
    doc = layout_0413("org/a", ALL)
    doc["results"]["karmalite_arc_easy"] = dict(doc["results"]["karma_arc_easy"])
    write_run(tmp_path / "runs", doc, "2026-01-01T00-00-00.0")
    result = karma_build("scores", tmp_path / "runs", cwd=tmp_path)
    assert_fails(result, 2, "karma_arc_easy and karmalite_arc_easy, both read as arc_easy")
    # Naming the one to read settles it.
    named = karma_build(
        "scores", tmp_path / "runs", "--benchmark", "arc_easy=karmalite_arc_easy", cwd=tmp_path
    )
    assert named.returncode == 2  # karmalite_arc_easy has several metrics: name one
    named = karma_build(
        "scores",
        tmp_path / "runs",
        "--benchmark",
        "arc_easy=karmalite_arc_easy:exact_match,answer-is",
        cwd=tmp_path,
    )
    assert named.returncode == 0, named.stderr


def test_bootstrap_takes_the_item_counts_of_other_benchmarks(runner, table, tmp_path):
    # The six have their full sizes; BBH and GPQA need theirs given.
    base = ["kinship", "--scores", str(table), "--bootstrap", "20", "--benchmarks", "bbh,gpqa"]
    result = runner.invoke(main, base)
    assert result.exit_code == 2
    assert "no noise for bbh" in result.stderr and "--items bbh=N" in result.stderr
    out = tmp_path / "k.json"
    result = runner.invoke(
        main, [*base, "--items", "BBH=6511", "--items", "gpqa=1192", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    noise = json.loads(out.read_text(encoding="utf-8"))["uncertainty"]
    assert noise["method"] == "binomial"
    assert noise["items"] == {"bbh": 6511, "gpqa": 1192}
