"""binarize --report and --samples/--metric: the report and sample-level kinship in binarize."""

from __future__ import annotations

import json

from lmeval_samples import mc_task, write_run

from karma_plugin.cli import main


def test_binarize_writes_the_report_next_to_its_output(tmp_path, runner):
    out = tmp_path / "data"
    result = runner.invoke(main, ["binarize", "--strategy", "k_sim", "--out", str(out), "--report"])
    assert result.exit_code == 0, result.output
    report = tmp_path / "data-report"
    assert (out / "kinship.json").is_file()
    assert (report / "report.md").is_file() and (report / "pca.png").is_file()
    assert not (out / "report.md").exists()  # the Hub folder's contract is untouched
    # The card and the report show the same S_pref and kinship tables (one renderer; the
    # card sets model names in code).
    card = (out / "README.md").read_text().replace("`", "")
    text = (report / "report.md").read_text()
    tables = [t for t in text.split("\n\n") if t.startswith(("| model |", "|  |"))]
    assert len(tables) == 2 and all(t in card for t in tables)
    again = runner.invoke(main, ["binarize", "--out", str(tmp_path / "x"), "--report"])
    assert again.exit_code == 0
    (tmp_path / "z-report").mkdir()
    blocked = runner.invoke(main, ["binarize", "--out", str(tmp_path / "z"), "--report"])
    assert blocked.exit_code == 2 and "z-report" in blocked.stderr
    assert not (tmp_path / "z").exists()  # refused before any work


def test_binarize_uses_sample_level_kinship(tmp_path, runner):
    golds, opts = [0, 1, 2, 3] * 10, [4] * 40
    right = [True] * 20 + [False] * 20
    for model, flip in (("gpt-4", False), ("bard", False), ("gpt-3.5-turbo", True)):
        pattern = [not r for r in right] if flip else right
        answers = [g if ok else (g + 1) % 4 for g, ok in zip(golds, pattern, strict=True)]
        write_run(
            tmp_path / "runs", model, "0.4.13", {"karma_arc_easy": mc_task(golds, opts, answers)}
        )
    out = tmp_path / "data"
    result = runner.invoke(
        main,
        [
            "binarize",
            "--strategy",
            "k_sim",
            "--samples",
            str(tmp_path / "runs"),
            "--metric",
            "ec",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "kinship.json").read_text())
    assert doc["kinship_metric"] == "ec"
    assert doc["models"] == ["gpt-4", "gpt-3.5-turbo", "bard"]
    assert doc["kinship"]["gpt-4"]["bard"] == 1.0
    assert doc["kinship"]["gpt-4"]["gpt-3.5-turbo"] == -1.0  # opposite right/wrong on every item
    assert "llama-2-7b-chat" in doc["excluded"]
