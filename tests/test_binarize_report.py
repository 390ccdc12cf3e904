"""binarize --report and --samples/--metric: the report and sample-level kinship in binarize."""

from __future__ import annotations

import json
import re

from lmeval_samples import mc_task, write_run

from karma_plugin.cli import main


def test_binarize_writes_the_report_inside_its_folder(tmp_path, runner):
    plain = tmp_path / "plain"
    assert (
        runner.invoke(main, ["binarize", "--strategy", "k_sim", "--out", str(plain)]).exit_code == 0
    )
    out = tmp_path / "data"
    result = runner.invoke(main, ["binarize", "--strategy", "k_sim", "--out", str(out), "--report"])
    assert result.exit_code == 0, result.output
    assert f"Wrote {out}/figures/report.md and its figures" in result.output
    figures = out / "figures"
    assert (figures / "report.md").is_file() and (figures / "pca.png").is_file()
    assert not (tmp_path / "data-report").exists()
    doc = json.loads((out / "kinship.json").read_text())
    assert doc["report"]["markdown"] == "figures/report.md"
    drawn = sorted(p.name for p in figures.glob("*.png"))
    assert sorted(f.split("/")[1] for f in doc["report"]["figures"]) == drawn
    assert {"s_pref.png", "kinship_heatmap.png", "pca.png", "dendrogram_all.png"} <= set(drawn)
    # The card embeds the three main figures and links the report, with paths relative to
    # the folder (as the Hub resolves them on the dataset page), each of a file that is there.
    card = (out / "README.md").read_text()
    links = re.findall(r"\]\(([^)]+)\)", card)
    local = [link for link in links if not link.startswith("http")]
    assert local == [
        "figures/s_pref.png",
        "figures/kinship_heatmap.png",
        "figures/pca.png",
        "figures/report.md",
    ]
    assert all((out / link).is_file() for link in local)
    # Without --report, nothing of it: the data and the card are what they were.
    plain_card = (plain / "README.md").read_text()
    assert "figures/" not in plain_card and "report" not in json.loads(
        (plain / "kinship.json").read_text()
    )
    for name in (
        "k_sim/train_prefs-00000-of-00001.parquet",
        "k_sim/test_prefs-00000-of-00001.parquet",
    ):
        assert (out / name).read_bytes() == (plain / name).read_bytes()
    assert _without_figures(card) == plain_card
    assert {k: v for k, v in doc.items() if k != "report"} == json.loads(
        (plain / "kinship.json").read_text()
    )
    # The card and the report show the same S_pref and kinship tables (one renderer; the
    # card sets model names in code).
    text = (figures / "report.md").read_text()
    tables = [t for t in text.split("\n\n") if t.startswith(("| model |", "|  |"))]
    assert len(tables) == 2 and all(t in card.replace("`", "") for t in tables)
    # The report lies in the folder: a run without --report replaces it with the rest.
    again = runner.invoke(
        main, ["binarize", "--strategy", "k_sim", "--out", str(out), "--overwrite"]
    )
    assert again.exit_code == 0, again.output
    assert not figures.exists()
    assert (out / "README.md").read_text() == plain_card


def _without_figures(card: str) -> str:
    """The card with the paragraphs `--report` adds taken out."""
    kept = [
        part
        for part in card.split("\n\n")
        if "](figures/" not in part and not part.startswith("Kinship compares the shape")
    ]
    return "\n\n".join(kept)


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


def test_binarize_report_with_bootstrap_draws_the_stability(tmp_path, runner):
    """`--report --bootstrap`: the report in OUT/figures/ gets the stability figure, the card
    embeds it, and card and report show the same S_pref table with its intervals."""
    out = tmp_path / "data"
    args = ["binarize", "--strategy", "k_score,k_sim", "--bootstrap", "30", "--report"]
    result = runner.invoke(main, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "kinship.json").read_text())
    assert "figures/stability.png" in doc["report"]["figures"]
    assert (out / "figures" / "stability.png").is_file()
    card = (out / "README.md").read_text()
    assert "](figures/stability.png)" in card
    text = (out / "figures" / "report.md").read_text()
    assert "## Stability of the pairs" in text
    for config in ("k_score", "k_sim"):
        share = doc["uncertainty"]["stability"][config]
        assert f"| {config} | {100 * share:.1f}% |" in text
    tables = [t for t in text.split("\n\n") if t.startswith("| model |")]
    assert len(tables) == 1 and "S_pref 95% interval" in tables[0]
    assert tables[0] in card.replace("`", "")
