"""`karma-build scores` on hand-made results files in the 0.4.11 and 0.4.13 layouts."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from karma_plugin.cli import main
from karma_plugin.core.score_table import ScoreTable, read_scores
from karma_plugin.errors import InputError
from karma_plugin.lmeval.results import (
    DEFAULT_METRICS,
    benchmark_scores,
    find_results_files,
    load_results,
    read_score_table,
    run_model_name,
)

MC = ("mmlu_stem", "mmlu_pro", "hellaswag", "arc_easy", "arc_challenge")


def layout_0413(model: str, scores: dict[str, float]) -> dict:
    """A results document as lm-eval 0.4.13 writes it (model_args a dict, name/sample_len)."""
    results = {}
    for bench, value in scores.items():
        task = f"karma_{bench}"
        if bench == "ifeval":
            entry = {
                "prompt_level_strict_acc,none": value,
                "prompt_level_strict_acc_stderr,none": 0.01,
                "inst_level_strict_acc,none": min(1.0, value + 0.1),
                "inst_level_strict_acc_stderr,none": "N/A",
                "prompt_level_loose_acc,none": min(1.0, value + 0.05),
                "inst_level_loose_acc,none": min(1.0, value + 0.12),
            }
        else:
            entry = {
                "exact_match,answer-is": value,
                "exact_match_stderr,answer-is": 0.02,
                "invalid,answer-is": 0.1,
                "exact_match,final-letter": min(1.0, value + 0.05),
                "invalid,final-letter": 0.02,
            }
        results[task] = {"name": task, "alias": task, "sample_len": 10, **entry}
    results["karma"] = {"alias": "karma", "name": "karma", "exact_match,answer-is": 0.5}
    return {
        "results": results,
        "groups": {"karma": results["karma"]},
        "group_subtasks": {"karma": [f"karma_{b}" for b in scores]},
        "configs": {},
        "versions": {"karma": "1.0"},
        "config": {"model": "hf", "model_args": {"pretrained": model, "dtype": "bfloat16"}},
        "model_name": model,
        "model_name_sanitized": model.replace("/", "__"),
        "date": 1764000000.0,
        "lm_eval_version": "0.4.13",
    }


def layout_0411(model: str, scores: dict[str, float]) -> dict:
    """0.4.11: model_args may be a string, no name/sample_len, aliases with ' - '."""
    doc = layout_0413(model, scores)
    for task, entry in doc["results"].items():
        entry.pop("name", None)
        entry.pop("sample_len", None)
        if task != "karma":
            entry["alias"] = f" - {task}"
    doc["config"]["model_args"] = f"pretrained={model},dtype=bfloat16"
    doc["versions"] = {"karma": 1.0}
    del doc["model_name"]
    doc["lm_eval_version"] = "0.4.11"
    return doc


def write_run(root: Path, doc: dict, stamp: str) -> Path:
    folder = root / run_model_name(doc).replace("/", "__")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"results_{stamp}.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    # A --log_samples run leaves samples files beside it: they must be ignored.
    (folder / f"samples_karma_arc_easy_{stamp}.jsonl").write_text('{"doc_id": 0}\n')
    return path


ALL = {
    "ifeval": 0.4,
    "mmlu_stem": 0.5,
    "mmlu_pro": 0.2,
    "hellaswag": 0.6,
    "arc_easy": 0.7,
    "arc_challenge": 0.55,
}


@pytest.mark.parametrize("layout", [layout_0411, layout_0413])
def test_benchmark_scores_both_layouts(layout):
    doc = layout("org/model-a", ALL)
    scores, missing = benchmark_scores(doc)
    assert scores == ALL
    assert missing == []
    assert run_model_name(doc) == "org/model-a"


def test_model_name_fallbacks():
    assert run_model_name({"config": {"model_args": "dtype=bf16"}, "model_name": "m"}) == "m"
    with pytest.raises(InputError):
        run_model_name({"config": {"model_args": {}}})


def test_default_metric_keys_are_the_shipped_filters():
    assert DEFAULT_METRICS["ifeval"] == "prompt_level_strict_acc,none"
    assert all(DEFAULT_METRICS[b] == "exact_match,answer-is" for b in MC)


def test_missing_tasks_are_listed_and_group_ignored():
    doc = layout_0413("m", {"mmlu_pro": 0.3, "arc_easy": 0.6})
    doc["results"]["mmlu_pro"] = {"exact_match,custom-extract": 0.9}  # built-in task: ignored
    scores, missing = benchmark_scores(doc)
    assert scores == {"mmlu_pro": 0.3, "arc_easy": 0.6}
    assert missing == ["karma_ifeval", "karma_mmlu_stem", "karma_hellaswag", "karma_arc_challenge"]


def test_metric_override_and_wrong_metric():
    doc = layout_0413("m", ALL)
    scores, _ = benchmark_scores(doc, {"mmlu_pro": "exact_match,final-letter"})
    assert scores["mmlu_pro"] == pytest.approx(0.25)
    with pytest.raises(InputError, match="karma_mmlu_pro has no numeric 'acc,none'"):
        benchmark_scores(doc, {"mmlu_pro": "acc,none"})


def cell(table: ScoreTable, model: str, benchmark: str) -> float:
    return float(table.values[table.models.index(model), table.benchmarks.index(benchmark)])


def test_newest_run_per_model_and_names(tmp_path):
    old = layout_0411("org/a", {b: 0.1 for b in ALL})
    new = layout_0413("org/a", {b: 0.9 for b in MC})  # newer, without ifeval
    other = layout_0413("org/b", ALL)
    write_run(tmp_path, old, "2026-01-01T10-00-00.000001")
    write_run(tmp_path, new, "2026-02-01T10-00-00.5")
    write_run(tmp_path, other, "2026-01-15T00-00-00.1")
    warnings: list[str] = []
    table = read_score_table([tmp_path], names={"org/b": "Model B"}, warn=warnings.append)
    assert table.models == ("org/a", "Model B")
    # Newest run wins per benchmark; ifeval only exists in the older run of org/a.
    assert cell(table, "org/a", "mmlu_pro") == pytest.approx(0.9)
    assert cell(table, "org/a", "ifeval") == pytest.approx(0.1)
    assert dict(zip(table.benchmarks, table.values[1], strict=True)) == pytest.approx(ALL)
    assert warnings == []


def test_missing_task_warning_and_nan(tmp_path):
    write_run(tmp_path, layout_0413("a", ALL), "2026-01-01T00-00-00.0")
    write_run(
        tmp_path, layout_0413("b", {"mmlu_pro": 0.3, "arc_easy": 0.4}), "2026-01-01T00-00-00.0"
    )
    warnings: list[str] = []
    table = read_score_table([tmp_path], warn=warnings.append)
    assert warnings == [
        "b: no results for karma_ifeval, karma_mmlu_stem, karma_hellaswag, karma_arc_challenge"
    ]
    assert table.benchmarks == tuple(ALL)
    row = dict(zip(table.benchmarks, table.values[table.models.index("b")], strict=True))
    # The missing tasks are NaN (not 0.0, which would be a score), the others are read.
    assert [b for b, v in row.items() if math.isnan(v)] == [
        "ifeval",
        "mmlu_stem",
        "hellaswag",
        "arc_challenge",
    ]
    assert (row["mmlu_pro"], row["arc_easy"]) == (pytest.approx(0.3), pytest.approx(0.4))


def test_find_results_files_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        find_results_files([tmp_path / "nope"])
    with pytest.raises(InputError, match="no lm-eval results files"):
        find_results_files([tmp_path])
    bad = tmp_path / "x.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match=r"x\.json' is not valid JSON"):
        load_results(bad)
    bad.write_text('{"foo": 1}', encoding="utf-8")
    with pytest.raises(InputError, match="not an lm-eval results file"):
        load_results(bad)


def test_cli_writes_csv_that_kinship_reads(tmp_path, runner):
    write_run(tmp_path / "runs", layout_0411("org/a", ALL), "2026-01-01T00-00-00.0")
    write_run(
        tmp_path / "runs",
        layout_0413("org/b", {b: v / 2 for b, v in ALL.items()}),
        "2026-01-02T00-00-00.0",
    )
    write_run(
        tmp_path / "runs",
        layout_0413("org/c", {b: (1 - v) for b, v in ALL.items()}),
        "2026-01-02T00-00-00.0",
    )
    out = tmp_path / "scores.csv"
    result = runner.invoke(
        main,
        [
            "scores",
            str(tmp_path / "runs"),
            "-o",
            str(out),
            "--name",
            "org__c=C",
            "--metric",
            "mmlu_pro=exact_match,final-letter",
        ],
    )
    assert result.exit_code == 0, result.output
    table = read_scores(out)
    assert table.models == ("org/a", "org/b", "C")
    assert cell(table, "org/a", "mmlu_pro") == pytest.approx(0.25)
    assert cell(table, "org/b", "arc_easy") == pytest.approx(0.35)
    kin = runner.invoke(main, ["kinship", "--scores", str(out)])
    assert kin.exit_code == 0, kin.output
    assert "org/b" in kin.output


def test_cli_prints_csv_without_output(tmp_path, runner):
    path = write_run(tmp_path, layout_0413("m", ALL), "2026-01-01T00-00-00.0")
    result = runner.invoke(main, ["scores", str(path)])
    assert result.exit_code == 0
    # The scores, then their standard errors (lm-eval's *_stderr: --bootstrap's noise).
    stderr = [f"{b}_stderr" for b in ALL]
    assert result.stdout.splitlines()[0] == "model," + ",".join([*ALL, *stderr])
    assert result.stdout.splitlines()[1].startswith("m,0.4,0.5")
    assert result.stdout.splitlines()[1].endswith(",0.01,0.02,0.02,0.02,0.02,0.02")


def test_cli_malformed_json_exit_2_nothing_written(tmp_path, runner):
    write_run(tmp_path, layout_0413("m", ALL), "2026-01-01T00-00-00.0")
    broken = tmp_path / "m" / "results_2026-01-02T00-00-00.0.json"
    broken.write_text('{"results": {"karma_arc_easy": ', encoding="utf-8")
    out = tmp_path / "scores.csv"
    result = runner.invoke(main, ["scores", str(tmp_path), "-o", str(out)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "results_2026-01-02T00-00-00.0.json' is not valid JSON" in lines[0]
    assert not out.exists()
    assert list(tmp_path.glob(".scores.csv*")) == []


def test_cli_bad_options(tmp_path, runner):
    path = write_run(tmp_path, layout_0413("m", ALL), "2026-01-01T00-00-00.0")
    for args, message in (
        (["--metric", "nope=exact_match,x"], "unknown benchmark"),
        (["--metric", "arc_easy=exact_match"], "METRIC,FILTER"),
        (["--name", "justaname"], "--name expects RUN=MODEL"),
    ):
        result = runner.invoke(main, ["scores", str(path), *args])
        assert result.exit_code == 2
        assert message in result.stderr


def test_cli_warns_on_missing_tasks(tmp_path, runner):
    path = write_run(tmp_path, layout_0413("m", {"arc_easy": 0.5}), "2026-01-01T00-00-00.0")
    result = runner.invoke(main, ["scores", str(path)])
    assert result.exit_code == 0
    assert "warning: m: no results for karma_ifeval, karma_mmlu_stem" in result.stderr
    assert result.stdout.splitlines() == ["model,arc_easy,arc_easy_stderr", "m,0.5,0.02"]
